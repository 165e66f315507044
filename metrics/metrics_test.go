package metrics

import (
	"strings"
	"testing"

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
		id, folded := s.ID(Labels{Direction: "egress", Country: cc, Provider: "other", App: "unknown", Region: region, ClientGroup: "default", ASN: "123"})
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
# HELP borderwatch_traffic_bytes_total IP-layer bytes placed by direction, remote country, provider, app, region and client group.
# TYPE borderwatch_traffic_bytes_total counter
borderwatch_traffic_bytes_total{app="other",client_group="other",country="other",direction="egress",provider="other",region="abroad"} 300
borderwatch_traffic_bytes_total{app="unknown",client_group="default",country="DE",direction="egress",provider="other",region="home"} 100
borderwatch_traffic_bytes_total{app="unknown",client_group="default",country="FR",direction="egress",provider="other",region="home"} 100
borderwatch_traffic_bytes_total{app="unknown",client_group="default",country="US",direction="egress",provider="other",region="abroad"} 100
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
