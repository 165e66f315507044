// Package collect receives flow exports from routers and switches: NetFlow
// v5, NetFlow v9 and IPFIX on one UDP port, sFlow v5 on another. NetFlow
// and IPFIX records enter the pipeline as pipeline.Records; sFlow's
// sampled packet headers are decoded by borderwatch's own capture decoder
// and enter as scaled frames, so they feed names too. NetFlow v5, v9 and
// IPFIX are decoded here, in place and without allocation per record;
// sFlow by goflow2's decoder (github.com/netsampler/goflow2/v2), used as a
// library behind framing checks that keep a hostile datagram from costing
// memory. This package keeps the per-exporter state (templates, sampling
// rates, sequence numbers) and exports the per-exporter self-metrics.
package collect

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/gopacket/gopacket/layers"
)

// Kind is what a listener accepts.
type Kind uint8

// Kinds of listener.
const (
	NetFlow Kind = iota // NetFlow v5, v9 and IPFIX (version 10)
	SFlow               // sFlow v5
)

func (k Kind) String() string {
	if k == SFlow {
		return "sflow"
	}
	return "netflow"
}

// Out takes what the collector decoded: pipeline.Dispatcher.
type Out interface {
	Record(r *pipeline.Record)
	ScaledFrame(data []byte, lt layers.LinkType, ts int64, scale uint32)
	Send()
}

// Config configures a Collector. Zero values take the defaults.
type Config struct {
	// SamplingRate is used for the records and samples of exporters
	// that do not say their sampling rate (0: they are taken as 1 in 1).
	SamplingRate uint32
	// MaxExporters bounds the exporters whose state (templates, rates,
	// sequence numbers, self-metrics) is kept; the datagrams of others
	// are counted under exporter="other", and their NetFlow v9/IPFIX
	// (which need templates) are refused (reason exporter_limit).
	MaxExporters int
	// MaxTemplates bounds the templates kept per exporter (all its
	// observation domains); more are refused (reason template_limit).
	MaxTemplates int
	// TemplateTimeout: a template not refreshed for this long expires.
	TemplateTimeout time.Duration
	// MaxDatagram is the largest datagram accepted; a larger one is
	// counted (reason oversized) and dropped.
	MaxDatagram int
	// ReadBuffer is the socket receive buffer asked for (SO_RCVBUF).
	ReadBuffer int
	// PollTimeout is how long a listener waits for a datagram before it
	// hands on partial batches and checks for cancellation.
	PollTimeout time.Duration
}

// Defaults.
const (
	DefaultMaxExporters    = 256
	DefaultMaxTemplates    = 512
	DefaultTemplateTimeout = 30 * time.Minute
	DefaultMaxDatagram     = 65535
	DefaultReadBuffer      = 4 << 20
	DefaultPollTimeout     = 100 * time.Millisecond
)

func (c Config) withDefaults() Config {
	if c.MaxExporters <= 0 {
		c.MaxExporters = DefaultMaxExporters
	}
	if c.MaxTemplates <= 0 {
		c.MaxTemplates = DefaultMaxTemplates
	}
	if c.TemplateTimeout <= 0 {
		c.TemplateTimeout = DefaultTemplateTimeout
	}
	if c.MaxDatagram <= 0 || c.MaxDatagram > DefaultMaxDatagram {
		c.MaxDatagram = DefaultMaxDatagram
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	return c
}

// Collector holds the state of every exporter: one per daemon, shared by
// its listeners.
type Collector struct {
	cfg       Config
	mu        sync.Mutex
	exporters map[netip.Addr]*exporter
	other     *exporter // the exporters past MaxExporters: counted, no state
	evictTry  int64     // last eviction attempt: at most one scan a second
	// recvErrors counts socket read errors of the listeners (other
	// than timeouts and closing).
	recvErrors atomic.Uint64
}

// New returns a collector.
func New(cfg Config) *Collector {
	cfg = cfg.withDefaults()
	return &Collector{cfg: cfg, exporters: map[netip.Addr]*exporter{}, other: newExporter(netip.Addr{}, cfg)}
}

// exporter returns addr's state, creating it while there is room; nil
// when the collector tracks MaxExporters others already. An exporter
// silent for longer than the template timeout makes room (looked for at
// most once a second: a flood of new sources does not scan the table per
// datagram).
func (c *Collector) exporter(addr netip.Addr, now int64) *exporter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.exporters[addr]; e != nil {
		return e
	}
	if len(c.exporters) >= c.cfg.MaxExporters && !c.evictIdle(now) {
		return nil
	}
	e := newExporter(addr, c.cfg)
	c.exporters[addr] = e
	return e
}

// evictIdle forgets the exporter seen least recently if it has been
// silent for the template timeout.
func (c *Collector) evictIdle(now int64) bool {
	if now-c.evictTry < int64(time.Second) {
		return false
	}
	c.evictTry = now
	var oldest *exporter
	for _, e := range c.exporters {
		if oldest == nil || e.st.lastSeen.Load() < oldest.st.lastSeen.Load() {
			oldest = e
		}
	}
	if oldest == nil || now-oldest.st.lastSeen.Load() < int64(c.cfg.TemplateTimeout) {
		return false
	}
	delete(c.exporters, oldest.addr)
	return true
}

// Handle decodes one datagram of kind k from exporter from, received at
// now (unix ns), into out. It never panics on any input: every datagram
// that is not (wholly) used is counted with a reason.
func (c *Collector) Handle(k Kind, from netip.Addr, data []byte, now int64, out Out) {
	from = from.Unmap()
	e := c.exporter(from, now)
	stateless := e == nil
	if stateless {
		e = c.other
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.lastSeen.Store(now)
	if len(data) > c.cfg.MaxDatagram {
		e.st.fail(reasonOversized)
		return
	}
	h := &e.h // reused: a datagram costs no allocation
	*h = handler{c: c, e: e, out: out, now: now, stateless: stateless}
	defer func() { h.out = nil }() // the exporter does not keep the caller's out
	if k == SFlow {
		h.sflow(data)
		return
	}
	h.netflow(data)
}

// sequence follows the exporter's sequence numbers; not for the exporters
// past the bound, whose numbers would mix.
func (h *handler) sequence(k seqKey, got, next uint32) {
	if !h.stateless {
		h.e.sequence(k, got, next)
	}
}

// handler is one datagram's decoding, under its exporter's lock.
type handler struct {
	c         *Collector
	e         *exporter
	out       Out
	now       int64
	stateless bool // an exporter past MaxExporters: no templates
	rec       pipeline.Record
	failed    reason // the first error of a NetFlow v9/IPFIX message (numReasons: none)
	missed    bool   // a data set's template was unknown
}
