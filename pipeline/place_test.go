package pipeline

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/borderwatch/borderwatch/lpm"
	"github.com/borderwatch/borderwatch/metrics"
)

// docPolicy places 203.0.113.0/24 in the US (AS 64500) and
// 198.51.100.0/24 in DE (AS 64501) with generated databases; home is the
// given countries.
func docPolicy(t testing.TB, home ...string) *Policy {
	t.Helper()
	dir := t.TempDir()
	country, asn := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{
		netip.MustParsePrefix("203.0.113.0/24"):  "US",
		netip.MustParsePrefix("198.51.100.0/24"): "DE",
	}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{
		netip.MustParsePrefix("203.0.113.0/24"):  {Number: 64500, Org: "Example US"},
		netip.MustParsePrefix("198.51.100.0/24"): {Number: 64501, Org: "Example DE"},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := geo.Open(geo.Config{CountryDB: country, ASNDB: asn, CacheSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cat, err := apps.Default()
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]bool{}
	for _, c := range home {
		h[c] = true
	}
	return &Policy{Geo: res, Apps: cat, Local: lpm.NewSet(config.Default().LocalNetworks), Groups: config.NewGroupMatcher(nil), Home: h}
}

func testPacket(src, dst string, sport, dport uint16, ipLen uint32, ts int64) capture.Packet {
	return capture.Packet{Timestamp: ts, Src: netip.MustParseAddr(src).As16(), Dst: netip.MustParseAddr(dst).As16(),
		Proto: 6, SrcPort: sport, DstPort: dport, IPLen: ipLen}
}

// traffic returns the placed bytes by label set.
func traffic(p *Pipeline) map[metrics.Labels]uint64 {
	out := map[metrics.Labels]uint64{}
	labels := p.Series().Labels()
	for id := 1; id < len(labels); id++ {
		for _, sh := range p.Shards() {
			if id >= len(sh.Bytes) {
				continue // the pipeline's own shard counts no traffic
			}
			if b := sh.Bytes[id].Load(); b > 0 {
				out[labels[id]] += b
			}
		}
	}
	return out
}

// TestReloadKeepsPlacement: a flow placed before a reload keeps its
// labels for the bytes it sends after it; a new flow uses the new policy.
func TestReloadKeepsPlacement(t *testing.T) {
	p, err := New(DefaultConfig(), docPolicy(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := p.workers[0]
	w.refreshPolicy()
	pk := testPacket("192.168.1.10", "203.0.113.5", 40000, 443, 100, 1e9)
	w.Handle(&pk)
	pk.Timestamp = 40e9 // past the naming wait (no payload): placed under home region DE
	w.Handle(&pk)

	reloaded := *p.policy.Load()
	reloaded.Home = map[string]bool{"US": true}
	p.SetPolicy(&reloaded)
	w.refreshPolicy()
	pk = testPacket("192.168.1.10", "203.0.113.5", 40000, 443, 100, 41e9)
	w.Handle(&pk)
	pk = testPacket("192.168.1.10", "203.0.113.6", 40001, 443, 50, 41e9)
	w.Handle(&pk)
	w.Drain()

	l := func(region string) metrics.Labels {
		return metrics.Labels{Direction: "egress", Country: "US", Provider: geo.ProviderOther, App: apps.Unknown, Region: region, ClientGroup: config.DefaultGroup, Basis: "database", OperatorCountry: "unknown"}
	}
	got := traffic(p)
	want := map[metrics.Labels]uint64{l("abroad"): 300, l("home"): 50}
	if len(got) != len(want) || got[l("abroad")] != 300 || got[l("home")] != 50 {
		t.Errorf("placed bytes %v, want %v", got, want)
	}
}

// placedEntry returns a worker and one of its flows, placed once (so the
// geo and series caches are warm).
func placedEntry(t testing.TB, asnLabel bool) (*Worker, func()) {
	cfg := DefaultConfig()
	cfg.ASNLabel = asnLabel
	p, err := New(cfg, docPolicy(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w := newWorker(p, 1024)
	w.refreshPolicy()
	pk := testPacket("192.168.1.10", "203.0.113.5", 40000, 443, 100, 1e9)
	w.Handle(&pk)
	var e *flow.Entry
	w.table.Range(func(x *flow.Entry) { e = x })
	e.NameRef = w.storeName("www.tiktok.com")
	w.place(e)
	return w, func() {
		e.Flags |= flagRename
		w.place(e)
	}
}

func TestPlacementDoesNotAllocate(t *testing.T) {
	for _, asn := range []bool{false, true} {
		_, place := placedEntry(t, asn)
		if n := testing.AllocsPerRun(1000, place); n != 0 {
			t.Errorf("asn label %v: a placement allocates %.1f times", asn, n)
		}
	}
}

// BenchmarkPlacement: one flow placement on the worker: facts, geo cache
// hit, package place, series ids of both sides.
func BenchmarkPlacement(b *testing.B) {
	for _, asn := range []bool{false, true} {
		name := "labels"
		if asn {
			name = "labels+asn"
		}
		b.Run(name, func(b *testing.B) {
			_, place := placedEntry(b, asn)
			b.ReportAllocs()
			for b.Loop() {
				place()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/placement")
		})
	}
}
