package collect

import (
	"errors"
	"sync/atomic"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
)

var (
	errTemplate      = errors.New("template describes no data (zero-length record)")
	errTemplateLimit = errors.New("template limit reached")
)

// templates is one exporter's NetFlow v9 and IPFIX templates, by version,
// observation domain (source id) and template id: goflow2's template
// system with a bound, an expiry and the checks that keep goflow2 from
// looping on a template that describes zero-length records. It is used
// under the exporter's lock.
type templates struct {
	max   int
	ttl   int64
	now   int64 // the current datagram's arrival, set by the handler
	m     map[uint64]template
	gauge *atomic.Int64
}

type template struct {
	t       any
	refresh int64 // last sent
}

var _ netflow.NetFlowTemplateSystem = (*templates)(nil)

func newTemplates(max int, ttl int64, gauge *atomic.Int64) *templates {
	return &templates{max: max, ttl: ttl, m: map[uint64]template{}, gauge: gauge}
}

func templateKey(version uint16, domain uint32, id uint16) uint64 {
	return uint64(version)<<48 | uint64(domain)<<16 | uint64(id)
}

// AddTemplate keeps or refreshes a template. An IPFIX template with no
// fields withdraws it (RFC 7011, 8.1).
func (ts *templates) AddTemplate(version uint16, domain uint32, id uint16, t any) error {
	k := templateKey(version, domain, id)
	n, ok := minRecordSize(t)
	if !ok {
		return errTemplate
	}
	if n == 0 {
		if _, had := ts.m[k]; had && version == 10 {
			delete(ts.m, k)
			ts.gauge.Store(int64(len(ts.m)))
			return nil
		}
		return errTemplate
	}
	if _, had := ts.m[k]; !had && len(ts.m) >= ts.max {
		ts.expire()
		if len(ts.m) >= ts.max {
			return errTemplateLimit
		}
	}
	ts.m[k] = template{t: t, refresh: ts.now}
	ts.gauge.Store(int64(len(ts.m)))
	return nil
}

// GetTemplate returns a template that has not expired.
func (ts *templates) GetTemplate(version uint16, domain uint32, id uint16) (any, error) {
	k := templateKey(version, domain, id)
	t, ok := ts.m[k]
	if !ok {
		return nil, netflow.ErrorTemplateNotFound
	}
	if ts.now-t.refresh > ts.ttl {
		delete(ts.m, k)
		ts.gauge.Store(int64(len(ts.m)))
		return nil, netflow.ErrorTemplateNotFound
	}
	return t.t, nil
}

// RemoveTemplate forgets a template.
func (ts *templates) RemoveTemplate(version uint16, domain uint32, id uint16) (any, error) {
	k := templateKey(version, domain, id)
	t, ok := ts.m[k]
	if !ok {
		return nil, netflow.ErrorTemplateNotFound
	}
	delete(ts.m, k)
	ts.gauge.Store(int64(len(ts.m)))
	return t.t, nil
}

// GetTemplates returns a copy of the templates.
func (ts *templates) GetTemplates() netflow.FlowBaseTemplateSet {
	out := make(netflow.FlowBaseTemplateSet, len(ts.m))
	for k, t := range ts.m {
		out[k] = t.t
	}
	return out
}

func (ts *templates) expire() {
	for k, t := range ts.m {
		if ts.now-t.refresh > ts.ttl {
			delete(ts.m, k)
		}
	}
	ts.gauge.Store(int64(len(ts.m)))
}

// minRecordSize is the fewest bytes a record of template t takes (a
// variable-length field takes at least its one length byte); ok is false
// for a template of a type this package does not know.
func minRecordSize(t any) (n int, ok bool) {
	switch t := t.(type) {
	case netflow.TemplateRecord:
		return fieldsSize(t.Fields), true
	case netflow.NFv9OptionsTemplateRecord:
		return fieldsSize(t.Scopes) + fieldsSize(t.Options), true
	case netflow.IPFIXOptionsTemplateRecord:
		return fieldsSize(t.Scopes) + fieldsSize(t.Options), true
	}
	return 0, false
}

func fieldsSize(fs []netflow.Field) int {
	n := 0
	for _, f := range fs {
		if f.Length == 0xffff {
			n++
			continue
		}
		n += int(f.Length)
	}
	return n
}
