package collect

import (
	"net/netip"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
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

// sets handles a message's decoded sets: option data first (sampling
// rates), then the data records. It returns the data records seen and
// whether a data set's template was missing.
func (h *handler) sets(m msgInfo, sets []any) (n int, missed bool) {
	for _, s := range sets {
		if od, ok := s.(netflow.OptionsDataFlowSet); ok {
			for i := range od.Records {
				h.optionData(m, &od.Records[i])
			}
			n += len(od.Records)
		}
	}
	for _, s := range sets {
		switch s := s.(type) {
		case netflow.DataFlowSet:
			for i := range s.Records {
				h.dataRecord(m, s.Records[i].Values)
			}
			n += len(s.Records)
		case netflow.RawFlowSet:
			if s.Id >= 256 {
				h.e.st.templateMisses.Add(1)
				missed = true
			}
		}
	}
	return n, missed
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

func (sf *samplingFields) take(f *netflow.DataField, v []byte) bool {
	switch f.Type {
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

// optionData keeps the sampling rate an options record announces (RFC
// 3954 6.1, RFC 7011 4.1 / RFC 5476): for its sampler, and as the
// domain's latest.
func (h *handler) optionData(m msgInfo, r *netflow.OptionsDataRecord) {
	var sf samplingFields
	for _, fs := range [2][]netflow.DataField{r.ScopesValues, r.OptionsValues} {
		for i := range fs {
			if v, ok := fs[i].Value.([]byte); ok && !fs[i].PenProvided {
				sf.take(&fs[i], v)
			}
		}
	}
	rate := sf.result()
	if rate == 0 {
		return
	}
	if sf.hasSampler {
		h.e.setRate(rateKey{m.version, m.domain, sf.sampler}, rate)
	}
	h.e.setRate(rateKey{m.version, m.domain, anySampler}, rate)
}

// dataRecord turns one data record into a pipeline record.
func (h *handler) dataRecord(m msgInfo, fs []netflow.DataField) {
	h.rec = pipeline.Record{}
	var sf samplingFields
	var total [2]uint64
	var first, last int64
	for i := range fs {
		f := &fs[i]
		v, ok := f.Value.([]byte)
		if !ok || f.PenProvided || sf.take(f, v) {
			continue
		}
		if t, ok := timeOf(m, f.Type, v); ok {
			if f.Type == ieLastSysUp || f.Type == ieEndSeconds || f.Type == ieEndMillis {
				last = t
			} else {
				first = t
			}
			continue
		}
		h.field(f.Type, v, &total)
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
