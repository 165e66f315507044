package capture

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// sllLayer decodes a Linux cooked (SLL v1) header. gopacket's LinuxSLL
// refuses an address length above 8; the header is 16 bytes whatever that
// field says, and tshark reads such frames, so borderwatch does too.
type sllLayer struct {
	proto   layers.EthernetType
	next    gopacket.LayerType
	payload []byte
}

var errSLLShort = errors.New("linux cooked header shorter than 16 bytes")

func (s *sllLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 16 {
		df.SetTruncated()
		return errSLLShort
	}
	proto := binary.BigEndian.Uint16(data[14:16])
	s.proto = layers.EthernetType(proto)
	s.payload = data[16:]
	switch proto {
	case 0x0001, 0x0004: // Novell 802.3, 802.2 LLC: not IP
		s.next = gopacket.LayerTypePayload
	default:
		s.next = layers.EthernetType(proto).LayerType()
	}
	return nil
}

func (s *sllLayer) CanDecode() gopacket.LayerClass    { return layers.LayerTypeLinuxSLL }
func (s *sllLayer) NextLayerType() gopacket.LayerType { return s.next }
func (s *sllLayer) LayerPayload() []byte              { return s.payload }
