package capture

import (
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mplsLayer decodes an MPLS label stack entry as a DecodingLayer (gopacket's
// MPLS layer has no DecodeFromBytes). After the bottom of the stack the
// payload is guessed from the first nibble, as every MPLS decoder must:
// 4 is IPv4, 6 is IPv6, anything else (a pseudowire control word) is not
// decoded.
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
		}
	}
	return nil
}

func (m *mplsLayer) CanDecode() gopacket.LayerClass    { return layers.LayerTypeMPLS }
func (m *mplsLayer) NextLayerType() gopacket.LayerType { return m.next }
func (m *mplsLayer) LayerPayload() []byte              { return m.payload }
