// Package place is where borderwatch decides where a flow's traffic is
// counted: which end of the flow is remote, the direction of each side's
// packets, and the labels of the remote end (country, provider, app,
// region, client group, AS).
//
// Place is pure: it looks nothing up itself (the caller passes the flow's
// facts and the remote address's geo facts), keeps no state, never
// allocates, and the same policy and facts always give the same
// placement. The flow pipeline calls it once per flow (and again when the
// flow learns a name); `borderwatch lookup` and the read report call it
// too, so every user applies the same rule.
//
// The facts are structs so that new evidence extends them without
// changing the call: a measured round-trip time in Flow, a cloud region or
// an anycast mark in geo.Info, a site location in Policy, and how the
// placement was decided (a basis) and the cloud region in Placement.
package place

import (
	"net/netip"
	"time"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
)

// Direction is the direction of traffic relative to the local networks.
type Direction uint8

// Directions. The zero value is DirectionUnknown (a record whose
// direction its exporter did not give).
const (
	DirectionUnknown Direction = iota
	Egress                     // local to remote
	Ingress                    // remote to local
	Transit                    // remote to remote
	Internal                   // local to local: counted, never placed
)

var directionNames = [...]string{"unknown", "egress", "ingress", "transit", "internal"}

// String returns the direction's label value.
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return directionNames[0]
}

// Region says whether the remote country is in the home region.
type Region uint8

// Regions. The zero value is RegionUnknown: the country is unknown, or no
// home region is configured (so that nothing pages before one is chosen).
const (
	RegionUnknown Region = iota
	Home
	Abroad
	// NumRegions is the number of regions.
	NumRegions
)

var regionNames = [...]string{"unknown", "home", "abroad"}

// String returns the region's label value.
func (r Region) String() string {
	if int(r) < len(regionNames) {
		return regionNames[r]
	}
	return regionNames[0]
}

// CountryUnknown is the country label of an address no database places.
const CountryUnknown = "unknown"

// Policy is what placement needs besides the facts. It is immutable; a
// reload makes a new one.
type Policy struct {
	// Home is the set of home-region country codes (ISO 3166-1 alpha-2,
	// upper case). Empty means none is configured.
	Home map[string]bool
	// Apps classifies a flow by its name or the remote AS. Required.
	Apps *apps.Catalog
	// Groups finds the client group of the local address; nil puts every
	// local address in config.DefaultGroup.
	Groups *config.GroupMatcher
	// Site is where borderwatch captures; nil when not configured (then
	// round trips decide nothing).
	Site *Site
}

// RegionOf returns the region of a remote country ("" when unknown). This
// is the region rule, and the only place it is written.
func (p *Policy) RegionOf(country string) Region {
	if country == "" || country == CountryUnknown || len(p.Home) == 0 {
		return RegionUnknown
	}
	if p.Home[country] {
		return Home
	}
	return Abroad
}

// Flow is what placement needs to know about a flow. Endpoints are
// indexed as in package flow: 0 is endpoint A, 1 is endpoint B, and the
// packets of side s (flow.AtoB, flow.BtoA) are the ones endpoint s sends.
type Flow struct {
	// Addr are the endpoints' addresses.
	Addr [2]netip.Addr
	// Local says which endpoints are local.
	Local [2]bool
	// Initiator is the endpoint that sent the flow's first packet.
	Initiator int
	// Name is the name the remote end was reached by (the flow's own SNI,
	// QUIC SNI or HTTP Host, else the client's DNS answer), "" for none.
	Name string
	// RTT is the shortest handshake round trip measured between the
	// capture point and the remote endpoint (this flow's or an earlier
	// one's), 0 when none was.
	RTT time.Duration
}

// Remote returns the flow's remote endpoint: the one that is not local;
// when neither is (transit) or both are (internal), the responder, the
// endpoint that did not send the first packet.
func (f *Flow) Remote() int { return RemoteOf(f.Local, f.Initiator) }

// RemoteOf is Flow.Remote for endpoints' locality and the initiator's
// index, for callers that keep them without a Flow (the workers' entries).
func RemoteOf(local [2]bool, initiator int) int {
	switch {
	case local[0] && !local[1]:
		return 1
	case local[1] && !local[0]:
		return 0
	}
	return 1 - initiator&1
}

// Kind returns Internal for a flow between two local endpoints, Transit
// for one between two remote endpoints, and Egress for the others (whose
// packets are egress on one side and ingress on the other).
func (f *Flow) Kind() Direction {
	switch {
	case f.Local[0] && f.Local[1]:
		return Internal
	case !f.Local[0] && !f.Local[1]:
		return Transit
	}
	return Egress
}

// Placement is where a flow is counted.
type Placement struct {
	// Remote is the remote endpoint (see Flow.Remote).
	Remote int
	// Dir is the direction of each side's packets: Dir[s] for the packets
	// endpoint s sends. Egress on the local endpoint's side, ingress on
	// the remote's; transit or internal on both.
	Dir [2]Direction
	// Country is the remote country's ISO code, or CountryUnknown.
	Country string
	// Provider is the remote AS's hosting provider, geo.ProviderOther or
	// geo.ProviderUnknown.
	Provider string
	// App is the catalog's app id, or apps.Unknown.
	App string
	// Region is the remote country's region.
	Region Region
	// Group is the local endpoint's client group; config.DefaultGroup for
	// transit traffic and unconfigured groups.
	Group string
	// ASN is the remote AS number, 0 when unknown.
	ASN uint32
	// Basis says how Country and Region were decided.
	Basis Basis
	// OperatorCountry is where the provider's operator is headquartered
	// (geo.OperatorCountry of Provider), CloudRegion the published range's
	// region ("" when none).
	OperatorCountry string
	CloudRegion     string
}

// Place places a flow: g are the geo facts of the flow's remote address
// (f.Addr[f.Remote()]). An internal flow gets only its directions.
//
// The country is the published range's (cloud region, geofeed), else the
// database's; an anycast edge has none. With a site and a measured round
// trip, a country farther than the round trip allows is never reported
// (see Basis), and when every country within reach is in one region, that
// region is the flow's.
func Place(p *Policy, f *Flow, g *geo.Info) Placement {
	pl := Placement{Remote: f.Remote()}
	kind := f.Kind()
	if kind == Internal {
		pl.Dir = [2]Direction{Internal, Internal}
		return pl
	}
	pl.Group = config.DefaultGroup
	if kind == Transit {
		pl.Dir = [2]Direction{Transit, Transit}
	} else {
		local := 1 - pl.Remote
		pl.Dir[local], pl.Dir[pl.Remote] = Egress, Ingress
		if p.Groups != nil {
			pl.Group = p.Groups.Group(f.Addr[local])
		}
	}
	pl.Country, pl.Region, pl.Basis = p.locate(g, f.RTT)
	pl.Provider = g.Operator() // the publisher of a range, also where the AS data lacks it
	if pl.Provider == "" {
		pl.Provider = geo.ProviderUnknown
	}
	pl.OperatorCountry = geo.OperatorCountry(pl.Provider)
	pl.CloudRegion = g.CloudRegion()
	pl.App = p.Apps.Classify(f.Name, g.ASN)
	pl.ASN = g.ASN
	return pl
}
