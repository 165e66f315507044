package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Synthetic captures for the encapsulations the shared corpus lacks or
// holds only a few frames of: each frame is built here, written as a pcap
// of its link type, and both tshark and borderwatch read the file. The
// bytes and packets per placed address pair must agree (the same oracle
// and tunnel policy as TestDecodeMatchesTshark), and tshark must place the
// frames the case says it places, so a frame neither tool opens cannot pass
// unnoticed.

// innerTCP is an IPv4/TCP packet from src to dst (52 + len(payload) bytes).
func innerTCP(t testing.TB, src, dst string) []byte {
	i := ip4(src, dst, layers.IPProtocolTCP)
	c := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 7, ACK: true, PSH: true, Window: 1000}
	c.SetNetworkLayerForChecksum(i)
	return build(t, i, c, gopacket.Payload("hello"))
}

func innerTCP6(t testing.TB, src, dst string) []byte {
	i := ip6(src, dst, layers.IPProtocolTCP)
	c := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 7, ACK: true, Window: 1000}
	c.SetNetworkLayerForChecksum(i)
	return build(t, i, c, gopacket.Payload("hello"))
}

// outerUDP wraps payload in IPv4/UDP between 203.0.113.1 and 203.0.113.2.
func outerUDP(t testing.TB, sport, dport uint16, payload []byte) []byte {
	o := ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(o)
	return build(t, o, u, gopacket.Payload(payload))
}

func ethHdr(et uint16) []byte {
	h := append(append([]byte{}, macB...), macA...)
	return binary.BigEndian.AppendUint16(h, et)
}

// pwEth is an Ethernet header between a Cisco and an Intel address.
func pwEth(et uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{0x00, 0x00, 0x0c, 1, 2, 3, 0x00, 0x1b, 0x21, 4, 5, 6}, et)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

type encapCase struct {
	name     string
	lt       layers.LinkType
	frames   [][]byte
	unplaced uint64 // frames tshark places nowhere (non-IP)
	want     pair   // an inner pair tshark must place
}

func encapCases(t testing.TB) []encapCase {
	a, b := "192.0.2.1", "198.51.100.7"
	in4 := innerTCP(t, a, b)
	in6 := innerTCP6(t, "2001:db8::1", "2001:db8::2")
	p4 := pair{netip.MustParseAddr(a), netip.MustParseAddr(b)}
	p6 := pair{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}
	pppoe := func(proto uint16, ip []byte) []byte {
		return cat([]byte{0x11, 0x00, 0x12, 0x34}, u16(uint16(2+len(ip))), u16(proto), ip)
	}
	gtp := func(flags byte, ext []byte, ip []byte) []byte {
		h := []byte{flags, 0xff}
		h = append(h, u16(uint16(len(ext)+len(ip)))...)
		h = append(h, 0, 0, 0x10, 0x01) // TEID
		return cat(h, ext, ip)
	}
	gre := func(payload []byte) []byte { // PPTP enhanced GRE: key (length, call id) and sequence
		h := cat([]byte{0x30, 0x01}, u16(0x880b), u16(uint16(len(payload))), u16(7), []byte{0, 0, 0, 1})
		o := ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolGRE)
		return build(t, o, gopacket.Payload(cat(h, payload)))
	}
	ah := func(next byte, payload []byte) []byte {
		h := cat([]byte{next, 4, 0, 0}, []byte{0, 0, 1, 0}, []byte{0, 0, 0, 1}, make([]byte, 12))
		o := ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolAH)
		return build(t, o, gopacket.Payload(cat(h, payload)))
	}
	nflogTLV := func(typ uint16, v []byte) []byte {
		b := binary.LittleEndian.AppendUint16(nil, uint16(4+len(v)))
		b = binary.LittleEndian.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	return []encapCase{
		{"pppoe", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x8864), pppoe(0x0021, in4)),
			cat(ethHdr(0x8864), pppoe(0x0057, in6)),
			cat(ethHdr(0x88a8), u16(100), u16(0x8100), u16(200), u16(0x8864), pppoe(0x0021, in4)), // QinQ
			cat(ethHdr(0x8864), pppoe(0xc021, []byte{1, 1, 0, 4})),                                // LCP
			cat(ethHdr(0x8863), []byte{0x11, 0x09, 0, 0, 0, 0}),                                   // PADI
		}, 2, p4},
		{"ppp", layers.LinkTypePPP, [][]byte{
			cat([]byte{0xff, 0x03}, u16(0x0021), in4),
			cat(u16(0x0057), in6),
			cat([]byte{0x0f, 0x00}, u16(0x0800), in4), // Cisco HDLC on a PPP link
			cat([]byte{0xff, 0x03}, u16(0xc021), []byte{1, 1, 0, 4}),
		}, 1, p4},
		{"pptp", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), gre(cat([]byte{0xff, 0x03}, u16(0x0021), in4))),
			cat(ethHdr(0x0800), gre(cat(u16(0x0057), in6))),
		}, 0, p4},
		{"cisco hdlc", layers.LinkTypeC_HDLC, [][]byte{
			cat([]byte{0x0f, 0x00}, u16(0x0800), in4),
			cat([]byte{0x8f, 0x00}, u16(0x86dd), in6),
			cat([]byte{0x8f, 0x00}, u16(0x8035), make([]byte, 20)), // SLARP
		}, 1, p4},
		{"gtp-u", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), outerUDP(t, 2152, 2152, gtp(0x30, nil, in4))),
			cat(ethHdr(0x0800), outerUDP(t, 2152, 2152, gtp(0x30, nil, in6))),
			// sequence number and a PDU session container extension header
			cat(ethHdr(0x0800), outerUDP(t, 2152, 2152, gtp(0x34, []byte{0, 1, 0, 0x85, 1, 0x10, 0x09, 0}, in4))),
		}, 0, p4},
		{"teredo", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), outerUDP(t, 50000, 3544, in6)),
			cat(ethHdr(0x0800), outerUDP(t, 3544, 50000, cat([]byte{0, 0, 0x3c, 0x71, 1, 2, 3, 4}, in6))), // origin indication
		}, 0, p6},
		{"lisp", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), outerUDP(t, 50000, 4341, cat([]byte{0x80, 0, 0, 1, 0, 0, 0, 1}, in4))),
		}, 0, p4},
		{"ip in ah", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), ah(4, in4)),
			cat(ethHdr(0x0800), ah(41, in6)),
		}, 0, p4},
		{"vn-tag e-tag sgt", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x8926), []byte{0x80, 0x01, 0x00, 0x02}, u16(0x0800), in4),
			cat(ethHdr(0x893f), []byte{0, 0, 0x10, 0x01, 0, 0}, u16(0x0800), in4),
			cat(ethHdr(0x8909), []byte{1, 1, 0, 1, 0, 0x10}, u16(0x0800), in4),
			cat(ethHdr(0x8909), []byte{1, 1, 0, 1, 0, 0x10}, u16(0x86dd), in6),
		}, 0, p4},
		{"fabricpath", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x8903), []byte{0x00, 0x3f}, ethHdr(0x0800), in4),
		}, 0, p4},
		{"nsh", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x894f), []byte{0x0f, 0xc2, 0x02, 0x01}, []byte{0, 0, 1, 0xff}, in4),
			cat(ethHdr(0x894f), []byte{0x0f, 0xc2, 0x02, 0x03}, []byte{0, 0, 1, 0xff}, ethHdr(0x86dd), in6),
		}, 0, p4},
		// tshark tells the two pseudowire forms apart by whether the
		// addresses have known vendor prefixes: these do (Cisco, Intel).
		{"mpls pseudowire", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x8847), []byte{0, 0x10, 0x01, 64}, []byte{0, 0, 0, 1}, pwEth(0x0800), in4), // control word
			cat(ethHdr(0x8847), []byte{0, 0x10, 0x01, 64}, pwEth(0x0800), in4),                     // no control word
			cat(ethHdr(0x8847), []byte{0, 0x10, 0x00, 64}, []byte{0, 0x11, 0x01, 64}, []byte{0, 0, 0, 2}, pwEth(0x86dd), in6),
		}, 0, p4},
		{"vxlan-gpe, mpls in udp and gre, nsh in gre", layers.LinkTypeEthernet, [][]byte{
			cat(ethHdr(0x0800), outerUDP(t, 50000, 4790, cat([]byte{0x0c, 0, 0, 4, 0, 0, 42, 0}, []byte{0x0f, 0xc2, 0x02, 0x01}, []byte{0, 0, 1, 0xff}, in4))),
			cat(ethHdr(0x0800), outerUDP(t, 50000, 6635, cat([]byte{0, 0x10, 0x01, 64}, in4))),
			cat(ethHdr(0x0800), build(t, ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0, 0}, u16(0x8847), []byte{0, 0x10, 0x01, 64}, in4)))),
			cat(ethHdr(0x0800), build(t, ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0, 0}, u16(0x894f), []byte{0x0f, 0xc2, 0x02, 0x01}, []byte{0, 0, 1, 0xff}, in4)))),
		}, 0, p4},
		{"nflog", layers.LinkType(239), [][]byte{
			cat([]byte{2, 0, 0, 1}, nflogTLV(1, []byte{0x08, 0x00, 3, 0}), nflogTLV(10, []byte("prefix")), nflogTLV(9, in4)),
			cat([]byte{10, 0, 0, 1}, nflogTLV(1, []byte{0x86, 0xdd, 3, 0}), nflogTLV(9, in6)),
		}, 0, p4},
		{"null with hdlc header", layers.LinkTypeNull, [][]byte{
			cat([]byte{0xff, 0x03}, u16(0x0021), in4),
			cat([]byte{2, 0, 0, 0}, in4),
		}, 0, p4},
	}
}

func writeEncapPcap(t *testing.T, path string, lt layers.LinkType, frames [][]byte) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEncapsulationsMatchTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (apt-get install tshark); CI installs it")
	}
	dir := t.TempDir()
	for i, c := range encapCases(t) {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%02d.pcap", i))
			writeEncapPcap(t, path, c.lt, c.frames)
			want, err := runTshark(path)
			if err != nil {
				t.Fatal(err)
			}
			if want.unplaced != c.unplaced || want.pairs[c.want].packets == 0 {
				t.Fatalf("tshark placed %v with %d frames unplaced; the case expects %v placed and %d unplaced", want.pairs, want.unplaced, c.want, c.unplaced)
			}
			got, err := decodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := compareTruth(got, want); d != "" {
				t.Errorf("differs from tshark:\n%s", d)
			}
		})
	}
}

// TestPcapVariantsMatchTshark converts a capture with editcap into each
// pcap variant whose records carry extra header bytes, and reads it.
func TestPcapVariantsMatchTshark(t *testing.T) {
	for _, tool := range []string{"tshark", "editcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install tshark); CI installs it", tool)
		}
	}
	dir := t.TempDir()
	var frames [][]byte
	for _, c := range encapCases(t) {
		if c.lt == layers.LinkTypeEthernet {
			frames = append(frames, c.frames...)
		}
	}
	orig := filepath.Join(dir, "orig.pcap")
	writeEncapPcap(t, orig, layers.LinkTypeEthernet, frames)
	for _, v := range []struct{ editcap, format string }{
		{"modpcap", "modified tcpdump pcap"}, {"rh6_1pcap", "RedHat 6.1 tcpdump pcap"},
		{"suse6_3pcap", "SuSE 6.3 tcpdump pcap"}, {"nokiapcap", "Nokia tcpdump pcap"}, {"nsecpcap", "pcap"},
	} {
		t.Run(v.editcap, func(t *testing.T) {
			path := filepath.Join(dir, v.editcap+".pcap")
			if out, err := exec.Command("editcap", "-F", v.editcap, orig, path).CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v %s", err, out)
			}
			want, err := runTshark(path)
			if err != nil {
				t.Fatal(err)
			}
			if want.frames != uint64(len(frames)) {
				t.Fatalf("tshark read %d frames of %d", want.frames, len(frames))
			}
			got, err := decodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := compareTruth(got, want); d != "" {
				t.Errorf("differs from tshark:\n%s", d)
			}
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Format() != v.format {
				t.Errorf("format %q, want %q", src.Format(), v.format)
			}
		})
	}
}

// TestEncapsulationsDecodeInner: every synthetic frame carrying the inner
// IPv4/TCP packet yields its ports and payload, marked tunnelled when an
// outer IP header was crossed, without allocating.
func TestEncapsulationsDecodeInner(t *testing.T) {
	d := NewDecoder()
	var p Packet
	n := 0
	for _, c := range encapCases(t) {
		for i, f := range c.frames {
			v, r := d.Decode(f, c.lt, 1, &p)
			if v != Decoded || p.SrcAddr() != netip.MustParseAddr("192.0.2.1") {
				continue
			}
			n++
			outer := bytes.Contains(f, []byte{203, 0, 113, 1})
			if p.Proto != 6 || p.SrcPort != 40000 || p.DstPort != 443 || string(p.Payload) != "hello" || p.IPLen != 45 || p.Tunnelled != outer {
				t.Errorf("%s frame %d: %v %s: %+v", c.name, i, v, r, got(&p))
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d frames decoded to the inner packet", n)
	}
	cases := encapCases(t)
	allocs := testing.AllocsPerRun(20, func() {
		for _, c := range cases {
			for _, f := range c.frames {
				d.Decode(f, c.lt, 1, &p)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pass over the frames", allocs)
	}
}

// TestPPPoESessionsSeparateFlows: the same addresses in two PPPoE sessions
// get different contexts, and so different flows.
func TestPPPoESessionsSeparateFlows(t *testing.T) {
	in4 := innerTCP(t, "192.0.2.1", "198.51.100.7")
	frame := func(session uint16) []byte {
		return cat(ethHdr(0x8864), []byte{0x11, 0x00}, u16(session), u16(uint16(2+len(in4))), u16(0x0021), in4)
	}
	d := NewDecoder()
	var p Packet
	d.Decode(frame(1), layers.LinkTypeEthernet, 1, &p)
	a := p.Context
	d.Decode(frame(2), layers.LinkTypeEthernet, 1, &p)
	if a == p.Context {
		t.Errorf("sessions 1 and 2 share context %d", a)
	}
}

// BenchmarkDecodeEncapsulations decodes every synthetic frame in turn.
func BenchmarkDecodeEncapsulations(b *testing.B) {
	type fr struct {
		lt   layers.LinkType
		data []byte
	}
	var frames []fr
	for _, c := range encapCases(b) {
		for _, f := range c.frames {
			frames = append(frames, fr{c.lt, f})
		}
	}
	d := NewDecoder()
	var p Packet
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		f := frames[n%len(frames)]
		d.Decode(f.data, f.lt, 1, &p)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/frame")
}
