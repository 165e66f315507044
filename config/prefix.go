package config

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// prefixTable finds the most specific of a set of prefixes containing an
// address, and the value stored with it. Built once, it flattens the
// (nested or disjoint) prefixes into sorted, disjoint address ranges each
// holding the value of its most specific prefix; a lookup is a binary
// search that takes no lock and does not allocate.
type prefixTable struct {
	ranges []addrRange // sorted by start; each runs to the next one's start
}

// addrRange starts at start; v is the value of the most specific prefix
// covering it, or -1 for none.
type addrRange struct {
	start u128
	v     int32
}

type prefixValue struct {
	p netip.Prefix
	v int32
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

// canonicalPrefix masks p and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) into its IPv4 form.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// build fills the table from prefixes of one family. When the same prefix
// is listed twice, the first value stays.
func (t *prefixTable) build(entries []prefixValue) {
	type span struct {
		first, last u128
		v           int32
	}
	spans := make([]span, 0, len(entries))
	for _, e := range entries {
		first := toU128(e.p.Addr())
		spans = append(spans, span{first, first.last(e.p), e.v})
	}
	// Outer prefixes before the ones they contain; equal ones in input order.
	slices.SortStableFunc(spans, func(a, b span) int {
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
		return 0
	})
	var bounds []u128
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

// familyTables splits entries into an IPv4 and an IPv6 table.
type familyTables struct{ v4, v6 prefixTable }

func (f *familyTables) build(entries []prefixValue) {
	var v4, v6 []prefixValue
	for _, e := range entries {
		if !e.p.IsValid() {
			continue
		}
		e.p = canonicalPrefix(e.p)
		if e.p.Addr().Is4() {
			v4 = append(v4, e)
		} else {
			v6 = append(v6, e)
		}
	}
	f.v4.build(v4)
	f.v6.build(v6)
}

func (f *familyTables) lookup(a netip.Addr) (int32, bool) {
	a = a.Unmap()
	switch {
	case a.Is4():
		return f.v4.lookup(a)
	case a.Is6():
		return f.v6.lookup(a)
	}
	return 0, false
}

// PrefixSet answers whether an address is in any of a set of prefixes.
// It is immutable and safe for concurrent use; Contains does not allocate.
type PrefixSet struct {
	t familyTables
}

// NewPrefixSet builds a set. Prefixes are masked; IPv4-mapped IPv6
// prefixes count as IPv4; invalid ones are ignored.
func NewPrefixSet(prefixes []netip.Prefix) *PrefixSet {
	entries := make([]prefixValue, 0, len(prefixes))
	for _, p := range prefixes {
		entries = append(entries, prefixValue{p: p})
	}
	s := &PrefixSet{}
	s.t.build(entries)
	return s
}

// Contains reports whether a is in the set. An IPv4-mapped IPv6 address
// is matched as IPv4; the zone of an IPv6 address is ignored.
func (s *PrefixSet) Contains(a netip.Addr) bool {
	_, ok := s.t.lookup(a)
	return ok
}

// ClientGroup names a set of local prefixes.
type ClientGroup struct {
	Name     string
	Prefixes []netip.Prefix
}

// DefaultGroup is the client group of local addresses no group covers.
const DefaultGroup = "default"

// GroupMatcher finds the client group of a local address: the group of
// the most specific prefix containing it, or DefaultGroup. It is
// immutable and safe for concurrent use; Group does not allocate.
type GroupMatcher struct {
	t     familyTables
	names []string
}

// NewGroupMatcher builds a matcher. When the same prefix is listed by two
// groups (Parse rejects that), the first group keeps it.
func NewGroupMatcher(groups []ClientGroup) *GroupMatcher {
	m := &GroupMatcher{}
	var entries []prefixValue
	for i, g := range groups {
		m.names = append(m.names, g.Name)
		for _, p := range g.Prefixes {
			entries = append(entries, prefixValue{p, int32(i)})
		}
	}
	m.t.build(entries)
	return m
}

// Group returns the client group of a.
func (m *GroupMatcher) Group(a netip.Addr) string {
	if i, ok := m.t.lookup(a); ok {
		return m.names[i]
	}
	return DefaultGroup
}

// Groups returns the label values Group can return, DefaultGroup
// included, sorted.
func (m *GroupMatcher) Groups() []string {
	out := append(slices.Clone(m.names), DefaultGroup)
	slices.Sort(out)
	return slices.Compact(out)
}
