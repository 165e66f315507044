// Package pipeline connects the stages: frames are decoded (capture), kept
// in per-worker flow tables (flow), named (names), classified (apps), placed
// (geo, regions, client groups) and counted (metrics). Each worker owns its
// decoder, flow table, name tracker, geo cache and counter shard, so the
// per-packet path takes no lock.
package pipeline

import (
	"net/netip"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/lpm"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/place"
)

// Config configures the pipeline.
type Config struct {
	// Workers is the number of flow workers (at least 1).
	Workers int
	Flow    flow.Config // MaxFlows is the total over all workers
	Names   names.Config
	// SeriesLimit is the traffic series budget; ASNLabel adds the asn label.
	SeriesLimit int
	ASNLabel    bool
	// CloudRegionLabel adds the cloud_region label (the published range's
	// region, "unknown" outside the providers' ranges).
	CloudRegionLabel bool
	// Endpoints keeps per-remote-address totals for the read report, at
	// most MaxEndpoints addresses (the rest are summed as one "other").
	// The read report is the first sink: it waits rather than drop.
	Endpoints    bool
	MaxEndpoints int
	// Sink, if set, receives every ended flow through a queue of
	// SinkQueue flows. When the queue is full an ended flow is dropped and
	// counted (borderwatch_flow_sink_dropped_total), or with SinkWait the
	// worker waits (for files, where waiting only slows the reader).
	Sink      Sink
	SinkQueue int
	SinkWait  bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 1, Flow: flow.DefaultConfig(), Names: names.DefaultConfig(), SeriesLimit: 10000, MaxEndpoints: 1 << 20, SinkQueue: 4096}
}

// Policy is what the workers need besides the packets: databases and local
// networks to gather a flow's facts, and what placement (package place)
// applies to them: catalog, home region, client groups. It is immutable; a
// reload swaps in a new one. NewPolicy (policy.go) builds it from a
// configuration.
type Policy struct {
	Geo    *geo.Resolver
	Apps   *apps.Catalog
	Local  *lpm.Set
	Groups *config.GroupMatcher
	// Home is the set of home-region country codes; empty means none is
	// configured (then every region label is "unknown").
	Home map[string]bool
	// HomeRegion lists the same codes, sorted.
	HomeRegion []string
	// LocalAddrs are extra local addresses (the capture interfaces' own).
	LocalAddrs []netip.Addr
	// Site is where borderwatch captures, nil if not configured.
	Site *place.Site
}

func (p *Policy) isLocal(a netip.Addr) bool {
	for _, l := range p.LocalAddrs {
		if l == a {
			return true
		}
	}
	return p.Local.Contains(a)
}

// Placement returns the part of the policy that placement (package
// place) applies to a flow's facts.
func (p *Policy) Placement() place.Policy {
	return place.Policy{Home: p.Home, Apps: p.Apps, Groups: p.Groups, Site: p.Site}
}
