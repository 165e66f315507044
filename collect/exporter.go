package collect

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// reason is why a datagram, or a part of it, was not used.
type reason uint8

const (
	reasonTruncated     reason = iota // shorter than its headers say
	reasonVersion                     // not a version the listener takes
	reasonOversized                   // larger than the largest datagram accepted
	reasonLength                      // a set, sample or record length that does not fit
	reasonTemplate                    // a template with absurd field counts or lengths
	reasonTemplateLimit               // the exporter's template limit is reached
	reasonRecords                     // an absurd record or sample count
	reasonExporterLimit               // past the exporters tracked: templates not kept
	reasonHeader                      // an sFlow sampled header of a protocol not decoded
	reasonDecode                      // any other error of the decoder
	numReasons
)

var reasonNames = [numReasons]string{"truncated", "version", "oversized", "length", "template", "template_limit", "records", "exporter_limit", "header_protocol", "decode"}

// protocol is the export protocol of a datagram.
type protocol uint8

const (
	protoNetFlow5 protocol = iota
	protoNetFlow9
	protoIPFIX
	protoSFlow5
	protoUnknown
	numProtocols
)

var protocolNames = [numProtocols]string{"netflow5", "netflow9", "ipfix", "sflow5", "unknown"}

// Bounds of the per-exporter state.
const (
	maxSeqKeys   = 64 // sequence counters (observation domains, sub-agents)
	maxRateKeys  = 64 // sampling rates from option data
	maxRatesSeen = 8  // distinct sampling rates exported per exporter
)

// stats are one exporter's self-metrics; written under the exporter's
// lock, read by scrapes without it (atomics).
type stats struct {
	datagrams      [numProtocols]atomic.Uint64
	records        atomic.Uint64
	counterSamples atomic.Uint64
	dropSamples    atomic.Uint64
	templateMisses atomic.Uint64
	errors         [numReasons]atomic.Uint64
	seqGaps        atomic.Uint64
	templates      atomic.Int64
	lastSeen       atomic.Int64
	lastRate       atomic.Uint32
}

func (s *stats) fail(r reason) { s.errors[r].Add(1) }

type seqKey struct {
	proto  protocol
	domain uint32
}

type rateKey struct {
	version uint16
	domain  uint32
	sampler uint64
}

// exporter is the state kept for one exporter address.
type exporter struct {
	addr netip.Addr
	mu   sync.Mutex // one datagram at a time; guards what follows
	st   stats
	tmpl *templates
	seq  map[seqKey]uint32 // next sequence number expected
	// rates are the sampling rates announced in option data, by
	// observation domain and sampler (anySampler: the domain's latest).
	rates map[rateKey]uint32
	// seenRates counts records by sampling rate (maxRatesSeen rates, the
	// others under rate 0, "other"); under ratesMu, not mu, so that a
	// scrape never waits for a datagram held up by a busy pipeline.
	ratesMu   sync.Mutex
	seenRates map[uint32]uint64
	h         handler // the datagram being decoded (under mu)
}

const anySampler = ^uint64(0)

func newExporter(addr netip.Addr, cfg Config) *exporter {
	e := &exporter{addr: addr, seq: map[seqKey]uint32{}, rates: map[rateKey]uint32{}, seenRates: map[uint32]uint64{}}
	e.tmpl = newTemplates(cfg.MaxTemplates, int64(cfg.TemplateTimeout), &e.st.templates)
	return e
}

// sequence checks a datagram's sequence number against the one expected
// and counts the gap; next is the number expected after this datagram. A
// number behind the one expected (reordering, an exporter's restart) or
// far ahead restarts the count without a gap.
func (e *exporter) sequence(k seqKey, got, next uint32) {
	want, ok := e.seq[k]
	if !ok && len(e.seq) >= maxSeqKeys {
		return
	}
	e.seq[k] = next
	if !ok {
		return
	}
	if d := got - want; d > 0 && d < 1<<24 {
		e.st.seqGaps.Add(uint64(d))
	}
}

// setRate keeps a sampling rate announced in option data.
func (e *exporter) setRate(k rateKey, rate uint32) {
	if _, ok := e.rates[k]; !ok && len(e.rates) >= maxRateKeys {
		return
	}
	e.rates[k] = rate
}

// rate returns the sampling rate announced for domain and sampler (or
// for the domain), 0 when none was.
func (e *exporter) rate(version uint16, domain uint32, sampler uint64, hasSampler bool) uint32 {
	if hasSampler {
		if r := e.rates[rateKey{version, domain, sampler}]; r != 0 {
			return r
		}
	}
	return e.rates[rateKey{version, domain, anySampler}]
}

// sawRate counts n records at sampling rate rate.
func (e *exporter) sawRate(rate uint32, n uint64) {
	e.st.lastRate.Store(rate)
	e.ratesMu.Lock()
	defer e.ratesMu.Unlock()
	if _, ok := e.seenRates[rate]; !ok && len(e.seenRates) >= maxRatesSeen {
		rate = 0
	}
	e.seenRates[rate] += n
}
