package metrics

import (
	"sync/atomic"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/names"
)

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
