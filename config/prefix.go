package config

import (
	"net/netip"
	"slices"
)

// PrefixSet answers whether an address is in any of a set of prefixes. It
// is immutable and safe for concurrent use; Contains does not allocate.
type PrefixSet struct {
	v4, v6 []netip.Prefix // most specific first
}

// NewPrefixSet builds a set.
func NewPrefixSet(prefixes []netip.Prefix) *PrefixSet {
	s := &PrefixSet{}
	for _, p := range prefixes {
		p = p.Masked()
		if p.Addr().Is4() {
			s.v4 = append(s.v4, p)
		} else {
			s.v6 = append(s.v6, p)
		}
	}
	return s
}

// Contains reports whether a is in the set (IPv4-mapped IPv6 is unmapped).
func (s *PrefixSet) Contains(a netip.Addr) bool {
	a = a.Unmap()
	list := s.v6
	if a.Is4() {
		list = s.v4
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientGroup names a set of local prefixes.
type ClientGroup struct {
	Name     string         `yaml:"name"`
	Prefixes []netip.Prefix `yaml:"prefixes"`
}

// GroupMatcher finds the client group of a local address: the group of the
// most specific matching prefix, or "default".
type GroupMatcher struct {
	entries []groupEntry // sorted by prefix length, longest first
}

type groupEntry struct {
	p    netip.Prefix
	name string
}

// DefaultGroup is the client group of addresses no group covers.
const DefaultGroup = "default"

// NewGroupMatcher builds a matcher.
func NewGroupMatcher(groups []ClientGroup) *GroupMatcher {
	m := &GroupMatcher{}
	for _, g := range groups {
		for _, p := range g.Prefixes {
			m.entries = append(m.entries, groupEntry{p.Masked(), g.Name})
		}
	}
	slices.SortStableFunc(m.entries, func(a, b groupEntry) int { return b.p.Bits() - a.p.Bits() })
	return m
}

// Group returns the client group of a.
func (m *GroupMatcher) Group(a netip.Addr) string {
	a = a.Unmap()
	for _, e := range m.entries {
		if e.p.Contains(a) {
			return e.name
		}
	}
	return DefaultGroup
}

// Groups returns the group names, for documentation and tests.
func (m *GroupMatcher) Groups() []string {
	var out []string
	for _, e := range m.entries {
		if !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}
