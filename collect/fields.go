package collect

import (
	"encoding/binary"
	"net/netip"

	"github.com/borderwatch/borderwatch/pipeline"
)

// Information elements read (IANA IPFIX registry; NetFlow v9 uses the same
// numbers for these).
const (
	ieOctetDelta       = 1
	iePacketDelta      = 2
	ieProtocol         = 4
	ieSrcPort          = 7
	ieSrcAddr4         = 8
	ieDstPort          = 11
	ieDstAddr4         = 12
	ieLastSysUp        = 21 // ms since the exporter's boot (v9: header uptime)
	ieFirstSysUp       = 22
	ieSrcAddr6         = 27
	ieDstAddr6         = 28
	ieSamplingInterval = 34
	ieSamplerID        = 48
	ieSamplerRandom    = 50
	ieOctetTotal       = 85
	iePacketTotal      = 86
	ieStartSeconds     = 150
	ieEndSeconds       = 151
	ieStartMillis      = 152
	ieEndMillis        = 153
	ieSelectorID       = 302
	iePacketInterval   = 305 // samplingPacketInterval: packets selected...
	iePacketSpace      = 306 // ...then packets skipped
	ieSamplingSize     = 309 // samplingSize out of...
	ieSamplingPop      = 310 // ...samplingPopulation
)

// msgInfo is what a message's header says about its records' times.
type msgInfo struct {
	version uint16
	domain  uint32
	boot    int64 // NetFlow v9: the exporter's boot time (unix ns), for 21/22
	export  int64 // the export time (unix ns)
}

// dataSet reads the records of a data set of template t (option data
// when t is an options template) and returns how many it read. Records
// follow one another until fewer bytes remain than a record takes (the
// rest is padding); a variable-length field that runs past the set ends
// it, counted as a decode error.
func (h *handler) dataSet(m msgInfo, t *template, b []byte) (n int) {
	for len(b) >= t.min {
		var ok bool
		if t.options {
			b, ok = h.optionData(m, t, b)
		} else {
			b, ok = h.dataRecord(m, t, b)
		}
		if !ok {
			if h.failed == numReasons {
				h.failed = reasonDecode
			}
			return n
		}
		n++
	}
	return n
}

// value cuts the next field's value of length l (variableLength: the
// length is in the data, RFC 7011 7) from b.
func value(b []byte, l uint16) (v, rest []byte, ok bool) {
	n := int(l)
	if l == variableLength {
		if len(b) < 1 {
			return nil, nil, false
		}
		n, b = int(b[0]), b[1:]
		if n == 255 {
			if len(b) < 2 {
				return nil, nil, false
			}
			n, b = int(binary.BigEndian.Uint16(b)), b[2:]
		}
	}
	if n > len(b) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// samplingFields gathers what a record says about sampling.
type samplingFields struct {
	rate                 uint32
	interval, space      uint64
	size, population     uint64
	sampler              uint64
	hasSampler           bool
	haveSpace, havePopul bool
}

func (sf *samplingFields) take(typ uint16, v []byte) bool {
	switch typ {
	case ieSamplingInterval, ieSamplerRandom:
		sf.rate = clampRate(uintOf(v))
	case ieSamplerID, ieSelectorID:
		sf.sampler, sf.hasSampler = uintOf(v), true
	case iePacketInterval:
		sf.interval = uintOf(v)
	case iePacketSpace:
		sf.space, sf.haveSpace = uintOf(v), true
	case ieSamplingSize:
		sf.size = uintOf(v)
	case ieSamplingPop:
		sf.population, sf.havePopul = uintOf(v), true
	default:
		return false
	}
	return true
}

// result is the sampling rate (1 in N) the fields say; 0 when none.
func (sf *samplingFields) result() uint32 {
	switch {
	case sf.rate != 0:
		return sf.rate
	case sf.haveSpace && sf.interval > 0:
		return clampRate((sf.interval + sf.space) / sf.interval)
	case sf.havePopul && sf.size > 0:
		return clampRate(sf.population / sf.size)
	}
	return 0
}

func clampRate(r uint64) uint32 { return uint32(min(r, 1<<31)) }

// optionData reads one options record, keeping the sampling rate it
// announces (RFC 3954 6.1, RFC 7011 4.1 / RFC 5476): for its sampler, and
// as the domain's latest.
func (h *handler) optionData(m msgInfo, t *template, b []byte) ([]byte, bool) {
	var sf samplingFields
	for i := range t.fields {
		f := &t.fields[i]
		v, rest, ok := value(b, f.length)
		if !ok {
			return nil, false
		}
		b = rest
		if !f.pen {
			sf.take(f.typ, v)
		}
	}
	rate := sf.result()
	if rate == 0 {
		return b, true
	}
	if sf.hasSampler {
		h.e.setRate(rateKey{m.version, m.domain, sf.sampler}, rate)
	}
	h.e.setRate(rateKey{m.version, m.domain, anySampler}, rate)
	return b, true
}

// dataRecord reads one data record into a pipeline record and hands it
// on.
func (h *handler) dataRecord(m msgInfo, t *template, b []byte) ([]byte, bool) {
	h.rec = pipeline.Record{}
	var sf samplingFields
	var total [2]uint64
	var first, last int64
	for i := range t.fields {
		f := &t.fields[i]
		v, rest, ok := value(b, f.length)
		if !ok {
			return nil, false
		}
		b = rest
		if f.pen || sf.take(f.typ, v) {
			continue
		}
		if tm, ok := timeOf(m, f.typ, v); ok {
			if f.typ == ieLastSysUp || f.typ == ieEndSeconds || f.typ == ieEndMillis {
				last = tm
			} else {
				first = tm
			}
			continue
		}
		h.field(f.typ, v, &total)
	}
	if h.rec.Bytes == 0 && h.rec.Packets == 0 {
		h.rec.Bytes, h.rec.Packets = total[0], total[1]
	}
	if last == 0 {
		last = m.export
	}
	if first == 0 {
		first = last
	}
	h.rec.First, h.rec.Last = first, last
	rate := sf.result()
	if rate == 0 {
		rate = h.e.rate(m.version, m.domain, sf.sampler, sf.hasSampler)
	}
	if rate == 0 {
		rate = h.c.cfg.SamplingRate
	}
	h.emit(rate)
	return b, true
}

// field reads one flow field into h.rec (totals: octet and packet total
// counts, used when the deltas are absent).
func (h *handler) field(typ uint16, v []byte, total *[2]uint64) {
	switch typ {
	case ieOctetDelta:
		h.rec.Bytes = uintOf(v)
	case iePacketDelta:
		h.rec.Packets = uintOf(v)
	case ieOctetTotal:
		total[0] = uintOf(v)
	case iePacketTotal:
		total[1] = uintOf(v)
	case ieProtocol:
		h.rec.Proto = uint8(uintOf(v))
	case ieSrcPort:
		h.rec.SrcPort = uint16(uintOf(v))
	case ieDstPort:
		h.rec.DstPort = uint16(uintOf(v))
	case ieSrcAddr4, ieSrcAddr6:
		h.rec.Src = addrOf(v)
	case ieDstAddr4, ieDstAddr6:
		h.rec.Dst = addrOf(v)
	}
}

// timeOf reads a time field as unix ns.
func timeOf(m msgInfo, typ uint16, v []byte) (int64, bool) {
	switch typ {
	case ieFirstSysUp, ieLastSysUp:
		if m.version != 9 {
			// IPFIX: relative to systemInitTimeMilliseconds, which is
			// not followed: the export time stands in.
			return m.export, true
		}
		return m.boot + int64(uintOf(v))*1e6, true
	case ieStartSeconds, ieEndSeconds:
		return int64(uintOf(v)) * 1e9, true
	case ieStartMillis, ieEndMillis:
		return int64(uintOf(v)) * 1e6, true
	}
	return 0, false
}

// uintOf reads a big-endian unsigned integer of 1 to 8 bytes (IPFIX's
// reduced-size encoding); longer values keep their last 8 bytes.
func uintOf(v []byte) uint64 {
	if len(v) > 8 {
		v = v[len(v)-8:]
	}
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return n
}

func addrOf(v []byte) netip.Addr {
	switch len(v) {
	case 4:
		return netip.AddrFrom4([4]byte(v))
	case 16:
		return netip.AddrFrom16([16]byte(v))
	}
	return netip.Addr{}
}
