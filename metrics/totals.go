package metrics

import (
	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/place"
)

// Totals are the shards' counters summed: what the collector exports and
// the read report prints.
type Totals struct {
	// Bytes, Packets and Flows are indexed by series id (0 unused).
	Bytes, Packets, Flows []uint64

	InternalBytes, InternalPackets uint64
	NamedBytes, NamedFlows         [NumNameSources]uint64
	Overflow                       uint64
	SweepTimeouts                  uint64
	PacketsRead                    uint64
	Skipped                        [capture.NumReasons]uint64 // skipped and decode errors, by reason
	FlowsActive                    uint64
	Evicted                        [flow.NumEvictReasons]uint64
	RTT                            [place.NumRegions][len(RTTBuckets) + 1]uint64
	RTTSum                         [place.NumRegions]uint64 // microseconds
	RTTBytes                       uint64
}

// SumShards adds up shards for the first n series ids (n is usually
// len(Series.Labels()) read once before, so that labels and sums agree).
func SumShards(shards []*Shard, n int) *Totals {
	t := &Totals{Bytes: make([]uint64, n), Packets: make([]uint64, n), Flows: make([]uint64, n)}
	for _, sh := range shards {
		m := min(n, len(sh.Bytes))
		for id := 1; id < m; id++ {
			t.Bytes[id] += sh.Bytes[id].Load()
			t.Packets[id] += sh.Packets[id].Load()
			t.Flows[id] += sh.Flows[id].Load()
		}
		t.InternalBytes += sh.InternalBytes.Load()
		t.InternalPackets += sh.InternalPackets.Load()
		t.Overflow += sh.Overflow.Load()
		t.SweepTimeouts += sh.SweepTimeouts.Load()
		t.PacketsRead += sh.PacketsRead.Load()
		t.FlowsActive += uint64(max(sh.FlowsActive.Load(), 0))
		for i := range t.NamedBytes {
			t.NamedBytes[i] += sh.NamedBytes[i].Load()
			t.NamedFlows[i] += sh.NamedFlows[i].Load()
		}
		for i := range t.Skipped {
			t.Skipped[i] += sh.Skipped[i].Load()
		}
		for i := range t.Evicted {
			t.Evicted[i] += sh.Evicted[i].Load()
		}
		for r := range t.RTT {
			for i := range t.RTT[r] {
				t.RTT[r][i] += sh.RTT[r][i].Load()
			}
			t.RTTSum[r] += sh.RTTSum[r].Load()
		}
		t.RTTBytes += sh.RTTBytes.Load()
	}
	return t
}
