package collect

import (
	"encoding/binary"
	"net/netip"
)

// Hand encoders of the export formats, written from the specifications
// (Cisco's NetFlow v5 record layout, RFC 3954, RFC 7011, sFlow v5) and not
// with goflow2, so that the tests' oracle is independent of the decoder.

type wbuf []byte

func (w *wbuf) u8(v uint8)   { *w = append(*w, v) }
func (w *wbuf) u16(v uint16) { *w = binary.BigEndian.AppendUint16(*w, v) }
func (w *wbuf) u32(v uint32) { *w = binary.BigEndian.AppendUint32(*w, v) }
func (w *wbuf) raw(b []byte) { *w = append(*w, b...) }
func (w *wbuf) pad4() {
	for len(*w)%4 != 0 {
		*w = append(*w, 0)
	}
}

// flowRec is one flow in the tests' terms.
type flowRec struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	octets, pkts uint64
}

// nf5 encodes a NetFlow v5 datagram: a 24-byte header and 48-byte
// records; first and last are uptime - 2000 ms and uptime - 1000 ms.
func nf5(unixSecs, uptime, seq uint32, sampling uint16, recs []flowRec) []byte {
	var w wbuf
	w.u16(5)
	w.u16(uint16(len(recs)))
	w.u32(uptime)
	w.u32(unixSecs)
	w.u32(0) // unix_nsecs
	w.u32(seq)
	w.u8(0) // engine type
	w.u8(0) // engine id
	w.u16(sampling)
	for _, r := range recs {
		w.raw(r.src.AsSlice())
		w.raw(r.dst.AsSlice())
		w.u32(0) // next hop
		w.u16(1) // input
		w.u16(2) // output
		w.u32(uint32(r.pkts))
		w.u32(uint32(r.octets))
		w.u32(uptime - 2000)
		w.u32(uptime - 1000)
		w.u16(r.sport)
		w.u16(r.dport)
		w.u8(0)    // pad1
		w.u8(0x18) // tcp flags
		w.u8(r.proto)
		w.u8(0)  // tos
		w.u16(0) // src as
		w.u16(0) // dst as
		w.u8(24)
		w.u8(24)
		w.u16(0) // pad2
	}
	return w
}

// tfield is a template field: element id and length.
type tfield struct{ id, n uint16 }

// Templates of the tests (IPv4 and IPv6 flows).
var (
	v9Flow4 = []tfield{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {1, 4}, {2, 4}, {22, 4}, {21, 4}}
	v9Flow6 = []tfield{{27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {1, 8}, {2, 8}}
	// IPFIX: 64-bit counters, times in ms, and the sampler id (48).
	ipfixFlow4 = []tfield{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {1, 8}, {2, 8}, {152, 8}, {153, 8}, {48, 2}}
)

// set appends a set (a v9 flowset) with its id and length, padded to 4.
func set(w *wbuf, id uint16, body []byte) {
	start := len(*w)
	w.u16(id)
	w.u16(0)
	w.raw(body)
	w.pad4()
	binary.BigEndian.PutUint16((*w)[start+2:], uint16(len(*w)-start))
}

func templateRec(id uint16, fs []tfield) []byte {
	var w wbuf
	w.u16(id)
	w.u16(uint16(len(fs)))
	for _, f := range fs {
		w.u16(f.id)
		w.u16(f.n)
	}
	return w
}

// putUint writes v in n bytes, big-endian.
func putUint(w *wbuf, v uint64, n uint16) {
	for i := int(n) - 1; i >= 0; i-- {
		w.u8(byte(v >> (8 * i)))
	}
}

// dataRec encodes one flow as the fields of fs say; times are given per
// element id (22/21 uptime ms, 152/153 unix ms); 48 is sampler.
func dataRec(fs []tfield, r flowRec, times map[uint16]uint64, sampler uint64) []byte {
	var w wbuf
	for _, f := range fs {
		switch f.id {
		case 8, 27:
			w.raw(r.src.AsSlice())
		case 12, 28:
			w.raw(r.dst.AsSlice())
		case 7:
			putUint(&w, uint64(r.sport), f.n)
		case 11:
			putUint(&w, uint64(r.dport), f.n)
		case 4:
			putUint(&w, uint64(r.proto), f.n)
		case 1:
			putUint(&w, r.octets, f.n)
		case 2:
			putUint(&w, r.pkts, f.n)
		case 48:
			putUint(&w, sampler, f.n)
		default:
			putUint(&w, times[f.id], f.n)
		}
	}
	return w
}

// nf9 wraps flowsets in a NetFlow v9 header (RFC 3954 5.1); count is the
// number of records (template and data) in them.
func nf9(unixSecs, uptime, seq, sourceID uint32, count uint16, sets []byte) []byte {
	var w wbuf
	w.u16(9)
	w.u16(count)
	w.u32(uptime)
	w.u32(unixSecs)
	w.u32(seq)
	w.u32(sourceID)
	w.raw(sets)
	return w
}

// nf9OptionsTemplate is a v9 options template (RFC 3954 6.1): scope
// System (1, 4 bytes), option SAMPLING_INTERVAL (34, 4 bytes).
func nf9OptionsTemplate(id uint16) []byte {
	var w wbuf
	w.u16(id)
	w.u16(4) // scope length in bytes
	w.u16(4) // option length in bytes
	w.u16(1)
	w.u16(4)
	w.u16(34)
	w.u16(4)
	return w
}

// ipfix wraps sets in an IPFIX message header (RFC 7011 3.1).
func ipfix(exportTime, seq, domain uint32, sets []byte) []byte {
	var w wbuf
	w.u16(10)
	w.u16(uint16(16 + len(sets)))
	w.u32(exportTime)
	w.u32(seq)
	w.u32(domain)
	w.raw(sets)
	return w
}

// ipfixSamplerOptionsTemplate (RFC 7011 3.4.2.2): scope samplerId (48, 2
// bytes), option samplingInterval (34, 4 bytes).
func ipfixSamplerOptionsTemplate(id uint16) []byte {
	var w wbuf
	w.u16(id)
	w.u16(2) // field count
	w.u16(1) // scope field count
	w.u16(48)
	w.u16(2)
	w.u16(34)
	w.u16(4)
	return w
}

// sFlow v5 (sflow_version_5.txt): XDR, big-endian, opaque padded to 4.

// sflowDatagram wraps samples (each already with its format and length).
func sflowDatagram(agent netip.Addr, seq uint32, samples ...[]byte) []byte {
	var w wbuf
	w.u32(5)
	w.u32(1) // agent address: IPv4
	w.raw(agent.AsSlice())
	w.u32(0) // sub-agent
	w.u32(seq)
	w.u32(123456) // uptime ms
	w.u32(uint32(len(samples)))
	for _, s := range samples {
		w.raw(s)
	}
	return w
}

func xdrItem(format uint32, body []byte) []byte {
	var w wbuf
	w.u32(format)
	w.u32(uint32(len(body)))
	w.raw(body)
	return w
}

// sampledHeader is a raw packet header flow record (format 1): the first
// headerLen bytes of frame.
func sampledHeader(proto uint32, frame []byte, headerLen int) []byte {
	var w wbuf
	w.u32(proto)
	w.u32(uint32(len(frame) + 4)) // frame_length: with the FCS
	w.u32(4)                      // stripped: the FCS
	h := frame[:min(headerLen, len(frame))]
	w.u32(uint32(len(h)))
	w.raw(h)
	w.pad4()
	return xdrItem(1, w)
}

// flowSample is a compact flow sample (format 1) with its records.
func flowSample(seq, rate uint32, records ...[]byte) []byte {
	var w wbuf
	w.u32(seq)
	w.u32(3) // source id: ifIndex 3
	w.u32(rate)
	w.u32(seq * rate) // sample pool
	w.u32(0)          // drops
	w.u32(3)          // input
	w.u32(4)          // output
	w.u32(uint32(len(records)))
	for _, r := range records {
		w.raw(r)
	}
	return xdrItem(1, w)
}

// expandedFlowSample is an expanded flow sample (format 3).
func expandedFlowSample(seq, rate uint32, records ...[]byte) []byte {
	var w wbuf
	w.u32(seq)
	w.u32(0) // source id type
	w.u32(3) // source id index
	w.u32(rate)
	w.u32(seq * rate)
	w.u32(0) // drops
	w.u32(0) // input format
	w.u32(3)
	w.u32(0) // output format
	w.u32(4)
	w.u32(uint32(len(records)))
	for _, r := range records {
		w.raw(r)
	}
	return xdrItem(3, w)
}

// counterSample is a compact counter sample (format 2) with one generic
// interface counters record (format 1, 88 bytes).
func counterSample(seq uint32) []byte {
	var w wbuf
	w.u32(seq)
	w.u32(3)
	w.u32(1)
	w.raw(xdrItem(1, make([]byte, 88)))
	return xdrItem(2, w)
}
