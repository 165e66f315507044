package metrics

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/names"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeSource struct {
	series *Series
	shards []*Shard
}

func (f *fakeSource) Series() *Series  { return f.series }
func (f *fakeSource) Shards() []*Shard { return f.shards }

// TestSeriesBudget: past the limit new label sets fold into "other" (keeping
// direction and region), the folds are counted, and totals stay exact.
func TestSeriesBudget(t *testing.T) {
	s := NewSeries(3, false)
	src := &fakeSource{series: s, shards: []*Shard{NewShard(s), NewShard(s)}}
	countries := []string{"US", "DE", "FR", "SG", "CN", "JP"}
	var total uint64
	for i, cc := range countries {
		region := "abroad"
		if cc == "DE" || cc == "FR" {
			region = "home"
		}
		id, folded := s.ID(Labels{Direction: "egress", Country: cc, Provider: "other", App: "unknown", Region: region, ClientGroup: "default", Basis: "database", OperatorCountry: "unknown", ASN: "123"})
		src.shards[i%2].Add(id, 100, 1)
		if folded {
			src.shards[i%2].Overflow.Add(1)
		}
		if folded != (i >= 3) {
			t.Errorf("%s: folded %v", cc, folded)
		}
		total += 100
	}
	if s.Len() != 3+1 {
		t.Fatalf("series %d", s.Len())
	}
	want := `
# HELP borderwatch_traffic_bytes_total IP-layer bytes placed by direction, remote country, provider, app, region, client group and the basis of the placement (database, rtt, contradicted, anycast).
# TYPE borderwatch_traffic_bytes_total counter
borderwatch_traffic_bytes_total{app="other",basis="database",client_group="other",country="other",direction="egress",operator_country="other",provider="other",region="abroad"} 300
borderwatch_traffic_bytes_total{app="unknown",basis="database",client_group="default",country="DE",direction="egress",operator_country="unknown",provider="other",region="home"} 100
borderwatch_traffic_bytes_total{app="unknown",basis="database",client_group="default",country="FR",direction="egress",operator_country="unknown",provider="other",region="home"} 100
borderwatch_traffic_bytes_total{app="unknown",basis="database",client_group="default",country="US",direction="egress",operator_country="unknown",provider="other",region="abroad"} 100
# HELP borderwatch_series_overflow_total Flow placements whose label set was folded into "other" values because the series budget was reached.
# TYPE borderwatch_series_overflow_total counter
borderwatch_series_overflow_total 3
`
	c := NewCollector(src)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "borderwatch_traffic_bytes_total", "borderwatch_series_overflow_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	// With the ASN label the fold keeps "other" there too.
	sa := NewSeries(1, true)
	sa.ID(Labels{Direction: "ingress", Country: "US", ASN: "15169"})
	id, _ := sa.ID(Labels{Direction: "ingress", Country: "DE", ASN: "3320"})
	if l := sa.Labels()[id]; l.ASN != "other" || l.Country != "other" || l.Direction != "ingress" {
		t.Errorf("fold with asn: %+v", l)
	}
}

func BenchmarkSeriesID(b *testing.B) {
	s := NewSeries(10000, false)
	l := Labels{Direction: "egress", Country: "US", Provider: "Google", App: "youtube", Region: "abroad", ClientGroup: "default"}
	b.ReportAllocs()
	for b.Loop() {
		s.ID(l)
	}
}

// TestNameSourceLabels: every naming source of package names has its own
// counter and a distinct label; only SourceNone is "none".
func TestNameSourceLabels(t *testing.T) {
	seen := map[string]bool{}
	for i, name := range NameSourceNames {
		if seen[name] || (name == "none") != (names.Source(i) == names.SourceNone) {
			t.Errorf("source %d has label %q (labels so far %v)", i, name, seen)
		}
		seen[name] = true
	}
	if len(seen) != int(names.NumSources) {
		t.Errorf("%d labels for %d sources", len(seen), names.NumSources)
	}
}

// TestNamesCollector: the naming counters that were counted but not
// exported are: ClientHellos without SNI, recycled reassembly slots, DNS
// cache evictions (a full cache given more answers than it holds).
func TestNamesCollector(t *testing.T) {
	st := &names.Stats{}
	st.TLSNoSNI.Add(3)
	st.SlotsRecycled.Add(2)
	st.AddressLiterals.Add(4)
	cfg := names.DefaultConfig()
	cfg.CacheEntries = 64
	cache := names.NewCache(cfg)
	now := time.Unix(1_700_000_000, 0)
	client := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 1000; i++ {
		cache.Learn(client, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), "x.example", 300, now)
	}
	ev := cache.Evictions()
	if ev == 0 || cache.Len() > 1000-int(ev) {
		t.Fatalf("cache: %d entries, %d evictions", cache.Len(), ev)
	}
	want := fmt.Sprintf(`
# HELP borderwatch_names_address_literals_total SNIs and HTTP Hosts that are IP address literals: not names, the flow is not named by them.
# TYPE borderwatch_names_address_literals_total counter
borderwatch_names_address_literals_total 4
# HELP borderwatch_names_cache_evictions_total Live entries dropped from the full DNS name cache to make room.
# TYPE borderwatch_names_cache_evictions_total counter
borderwatch_names_cache_evictions_total %d
# HELP borderwatch_names_reassembly_slots_recycled_total Reassembly slots taken from another flow's unfinished first flight (that flow is then not named by it).
# TYPE borderwatch_names_reassembly_slots_recycled_total counter
borderwatch_names_reassembly_slots_recycled_total 2
# HELP borderwatch_tls_no_sni_total TLS ClientHellos parsed that carry no server name.
# TYPE borderwatch_tls_no_sni_total counter
borderwatch_tls_no_sni_total 3
`, ev)
	c := NewNamesCollector(st, cache)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "borderwatch_names_address_literals_total", "borderwatch_names_cache_evictions_total", "borderwatch_names_reassembly_slots_recycled_total", "borderwatch_tls_no_sni_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func exposition(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestGathererSameExposition: the Gatherer's direct traffic families give
// the same exposition, byte for byte, as the registry's generic path, with
// and without the asn label, and as series are added between scrapes.
func TestGathererSameExposition(t *testing.T) {
	// Before any series exists (a capture with no IP frame, a daemon before
	// its first flow) the exposition is valid and has no traffic family.
	{
		s := NewSeries(50, false)
		src := &fakeSource{series: s, shards: []*Shard{NewShard(s)}}
		slow := prometheus.NewPedanticRegistry()
		slow.MustRegister(NewCollector(src))
		reg := prometheus.NewPedanticRegistry()
		c := NewCollector(src)
		reg.MustRegister(c)
		if got, want := exposition(t, NewGatherer(reg, c)), exposition(t, slow); got != want {
			t.Fatalf("no series: (-got +want)\n%s", cmp.Diff(got, want))
		}
	}
	for _, opts := range []SeriesOptions{{}, {ASN: true}, {CloudRegion: true}, {ASN: true, CloudRegion: true}} {
		s := NewSeriesOptions(50, opts)
		src := &fakeSource{series: s, shards: []*Shard{NewShard(s), NewShard(s)}}
		slow := prometheus.NewPedanticRegistry()
		slow.MustRegister(NewCollector(src))
		reg := prometheus.NewPedanticRegistry()
		c := NewCollector(src)
		reg.MustRegister(c)
		fast := NewGatherer(reg, c)
		for round := 0; round < 3; round++ {
			for i := 0; i < 30; i++ {
				id, _ := s.ID(Labels{Direction: []string{"egress", "ingress", "transit"}[i%3], Country: []string{"US", "DE", "unknown"}[(i+round)%3],
					Provider: "other", App: fmt.Sprintf("app%d", (i*7+round)%11), Region: "abroad", ClientGroup: "default", ASN: fmt.Sprint(64500 + i%4), CloudRegion: []string{"unknown", "eu-frankfurt-1"}[i%2]})
				src.shards[i%2].Add(id, uint64(100*i+round), 1)
				src.shards[i%2].Flows[id].Add(1)
			}
			want := exposition(t, slow)
			if got := exposition(t, fast); got != want {
				t.Fatalf("%+v round %d: (-got +want)\n%s", opts, round, cmp.Diff(got, want))
			}
		}
		if !strings.Contains(exposition(t, fast), "borderwatch_traffic_bytes_total{") {
			t.Fatal("no traffic series")
		}
	}
}
