package collect

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
)

const (
	nf5HeaderLen = 24
	nf5RecordLen = 48
)

// netflow decodes a NetFlow v5, v9 or IPFIX datagram by its version.
func (h *handler) netflow(data []byte) {
	if len(data) < 2 {
		h.e.st.datagrams[protoUnknown].Add(1)
		h.e.st.fail(reasonTruncated)
		return
	}
	switch binary.BigEndian.Uint16(data) {
	case 5:
		h.e.st.datagrams[protoNetFlow5].Add(1)
		h.v5(data)
	case 9:
		h.e.st.datagrams[protoNetFlow9].Add(1)
		h.templated(9, data)
	case 10:
		h.e.st.datagrams[protoIPFIX].Add(1)
		h.templated(10, data)
	default:
		h.e.st.datagrams[protoUnknown].Add(1)
		h.e.st.fail(reasonVersion)
	}
}

// v5 decodes a NetFlow v5 datagram: a header and count fixed records.
func (h *handler) v5(data []byte) {
	if len(data) < nf5HeaderLen {
		h.e.st.fail(reasonTruncated)
		return
	}
	count := int(binary.BigEndian.Uint16(data[2:]))
	if nf5HeaderLen+count*nf5RecordLen > len(data) {
		h.e.st.fail(reasonTruncated)
		return
	}
	uptime := int64(binary.BigEndian.Uint32(data[4:]))
	secs, nsecs := int64(binary.BigEndian.Uint32(data[8:])), int64(binary.BigEndian.Uint32(data[12:]))
	seq := binary.BigEndian.Uint32(data[16:])
	engine := uint32(binary.BigEndian.Uint16(data[20:])) // type, id
	h.sequence(seqKey{protoNetFlow5, engine}, seq, seq+uint32(count))
	rate := uint32(binary.BigEndian.Uint16(data[22:]) & 0x3fff)
	if rate == 0 {
		rate = h.c.cfg.SamplingRate
	}
	boot := secs*1e9 + nsecs - uptime*1e6
	for i := range count {
		r := data[nf5HeaderLen+i*nf5RecordLen:][:nf5RecordLen]
		h.rec = pipeline.Record{
			Src: netip.AddrFrom4([4]byte(r[0:4])), Dst: netip.AddrFrom4([4]byte(r[4:8])),
			SrcPort: binary.BigEndian.Uint16(r[32:]), DstPort: binary.BigEndian.Uint16(r[34:]), Proto: r[38],
			Packets: uint64(binary.BigEndian.Uint32(r[16:])), Bytes: uint64(binary.BigEndian.Uint32(r[20:])),
			First: boot + int64(binary.BigEndian.Uint32(r[24:]))*1e6, Last: boot + int64(binary.BigEndian.Uint32(r[28:]))*1e6,
		}
		h.emit(rate)
	}
}

// emit hands h.rec to the pipeline at sampling rate rate (0: 1), its
// times made sane against the arrival time.
func (h *handler) emit(rate uint32) {
	h.rec.SamplingRate = max(rate, 1)
	h.rec.First, h.rec.Last = saneTimes(h.rec.First, h.rec.Last, h.now)
	h.e.st.records.Add(1)
	h.e.sawRate(h.rec.SamplingRate, 1)
	h.out.Record(&h.rec)
}

// Bounds of an exporter's clock against the collector's.
const (
	maxAhead  = 5 * int64(time.Second)
	maxBehind = 10 * int64(time.Minute)
	maxSpan   = 24 * int64(time.Hour)
)

// saneTimes keeps a record's times in the pipeline's time: a flow that
// ends later than its arrival, or long before it, comes from an exporter
// whose clock (or uptime arithmetic) is off, and is moved to end at its
// arrival, keeping its duration (at most a day).
func saneTimes(first, last, now int64) (int64, int64) {
	if last < first {
		last = first
	}
	if last-first > maxSpan {
		first = last - maxSpan
	}
	if last > now+maxAhead || last < now-maxBehind {
		first, last = now-(last-first), now
	}
	return first, last
}

// templated decodes a NetFlow v9 (RFC 3954) or IPFIX (RFC 7011) message
// with the exporter's templates: its framing is checked first, then the
// template sets and option data are taken in the order they come (so a
// sampling rate announced in the message applies to all its records),
// then the data records. Values are read in place: no allocation per
// record.
func (h *handler) templated(version uint16, data []byte) {
	hdr := nf9HeaderLen
	if version == 10 {
		hdr = ipfixHeaderLen
	}
	if len(data) < hdr {
		h.e.st.fail(reasonTruncated)
		return
	}
	if version == 10 {
		n := int(binary.BigEndian.Uint16(data[2:]))
		if n < hdr || n > len(data) {
			h.e.st.fail(reasonLength)
			return
		}
		data = data[:n]
	}
	if r, ok := checkNetFlowSets(version, data[hdr:]); !ok {
		h.e.st.fail(r)
		return
	}
	if h.stateless {
		h.e.st.fail(reasonExporterLimit)
		return
	}
	h.e.tmpl.now = h.now
	var m msgInfo
	var seq uint32
	if version == 9 {
		uptime, secs := int64(binary.BigEndian.Uint32(data[4:])), int64(binary.BigEndian.Uint32(data[8:]))
		seq = binary.BigEndian.Uint32(data[12:])
		m = msgInfo{version: 9, domain: binary.BigEndian.Uint32(data[16:]), boot: secs*1e9 - uptime*1e6, export: secs * 1e9}
	} else {
		seq = binary.BigEndian.Uint32(data[8:])
		m = msgInfo{version: 10, domain: binary.BigEndian.Uint32(data[12:]), export: int64(binary.BigEndian.Uint32(data[4:])) * 1e9}
	}
	h.failed = numReasons
	n := h.setsPass(m, data[hdr:], false)
	n += h.setsPass(m, data[hdr:], true)
	if h.failed != numReasons {
		h.e.st.fail(h.failed)
	}
	if version == 9 {
		h.sequence(seqKey{protoNetFlow9, m.domain}, seq, seq+1)
		return
	}
	k := seqKey{protoIPFIX, m.domain}
	if h.missed {
		delete(h.e.seq, k) // records of unknown count: no gap can be told
		return
	}
	h.sequence(k, seq, seq+uint32(n))
}

// setsPass walks a message's sets (their framing checked): the first pass
// takes the templates and the option data, the second the data records
// and the template misses. It returns the records read.
func (h *handler) setsPass(m msgInfo, b []byte, data bool) (n int) {
	for len(b) >= 4 {
		id, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		body := b[4:l]
		b = b[l:]
		if id < 256 {
			if !data {
				h.templateSet(m, id, body)
			}
			continue
		}
		t := h.e.tmpl.get(m.version, m.domain, id)
		switch {
		case t == nil:
			if data {
				h.e.st.templateMisses.Add(1)
				h.missed = true
			}
		case t.options != data:
			n += h.dataSet(m, t, body)
		}
	}
	return n
}

// templateSet takes the templates of a template or options template set
// (other set ids below 256 are reserved and skipped). The framing checks
// have made sure that every field specifier fits.
func (h *handler) templateSet(m msgInfo, id uint16, b []byte) {
	v := m.version
	switch {
	case v == 9 && id == 0, v == 10 && id == 2:
		for len(b) >= 4 {
			tid, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			spec := b[4:]
			b = skipFields(v, spec, count)
			h.addTemplate(m, tid, spec, count, 0, false)
		}
	case v == 10 && id == 3:
		for len(b) >= 6 {
			tid, count, scopes := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
			spec := b[6:]
			b = skipFields(v, spec, count)
			h.addTemplate(m, tid, spec, count, scopes, true)
		}
	case v == 9 && id == 1:
		for len(b) >= 6 {
			tid, scope, opt := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
			spec := b[6:]
			b = b[6+scope+opt:]
			h.addTemplate(m, tid, spec, (scope+opt)/4, scope/4, true)
		}
	}
}

func (h *handler) addTemplate(m msgInfo, id uint16, spec []byte, count, scopes int, options bool) {
	err := h.e.tmpl.add(m.version, m.domain, id, spec, count, scopes, options)
	switch {
	case err == nil || h.failed != numReasons:
	case errors.Is(err, errTemplateLimit):
		h.failed = reasonTemplateLimit
	default:
		h.failed = reasonTemplate
	}
}

// skipFields returns spec past count field specifiers.
func skipFields(version uint16, spec []byte, count int) []byte {
	for range count {
		if version == 10 && spec[0]&0x80 != 0 {
			spec = spec[8:]
		} else {
			spec = spec[4:]
		}
	}
	return spec
}
