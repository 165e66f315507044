package collect

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
)

var (
	errTemplate      = errors.New("template describes no data (zero-length record)")
	errTemplateLimit = errors.New("template limit reached")
)

// variableLength is the field length that announces an IPFIX
// variable-length field (RFC 7011, 7).
const variableLength = 0xffff

// field is one field of a template.
type field struct {
	typ    uint16 // information element (the enterprise bit cleared)
	length uint16 // bytes, or variableLength
	pen    bool   // enterprise-specific: skipped
}

// template is one NetFlow v9 or IPFIX template: its fields, the first
// scopes of them scope fields (an options template when scopes > 0).
type template struct {
	fields  []field
	scopes  int
	options bool
	min     int   // the fewest bytes a record takes (a variable field its length byte)
	refresh int64 // last sent
}

// templates is one exporter's NetFlow v9 and IPFIX templates, by version,
// observation domain (source id) and template id, bounded and expiring.
// It is used under the exporter's lock. A template refreshed unchanged
// (as exporters do every few seconds) costs no allocation.
type templates struct {
	max   int
	ttl   int64
	now   int64 // the current datagram's arrival, set by the handler
	m     map[uint64]*template
	gauge *atomic.Int64
}

func newTemplates(max int, ttl int64, gauge *atomic.Int64) *templates {
	return &templates{max: max, ttl: ttl, m: map[uint64]*template{}, gauge: gauge}
}

func templateKey(version uint16, domain uint32, id uint16) uint64 {
	return uint64(version)<<48 | uint64(domain)<<16 | uint64(id)
}

// add keeps or refreshes the template whose field specifiers are spec
// (count of them, already checked to fit), scopes of them scope fields.
// An IPFIX template with no fields withdraws it (RFC 7011, 8.1).
func (ts *templates) add(version uint16, domain uint32, id uint16, spec []byte, count, scopes int, options bool) error {
	k := templateKey(version, domain, id)
	old := ts.m[k]
	if count == 0 {
		if old != nil && version == 10 {
			delete(ts.m, k)
			ts.gauge.Store(int64(len(ts.m)))
			return nil
		}
		return errTemplate
	}
	if old != nil && old.options == options && old.scopes == scopes && len(old.fields) == count && sameFields(version, old.fields, spec) {
		old.refresh = ts.now
		return nil
	}
	t := &template{fields: make([]field, count), scopes: scopes, options: options, refresh: ts.now}
	for i := range t.fields {
		f := &t.fields[i]
		spec = nextField(version, spec, f)
		if f.length == variableLength {
			t.min++
		} else {
			t.min += int(f.length)
		}
	}
	if t.min == 0 {
		return errTemplate
	}
	if old == nil && len(ts.m) >= ts.max {
		ts.expire()
		if len(ts.m) >= ts.max {
			return errTemplateLimit
		}
	}
	ts.m[k] = t
	ts.gauge.Store(int64(len(ts.m)))
	return nil
}

// nextField reads one field specifier from spec into f and returns the
// rest: type and length, and in IPFIX an enterprise number when the
// type's top bit is set.
func nextField(version uint16, spec []byte, f *field) []byte {
	typ, n := binary.BigEndian.Uint16(spec), 4
	*f = field{typ: typ, length: binary.BigEndian.Uint16(spec[2:])}
	if version == 10 && typ&0x8000 != 0 {
		f.typ, f.pen, n = typ&0x7fff, true, 8
	}
	return spec[n:]
}

// sameFields tells whether spec specifies exactly fs.
func sameFields(version uint16, fs []field, spec []byte) bool {
	var f field
	for i := range fs {
		if len(spec) < 4 {
			return false
		}
		spec = nextField(version, spec, &f)
		if f != fs[i] {
			return false
		}
	}
	return true
}

// get returns a template that has not expired; nil if none.
func (ts *templates) get(version uint16, domain uint32, id uint16) *template {
	k := templateKey(version, domain, id)
	t := ts.m[k]
	if t != nil && ts.now-t.refresh > ts.ttl {
		delete(ts.m, k)
		ts.gauge.Store(int64(len(ts.m)))
		return nil
	}
	return t
}

func (ts *templates) expire() {
	for k, t := range ts.m {
		if ts.now-t.refresh > ts.ttl {
			delete(ts.m, k)
		}
	}
	ts.gauge.Store(int64(len(ts.m)))
}
