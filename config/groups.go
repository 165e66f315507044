package config

import (
	"net/netip"
	"slices"

	"github.com/borderwatch/borderwatch/lpm"
)

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
	t     *lpm.Table
	names []string
}

// NewGroupMatcher builds a matcher. When the same prefix is listed by two
// groups (Parse rejects that), the first group keeps it.
func NewGroupMatcher(groups []ClientGroup) *GroupMatcher {
	m := &GroupMatcher{}
	var entries []lpm.Entry
	for i, g := range groups {
		m.names = append(m.names, g.Name)
		for _, p := range g.Prefixes {
			entries = append(entries, lpm.Entry{Prefix: p, Value: int32(i)})
		}
	}
	m.t = lpm.New(entries)
	return m
}

// Group returns the client group of a.
func (m *GroupMatcher) Group(a netip.Addr) string {
	if i, ok := m.t.Lookup(a); ok {
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
