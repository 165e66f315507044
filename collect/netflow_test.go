package collect

import (
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/metrics"
)

// TestNetFlowV5: v5 records, sampled 1 in 10 by the header's sampling
// field (mode 1, interval 10), are counted ×10 and placed.
func TestNetFlowV5(t *testing.T) {
	h := newHarness(t, Config{})
	recs := []flowRec{
		{src: cli, dst: us, sport: 40000, dport: 443, proto: 6, octets: 15000, pkts: 12},
		{src: us, dst: cli, sport: 443, dport: 40000, proto: 6, octets: 90000, pkts: 70},
		{src: cli, dst: de, sport: 40001, dport: 53, proto: 17, octets: 300, pkts: 3},
	}
	h.send(h.nf, nf5(nowSecs(), 1_000_000, 100, 1<<14|10, recs))
	h.finish()
	checkTraffic(t, h.p, map[metrics.Labels]counted{
		lab("egress", "US", "unknown"):  {150000, 120},
		lab("ingress", "US", "unknown"): {900000, 700},
		lab("egress", "DE", "unknown"):  {3000, 30},
	})
	e := h.exporter()
	if n := e.st.records.Load(); n != 3 {
		t.Errorf("records %d, want 3", n)
	}
	if r := e.st.lastRate.Load(); r != 10 {
		t.Errorf("sampling rate seen %d, want 10", r)
	}
}

// TestNetFlowV9: a template datagram (two templates and an options
// template announcing 1 in 5 for the source id), then data: IPv4 and
// IPv6 records counted ×5. The sequence jumps by one datagram: one gap.
func TestNetFlowV9(t *testing.T) {
	h := newHarness(t, Config{})
	secs, up := nowSecs(), uint32(5_000_000)
	var tmpl wbuf
	set(&tmpl, 0, append(templateRec(256, v9Flow4), templateRec(257, v9Flow6)...))
	set(&tmpl, 1, nf9OptionsTemplate(258))
	var opt wbuf
	opt.u32(0) // scope: system
	opt.u32(5) // sampling interval
	set(&tmpl, 258, opt)
	h.send(h.nf, nf9(secs, up, 1, 42, 4, tmpl))

	times := map[uint16]uint64{22: uint64(up - 3000), 21: uint64(up - 1000)}
	r4 := []flowRec{
		{src: cli, dst: us, sport: 40000, dport: 443, proto: 6, octets: 4000, pkts: 4},
		{src: us, dst: cli, sport: 443, dport: 40000, proto: 6, octets: 60000, pkts: 40},
	}
	r6 := flowRec{src: cli6, dst: us6, sport: 50000, dport: 443, proto: 17, octets: 12000, pkts: 10}
	var data wbuf
	set(&data, 256, append(dataRec(v9Flow4, r4[0], times, 0), dataRec(v9Flow4, r4[1], times, 0)...))
	set(&data, 257, dataRec(v9Flow6, r6, nil, 0))
	h.send(h.nf, nf9(secs, up, 3, 42, 3, data)) // sequence 2 lost
	h.finish()

	checkTraffic(t, h.p, map[metrics.Labels]counted{
		lab("egress", "US", "unknown"):  {20000, 20},
		lab("ingress", "US", "unknown"): {300000, 200},
		lab6:                            {60000, 50}, // no AS for the IPv6 prefix: provider unknown
	})
	e := h.exporter()
	if n, m, g := e.st.records.Load(), e.st.templateMisses.Load(), e.st.seqGaps.Load(); n != 3 || m != 0 || g != 1 {
		t.Errorf("records %d, template misses %d, sequence gaps %d; want 3, 0, 1", n, m, g)
	}
	if n := e.st.templates.Load(); n != 3 {
		t.Errorf("templates %d, want 3", n)
	}
	checkNoErrors(t, e)
}

var lab6 = metrics.Labels{Direction: "egress", Country: "US", Provider: "unknown", App: "unknown", Region: "abroad", ClientGroup: "default", Basis: "database", OperatorCountry: "unknown"}

// TestIPFIX: a template set and an options template set (a sampler's
// interval, RFC 7011 3.4.2.2), option data for two samplers (1 in 100
// and 1 in 10), then data records naming their sampler.
func TestIPFIX(t *testing.T) {
	h := newHarness(t, Config{})
	now := time.Now()
	var tmpl wbuf
	set(&tmpl, 2, templateRec(300, ipfixFlow4))
	set(&tmpl, 3, ipfixSamplerOptionsTemplate(301))
	h.send(h.nf, ipfix(uint32(now.Unix()), 0, 7, tmpl))

	var opts, body wbuf
	for _, s := range [][2]uint64{{7, 100}, {8, 10}} {
		putUint(&body, s[0], 2)
		putUint(&body, s[1], 4)
	}
	set(&opts, 301, body)
	h.send(h.nf, ipfix(uint32(now.Unix()), 0, 7, opts))

	ms := uint64(now.UnixMilli())
	times := map[uint16]uint64{152: ms - 5000, 153: ms - 1000}
	recs := []flowRec{
		{src: cli, dst: us, sport: 40000, dport: 443, proto: 6, octets: 1500, pkts: 3},
		{src: us2, dst: cli, sport: 443, dport: 40001, proto: 6, octets: 30000, pkts: 20},
	}
	var data wbuf
	set(&data, 300, append(dataRec(ipfixFlow4, recs[0], times, 7), dataRec(ipfixFlow4, recs[1], times, 8)...))
	h.send(h.nf, ipfix(uint32(now.Unix()), 2, 7, data))
	h.finish()

	checkTraffic(t, h.p, map[metrics.Labels]counted{
		lab("egress", "US", "unknown"):  {150000, 300},
		lab("ingress", "US", "unknown"): {300000, 200},
	})
	e := h.exporter()
	if n, g := e.st.records.Load(), e.st.seqGaps.Load(); n != 2 || g != 0 {
		t.Errorf("records %d, sequence gaps %d; want 2, 0", n, g)
	}
	e.ratesMu.Lock()
	defer e.ratesMu.Unlock()
	if e.seenRates[100] != 1 || e.seenRates[10] != 1 {
		t.Errorf("records by rate %v, want one at 100 and one at 10", e.seenRates)
	}
}

// TestDataBeforeTemplate: a data set whose template has not come yet is
// counted as a template miss, not lost silently and not an error; once
// the template comes, the same data counts. --netflow.sampling-rate
// applies to an exporter that says nothing of sampling.
func TestDataBeforeTemplate(t *testing.T) {
	h := newHarness(t, Config{SamplingRate: 3})
	secs, up := nowSecs(), uint32(5_000_000)
	times := map[uint16]uint64{22: uint64(up - 3000), 21: uint64(up - 1000)}
	r := flowRec{src: cli, dst: us, sport: 40000, dport: 443, proto: 6, octets: 1000, pkts: 2}
	var data wbuf
	set(&data, 256, dataRec(v9Flow4, r, times, 0))
	h.send(h.nf, nf9(secs, up, 1, 0, 1, data))
	e := h.exporter()
	if m, n := e.st.templateMisses.Load(), e.st.records.Load(); m != 1 || n != 0 {
		t.Fatalf("before the template: misses %d, records %d; want 1, 0", m, n)
	}
	var tmpl wbuf
	set(&tmpl, 0, templateRec(256, v9Flow4))
	h.send(h.nf, nf9(secs, up, 2, 0, 1, tmpl))
	h.send(h.nf, nf9(secs, up, 3, 0, 1, data))
	h.finish()
	checkTraffic(t, h.p, map[metrics.Labels]counted{lab("egress", "US", "unknown"): {3000, 6}})
	checkNoErrors(t, e)
}

func checkNoErrors(t *testing.T, e *exporter) {
	t.Helper()
	for r := range e.st.errors {
		if n := e.st.errors[r].Load(); n != 0 {
			t.Errorf("errors %s: %d", reasonNames[r], n)
		}
	}
}
