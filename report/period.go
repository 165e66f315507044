package report

import (
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
)

// Period is a pipeline.Sink that records the capture period: the first
// and last packet times of the flows that ended. Read it after the
// pipeline's Finish.
type Period struct {
	first, last int64
}

// Flow takes an ended flow (pipeline.Sink).
func (p *Period) Flow(f *pipeline.EndedFlow) {
	if f.First > 0 && (p.first == 0 || f.First < p.first) {
		p.first = f.First
	}
	if f.Last > p.last {
		p.last = f.Last
	}
}

// Bounds returns the period; zero times when no flow ended.
func (p *Period) Bounds() (first, last time.Time) {
	if p.first == 0 {
		return time.Time{}, time.Time{}
	}
	return time.Unix(0, p.first), time.Unix(0, p.last)
}
