package collect

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPmacctNfprobe: a second real NetFlow/IPFIX exporter, with a decoder
// that is not borderwatch's as the truth. pmacct's pmacctd reads the sample
// capture and its nfprobe plugin (pmacct's own fork of softflowd 0.9.7, not
// the softflowd 1.1 of TestSoftflowd) exports the flows as NetFlow v5, v9
// and IPFIX to a UDP socket of the test. The datagrams are written to a
// capture file that Wireshark's NetFlow/IPFIX dissector (tshark, cflow)
// reads: the sum of the octets and packets of every data record (v9/IPFIX
// records decoded with the templates in the same capture; options records
// are not counted) is the truth. The datagrams are then sent to the
// collector's listener: its traffic plus internal bytes and packets equal
// tshark's sums, its records tshark's records, for each version; and both
// equal borderwatch's own capture of the file, so pmacct exported every
// packet.
func TestPmacctNfprobe(t *testing.T) {
	bin, err := exec.LookPath("pmacctd")
	if err != nil {
		t.Skip("pmacctd not installed (apt-get install pmacct); CI installs it")
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (apt-get install tshark); CI installs it")
	}
	pcap := gunzipTo(t, "../testdata/sample.pcap.gz")
	captured := captureTotals(t, pcap)
	for _, v := range []struct{ name, version string }{{"v5", "5"}, {"v9", "9"}, {"ipfix", "10"}} {
		t.Run(v.name, func(t *testing.T) {
			rec := recordPmacct(t, bin, pcap, func(receiver string) string {
				return "plugins: nfprobe\nnfprobe_receiver: " + receiver + "\nnfprobe_version: " + v.version + "\n"
			})
			if len(rec.dgs) == 0 {
				t.Fatal("pmacctd sent nothing")
			}
			file := filepath.Join(t.TempDir(), "export.pcap")
			writeUDPCapture(t, file, rec)
			want := cflowOracle(t, file, rec.to.Port())
			if want.version != v.version {
				t.Fatalf("tshark read NetFlow version %s", want.version)
			}

			h := newHarness(t, Config{})
			for i := 0; i < len(rec.dgs); i += 50 {
				h.send(h.nf, rec.dgs[i:min(i+50, len(rec.dgs))]...)
			}
			h.finish()
			got := pipelineTotals(h.p)
			e := h.exporter()
			t.Logf("%d datagrams, %d data records (%d options records): tshark %+v, collector %+v",
				len(rec.dgs), want.records, want.optionRecords, want.counted, got)
			if got != want.counted || e.st.records.Load() != want.records {
				t.Errorf("collected %+v in %d records; tshark read %+v in %d data records",
					got, e.st.records.Load(), want.counted, want.records)
			}
			if g := e.st.seqGaps.Load(); g != 0 {
				t.Errorf("%d sequence gaps (datagrams lost on loopback?)", g)
			}
			if m := e.st.templateMisses.Load(); m != 0 {
				t.Errorf("template misses %d", m)
			}
			checkNoErrors(t, e)
			// All of the capture was exported (pmacct's nfprobe loses
			// nothing of this capture, unlike its sfprobe).
			if want.counted != captured {
				t.Errorf("tshark read %+v from the export, borderwatch's capture decoder %+v from the file", want.counted, captured)
			}
		})
	}
}

// writeUDPCapture writes a recording as a pcap file (LINKTYPE_RAW: IPv4
// and UDP headers, then each datagram).
func writeUDPCapture(t *testing.T, path string, rec recording) {
	t.Helper()
	le, be := binary.LittleEndian, binary.BigEndian
	var b bytes.Buffer
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535+28)
	le.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	b.Write(hdr)
	src, dst := rec.from.Addr().As4(), rec.to.Addr().As4()
	for i, d := range rec.dgs {
		pkt := make([]byte, 28, 28+len(d))
		pkt[0] = 0x45
		be.PutUint16(pkt[2:], uint16(28+len(d)))
		be.PutUint16(pkt[4:], uint16(i))
		pkt[6] = 0x40 // don't fragment
		pkt[8], pkt[9] = 64, 17
		copy(pkt[12:], src[:])
		copy(pkt[16:], dst[:])
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(be.Uint16(pkt[j:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		be.PutUint16(pkt[10:], ^uint16(sum))
		be.PutUint16(pkt[20:], rec.from.Port())
		be.PutUint16(pkt[22:], rec.to.Port())
		be.PutUint16(pkt[24:], uint16(8+len(d))) // checksum 0: none
		pkt = append(pkt, d...)
		rh := make([]byte, 16)
		le.PutUint32(rh[0:], 1_700_000_000)
		le.PutUint32(rh[4:], uint32(i)) // µs: in order
		le.PutUint32(rh[8:], uint32(len(pkt)))
		le.PutUint32(rh[12:], uint32(len(pkt)))
		b.Write(rh)
		b.Write(pkt)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pdmlField is a field of tshark's PDML output with its subtree.
type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Fields []pdmlField `xml:"field"`
}

type pdml struct {
	Packets []struct {
		Protos []struct {
			Name   string      `xml:"name,attr"`
			Fields []pdmlField `xml:"field"`
		} `xml:"proto"`
	} `xml:"packet"`
}

// all returns f's descendants named name.
func (f pdmlField) all(name string) []pdmlField {
	var out []pdmlField
	for _, c := range f.Fields {
		if c.Name == name {
			out = append(out, c)
		}
		out = append(out, c.all(name)...)
	}
	return out
}

// cflowTruth is what tshark read from an export capture.
type cflowTruth struct {
	counted
	version                string
	records, optionRecords uint64
}

// cflowOracle dissects an export capture with tshark (NetFlow/IPFIX on
// port) and sums the octets and packets of its data records: NetFlow v5's
// records, and the records of the v9/IPFIX data sets whose template (set
// 0 or 2, earlier in the capture) is a data template. A data set whose
// template is an options template (set 1 or 3) is not counted; one whose
// template tshark has not seen fails the test.
func cflowOracle(t *testing.T, file string, port uint16) cflowTruth {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", file, "-d", "udp.port=="+strconv.Itoa(int(port))+",cflow", "-T", "pdml").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	var doc pdml
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("tshark's PDML: %v", err)
	}
	num := func(f pdmlField) uint64 {
		n, err := strconv.ParseUint(f.Show, 10, 64)
		if err != nil {
			t.Fatalf("tshark: %s %q: %v", f.Name, f.Show, err)
		}
		return n
	}
	// one adds a record's octets and packets: exactly one of each.
	var c cflowTruth
	one := func(r pdmlField) {
		o, p := r.all("cflow.octets"), r.all("cflow.packets")
		if len(o) != 1 || len(p) != 1 {
			t.Fatalf("tshark: a record with %d octets and %d packets fields (%s)", len(o), len(p), r.Show)
		}
		c.Bytes += num(o[0])
		c.Packets += num(p[0])
		c.records++
	}
	data, options := map[uint64]bool{}, map[uint64]bool{}
	for i, pkt := range doc.Packets {
		var cf *pdmlField
		for _, p := range pkt.Protos {
			if p.Name == "cflow" {
				cf = &pdmlField{Name: p.Name, Fields: p.Fields}
			}
		}
		if cf == nil {
			t.Fatalf("tshark: frame %d is not NetFlow/IPFIX", i+1)
		}
		v := cf.all("cflow.version")
		if len(v) != 1 || c.version != "" && v[0].Show != c.version {
			t.Fatalf("tshark: frame %d: versions %v", i+1, v)
		}
		c.version = v[0].Show
		for _, f := range cf.Fields {
			if c.version == "5" {
				if strings.HasPrefix(f.Show, "pdu ") {
					one(f)
				}
				continue
			}
			var id uint64
			isSet := false
			for _, s := range f.Fields {
				if s.Name == "cflow.flowset_id" {
					id, isSet = num(s), true
				}
			}
			if !isSet {
				continue
			}
			switch {
			case id == 0 || id == 2:
				for _, tid := range f.all("cflow.template_id") {
					data[num(tid)] = true
				}
			case id == 1 || id == 3:
				for _, tid := range f.all("cflow.template_id") {
					options[num(tid)] = true
				}
			case id >= 256 && data[id]:
				for _, r := range f.Fields {
					if strings.HasPrefix(r.Show, "Flow ") {
						one(r)
					}
				}
			case id >= 256 && options[id]:
				for _, r := range f.Fields {
					if strings.HasPrefix(r.Show, "Flow ") {
						c.optionRecords++
					}
				}
			default:
				t.Fatalf("tshark: frame %d: set %d, whose template is not in the capture", i+1, id)
			}
		}
	}
	return c
}
