package pipeline

import (
	"unsafe"

	"github.com/borderwatch/borderwatch/internal/mem"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/place"
)

// seriesCache is a worker's cache of the series ids of a placement's two
// sides, by the label set of side 0 and the direction of side 1 (the
// sides' label sets differ only in their direction): one lookup places a
// flow. An open-addressed table, bounded, without locks. Its hash is of each
// label's string header (data pointer and length), not of the bytes: the
// label values come from a few long-lived strings (country codes,
// providers, apps, groups, the worker's AS number labels), so equal labels
// nearly always share their pointers, and hashing ten headers costs far
// less than hashing ten strings (a tenth of a new flow's time with a Go
// map). Correctness does not depend on it: a hit compares the labels
// themselves, and equal labels of different pointers only take two slots
// holding the same id.
type seriesCache struct {
	slots []seriesSlot
	mask  uint64
	n     int
	max   int // entries kept; past it, misses are not cached
}

type seriesSlot struct {
	used bool
	dir1 place.Direction
	l    metrics.Labels
	r    [2]seriesRef
}

// newSeriesCache returns a cache of at most max entries. The table grows
// by doubling, kept at most half full, as label sets come.
func newSeriesCache(max int) *seriesCache {
	return &seriesCache{max: max}
}

func strWord(s string) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.StringData(s)))) ^ uint64(len(s))<<48
}

func labelsHash(l *metrics.Labels, dir1 place.Direction) uint64 {
	h := uint64(0x243f6a8885a308d3) + uint64(dir1)
	for _, s := range [...]string{l.Direction, l.Country, l.Provider, l.App, l.Region, l.Basis, l.ClientGroup, l.OperatorCountry, l.ASN, l.CloudRegion} {
		h = (h ^ strWord(s)) * 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	return h
}

// get returns the cached ids of side 0's labels l and side 1's direction.
func (c *seriesCache) get(l *metrics.Labels, dir1 place.Direction) ([2]seriesRef, bool) {
	if c.slots == nil {
		return [2]seriesRef{}, false
	}
	for i := labelsHash(l, dir1) & c.mask; ; i = (i + 1) & c.mask {
		s := &c.slots[i]
		if !s.used {
			return [2]seriesRef{}, false
		}
		if s.dir1 == dir1 && s.l == *l {
			return s.r, true
		}
	}
}

// put caches the ids while there is room.
func (c *seriesCache) put(l *metrics.Labels, dir1 place.Direction, r [2]seriesRef) {
	if c.n >= c.max {
		return
	}
	if 2*(c.n+1) > len(c.slots) {
		c.grow()
	}
	for i := labelsHash(l, dir1) & c.mask; ; i = (i + 1) & c.mask {
		s := &c.slots[i]
		if !s.used {
			*s = seriesSlot{used: true, dir1: dir1, l: *l, r: r}
			c.n++
			return
		}
		if s.dir1 == dir1 && s.l == *l {
			return
		}
	}
}

func (c *seriesCache) grow() {
	old := c.slots
	size := max(64, 2*len(old))
	c.slots, c.mask, c.n = make([]seriesSlot, size), uint64(size-1), 0
	mem.Prefault(c.slots)
	for i := range old {
		if old[i].used {
			c.put(&old[i].l, old[i].dir1, old[i].r)
		}
	}
}

// reset empties the cache (a new policy: its labels may differ).
func (c *seriesCache) reset() {
	clear(c.slots)
	c.n = 0
}
