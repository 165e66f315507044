package collect

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// nopOut counts what the collector hands on.
type nopOut struct{ records, frames int }

func (o *nopOut) Record(*pipeline.Record)                            { o.records++ }
func (o *nopOut) ScaledFrame([]byte, layers.LinkType, int64, uint32) { o.frames++ }
func (o *nopOut) Send()                                              {}

var exp1 = netip.MustParseAddr("192.0.2.1")

// validDatagrams are one of each kind, for the malformed cases to break.
func validDatagrams() (v5, v9, fix, sf []byte) {
	r := flowRec{src: cli, dst: us, sport: 1, dport: 2, proto: 6, octets: 100, pkts: 1}
	v5 = nf5(nowSecs(), 1_000_000, 0, 0, []flowRec{r})
	var s9 wbuf
	set(&s9, 0, templateRec(256, v9Flow4))
	set(&s9, 256, dataRec(v9Flow4, r, map[uint16]uint64{22: 1, 21: 2}, 0))
	v9 = nf9(nowSecs(), 1_000_000, 0, 0, 2, s9)
	var s10 wbuf
	set(&s10, 2, templateRec(300, ipfixFlow4))
	set(&s10, 300, dataRec(ipfixFlow4, r, nil, 0))
	fix = ipfix(nowSecs(), 0, 1, s10)
	sf = sflowDatagram(exp1, 1, flowSample(1, 10, sampledHeader(11, make([]byte, 40), 40)))
	return
}

// TestMalformed: every malformed datagram is counted with its reason,
// and none costs more than its size or crashes.
func TestMalformed(t *testing.T) {
	v5, v9, fix, sf := validDatagrams()
	mod := func(b []byte, f func(b []byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	cases := []struct {
		name string
		kind Kind
		data []byte
		want reason
	}{
		{"empty", NetFlow, nil, reasonTruncated},
		{"version 7", NetFlow, []byte{0, 7, 0, 0}, reasonVersion},
		{"v5 header cut", NetFlow, v5[:20], reasonTruncated},
		{"v5 count past the end", NetFlow, mod(v5, func(b []byte) []byte { b[3] = 30; return b }), reasonTruncated},
		{"v9 header cut", NetFlow, v9[:12], reasonTruncated},
		{"v9 set length past the end", NetFlow, mod(v9, func(b []byte) []byte { b[22] = 0xff; return b }), reasonLength},
		{"v9 set length 2", NetFlow, mod(v9, func(b []byte) []byte { b[22], b[23] = 0, 2; return b }), reasonLength},
		{"v9 template of 65535 fields", NetFlow, mod(v9, func(b []byte) []byte { b[26], b[27] = 0xff, 0xff; return b }), reasonTemplate},
		{"v9 template of zero-length fields", NetFlow, nf9(1, 1, 0, 0, 1, zeroLengthTemplate()), reasonTemplate},
		{"ipfix length past the end", NetFlow, mod(fix, func(b []byte) []byte { b[2], b[3] = 0xff, 0xff; return b }), reasonLength},
		{"ipfix length under its header", NetFlow, mod(fix, func(b []byte) []byte { b[2], b[3] = 0, 8; return b }), reasonLength},
		{"sflow version 4", SFlow, mod(sf, func(b []byte) []byte { b[3] = 4; return b }), reasonVersion},
		{"sflow cut", SFlow, sf[:2], reasonTruncated},
		{"sflow agent type 7", SFlow, mod(sf, func(b []byte) []byte { b[7] = 7; return b }), reasonDecode},
		{"sflow 2^32-1 samples", SFlow, mod(sf, func(b []byte) []byte { binary.BigEndian.PutUint32(b[24:], ^uint32(0)); return b }), reasonRecords},
		{"sflow sample length past the end", SFlow, mod(sf, func(b []byte) []byte { b[35] = 0xff; return b }), reasonLength},
		{"sflow 2^32-1 records in an expanded sample", SFlow, expandedBomb(), reasonRecords},
		{"sflow header protocol 99", SFlow, sflowDatagram(exp1, 1, flowSample(1, 10, sampledHeader(99, make([]byte, 40), 40))), reasonHeader},
		{"oversized", NetFlow, make([]byte, 2000), reasonOversized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{MaxDatagram: 1500})
			var out nopOut
			c.Handle(tc.kind, exp1, tc.data, time.Now().UnixNano(), &out)
			e := c.exporters[exp1]
			for r := range numReasons {
				want := uint64(0)
				if r == tc.want {
					want = 1
				}
				if got := e.st.errors[r].Load(); got != want {
					t.Errorf("%s: %d, want %d", reasonNames[r], got, want)
				}
			}
			if out.records+out.frames != 0 {
				t.Errorf("%d records and %d frames handed on", out.records, out.frames)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		c := New(Config{})
		var out nopOut
		for _, d := range [][]byte{v5, v9, fix} {
			c.Handle(NetFlow, exp1, d, time.Now().UnixNano(), &out)
		}
		c.Handle(SFlow, exp1, sf, time.Now().UnixNano(), &out)
		checkNoErrors(t, c.exporters[exp1])
		if out.records != 3 || out.frames != 1 {
			t.Errorf("records %d, frames %d; want 3, 1", out.records, out.frames)
		}
	})
}

func zeroLengthTemplate() []byte {
	var w wbuf
	set(&w, 0, templateRec(256, []tfield{{1, 0}, {2, 0}}))
	return w
}

// expandedBomb is an expanded flow sample that claims 2^32-1 records:
// goflow2 would allocate them all before reading one.
func expandedBomb() []byte {
	s := expandedFlowSample(1, 10)
	binary.BigEndian.PutUint32(s[8+40:], ^uint32(0))
	return sflowDatagram(exp1, 1, s)
}

// TestTemplateBomb: thousands of templates from one exporter keep at most
// MaxTemplates; the rest are refused and counted. A withdrawal (IPFIX,
// no fields) removes one.
func TestTemplateBomb(t *testing.T) {
	c := New(Config{MaxTemplates: 16})
	var out nopOut
	for i := range 20 {
		var sets, recs wbuf
		for j := range 100 {
			recs = append(recs, templateRec(uint16(256+i*100+j), v9Flow4)...)
		}
		set(&sets, 2, recs)
		c.Handle(NetFlow, exp1, ipfix(1, 0, 0, sets), time.Now().UnixNano(), &out)
	}
	e := c.exporters[exp1]
	if n := e.st.templates.Load(); n != 16 {
		t.Errorf("templates %d, want 16", n)
	}
	if n := e.st.errors[reasonTemplateLimit].Load(); n != 20 {
		t.Errorf("template_limit %d, want 20 (each datagram)", n)
	}
	var w wbuf
	set(&w, 2, templateRec(256, nil))
	c.Handle(NetFlow, exp1, ipfix(1, 0, 0, w), time.Now().UnixNano(), &out)
	if n := e.st.templates.Load(); n != 15 {
		t.Errorf("templates after a withdrawal %d, want 15", n)
	}
}

// TestTemplateExpiry: a template not refreshed within the timeout is
// forgotten: its data is then a template miss.
func TestTemplateExpiry(t *testing.T) {
	c := New(Config{TemplateTimeout: time.Minute})
	var out nopOut
	_, v9, _, _ := validDatagrams()
	t0 := time.Now().UnixNano()
	c.Handle(NetFlow, exp1, v9, t0, &out)
	dataOnly := append(append([]byte(nil), v9[:20]...), v9[20+4+len(templateRec(256, v9Flow4)):]...)
	c.Handle(NetFlow, exp1, dataOnly, t0+int64(30*time.Second), &out)
	c.Handle(NetFlow, exp1, dataOnly, t0+int64(2*time.Minute), &out)
	e := c.exporters[exp1]
	if out.records != 2 || e.st.templateMisses.Load() != 1 {
		t.Errorf("records %d, misses %d; want 2, 1", out.records, e.st.templateMisses.Load())
	}
}

// TestExporterLimit: past MaxExporters, datagrams are counted under
// exporter "other"; stateless v5 is still used, v9 refused. An exporter
// silent for the template timeout makes room: the one seen least recently.
func TestExporterLimit(t *testing.T) {
	c := New(Config{MaxExporters: 2, TemplateTimeout: time.Minute})
	var out nopOut
	v5, v9, _, _ := validDatagrams()
	t0 := time.Now().UnixNano()
	for i := range 3 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
		c.Handle(NetFlow, a, v5, t0+int64(i), &out)
		c.Handle(NetFlow, a, v9, t0+int64(i), &out)
	}
	if len(c.exporters) != 2 || out.records != 5 {
		t.Errorf("%d exporters, %d records; want 2, 5", len(c.exporters), out.records)
	}
	if n := c.other.st.errors[reasonExporterLimit].Load(); n != 1 {
		t.Errorf("exporter_limit %d, want 1", n)
	}
	c.Handle(NetFlow, netip.MustParseAddr("192.0.2.99"), v9, t0+int64(2*time.Minute), &out)
	if _, ok := c.exporters[netip.MustParseAddr("192.0.2.99")]; !ok || len(c.exporters) != 2 {
		t.Errorf("an idle exporter should make room: %d exporters", len(c.exporters))
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewMetrics(c))
	want := `
# HELP borderwatch_collector_datagrams_total Export datagrams received, by exporter and protocol (netflow5, netflow9, ipfix, sflow5, unknown).
# TYPE borderwatch_collector_datagrams_total counter
borderwatch_collector_datagrams_total{exporter="192.0.2.11",protocol="ipfix"} 0
borderwatch_collector_datagrams_total{exporter="192.0.2.11",protocol="netflow5"} 1
borderwatch_collector_datagrams_total{exporter="192.0.2.11",protocol="netflow9"} 1
borderwatch_collector_datagrams_total{exporter="192.0.2.11",protocol="sflow5"} 0
borderwatch_collector_datagrams_total{exporter="192.0.2.99",protocol="ipfix"} 0
borderwatch_collector_datagrams_total{exporter="192.0.2.99",protocol="netflow5"} 0
borderwatch_collector_datagrams_total{exporter="192.0.2.99",protocol="netflow9"} 1
borderwatch_collector_datagrams_total{exporter="192.0.2.99",protocol="sflow5"} 0
borderwatch_collector_datagrams_total{exporter="other",protocol="ipfix"} 0
borderwatch_collector_datagrams_total{exporter="other",protocol="netflow5"} 1
borderwatch_collector_datagrams_total{exporter="other",protocol="netflow9"} 1
borderwatch_collector_datagrams_total{exporter="other",protocol="sflow5"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "borderwatch_collector_datagrams_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("metrics: %d, %v", n, err)
	}
}

// TestSampledIPRecord: an sFlow flow sample with only a sampled IPv4
// record (no header) is counted from it: its IP length, 1 packet, ×rate.
func TestSampledIPRecord(t *testing.T) {
	var w wbuf
	w.u32(1500) // IP length
	w.u32(6)
	w.raw(cli.AsSlice())
	w.raw(us.AsSlice())
	w.u32(40000)
	w.u32(443)
	w.u32(0x18) // TCP flags
	w.u32(0)    // ToS
	c := New(Config{})
	var out recOut
	c.Handle(SFlow, exp1, sflowDatagram(exp1, 1, flowSample(1, 64, xdrItem(3, w))), time.Now().UnixNano(), &out)
	checkNoErrors(t, c.exporters[exp1])
	want := pipeline.Record{Src: cli, Dst: us, SrcPort: 40000, DstPort: 443, Proto: 6, Bytes: 1500, Packets: 1, SamplingRate: 64}
	if len(out.recs) != 1 {
		t.Fatalf("%d records", len(out.recs))
	}
	got := out.recs[0]
	got.First, got.Last = 0, 0
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

type recOut struct {
	nopOut
	recs []pipeline.Record
}

func (o *recOut) Record(r *pipeline.Record) { o.recs = append(o.recs, *r) }

// TestSaneTimes: an exporter's clock off by more than the bounds moves
// the flow to end at its arrival, keeping its duration (at most a day).
func TestSaneTimes(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UnixNano()
	s, m, h := int64(time.Second), int64(time.Minute), int64(time.Hour)
	for _, c := range []struct{ first, last, wantFirst, wantLast int64 }{
		{now - 30*s, now - 2*s, now - 30*s, now - 2*s},   // sane
		{now - 30*m, now - 5*m, now - 30*m, now - 5*m},   // an active-timeout export
		{now + h, now + h + 10*s, now - 10*s, now},       // clock ahead
		{now - 48*h, now - 48*h + s, now - s, now},       // clock behind
		{now - 2, now - 5, now - 2, now - 2},             // last before first
		{now - 3*24*h, now - s, now - s - 24*h, now - s}, // longer than a day
		{0, 0, now, now}, // no times at all
	} {
		f, l := saneTimes(c.first, c.last, now)
		if f != c.wantFirst || l != c.wantLast {
			t.Errorf("saneTimes(%d, %d): %d, %d; want %d, %d", c.first-now, c.last-now, f-now, l-now, c.wantFirst-now, c.wantLast-now)
		}
	}
}
