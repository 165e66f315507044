package pipeline

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/place"
)

// Sink receives every flow that ends, one at a time, on one goroutine of
// the pipeline's own (never a worker's). The EndedFlow is valid only
// during the call.
type Sink interface {
	Flow(f *EndedFlow)
}

// EndedFlow is a flow that left its worker's table. Endpoints are indexed
// as in package place: 0 is endpoint A, 1 is endpoint B; Bytes[s] and
// Packets[s] are what endpoint s sent over the flow's whole life.
type EndedFlow struct {
	Addr    [2]netip.Addr
	Port    [2]uint16
	Proto   uint8
	First   int64 // unix ns of the first packet or record
	Last    int64 // unix ns of the last one
	Bytes   [2]uint64
	Packets [2]uint64
	// Reason says why it ended: idle or active timeout, capacity (evicted
	// for a new flow), or end (end of input, shutdown).
	Reason flow.EvictReason
	// Name and NameSource are the flow's name and where it came from.
	Name       string
	NameSource names.Source
	// Placement is where the flow's traffic was counted (for an internal
	// flow only its directions), Geo the remote address's geo facts.
	Placement place.Placement
	Geo       geo.Info
	// RTT is the shortest round trip measured to the remote endpoint (this
	// flow's handshake or an earlier flow's), 0 when none was.
	RTT time.Duration
}

// sinkItem is an ended flow in the sink queue, or (done != nil) a marker
// acknowledged once every flow queued before it was handled.
type sinkItem struct {
	flow EndedFlow
	done chan struct{}
}

// sinkQueue feeds the sink from the workers: bounded, and either dropping
// (counted) or waiting when full.
type sinkQueue struct {
	sink    Sink
	q       chan sinkItem
	wait    bool
	flows   atomic.Uint64
	dropped atomic.Uint64
	stopped chan struct{}
}

func newSinkQueue(s Sink, size int, wait bool) *sinkQueue {
	if size < 1 {
		size = 1
	}
	sq := &sinkQueue{sink: s, q: make(chan sinkItem, size), wait: wait, stopped: make(chan struct{})}
	go sq.run()
	return sq
}

func (sq *sinkQueue) run() {
	defer close(sq.stopped)
	for it := range sq.q {
		if it.done != nil {
			close(it.done)
			continue
		}
		sq.sink.Flow(&it.flow)
	}
}

// put queues f; called by the workers.
func (sq *sinkQueue) put(f *EndedFlow) {
	if sq.wait {
		sq.q <- sinkItem{flow: *f}
		sq.flows.Add(1)
		return
	}
	select {
	case sq.q <- sinkItem{flow: *f}:
		sq.flows.Add(1)
	default:
		sq.dropped.Add(1)
	}
}

// sync returns once every flow queued so far was handled.
func (sq *sinkQueue) sync() {
	done := make(chan struct{})
	sq.q <- sinkItem{done: done}
	<-done
}

// close stops the sink goroutine after the flows queued so far.
func (sq *sinkQueue) close() {
	close(sq.q)
	<-sq.stopped
}

// Endpoint is the read report's per-remote-address total.
type Endpoint struct {
	Addr                          netip.Addr
	Name, App, Country, Org       string
	Provider                      string
	ASN                           uint32
	EgressBytes, IngressBytes     uint64
	EgressPackets, IngressPackets uint64
	TransitBytes, TransitPackets  uint64
	Flows                         uint64
	// Country and Basis are the placement's (of the flow with the
	// shortest round trip), DBCountry the database's; MinRTT is the
	// shortest round trip measured, 0 if none was.
	Basis               place.Basis
	DBCountry           string
	MinRTT              time.Duration
	nameSource          names.Source
	nameFirst, appFirst int64 // start of the flow that gave Name, App
}

// offerName offers the name of a flow that started at first. A name the
// flows carried themselves (SNI, QUIC, HTTP Host) beats a name from a DNS
// answer (the question of a CNAME chain is often not the name the client
// then asks the server for); between names of the same kind the earliest
// flow's wins (then the smaller name), so that the report does not depend
// on the order in which the workers end their flows.
func (ep *Endpoint) offerName(name string, src names.Source, first int64) {
	if name == "" {
		return
	}
	own, had := src != names.SourceDNS, ep.nameSource != names.SourceDNS
	if ep.Name == "" || (own && !had) || (own == had && earlier(first, name, ep.nameFirst, ep.Name)) {
		ep.Name, ep.nameSource, ep.nameFirst = name, src, first
	}
}

// offerApp offers the app of a flow that started at first: a known app
// beats apps.Unknown, and the earliest flow's wins.
func (ep *Endpoint) offerApp(app string, first int64) {
	if app == "" || (app == apps.Unknown && ep.App != "") {
		return
	}
	if ep.App == "" || ep.App == apps.Unknown || earlier(first, app, ep.appFirst, ep.App) {
		ep.App, ep.appFirst = app, first
	}
}

func earlier(t1 int64, s1 string, t2 int64, s2 string) bool {
	return t1 < t2 || (t1 == t2 && s1 < s2)
}

// EndpointTotals is the sink of the read report: per remote address, its
// placement and the bytes and packets exchanged with it, for at most max
// addresses (the rest are summed as Other). Internal flows are left out.
type EndpointTotals struct {
	max   int
	m     map[netip.Addr]*Endpoint
	list  []*Endpoint
	Other Endpoint
}

// NewEndpointTotals returns an empty sink for at most max addresses.
func NewEndpointTotals(max int) *EndpointTotals {
	return &EndpointTotals{max: max, m: map[netip.Addr]*Endpoint{}}
}

// Flow implements Sink.
func (t *EndpointTotals) Flow(f *EndedFlow) {
	pl := &f.Placement
	if pl.Dir[0] == place.Internal {
		return
	}
	rs := pl.Remote
	remote := f.Addr[rs]
	ep := t.m[remote]
	if ep == nil {
		if len(t.m) >= t.max {
			ep = &t.Other
		} else {
			ep = &Endpoint{Addr: remote, Country: pl.Country, Basis: pl.Basis, DBCountry: f.Geo.Country, Org: f.Geo.Org, Provider: pl.Provider, ASN: f.Geo.ASN}
			t.m[remote] = ep
			t.list = append(t.list, ep)
		}
	}
	if f.RTT > 0 && (ep.MinRTT == 0 || f.RTT < ep.MinRTT) {
		// The best informed placement: the one with the shortest round trip.
		ep.MinRTT, ep.Country, ep.Basis = f.RTT, pl.Country, pl.Basis
	}
	ep.offerName(f.Name, f.NameSource, f.First)
	ep.offerApp(pl.App, f.First)
	ep.Flows++
	if pl.Dir[0] == place.Transit {
		ep.TransitBytes += f.Bytes[0] + f.Bytes[1]
		ep.TransitPackets += f.Packets[0] + f.Packets[1]
		return
	}
	local := 1 - rs
	ep.EgressBytes += f.Bytes[local]
	ep.EgressPackets += f.Packets[local]
	ep.IngressBytes += f.Bytes[rs]
	ep.IngressPackets += f.Packets[rs]
}

// Endpoints returns the addresses in the order first seen, and the total
// of those past the limit. Call it once the pipeline is finished.
func (t *EndpointTotals) Endpoints() ([]*Endpoint, Endpoint) { return t.list, t.Other }
