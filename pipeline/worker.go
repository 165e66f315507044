package pipeline

import (
	"cmp"
	"net/netip"
	"strconv"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/place"
)

// Entry flags (flow.Entry.Flags).
const (
	flagLocalA    = 1 << iota // endpoint A is local
	flagLocalB                // endpoint B is local
	flagPlaced                // series ids assigned
	flagRename                // name changed since placement: place again
	flagNameDone              // stop feeding the name tracker
	flagCounted               // counted in flows_total
	flagRTTPlaced             // placed with a measured round trip
)

// maxNamingWait bounds how long a flow the name tracker is still watching
// (no payload yet: SYNs retransmitted, keepalives of a connection caught
// mid-way; or part of a first flight) stays unplaced after namingWindow.
const maxNamingWait = 15 * namingWindow

// namingWindow is how long (packet time, from a flow's first packet) a
// flow's bytes are held unplaced while its name may still come: a flow is
// placed once, as soon as it carries a name (SNI, QUIC SNI, HTTP Host) or
// when this window has passed (then with the client's DNS answer, if any),
// so that where its bytes land does not depend on when anyone scrapes. The
// name is in the first client flight; the window also lets a DNS answer
// that comes just after the flow's first packet name it.
const namingWindow = int64(2 * time.Second)

// maxNamedPackets bounds how many packets of a flow are shown to the name
// tracker: handshakes are in the first client flight.
const maxNamedPackets = 16

// nameRingSize is the number of flow names a worker remembers for reports.
const nameRingSize = 1 << 16

// Worker owns one shard of the flows. Not safe for concurrent use, except
// for the atomics its collector reads.
type Worker struct {
	p       *Pipeline
	table   *flow.Table
	tracker *names.Tracker
	geo     *geo.Cache
	geoOf   *geo.Resolver
	shard   *metrics.Shard

	names    [nameRingSize]string
	nameGen  [nameRingSize]uint16
	nameNext uint32

	dns dnsLearner
	// dnsLearned: the batch being handled came from a dispatcher that
	// learned its DNS answers itself (see Dispatcher.frame).
	dnsLearned bool
	next       int                      // the packet of the batch being handled (handle)
	keys       [2 * keysAhead]packetKey // of packets next and after (handle)

	seriesCache *seriesCache
	asnLabels   map[uint32]string
	placement   place.Policy // the current policy's placement part
	ended       EndedFlow    // scratch for the sink queue
	folded      bool         // a series id of the current placement is a fold
	policy      *Policy
	input       Input // of the batch being handled
}

func newWorker(p *Pipeline, maxFlows int) *Worker {
	w := &Worker{p: p, shard: metrics.NewShard(p.series), seriesCache: newSeriesCache(4 * p.series.Limit()), asnLabels: map[uint32]string{}}
	fc := p.cfg.Flow
	fc.MaxFlows = maxFlows
	w.table = flow.New(fc, w.evict)
	w.table.SetVisit(w.visit)
	w.tracker = names.NewTracker(p.cfg.Names, p.nameStats)
	w.dns.init(p)
	return w
}

// Shard returns the worker's counters.
func (w *Worker) Shard() *metrics.Shard { return w.shard }

// refreshPolicy picks up a reloaded policy; called between packets.
func (w *Worker) refreshPolicy() {
	pol := w.p.policy.Load()
	if pol == w.policy {
		return
	}
	w.policy = pol
	w.placement = pol.Placement()
	if w.geoOf != pol.Geo {
		w.geoOf = pol.Geo
		w.geo = pol.Geo.NewCache()
	}
	w.seriesCache.reset()
}

// Handle counts one decoded packet into its flow.
func (w *Worker) Handle(p *capture.Packet) {
	var pk packetKey
	w.keyOf(p, &pk)
	w.handleKeyed(p, &pk)
}

// packetKey is a packet's flow key, its hash and direction.
type packetKey struct {
	k       flow.Key
	h       uint64
	reverse bool
}

// keyOf computes p's flow key into pk.
func (w *Worker) keyOf(p *capture.Packet, pk *packetKey) {
	pk.k, pk.reverse = flow.MakeKey(p.Src, p.Dst, p.SrcPort, p.DstPort, p.Proto, p.IPv6, p.Context)
	pk.k.Input = uint8(w.input)
	pk.h = pk.k.Hash()
}

// keysAhead is how many packets of a batch ahead of the one handled the
// worker computes flow keys for and prefetches their table slots
// (flow.Table.Prefetch): a table larger than the cache costs a memory load
// per packet, and prefetched loads overlap instead of following one
// another. The ring of keys holds twice as many, the packet's own and those
// ahead.
const keysAhead = 8

func (w *Worker) handleKeyed(p *capture.Packet, pk *packetKey) {
	k, h := &pk.k, pk.h
	e, created := w.table.Get(k, h, p.Timestamp)
	side := flow.AtoB
	if pk.reverse {
		side = flow.BtoA
	}
	if created {
		w.shard.FlowsActive.Add(1)
		e.Initiator = uint8(side)
		if p.Proto == 6 && p.TCPFlags&(capture.FlagSYN|capture.FlagACK) == capture.FlagSYN|capture.FlagACK {
			// The capture begins with the server's SYN/ACK: the client is
			// its receiver.
			e.Initiator = uint8(1 - side)
		}
		pol := w.policy
		if pol.isLocal(addrOf(&k.A, k.V6)) {
			e.Flags |= flagLocalA
		}
		if pol.isLocal(addrOf(&k.B, k.V6)) {
			e.Flags |= flagLocalB
		}
		if e.Flags&(flagLocalA|flagLocalB) == flagLocalA|flagLocalB {
			e.Flags |= flagNameDone | flagPlaced // internal: never named, counted as is
		}
		rttStart(e, p, side)
	} else if e.RTT&rttWait != 0 {
		if us := rttAnswer(e, p, side); us != 0 {
			w.measured(e, us)
		}
	}
	n := uint64(max(p.Scale, 1))
	w.add(e, side, uint64(p.IPLen)*n, n)

	if len(p.Payload) > 0 {
		if !w.dnsLearned && w.p.isDNSAnswer(p) {
			w.dns.answer(p)
		}
		if e.Flags&flagNameDone == 0 {
			w.feedName(e, h, p, side)
		}
	}
	if e.Flags&flagPlaced == 0 && ready(e, p.Timestamp) {
		w.flushEntry(e)
	}
	w.table.ExpireInput(uint8(w.input), p.Timestamp, 2)
}

// handle handles a batch's records, then its packets. A memory fault on the
// way (a payload in a mapped capture file that shrank while it was read:
// capture.MappedFault) drops the rest of the batch, counted as decode
// errors of reason file_changed, instead of crashing.
func (w *Worker) handle(b *batch) {
	w.next = 0
	defer func() {
		if r := recover(); r != nil {
			if !capture.MappedFault(r) {
				panic(r)
			}
			w.shard.Skipped[capture.ReasonFileChanged].Add(uint64(len(b.pkts) - w.next))
		}
	}()
	for i := range b.recs {
		w.HandleRecord(&b.recs[i])
	}
	pkts := b.pkts
	for i := range min(keysAhead, len(pkts)) {
		w.keyOf(&pkts[i], &w.keys[i])
	}
	for ; w.next < len(pkts); w.next++ {
		if j := w.next + keysAhead; j < len(pkts) {
			pk := &w.keys[j%(2*keysAhead)]
			w.keyOf(&pkts[j], pk)
			w.table.Prefetch(pk.h)
		}
		w.handleKeyed(&pkts[w.next], &w.keys[w.next%(2*keysAhead)])
	}
}

// add counts packets of side into the flow's totals and, once the flow is
// placed, into the shard (an unplaced flow's totals are counted when it is
// placed).
func (w *Worker) add(e *flow.Entry, side int, bytes, packets uint64) {
	e.Bytes[side] += bytes
	e.Packets[side] += packets
	if e.Flags&flagPlaced != 0 {
		w.count(e, side, bytes, packets)
	}
}

// count adds packets of a placed flow to the shard.
func (w *Worker) count(e *flow.Entry, side int, bytes, packets uint64) {
	if e.Flags&(flagLocalA|flagLocalB) == flagLocalA|flagLocalB {
		w.shard.InternalBytes.Add(bytes)
		w.shard.InternalPackets.Add(packets)
		return
	}
	w.shard.Add(e.Series[side], bytes, packets)
	w.shard.NamedBytes[metrics.NameSourceIndex(names.Source(e.NameSource))].Add(bytes)
	if e.Flags&flagRTTPlaced != 0 {
		w.shard.RTTBytes.Add(bytes)
	}
}

// ready reports whether an unplaced flow's name is final at time now: it
// carries one; or its naming window has passed and the name tracker has
// nothing more to learn from it (its handshake, or none, was seen); or it
// has waited maxNamingWait.
func ready(e *flow.Entry, now int64) bool {
	age := now - e.First
	return e.NameRef != 0 || age >= maxNamingWait || age >= namingWindow && e.Flags&flagNameDone != 0
}

// visit is called for the flows the table's sweep passes: a quiet flow is
// placed when its naming window has passed, without waiting for its end.
func (w *Worker) visit(e *flow.Entry, now int64) {
	if e.Flags&flagPlaced == 0 && ready(e, now) {
		w.flushEntry(e)
	}
}

// isDNSAnswer reports whether a packet carries a DNS answer to parse: a
// UDP or TCP payload from one of the DNS ports.
func (p *Pipeline) isDNSAnswer(pk *capture.Packet) bool {
	return len(pk.Payload) > 0 && (pk.Proto == 17 || pk.Proto == 6) && p.dnsPorts.has(pk.SrcPort)
}

// portSet is a set of ports.
type portSet [65536 / 64]uint64

func (s *portSet) add(port uint16)      { s[port/64] |= 1 << (port % 64) }
func (s *portSet) has(port uint16) bool { return s[port/64]&(1<<(port%64)) != 0 }

func (w *Worker) feedName(e *flow.Entry, h uint64, p *capture.Packet, side int) {
	id := h ^ uint64(e.First)
	name, src, done := w.tracker.Feed(id, p.Proto, side == int(e.Initiator), p.TCPSeq, p.Payload)
	if name != "" {
		e.NameRef = w.storeName(name)
		e.NameSource = uint8(src)
		e.Flags |= flagRename
		done = true
	}
	if !done && e.Packets[0]+e.Packets[1] >= maxNamedPackets {
		done = true
	}
	if done {
		e.Flags |= flagNameDone
		w.tracker.Forget(id)
	}
}

// dnsLearner parses DNS answers into the shared name cache. Each worker
// and each dispatcher has its own.
type dnsLearner struct {
	cache *names.Cache
	stats *names.Stats
	// The answer's context, set before ParseDNS calls learn.
	client netip.Addr
	time   time.Time
	learn  func(name string, addr netip.Addr, ttl uint32)
}

func (l *dnsLearner) init(p *Pipeline) {
	l.cache, l.stats = p.nameCache, p.nameStats
	l.learn = l.learnOne
}

// answer learns the names of a DNS answer (isDNSAnswer) for its receiver.
func (l *dnsLearner) answer(p *capture.Packet) {
	l.client = p.DstAddr()
	l.time = time.Unix(0, p.Timestamp)
	_ = names.ParseDNS(p.Payload, p.Proto == 6, l.stats, l.learn)
}

func (l *dnsLearner) learnOne(name string, addr netip.Addr, ttl uint32) {
	l.cache.Learn(l.client, addr, name, ttl, l.time)
}

// storeName keeps name in the worker's ring and returns a reference:
// bit 31 set, a 15-bit generation, a 16-bit slot. An overwritten slot makes
// old references resolve to "" (the name is then missing from the report
// only; the app was already classified).
func (w *Worker) storeName(name string) uint32 {
	i := w.nameNext % nameRingSize
	w.nameNext++
	w.nameGen[i]++
	w.names[i] = name
	return 1<<31 | (uint32(w.nameGen[i])&0x7fff)<<16 | i
}

func (w *Worker) name(ref uint32) string {
	if ref&(1<<31) == 0 {
		return ""
	}
	i := ref & 0xffff
	if uint32(w.nameGen[i])&0x7fff != (ref>>16)&0x7fff {
		return ""
	}
	return w.names[i]
}

func addrOf(a *[16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(*a)
	}
	return netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})
}

// evict is called by the flow table for every flow that ends.
func (w *Worker) evict(e *flow.Entry, r flow.EvictReason) {
	w.flushEntry(e)
	if w.p.sink != nil {
		w.end(e, r)
	}
	if e.Flags&flagNameDone == 0 {
		w.tracker.Forget(e.Key.Hash() ^ uint64(e.First))
	}
	w.shard.FlowsActive.Add(-1)
	if r != flow.EvictEnd {
		w.shard.Evicted[r].Add(1)
	}
}

// Drain ends every flow (end of input).
func (w *Worker) Drain() {
	w.table.Drain()
}

// EndInput ends the flows of input in (end of that input).
func (w *Worker) EndInput(in Input) {
	w.table.End(func(e *flow.Entry) bool { return e.Key.Input == uint8(in) })
}

// ExpireIdle sweeps the flows of input 0 (live capture, whose packets
// carry the wall clock) at wall-clock time now; other inputs keep their
// own clocks (a file's packet time).
func (w *Worker) ExpireIdle(now int64) {
	w.table.ExpireInput(0, now, w.table.Capacity()*2)
}

// flushEntry places e if it is not placed yet and counts the packets it
// held until then (when its naming is over, and for an ended flow).
func (w *Worker) flushEntry(e *flow.Entry) {
	if e.Flags&flagPlaced != 0 {
		return
	}
	w.folded = false
	w.place(e)
	if w.folded {
		w.shard.Overflow.Add(1)
	}
	if e.Flags&flagNameDone == 0 {
		// The placement is final: no later name moves the flow.
		e.Flags |= flagNameDone
		w.tracker.Forget(e.Key.Hash() ^ uint64(e.First))
	}
	for side := range e.Packets {
		if e.Packets[side] > 0 {
			w.count(e, side, e.Bytes[side], e.Packets[side])
		}
	}
}

// end hands an ended flow to the sink queue. The placement is made again
// (cheaply: the geo cache has the address) from the flow's final facts.
func (w *Worker) end(e *flow.Entry, r flow.EvictReason) {
	f := w.facts(e)
	rtt := f.RTT
	if e.Flags&flagRTTPlaced == 0 {
		f.RTT = 0 // as when it was placed
	}
	ef := &w.ended
	*ef = EndedFlow{Addr: f.Addr, Port: [2]uint16{e.Key.PortA, e.Key.PortB}, Proto: e.Key.Proto, First: e.First, Last: e.Last,
		Bytes: e.Bytes, Packets: e.Packets, Reason: r, Name: f.Name, NameSource: names.Source(e.NameSource), RTT: rtt}
	if f.Kind() != place.Internal {
		ef.Geo = w.geo.Lookup(f.Addr[f.Remote()])
	}
	ef.Placement = place.Place(&w.placement, &f, &ef.Geo)
	w.p.sink.put(ef)
}

// facts returns what placement needs to know about a flow.
func (w *Worker) facts(e *flow.Entry) place.Flow {
	return place.Flow{
		Addr:      [2]netip.Addr{addrOf(&e.Key.A, e.Key.V6), addrOf(&e.Key.B, e.Key.V6)},
		Local:     [2]bool{e.Flags&flagLocalA != 0, e.Flags&flagLocalB != 0},
		Initiator: int(e.Initiator),
		Name:      w.name(e.NameRef),
		RTT:       w.flowRTT(e),
	}
}

// place assigns the flow's series: it gathers the flow's facts (its name,
// else the client's DNS answer for the remote address) and the remote
// address's geo facts, and lets package place decide.
func (w *Worker) place(e *flow.Entry) {
	f := w.facts(e)
	rs := f.Remote()
	info := w.geo.Lookup(f.Addr[rs])
	if f.Name == "" && f.Kind() == place.Egress {
		if n, ok := w.p.nameCache.Lookup(f.Addr[1-rs], f.Addr[rs], time.Unix(0, e.First)); ok {
			f.Name = n
			e.NameRef = w.storeName(n)
			e.NameSource = uint8(names.SourceDNS)
		}
	}
	pl := place.Place(&w.placement, &f, &info)
	if f.RTT > 0 {
		e.Flags |= flagRTTPlaced
	}
	if e.RTT != 0 && e.RTT&rttWait == 0 {
		w.shard.ObserveRTT(pl.Region, e.RTT)
	}
	e.Series = w.seriesIDs(&pl)
	if e.Flags&flagCounted == 0 {
		e.Flags |= flagCounted
		w.shard.Flows[e.Series[e.Initiator]].Add(1)
		w.shard.NamedFlows[metrics.NameSourceIndex(names.Source(e.NameSource))].Add(1)
	}
	e.Flags |= flagPlaced
	e.Flags &^= flagRename
}

// labels returns the traffic series labels of a placement's packets of
// direction d.
func (w *Worker) labels(pl *place.Placement, d place.Direction) metrics.Labels {
	l := metrics.Labels{Direction: d.String(), Country: pl.Country, Provider: pl.Provider, App: pl.App,
		Region: pl.Region.String(), ClientGroup: pl.Group, Basis: pl.Basis.String(), OperatorCountry: pl.OperatorCountry, ASN: asnUnknown}
	if pl.ASN != 0 && w.p.cfg.ASNLabel {
		l.ASN = w.asnLabel(pl.ASN)
	}
	if w.p.cfg.CloudRegionLabel {
		l.CloudRegion = cmp.Or(pl.CloudRegion, place.CountryUnknown)
	}
	return l
}

// asnUnknown is the asn label of an address whose AS is unknown.
const asnUnknown = "unknown"

// asnLabel returns the decimal label of an AS number, from a bounded cache
// so that a placement does not allocate.
func (w *Worker) asnLabel(asn uint32) string {
	if s, ok := w.asnLabels[asn]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(asn), 10)
	if len(w.asnLabels) < 4*w.p.series.Limit() {
		w.asnLabels[asn] = s
	}
	return s
}

// seriesRef is a cached series id and whether it is a fold.
type seriesRef struct {
	id     uint32
	folded bool
}

// seriesIDs returns the series ids of a placement's two sides (through
// the worker's cache, keyed by side 0's labels and side 1's direction),
// and notes in w.folded when either is a fold, so that the placement is
// counted as folded however often the cache answers.
func (w *Worker) seriesIDs(pl *place.Placement) [2]uint32 {
	l := w.labels(pl, pl.Dir[0])
	r, ok := w.seriesCache.get(&l, pl.Dir[1])
	if !ok {
		r[0].id, r[0].folded = w.p.series.ID(l)
		r[1].id, r[1].folded = w.p.series.ID(w.labels(pl, pl.Dir[1]))
		w.seriesCache.put(&l, pl.Dir[1], r)
	}
	w.folded = w.folded || r[0].folded || r[1].folded
	return [2]uint32{r[0].id, r[1].id}
}
