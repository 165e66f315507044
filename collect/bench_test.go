package collect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
)

// benchDatagram is an IPFIX message of n IPv4 records (the template set
// is sent once before), or a NetFlow v5 datagram of 30.
func benchIPFIX(n int) (tmpl, data []byte) {
	var t wbuf
	set(&t, 2, templateRec(300, ipfixFlow4))
	tmpl = ipfix(1_700_000_000, 0, 1, t)
	ms := uint64(1_700_000_000_000)
	var recs wbuf
	for i := range n {
		r := flowRec{src: netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}), dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}),
			sport: uint16(40000 + i), dport: 443, proto: 6, octets: 15000, pkts: 10}
		recs = append(recs, dataRec(ipfixFlow4, r, map[uint16]uint64{152: ms - 3000, 153: ms - 1000}, 0)...)
	}
	var d wbuf
	set(&d, 300, recs)
	return tmpl, ipfix(1_700_000_000, 0, 1, d)
}

// BenchmarkDecodeIPFIX: decoding only (goflow2 and the conversion to
// pipeline records), per record.
func BenchmarkDecodeIPFIX(b *testing.B) {
	tmpl, data := benchIPFIX(30)
	c := New(Config{})
	var out nopOut
	now := time.Unix(1_700_000_000, 0).UnixNano()
	c.Handle(NetFlow, exp1, tmpl, now, &out)
	b.ReportAllocs()
	for b.Loop() {
		c.Handle(NetFlow, exp1, data, now, &out)
	}
	b.ReportMetric(float64(b.N*30)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCollectIPFIX: decoded, enriched and counted: the records go
// through a dispatcher to one pipeline worker (another goroutine).
func BenchmarkCollectIPFIX(b *testing.B) {
	tmpl, data := benchIPFIX(30)
	pc := pipeline.DefaultConfig()
	pc.Workers = 1
	p, err := pipeline.New(pc, testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := p.NewDispatcher(-1)
	c := New(Config{})
	now := time.Unix(1_700_000_000, 0).UnixNano()
	c.Handle(NetFlow, exp1, tmpl, now, d)
	b.ReportAllocs()
	for b.Loop() {
		c.Handle(NetFlow, exp1, data, now, d)
	}
	d.Send()
	p.Finish()
	b.ReportMetric(float64(b.N*30)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeNetFlowV5: a full v5 datagram (30 records), decoding only.
func BenchmarkDecodeNetFlowV5(b *testing.B) {
	var recs []flowRec
	for i := range 30 {
		recs = append(recs, flowRec{src: netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}), dst: us, sport: uint16(i), dport: 443, proto: 6, octets: 1500, pkts: 1})
	}
	data := nf5(1_700_000_000, 1_000_000, 0, 0, recs)
	c := New(Config{})
	var out nopOut
	now := time.Unix(1_700_000_000, 0).UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		c.Handle(NetFlow, exp1, data, now, &out)
	}
	b.ReportMetric(float64(b.N*30)/b.Elapsed().Seconds(), "records/s")
}
