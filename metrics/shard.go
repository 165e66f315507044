package metrics

import (
	"sync/atomic"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/place"
)

// RTTBuckets are the upper bounds (seconds) of the handshake round-trip
// histogram: 1 ms is about 100 km of fibre away, 100 ms another continent.
var RTTBuckets = [...]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2}

// rttBucketMicros are RTTBuckets in microseconds.
var rttBucketMicros = func() (b [len(RTTBuckets)]uint32) {
	for i, s := range RTTBuckets {
		b[i] = uint32(s * 1e6)
	}
	return b
}()

// NumNameSources is the number of naming sources counted, from names (a
// source added there gets its own counters and label).
const NumNameSources = int(names.NumSources)

// NameSourceNames are the label values of the naming sources, indexed by
// names.Source (whose String gives them).
var NameSourceNames = func() (n [NumNameSources]string) {
	for i := range n {
		n[i] = names.Source(i).String()
	}
	return n
}()

// NameSourceIndex is the counter index of a naming source (unknown values
// count as "none").
func NameSourceIndex(s names.Source) int {
	if int(s) >= NumNameSources {
		return 0
	}
	return int(s)
}

// Shard holds one worker's counters. The worker adds with atomics (at flow
// flush, not per packet, for traffic); the collector reads at any time.
type Shard struct {
	Bytes   []atomic.Uint64 // by series id
	Packets []atomic.Uint64
	Flows   []atomic.Uint64

	InternalBytes   atomic.Uint64
	InternalPackets atomic.Uint64
	NamedBytes      [NumNameSources]atomic.Uint64
	NamedFlows      [NumNameSources]atomic.Uint64
	// Overflow counts flow placements with a label set folded by the
	// series budget (one per placement, whatever the worker's cache).
	Overflow atomic.Uint64
	// SweepTimeouts counts idle-flow sweeps the workers did not finish in
	// time (the pipeline's own shard).
	SweepTimeouts atomic.Uint64

	PacketsRead atomic.Uint64
	Skipped     [capture.NumReasons]atomic.Uint64 // skipped and decode errors, by reason
	FlowsActive atomic.Int64
	Evicted     [flow.NumEvictReasons]atomic.Uint64

	// RTT is the handshake round-trip histogram by the region of the
	// flow's placement: counts per bucket (not cumulative; the last is
	// +Inf) and the sum in microseconds.
	RTT    [place.NumRegions][len(RTTBuckets) + 1]atomic.Uint64
	RTTSum [place.NumRegions]atomic.Uint64
	// RTTBytes counts the bytes of flows placed with a measured round
	// trip (the flow's own or an earlier one's to the same address).
	RTTBytes atomic.Uint64
}

// ObserveRTT counts one handshake round trip of us microseconds for a
// flow placed in region r.
func (sh *Shard) ObserveRTT(r place.Region, us uint32) {
	if r >= place.NumRegions {
		r = place.RegionUnknown
	}
	i := 0
	for i < len(rttBucketMicros) && us > rttBucketMicros[i] {
		i++
	}
	sh.RTT[r][i].Add(1)
	sh.RTTSum[r].Add(uint64(us))
}

// NewShard returns a shard sized for s.
func NewShard(s *Series) *Shard {
	n := s.Cap()
	return &Shard{Bytes: make([]atomic.Uint64, n), Packets: make([]atomic.Uint64, n), Flows: make([]atomic.Uint64, n)}
}

// Add counts traffic for series id.
func (sh *Shard) Add(id uint32, bytes, packets uint64) {
	sh.Bytes[id].Add(bytes)
	sh.Packets[id].Add(packets)
}
