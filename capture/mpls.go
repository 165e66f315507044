package capture

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mplsLayer decodes an MPLS label stack entry as a DecodingLayer (gopacket's
// MPLS layer has no DecodeFromBytes). After the bottom of the stack the
// payload is guessed, as every MPLS decoder must: a first nibble of 4 is
// IPv4, 6 is IPv6; else an Ethernet pseudowire (RFC 4448) when an
// ethertype borderwatch knows follows two MAC addresses, directly or after
// a 4-byte control word (first nibble 0); anything else is not decoded.
type mplsLayer struct {
	next    gopacket.LayerType
	payload []byte
}

var errMPLSShort = errors.New("MPLS label shorter than 4 bytes")

func (m *mplsLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 4 {
		df.SetTruncated()
		return errMPLSShort
	}
	m.payload = data[4:]
	if data[2]&0x01 == 0 { // not bottom of stack
		m.next = layers.LayerTypeMPLS
		return nil
	}
	m.next = gopacket.LayerTypePayload
	if len(m.payload) > 0 {
		switch m.payload[0] >> 4 {
		case 4:
			m.next = layers.LayerTypeIPv4
		case 6:
			m.next = layers.LayerTypeIPv6
		default:
			if pwEthernet(m.payload, 0) {
				m.next = layers.LayerTypeEthernet
			} else if m.payload[0]>>4 == 0 && pwEthernet(m.payload, 4) {
				m.next, m.payload = layers.LayerTypeEthernet, m.payload[4:]
			}
		}
	}
	return nil
}

// pwEthernet reports whether data[off:] looks like an Ethernet header:
// room for one, and a known ethertype after the addresses.
func pwEthernet(data []byte, off int) bool {
	if len(data) < off+14 {
		return false
	}
	switch binary.BigEndian.Uint16(data[off+12:]) {
	case 0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x9100, 0x8847, 0x8848, 0x8863, 0x8864:
		return true
	}
	return false
}

func (m *mplsLayer) CanDecode() gopacket.LayerClass    { return layers.LayerTypeMPLS }
func (m *mplsLayer) NextLayerType() gopacket.LayerType { return m.next }
func (m *mplsLayer) LayerPayload() []byte              { return m.payload }
