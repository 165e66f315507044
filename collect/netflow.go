package collect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
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
	var pkt netflowlegacy.PacketNetFlowV5
	if err := netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(data), &pkt); err != nil {
		h.e.st.fail(reasonDecode)
		return
	}
	h.sequence(seqKey{protoNetFlow5, uint32(pkt.EngineType)<<8 | uint32(pkt.EngineId)}, pkt.FlowSequence, pkt.FlowSequence+uint32(pkt.Count))
	rate := uint32(pkt.SamplingInterval & 0x3fff)
	if rate == 0 {
		rate = h.c.cfg.SamplingRate
	}
	boot := int64(pkt.UnixSecs)*1e9 + int64(pkt.UnixNSecs) - int64(pkt.SysUptime)*1e6
	for i := range pkt.Records {
		r := &pkt.Records[i]
		h.rec = pipeline.Record{
			Src: addr4(uint32(r.SrcAddr)), Dst: addr4(uint32(r.DstAddr)), SrcPort: r.SrcPort, DstPort: r.DstPort, Proto: r.Proto,
			Bytes: uint64(r.DOctets), Packets: uint64(r.DPkts),
			First: boot + int64(r.First)*1e6, Last: boot + int64(r.Last)*1e6,
		}
		h.emit(rate)
	}
}

func addr4(a uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
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

// templated decodes a NetFlow v9 or IPFIX message with the exporter's
// templates.
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
	var p9 netflow.NFv9Packet
	var p10 netflow.IPFIXPacket
	err := netflow.DecodeMessageVersion(bytes.NewBuffer(data), h.e.tmpl, &p9, &p10)
	if r := classify(err); err != nil && r != numReasons {
		h.e.st.fail(r)
	}
	if version == 9 {
		h.sets(msgInfo{version: 9, domain: p9.SourceId, boot: int64(p9.UnixSeconds)*1e9 - int64(p9.SystemUptime)*1e6, export: int64(p9.UnixSeconds) * 1e9}, p9.FlowSets)
		h.sequence(seqKey{protoNetFlow9, p9.SourceId}, p9.SequenceNumber, p9.SequenceNumber+1)
		return
	}
	n, missed := h.sets(msgInfo{version: 10, domain: p10.ObservationDomainId, export: int64(p10.ExportTime) * 1e9}, p10.FlowSets)
	k := seqKey{protoIPFIX, p10.ObservationDomainId}
	if missed {
		delete(h.e.seq, k) // records of unknown count: no gap can be told
		return
	}
	h.sequence(k, p10.SequenceNumber, p10.SequenceNumber+uint32(n))
}

// classify names a goflow2 error; numReasons for template misses only,
// which are not an error of the datagram: its data sets are counted as
// template misses.
func classify(err error) reason {
	switch {
	case errors.Is(err, errTemplateLimit):
		return reasonTemplateLimit
	case errors.Is(err, errTemplate):
		return reasonTemplate
	}
	var wrapped interface{ Unwrap() []error }
	if errors.As(err, &wrapped) {
		// errors.Join of template misses only.
		for _, e := range wrapped.Unwrap() {
			if !errors.Is(e, netflow.ErrorTemplateNotFound) {
				return reasonDecode
			}
		}
		return numReasons
	}
	if errors.Is(err, netflow.ErrorTemplateNotFound) {
		return numReasons
	}
	return reasonDecode
}
