// Package metrics aggregates borderwatch's counters on the packet path and
// exports them at scrape time: label sets are interned into series ids under
// a budget (past it they fold into "other" values), each worker counts into
// its own Shard, and the Collector sums the shards into const metrics.
package metrics

import (
	"sync"
	"sync/atomic"
)

// Labels is one traffic series' label set.
type Labels struct {
	Direction   string // egress, ingress, transit
	Country     string // ISO code, unknown, or other (fold)
	Provider    string
	App         string
	Region      string // home, abroad, unknown
	Basis       string // how country and region were decided (place.Basis)
	ClientGroup string
	// OperatorCountry is where the provider's operator is headquartered:
	// a function of Provider, so it adds no series.
	OperatorCountry string
	ASN             string // only exported with the asn label enabled
	CloudRegion     string // only exported with the cloud_region label enabled
}

// SeriesOptions are the optional traffic labels.
type SeriesOptions struct {
	ASN         bool // the asn label
	CloudRegion bool // the cloud_region label
}

// Other is the value that folded labels take past the series budget.
const Other = "other"

// Series interns label sets into dense ids, shared by all workers. It is
// called once per flow placement, never per packet. Past Limit distinct
// label sets, a new set is folded: every label but direction, region and
// basis becomes "other", so totals and the home/abroad split (and how it
// was decided) stay exact.
type Series struct {
	mu     sync.Mutex
	ids    map[Labels]uint32
	labels atomic.Pointer[[]Labels] // id -> labels, copy-on-write for readers
	limit  int
	opts   SeriesOptions
}

// maxFolds bounds the extra series folds can create: 3 directions x 3
// regions x 4 bases.
const maxFolds = 36

// NewSeries returns an interner for at most limit label sets (plus folds).
// withASN keeps the ASN label; without it ASN is always "".
func NewSeries(limit int, withASN bool) *Series {
	return NewSeriesOptions(limit, SeriesOptions{ASN: withASN})
}

// NewSeriesOptions returns an interner for at most limit label sets with
// the optional labels of o.
func NewSeriesOptions(limit int, o SeriesOptions) *Series {
	if limit < 1 {
		limit = 1
	}
	s := &Series{ids: make(map[Labels]uint32), limit: limit, opts: o}
	empty := make([]Labels, 1, 64) // id 0 means "not placed"
	s.labels.Store(&empty)
	return s
}

// Cap returns the highest id + 1 that ID can ever return.
func (s *Series) Cap() int { return s.limit + maxFolds + 1 }

// Limit returns the series budget.
func (s *Series) Limit() int { return s.limit }

// WithASN reports whether the asn label is exported.
func (s *Series) WithASN() bool { return s.opts.ASN }

// Options returns the optional labels exported.
func (s *Series) Options() SeriesOptions { return s.opts }

// ID returns the id of l, interning it (or its fold) if new; folded says
// that l did not fit in the budget and id is its fold. Callers that cache
// ids must keep folded with them: every placement on a fold is counted
// (Shard.Overflow), not only the first.
func (s *Series) ID(l Labels) (id uint32, folded bool) {
	if !s.opts.ASN {
		l.ASN = ""
	}
	if !s.opts.CloudRegion {
		l.CloudRegion = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ids[l]; ok {
		return id, false
	}
	labels := *s.labels.Load()
	if len(labels)-1 >= s.limit {
		folded = true
		l = Labels{Direction: l.Direction, Region: l.Region, Basis: l.Basis, Country: Other, Provider: Other, App: Other, ClientGroup: Other, OperatorCountry: Other}
		if s.opts.ASN {
			l.ASN = Other
		}
		if s.opts.CloudRegion {
			l.CloudRegion = Other
		}
		if id, ok := s.ids[l]; ok {
			return id, true
		}
	}
	id = uint32(len(labels))
	next := append(labels, l) // readers hold the old slice header
	s.labels.Store(&next)
	s.ids[l] = id
	return id, folded
}

// Labels returns the label sets by id (index 0 unused). Safe to call
// concurrently with ID.
func (s *Series) Labels() []Labels { return *s.labels.Load() }

// Len returns the number of interned label sets.
func (s *Series) Len() int { return len(s.Labels()) - 1 }
