package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/metrics"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSeriesOverflowCountsEveryPlacement: with the series budget already
// full, every flow's placement is folded, and series_overflow_total counts
// each one (not once per worker cache entry), with any number of workers.
func TestSeriesOverflowCountsEveryPlacement(t *testing.T) {
	const flows = 600
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Workers = workers
			cfg.SeriesLimit = 2
			p, err := New(cfg, testPolicy(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// Fill the budget with label sets no flow has.
			p.Series().ID(metrics.Labels{Direction: "egress", Country: "ZZ"})
			p.Series().ID(metrics.Labels{Direction: "ingress", Country: "ZZ"})
			d := p.NewDispatcher(-1)
			ts := int64(1e18)
			for i := 0; i < flows; i++ {
				// Each flow: two local clients' ports to two remote
				// addresses, one packet each way, no payload (no name).
				src := fmt.Sprintf("192.168.%d.%d", i%3, 1+i%200)
				dst := []string{"8.8.8.8", "1.1.1.1"}[i%2]
				sport := uint16(10000 + i)
				d.Frame(udpFrame(t, src, dst, sport, 443, nil), layers.LinkTypeEthernet, ts)
				d.Frame(udpFrame(t, dst, src, 443, sport, nil), layers.LinkTypeEthernet, ts+1000)
				ts += 1e6
			}
			d.Send()
			p.Finish()
			want := fmt.Sprintf(`
# HELP borderwatch_series_overflow_total Flow placements whose label set was folded into "other" values because the series budget was reached.
# TYPE borderwatch_series_overflow_total counter
borderwatch_series_overflow_total %d
`, flows)
			if err := testutil.CollectAndCompare(metrics.NewCollector(p), strings.NewReader(want), "borderwatch_series_overflow_total"); err != nil {
				t.Error(err)
			}
			var folded uint64
			labels := p.Series().Labels()
			for _, sh := range p.Shards() {
				for id := 1; id < len(labels); id++ {
					if labels[id].Country == metrics.Other {
						folded += sh.Flows[id].Load()
					}
				}
			}
			if folded != flows {
				t.Errorf("flows_total in folded series %d, want %d", folded, flows)
			}
		})
	}
}
