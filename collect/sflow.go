package collect

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/gopacket/gopacket/layers"
	"github.com/netsampler/goflow2/v2/decoders/sflow"
)

// sFlow v5 sampled header protocols (sFlow v5, header_protocol).
const (
	sfHeaderEthernet = 1
	sfHeaderIPv4     = 11
	sfHeaderIPv6     = 12
)

// sflow decodes an sFlow v5 datagram: each flow sample's packet header
// goes through the capture decoder as a frame scaled by the sampling
// rate; counter and drop samples are counted and ignored.
func (h *handler) sflow(data []byte) {
	if len(data) < 4 || binary.BigEndian.Uint32(data) != 5 {
		h.e.st.datagrams[protoUnknown].Add(1)
		if len(data) < 4 {
			h.e.st.fail(reasonTruncated)
		} else {
			h.e.st.fail(reasonVersion)
		}
		return
	}
	h.e.st.datagrams[protoSFlow5].Add(1)
	if r, ok := checkSFlow(data); !ok {
		h.e.st.fail(r)
		return
	}
	var pkt sflow.Packet
	if err := sflow.DecodeMessageVersion(bytes.NewBuffer(data), &pkt); err != nil {
		// Samples decoded before the error are used.
		h.e.st.fail(reasonDecode)
	}
	h.sequence(seqKey{protoSFlow5, pkt.SubAgentId}, pkt.SequenceNumber, pkt.SequenceNumber+1)
	for _, s := range pkt.Samples {
		switch s := s.(type) {
		case sflow.FlowSample:
			h.flowSample(s.SamplingRate, s.Records)
		case sflow.ExpandedFlowSample:
			h.flowSample(s.SamplingRate, s.Records)
		case sflow.CounterSample:
			h.e.st.counterSamples.Add(1)
		case sflow.DropSample:
			h.e.st.dropSamples.Add(1)
		}
	}
}

// flowSample hands on one flow sample: its sampled header if it has one,
// else its sampled IPv4/IPv6 record (addresses, ports, length).
func (h *handler) flowSample(rate uint32, recs []sflow.FlowRecord) {
	if rate == 0 {
		rate = h.c.cfg.SamplingRate
	}
	rate = max(rate, 1)
	for i := range recs {
		hd, ok := recs[i].Data.(sflow.SampledHeader)
		if !ok {
			continue
		}
		var lt layers.LinkType
		switch hd.Protocol {
		case sfHeaderEthernet:
			lt = layers.LinkTypeEthernet
		case sfHeaderIPv4:
			lt = layers.LinkTypeIPv4
		case sfHeaderIPv6:
			lt = layers.LinkTypeIPv6
		default:
			h.e.st.fail(reasonHeader)
			return
		}
		// goflow2 calls the header's own length OriginalLength; the
		// data after it is the XDR padding.
		frame := hd.HeaderData
		if int(hd.OriginalLength) > len(frame) {
			h.e.st.fail(reasonLength)
			return
		}
		frame = frame[:hd.OriginalLength]
		h.e.st.records.Add(1)
		h.e.sawRate(rate, 1)
		h.out.ScaledFrame(frame, lt, h.now, rate)
		return
	}
	for i := range recs {
		var b sflow.SampledIPBase
		switch d := recs[i].Data.(type) {
		case sflow.SampledIPv4:
			b = d.SampledIPBase
		case sflow.SampledIPv6:
			b = d.SampledIPBase
		default:
			continue
		}
		src, _ := netip.AddrFromSlice(b.SrcIP)
		dst, _ := netip.AddrFromSlice(b.DstIP)
		h.rec = pipeline.Record{Src: src, Dst: dst, SrcPort: uint16(b.SrcPort), DstPort: uint16(b.DstPort), Proto: uint8(b.Protocol),
			Bytes: uint64(b.Length), Packets: 1, First: h.now, Last: h.now}
		h.emit(rate)
		return
	}
}
