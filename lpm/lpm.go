// Package lpm is longest-prefix matching for the packet path: immutable
// tables that map an address to the value of the most specific of a set
// of prefixes (Table), or say whether any prefix contains it (Set). A
// table flattens nested or disjoint prefixes into sorted, disjoint address
// ranges once, at build time; a lookup is a binary search that takes no
// lock and does not allocate. borderwatch uses it for local networks,
// client groups and, for placement, published address ranges.
package lpm

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// prefixTable is the table of one address family.
type prefixTable struct {
	ranges []addrRange // sorted by start; each runs to the next one's start
	// An IPv4 table also has its starts as 32-bit numbers (a lookup
	// compares 32-bit numbers, not 128-bit ones built from the address),
	// and a large one, per /16, the first range starting in it (jump has
	// 2^16+1 entries): a lookup searches only the ranges that start in its
	// /16, in one cache-friendly array, instead of the whole table.
	starts4 []uint32
	vals4   []int32
	jump    []uint32
}

// jumpMin is the size from which an IPv4 table gets its /16 index (256
// KiB): smaller ones are searched in a few cache lines anyway.
const jumpMin = 4096

// index4 builds the IPv4 index of a built table of IPv4 ranges.
func (t *prefixTable) index4() {
	n := 0
	for _, r := range t.ranges {
		if r.start.hi != 0 || r.start.lo>>32 != 0xffff {
			break // past the IPv4 space (the bound after 255.255.255.255)
		}
		n++
	}
	t.starts4, t.vals4 = make([]uint32, n), make([]int32, n)
	for i, r := range t.ranges[:n] {
		t.starts4[i], t.vals4[i] = uint32(r.start.lo), r.v
	}
	if len(t.ranges) < jumpMin {
		return
	}
	t.jump = make([]uint32, 1<<16+1)
	i := 0
	for h := range 1 << 16 {
		for i < len(t.starts4) && t.starts4[i] < uint32(h)<<16 {
			i++
		}
		t.jump[h] = uint32(i)
	}
	t.jump[1<<16] = uint32(len(t.starts4))
}

// lookup4 is lookup for an IPv4 address x in an indexed table.
func (t *prefixTable) lookup4(x uint32) (int32, bool) {
	lo, hi := 0, len(t.starts4)
	if t.jump != nil {
		h := x >> 16
		lo, hi = int(t.jump[h]), int(t.jump[h+1])
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x < t.starts4[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	// lo is the first range starting after x (or the first of the next
	// /16s): x is in the one before.
	if lo == 0 || t.vals4[lo-1] < 0 {
		return 0, false
	}
	return t.vals4[lo-1], true
}

// addrRange starts at start; v is the value of the most specific prefix
// covering it, or -1 for none.
type addrRange struct {
	start u128
	v     int32
}

// Entry is a prefix and its value (>= 0).
type Entry struct {
	Prefix netip.Prefix
	Value  int32
}

// u128 is an address as a 128-bit number (IPv4 in its mapped form).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

// last returns the last address of prefix p starting at a.
func (a u128) last(p netip.Prefix) u128 {
	host := 128 - p.Bits()
	if p.Addr().Is4() {
		host = 32 - p.Bits()
	}
	switch {
	case host >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		return u128{a.hi | (1<<(host-64) - 1), ^uint64(0)}
	default:
		return u128{a.hi, a.lo | (1<<host - 1)}
	}
}

// next returns a+1, and false when a is the last address.
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

// Canonical masks p and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) into its IPv4 form.
func Canonical(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// build fills the table from prefixes of one family. When the same prefix
// is listed twice, the first value stays.
func (t *prefixTable) build(entries []Entry) {
	type span struct {
		first, last u128
		v           int32
		i           int32 // input order
	}
	spans := make([]span, 0, len(entries))
	for i, e := range entries {
		first := toU128(e.Prefix.Addr())
		spans = append(spans, span{first, first.last(e.Prefix), e.Value, int32(i)})
	}
	// Outer prefixes before the ones they contain; equal ones in input
	// order (a total order, so an unstable sort is enough: a stable one
	// cost most of the daemon's start-up).
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.first.less(b.first):
			return -1
		case b.first.less(a.first):
			return 1
		case b.last.less(a.last):
			return -1
		case a.last.less(b.last):
			return 1
		}
		return int(a.i - b.i)
	})
	bounds := make([]u128, 0, 2*len(spans))
	for _, s := range spans {
		bounds = append(bounds, s.first)
		if n, ok := s.last.next(); ok {
			bounds = append(bounds, n)
		}
	}
	slices.SortFunc(bounds, func(a, b u128) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
	bounds = slices.Compact(bounds)
	// Sweep the bounds with a stack of the prefixes covering them (prefixes
	// nest or are disjoint, so the innermost is on top).
	var stack []span
	i := 0
	for _, b := range bounds {
		for len(stack) > 0 && stack[len(stack)-1].last.less(b) {
			stack = stack[:len(stack)-1]
		}
		for ; i < len(spans) && spans[i].first == b; i++ {
			if n := len(stack); n > 0 && stack[n-1].first == spans[i].first && stack[n-1].last == spans[i].last {
				continue // the same prefix again: the first value stays
			}
			stack = append(stack, spans[i])
		}
		v := int32(-1)
		if len(stack) > 0 {
			v = stack[len(stack)-1].v
		}
		if n := len(t.ranges); n == 0 || t.ranges[n-1].v != v {
			t.ranges = append(t.ranges, addrRange{b, v})
		}
	}
}

// lookup returns the value of the most specific prefix containing a.
func (t *prefixTable) lookup(a netip.Addr) (int32, bool) {
	x := toU128(a)
	lo, hi := 0, len(t.ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x.less(t.ranges[mid].start) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 || t.ranges[lo-1].v < 0 {
		return 0, false
	}
	return t.ranges[lo-1].v, true
}

// Table maps an address to the value of the most specific prefix that
// contains it. It is immutable and safe for concurrent use.
type Table struct{ v4, v6 prefixTable }

// New builds a table. Prefixes are masked; IPv4-mapped IPv6 prefixes count
// as IPv4; invalid ones and negative values are ignored. When the same
// prefix is listed twice, the first value stays.
func New(entries []Entry) *Table {
	f := &Table{}
	n4 := 0
	for _, e := range entries {
		if e.Prefix.Addr().Unmap().Is4() {
			n4++
		}
	}
	v4, v6 := make([]Entry, 0, n4), make([]Entry, 0, len(entries)-n4)
	for _, e := range entries {
		if !e.Prefix.IsValid() || e.Value < 0 {
			continue
		}
		e.Prefix = Canonical(e.Prefix)
		if e.Prefix.Addr().Is4() {
			v4 = append(v4, e)
		} else {
			v6 = append(v6, e)
		}
	}
	f.v4.build(v4)
	f.v4.index4()
	f.v6.build(v6)
	return f
}

// Lookup returns the value of the most specific prefix containing a. An
// IPv4-mapped IPv6 address is matched as IPv4; the zone of an IPv6
// address is ignored. It does not allocate.
func (f *Table) Lookup(a netip.Addr) (int32, bool) {
	a = a.Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		return f.v4.lookup4(binary.BigEndian.Uint32(b[:]))
	case a.Is6():
		return f.v6.lookup(a)
	}
	return 0, false
}

// Set answers whether an address is in any of a set of prefixes.
// It is immutable and safe for concurrent use; Contains does not allocate.
type Set struct {
	t *Table
}

// NewSet builds a set. Prefixes are masked; IPv4-mapped IPv6
// prefixes count as IPv4; invalid ones are ignored.
func NewSet(prefixes []netip.Prefix) *Set {
	entries := make([]Entry, 0, len(prefixes))
	for _, p := range prefixes {
		entries = append(entries, Entry{Prefix: p})
	}
	return &Set{New(entries)}
}

// Contains reports whether a is in the set. An IPv4-mapped IPv6 address
// is matched as IPv4; the zone of an IPv6 address is ignored.
func (s *Set) Contains(a netip.Addr) bool {
	_, ok := s.t.Lookup(a)
	return ok
}
