package collect

import (
	"net/netip"

	"github.com/borderwatch/borderwatch/pipeline"
	"testing"
	"time"
)

// recordingOut keeps the records handed on.
type recordingOut struct {
	nopOut
	got []flowRec
}

func (o *recordingOut) Record(r *pipeline.Record) {
	o.got = append(o.got, flowRec{src: r.Src, dst: r.Dst, sport: r.SrcPort, dport: r.DstPort, proto: r.Proto, octets: r.Bytes, pkts: r.Packets})
}

// TestIPFIXFieldEncodings: variable-length fields (RFC 7011 7, with the
// one-byte and the three-byte length), enterprise-specific fields (the
// enterprise bit and number, skipped), reduced-size counters and IPv4
// addresses are read at their place; a variable-length field that runs
// past its set ends the set as a decode error, the records before it
// kept.
func TestIPFIXFieldEncodings(t *testing.T) {
	var tmpl wbuf
	var tr wbuf
	tr.u16(400)
	tr.u16(8)
	for _, f := range [][2]uint16{{8, 4}, {82, 0xffff}, {12, 4}} {
		tr.u16(f[0])
		tr.u16(f[1])
	}
	tr.u16(0x8000 | 1) // enterprise field 1 (not octetDeltaCount)...
	tr.u16(4)
	tr.u32(29305) // ...of enterprise 29305
	for _, f := range [][2]uint16{{1, 3}, {2, 1}, {4, 1}, {82, 0xffff}} {
		tr.u16(f[0])
		tr.u16(f[1])
	}
	set(&tmpl, 2, tr)
	rec := func(w *wbuf, src, dst [4]byte, name1 int, octets uint32, pkts uint8, name2 int) {
		w.raw(src[:])
		if name1 < 255 {
			w.u8(uint8(name1))
		} else {
			w.u8(255)
			w.u16(uint16(name1))
		}
		w.raw(make([]byte, name1))
		w.raw(dst[:])
		w.u32(0xdeadbeef) // the enterprise field: not octets
		putUint(w, uint64(octets), 3)
		w.u8(pkts)
		w.u8(17)
		w.u8(uint8(name2))
		w.raw(make([]byte, name2))
	}
	var body wbuf
	rec(&body, [4]byte{192, 168, 1, 2}, [4]byte{203, 0, 113, 9}, 5, 70000, 7, 0)
	rec(&body, [4]byte{192, 168, 1, 3}, [4]byte{203, 0, 113, 10}, 300, 1, 1, 3)
	var data wbuf
	set(&data, 400, body)
	now := time.Now()
	c := New(Config{})
	var out recordingOut
	c.Handle(NetFlow, exp1, ipfix(uint32(now.Unix()), 0, 1, append(tmpl, data...)), now.UnixNano(), &out)
	checkNoErrors(t, c.exporters[exp1])
	want := []flowRec{
		{src: mustAddr("192.168.1.2"), dst: mustAddr("203.0.113.9"), proto: 17, octets: 70000, pkts: 7},
		{src: mustAddr("192.168.1.3"), dst: mustAddr("203.0.113.10"), proto: 17, octets: 1, pkts: 1},
	}
	if len(out.got) != len(want) {
		t.Fatalf("records %v, want %v", out.got, want)
	}
	for i := range want {
		if out.got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, out.got[i], want[i])
		}
	}

	// The second record's long name now claims 600 bytes: the set ends
	// there, the first record counts, the datagram is a decode error.
	bad := append(wbuf(nil), body...)
	off := 4 + 1 + 5 + 4 + 4 + 3 + 1 + 1 + 1 + 4 // the second record's 255, past the first record and its source address
	bad[off+1], bad[off+2] = 600>>8, 600&0xff
	data = data[:0]
	set(&data, 400, bad)
	out.got = nil
	c.Handle(NetFlow, exp1, ipfix(uint32(now.Unix()), 2, 1, data), now.UnixNano(), &out)
	if len(out.got) != 1 || out.got[0] != want[0] {
		t.Errorf("records %v, want only %v", out.got, want[0])
	}
	if n := c.exporters[exp1].st.errors[reasonDecode].Load(); n != 1 {
		t.Errorf("decode errors %d, want 1", n)
	}
}

// TestNoAllocationPerRecord: once its template is known, an IPFIX or
// NetFlow v9 datagram is decoded without allocation, and so is a template
// refreshed unchanged.
func TestNoAllocationPerRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tmpl, data := benchIPFIX(30)
	c := New(Config{})
	var out nopOut
	now := time.Unix(1_700_000_000, 0).UnixNano()
	c.Handle(NetFlow, exp1, tmpl, now, &out)
	for name, d := range map[string][]byte{"data": data, "template refresh": tmpl} {
		if n := testing.AllocsPerRun(100, func() { c.Handle(NetFlow, exp1, d, now, &out) }); n != 0 {
			t.Errorf("%s: %v allocations per datagram", name, n)
		}
	}
	if out.records != 101*30 {
		t.Errorf("records %d, want %d", out.records, 101*30)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
