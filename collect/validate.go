package collect

import "encoding/binary"

// The checks below walk a datagram's framing before it is decoded: a
// NetFlow v9/IPFIX message whose template field counts do not fit its
// sets, or an sFlow datagram whose sample or record counts do not fit its
// length, is refused here, with a reason. The template decoder then reads
// field specifiers without bounds checks, and goflow2, which allocates an
// sFlow expanded flow sample's records from their count (up to 2^32 x 40
// bytes, unchecked), is never asked for more than the datagram's size.

const (
	nf9HeaderLen   = 20
	ipfixHeaderLen = 16
)

// checkNetFlowSets walks the sets of a NetFlow v9 (version 9) or IPFIX
// (version 10) message after its header.
func checkNetFlowSets(version uint16, b []byte) (reason, bool) {
	for len(b) >= 4 {
		id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return reasonLength, false
		}
		body := b[4:n]
		b = b[n:]
		var ok bool
		switch {
		case version == 9 && id == 0, version == 10 && id == 2:
			ok = checkTemplates(version, body, false)
		case version == 10 && id == 3:
			ok = checkTemplates(version, body, true)
		case version == 9 && id == 1:
			ok = checkNF9OptionTemplates(body)
		default:
			continue // data sets are bounded by their length
		}
		if !ok {
			return reasonTemplate, false
		}
	}
	return 0, true
}

// checkTemplates checks that each template record's fields fit the set.
func checkTemplates(version uint16, b []byte, options bool) bool {
	hdr := 4
	if options {
		hdr = 6
	}
	for len(b) >= hdr {
		count := int(binary.BigEndian.Uint16(b[2:]))
		if options && int(binary.BigEndian.Uint16(b[4:])) > count {
			return false // more scope fields than fields
		}
		b = b[hdr:]
		for range count {
			if len(b) < 4 {
				return false
			}
			n := 4
			if version == 10 && b[0]&0x80 != 0 {
				n = 8 // enterprise number
			}
			if len(b) < n {
				return false
			}
			b = b[n:]
		}
	}
	return true
}

// checkNF9OptionTemplates checks NetFlow v9 options templates (RFC 3954,
// 6.1): scope and option lengths in bytes, four per field.
func checkNF9OptionTemplates(b []byte) bool {
	for len(b) >= 6 {
		scope, opt := int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
		if scope%4 != 0 || opt%4 != 0 || 6+scope+opt > len(b) {
			return false
		}
		b = b[6+scope+opt:]
	}
	return true
}

// sFlow v5 sample formats (enterprise 0).
const (
	sfFlowSample            = 1
	sfCounterSample         = 2
	sfExpandedFlowSample    = 3
	sfExpandedCounterSample = 4
	sfDropSample            = 5
	sfMaxSamples            = 1000 // goflow2's own bound
)

// checkSFlow walks an sFlow v5 datagram's samples and their record counts.
func checkSFlow(b []byte) (reason, bool) {
	if len(b) < 8 {
		return reasonTruncated, false
	}
	hdr := 28 // version, agent address type, IPv4 address, sub-agent, sequence, uptime, samples
	switch binary.BigEndian.Uint32(b[4:]) {
	case 1:
	case 2:
		hdr = 40
	default:
		return reasonDecode, false
	}
	if len(b) < hdr {
		return reasonTruncated, false
	}
	if binary.BigEndian.Uint32(b[hdr-4:]) > sfMaxSamples {
		return reasonRecords, false
	}
	b = b[hdr:]
	for len(b) >= 8 {
		format, n := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		if uint64(n) > uint64(len(b)-8) {
			return reasonLength, false
		}
		body := b[8 : 8+n]
		b = b[8+n:]
		// The offset of the record count in each sample format.
		off := -1
		switch format {
		case sfFlowSample:
			off = 28
		case sfCounterSample:
			off = 8
		case sfExpandedFlowSample:
			off = 40
		case sfExpandedCounterSample:
			off = 12
		case sfDropSample:
			off = 28
		}
		if off < 0 || len(body) < off+4 {
			continue // goflow2 refuses it, or reads nothing past its end
		}
		if c := binary.BigEndian.Uint32(body[off:]); uint64(c)*8 > uint64(len(body)-off-4) {
			return reasonRecords, false
		}
	}
	return 0, true
}
