package pipeline

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/names"
	"github.com/gopacket/gopacket/layers"
)

const (
	batchPackets = 256
	batchArena   = 256 << 10
	queueBatches = 16
)

// batch carries decoded packets from a dispatcher to one worker. Payloads
// are copied into arena, so the source can reuse its frame buffer, unless
// they lie in a capture file's chunk, which the batch retains instead.
type batch struct {
	pkts []capture.Packet
	recs []Record // handled before pkts
	// arena holds the payloads copied for pkts; chunks, the file chunks
	// (retained) that hold the payloads not copied.
	arena  []byte
	chunks []*capture.Chunk
	op     batchOp
	input  Input // of the packets, or the input to end (opEnd)
	// learned: the dispatcher learned the packets' DNS answers itself.
	learned bool
	done    chan struct{}
}

// Input identifies a stream of frames whose flows end together: the
// capture files of a daemon, its live interfaces. Flows of different inputs
// never share an entry, and EndInput ends one input's flows only.
type Input uint8

type batchOp uint8

const (
	opPackets batchOp = iota
	opBarrier         // ack when every earlier batch is handled
	opDrain           // end every flow, then ack
	opHold            // wait until done is closed (tests: a busy worker)
	opEnd             // end the flows of one input, then ack
)

type ctlOp uint8

const (
	ctlExpire ctlOp = iota
)

type ctlReq struct {
	op   ctlOp
	now  int64
	done chan struct{}
}

// Pipeline owns the workers and the state they share: the series interner,
// the DNS name cache, the naming statistics and the current policy.
type Pipeline struct {
	cfg       Config
	series    *metrics.Series
	nameCache *names.Cache
	nameStats *names.Stats
	rtts      *rttTable // shortest round trip per remote address
	dnsPorts  *portSet  // ports whose answers are parsed as DNS
	policy    atomic.Pointer[Policy]
	workers   []*Worker
	shard     *metrics.Shard  // the pipeline's own counters (sweep timeouts)
	sink      *sinkQueue      // nil: no sink
	endpoints *EndpointTotals // the read report's sink, if configured
	in        []chan *batch
	ctl       []chan ctlReq
	free      chan *batch
	wg        sync.WaitGroup
	closed    atomic.Bool

	records        atomic.Uint64 // records received by the dispatchers
	recordsInvalid atomic.Uint64 // of which not placed

	dispMu      sync.Mutex
	dispatchers []*Dispatcher
}

// New starts cfg.Workers workers.
func New(cfg Config, pol *Policy) (*Pipeline, error) {
	if pol == nil || pol.Geo == nil || pol.Apps == nil || pol.Local == nil {
		return nil, errors.New("pipeline: policy needs geo, apps and local networks")
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	p := &Pipeline{
		rtts:      newRTTTable(),
		dnsPorts:  new(portSet),
		cfg:       cfg,
		series:    metrics.NewSeriesOptions(cfg.SeriesLimit, metrics.SeriesOptions{ASN: cfg.ASNLabel, CloudRegion: cfg.CloudRegionLabel}),
		nameStats: &names.Stats{},
		shard:     metrics.NewShard(metrics.NewSeries(1, false)),
		free:      make(chan *batch, cfg.Workers*queueBatches*2+8),
	}
	p.nameCache = names.NewCache(cfg.Names)
	p.policy.Store(pol)
	perWorker := max(cfg.Flow.MaxFlows/cfg.Workers, 16)
	for _, port := range cfg.Names.DNSPorts {
		p.dnsPorts.add(port)
	}
	for i := 0; i < cfg.Workers; i++ {
		w := newWorker(p, perWorker)
		w.refreshPolicy()
		p.workers = append(p.workers, w)
		p.in = append(p.in, make(chan *batch, queueBatches))
		p.ctl = append(p.ctl, make(chan ctlReq))
	}
	var sinks []Sink
	if cfg.Endpoints {
		p.endpoints = NewEndpointTotals(cfg.MaxEndpoints)
		sinks = append(sinks, p.endpoints)
	}
	if cfg.Sink != nil {
		sinks = append(sinks, cfg.Sink)
	}
	switch {
	case len(sinks) == 1:
		p.sink = newSinkQueue(sinks[0], cfg.SinkQueue, cfg.SinkWait || cfg.Endpoints)
	case len(sinks) > 1:
		p.sink = newSinkQueue(teeSink(sinks), cfg.SinkQueue, cfg.SinkWait || cfg.Endpoints)
	}
	for i, w := range p.workers {
		p.wg.Add(1)
		go p.run(w, p.in[i], p.ctl[i])
	}
	return p, nil
}

func (p *Pipeline) run(w *Worker, in <-chan *batch, ctl <-chan ctlReq) {
	defer p.wg.Done()
	// A payload in a mapped capture file that shrank faults: see handle.
	debug.SetPanicOnFault(true)
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return
			}
			switch b.op {
			case opPackets:
				w.refreshPolicy()
				w.input = b.input
				w.dnsLearned = b.learned
				w.handle(b)
				p.putBatch(b)
			case opBarrier:
				close(b.done)
			case opDrain:
				w.Drain()
				close(b.done)
			case opHold:
				<-b.done
			case opEnd:
				w.EndInput(b.input)
				close(b.done)
			}
		case r := <-ctl:
			switch r.op {
			case ctlExpire:
				w.refreshPolicy()
				w.ExpireIdle(r.now)
			}
			close(r.done)
		}
	}
}

func (p *Pipeline) getBatch() *batch {
	select {
	case b := <-p.free:
		b.pkts = b.pkts[:0]
		b.recs = b.recs[:0]
		b.arena = b.arena[:0]
		b.op = opPackets
		b.learned = false
		return b
	default:
		return &batch{pkts: make([]capture.Packet, 0, batchPackets)} // arena: when a payload is copied
	}
}

func (p *Pipeline) putBatch(b *batch) {
	for i, c := range b.chunks {
		c.Release()
		b.chunks[i] = nil
	}
	b.chunks = b.chunks[:0]
	select {
	case p.free <- b:
	default:
	}
}

// Series returns the series interner (metrics.Source).
func (p *Pipeline) Series() *metrics.Series { return p.series }

// Shards returns every counter shard: the workers' and the dispatchers'.
func (p *Pipeline) Shards() []*metrics.Shard {
	s := make([]*metrics.Shard, 0, len(p.workers)+3)
	s = append(s, p.shard)
	for _, w := range p.workers {
		s = append(s, w.shard)
	}
	p.dispMu.Lock()
	for _, d := range p.dispatchers {
		s = append(s, d.shard)
	}
	p.dispMu.Unlock()
	return s
}

// NameStats returns the naming statistics.
func (p *Pipeline) NameStats() *names.Stats { return p.nameStats }

// NameCache returns the shared DNS name cache.
func (p *Pipeline) NameCache() *names.Cache { return p.nameCache }

// SetPolicy swaps in a new policy (reload); workers pick it up at their
// next batch. Counts are never lost: existing flows keep their placement.
func (p *Pipeline) SetPolicy(pol *Policy) { p.policy.Store(pol) }

// Expire asks every worker to end the flows of input 0 idle at now (wall
// clock, for live capture; capture files' flows follow their packet time) and to place the quiet flows whose naming window passed;
// it waits at most sweepTimeout, and counts a sweep that timed out.
func (p *Pipeline) Expire(now time.Time) {
	if !p.control(ctlExpire, now.UnixNano(), sweepTimeout) {
		p.shard.SweepTimeouts.Add(1)
	}
}

// sweepTimeout bounds how long Expire waits for the workers.
var sweepTimeout = 5 * time.Second

// control sends a request to every worker and waits for them; false if
// timeout passed first (the workers still handle what they received).
func (p *Pipeline) control(op ctlOp, now int64, timeout time.Duration) bool {
	if p.closed.Load() {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	dones := make([]chan struct{}, len(p.workers))
	for i := range p.workers {
		dones[i] = make(chan struct{})
		select {
		case p.ctl[i] <- ctlReq{op: op, now: now, done: dones[i]}:
		case <-t.C:
			return false
		}
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-t.C:
			return false
		}
	}
	return true
}

// Finish processes everything dispatched so far and ends every flow, so
// that all counts are final: first a barrier on every worker (DNS answers
// handled anywhere are then known to all), then a drain.
func (p *Pipeline) Finish() {
	p.barrier(opBarrier, 0)
	p.barrier(opDrain, 0)
}

// EndInput processes everything dispatched so far and ends the flows of
// input in (its capture files ended), so that its counts are final; the
// flows of other inputs (live capture) go on.
func (p *Pipeline) EndInput(in Input) {
	p.barrier(opBarrier, 0)
	p.barrier(opEnd, in)
}

// barrier queues op behind every worker's batches and waits until each
// worker has done it.
func (p *Pipeline) barrier(op batchOp, in Input) {
	dones := make([]chan struct{}, len(p.workers))
	for i := range p.workers {
		dones[i] = make(chan struct{})
		p.in[i] <- &batch{op: op, input: in, done: dones[i]}
	}
	for _, d := range dones {
		<-d
	}
	if p.sink != nil {
		p.sink.sync()
	}
}

// Close stops the workers (after Finish, for final counts).
func (p *Pipeline) Close() {
	if p.closed.Swap(true) {
		return
	}
	for _, c := range p.in {
		close(c)
	}
	p.wg.Wait()
	if p.sink != nil {
		p.sink.close()
	}
}

// teeSink hands every flow to several sinks in turn.
type teeSink []Sink

func (t teeSink) Flow(f *EndedFlow) {
	for _, s := range t {
		s.Flow(f)
	}
}

// Endpoints returns the per-remote-address totals of the read report
// (Config.Endpoints), and the total of the addresses past the limit. Call
// it after Finish.
func (p *Pipeline) Endpoints() (eps []*Endpoint, other Endpoint) {
	if p.endpoints == nil {
		return nil, Endpoint{}
	}
	return p.endpoints.Endpoints()
}

// Workers returns the number of workers.
func (p *Pipeline) Workers() int { return len(p.workers) }

// Dispatcher decodes frames from one source and hands the packets to the
// workers in batches: by flow hash over all workers, or all to one worker
// (live capture with kernel fan-out, where the kernel already hashed). One
// per source goroutine; not safe for concurrent use.
//
// A dispatcher over all workers parses the DNS answers itself, into the
// shared name cache, before it queues them: every answer is then known
// before any later packet reaches any worker, so a flow placed when its
// naming window passes finds the answers that came before it, whichever
// worker handled them. (It used to queue a barrier behind each period of
// packet time that carried DNS answers and wait for it one period later;
// on captures whose time jumps, every jump drained all workers: a quarter
// of the reader's time on the real-traffic mix.)
type Dispatcher struct {
	p      *Pipeline
	dec    *capture.Decoder
	shard  *metrics.Shard
	target int // -1: hash over all workers
	input  Input
	cur    []*batch
	dns    dnsLearner
	read   uint64 // frames read, not yet in shard.PacketsRead
	pkt    capture.Packet
}

// NewDispatcher returns a dispatcher of input 0; target is a worker index,
// or -1 to spread packets over all workers by flow hash.
func (p *Pipeline) NewDispatcher(target int) *Dispatcher { return p.NewInputDispatcher(0, target) }

// NewInputDispatcher returns a dispatcher whose packets belong to input in.
func (p *Pipeline) NewInputDispatcher(in Input, target int) *Dispatcher {
	d := &Dispatcher{p: p, dec: capture.NewDecoder(), shard: metrics.NewShard(p.series), target: target, input: in, cur: make([]*batch, len(p.workers))}
	d.dns.init(p)
	p.dispMu.Lock()
	p.dispatchers = append(p.dispatchers, d)
	p.dispMu.Unlock()
	return d
}

// Shard returns the dispatcher's counters (frames read, skipped, errors).
func (d *Dispatcher) Shard() *metrics.Shard { return d.shard }

// Frame decodes one frame and queues it for its worker. data may be reused
// by the caller as soon as Frame returns.
func (d *Dispatcher) Frame(data []byte, lt layers.LinkType, ts int64) {
	d.frame(data, lt, ts, 1, nil)
}

// FrameChunk is Frame for a frame that lies in chunk c of a capture file
// (capture.ChunkSink): its payload is not copied; its batch retains c
// until a worker has handled it.
func (d *Dispatcher) FrameChunk(data []byte, lt layers.LinkType, ts int64, c *capture.Chunk) {
	d.frame(data, lt, ts, 1, c)
}

// ScaledFrame is Frame for a sampled frame that stands for scale frames
// (an sFlow flow sample at 1 in scale): its bytes and packets are counted
// scale times; its payload names addresses like any other (0 means 1).
func (d *Dispatcher) ScaledFrame(data []byte, lt layers.LinkType, ts int64, scale uint32) {
	d.frame(data, lt, ts, scale, nil)
}

func (d *Dispatcher) frame(data []byte, lt layers.LinkType, ts int64, scale uint32, c *capture.Chunk) {
	// Frames read are counted in the shard when a batch is sent (Send,
	// send), or every batchPackets frames (a link of frames that are all
	// skipped sends no batch).
	if d.read++; d.read == batchPackets {
		d.flushRead()
	}
	v, r := d.dec.Decode(data, lt, ts, &d.pkt)
	if v != capture.Decoded {
		d.shard.Skipped[r].Add(1)
		return
	}
	d.pkt.Scale = scale
	i := d.target
	if i < 0 {
		if d.p.isDNSAnswer(&d.pkt) {
			d.dns.answer(&d.pkt)
		}
		// Dispatch by address pair (not ports), so that the later
		// fragments of a datagram meet its first one.
		i = int(flow.PairHash(&d.pkt.Src, &d.pkt.Dst, d.pkt.Context) % uint64(len(d.p.workers)))
	}
	bt := d.cur[i]
	if bt == nil {
		bt = d.newBatch(i)
	}
	pl := d.pkt.Payload
	switch {
	case len(pl) == 0:
		d.pkt.Payload = nil
	case c != nil && c.Contains(pl):
		// In the file's chunk: the batch keeps the chunk, not a copy (a
		// reassembled or decapsulated payload lies in the decoder's
		// buffers and is copied).
		if n := len(bt.chunks); n == 0 || bt.chunks[n-1] != c {
			c.Retain()
			bt.chunks = append(bt.chunks, c)
		}
	default:
		if cap(bt.arena) > 0 && len(pl) > cap(bt.arena)-len(bt.arena) {
			d.send(i)
			bt = d.newBatch(i)
		}
		if cap(bt.arena) == 0 {
			bt.arena = make([]byte, 0, batchArena)
		}
		n := len(bt.arena)
		bt.arena = append(bt.arena, pl...)
		d.pkt.Payload = bt.arena[n:len(bt.arena):len(bt.arena)]
	}
	bt.pkts = append(bt.pkts, d.pkt)
	if len(bt.pkts) == cap(bt.pkts) {
		d.send(i)
	}
}

// flushRead adds the frames read since the last flush to the shard: an
// atomic add per batch, not per frame, before any of them can be counted
// by a worker.
func (d *Dispatcher) flushRead() {
	if d.read > 0 {
		d.shard.PacketsRead.Add(d.read)
		d.read = 0
	}
}

// newBatch starts worker i's next batch.
func (d *Dispatcher) newBatch(i int) *batch {
	bt := d.p.getBatch()
	bt.input = d.input
	bt.learned = d.target < 0
	d.cur[i] = bt
	return bt
}

func (d *Dispatcher) send(i int) {
	d.flushRead()
	if b := d.cur[i]; b != nil && len(b.pkts)+len(b.recs) > 0 {
		d.p.in[i] <- b
		d.cur[i] = nil
	}
}

// Send hands every partly filled batch to its worker (call it at the end of
// input and when a live source is idle).
func (d *Dispatcher) Send() {
	d.flushRead()
	for i := range d.cur {
		d.send(i)
	}
}
