package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fast decodes the frame most traffic is made of straight from its bytes:
// Ethernet (untagged or with one 802.1Q tag) or raw IP, then an IPv4
// header without options or an IPv6 header without extension headers,
// not a fragment, then a TCP segment or a UDP datagram that opens no
// tunnel. For anything else it returns false without touching p, and
// Decode walks the layers from the start. What it decodes is what the
// walk decodes, field for field (TestFastMatchesWalk on every shared
// capture, FuzzDecode on any bytes): it is the walk's common case without
// the walk's cost per layer (a gopacket DecodingLayer call and the step
// after it, a third of the reader's time on real traffic).
func fast(data []byte, k linkStart, p *Packet) bool {
	var ctx uint32
	switch k {
	case linkEthernet:
		if len(data) < 14 {
			return false
		}
		et := binary.BigEndian.Uint16(data[12:14])
		data = data[14:]
		if et == uint16(layers.EthernetTypeDot1Q) {
			if len(data) < 4 {
				return false
			}
			ctx = uint32(binary.BigEndian.Uint16(data[0:2])&0x0fff) + 1
			et = binary.BigEndian.Uint16(data[2:4])
			data = data[4:]
		}
		switch {
		case et == uint16(layers.EthernetTypeIPv4) && len(data) > 0 && data[0] == 0x45:
		case et == uint16(layers.EthernetTypeIPv6) && len(data) > 0 && data[0]>>4 == 6:
		default:
			return false
		}
	case linkRaw:
	default:
		return false
	}
	return fastIP(data, ctx, p)
}

// fastIP is fast from the IP header on.
func fastIP(data []byte, ctx uint32, p *Packet) bool {
	var q Packet
	var l4 []byte
	switch {
	case len(data) >= 20 && data[0] == 0x45:
		tl := int(binary.BigEndian.Uint16(data[2:4]))
		// Length 0 (TSO), a fragment (MF or an offset) or a protocol
		// other than TCP and UDP: the walk decides.
		if tl < 20 || data[6]&0x3f != 0 || data[7] != 0 || (data[9] != 6 && data[9] != 17) {
			return false
		}
		q.Src = [16]byte{10: 0xff, 11: 0xff}
		q.Dst = [16]byte{10: 0xff, 11: 0xff}
		copy(q.Src[12:], data[12:16])
		copy(q.Dst[12:], data[16:20])
		q.Proto = data[9]
		q.IPLen = uint32(tl)
		l4 = data[20:min(tl, len(data))]
	case len(data) >= 40 && data[0]>>4 == 6:
		plen := int(binary.BigEndian.Uint16(data[4:6]))
		if plen == 0 || (data[6] != 6 && data[6] != 17) {
			return false
		}
		q.IPv6 = true
		copy(q.Src[:], data[8:24])
		copy(q.Dst[:], data[24:40])
		q.Proto = data[6]
		q.IPLen = uint32(plen) + 40
		l4 = data[40:min(40+plen, len(data))]
	default:
		return false
	}
	if q.Proto == 6 {
		if len(l4) < 20 {
			return false
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > len(l4) {
			return false
		}
		q.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		q.DstPort = binary.BigEndian.Uint16(l4[2:4])
		q.TCPSeq = binary.BigEndian.Uint32(l4[4:8])
		q.TCPFlags = l4[13] & 0x3f
		q.Payload = l4[off:]
	} else {
		if len(l4) < 8 {
			return false
		}
		ulen := int(binary.BigEndian.Uint16(l4[4:6]))
		if ulen < 8 { // 0 (a jumbogram) or malformed
			return false
		}
		q.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		q.DstPort = binary.BigEndian.Uint16(l4[2:4])
		q.Payload = l4[8:min(ulen, len(l4))]
		if len(q.Payload) > 0 && udpTunnel(q.SrcPort, q.DstPort) {
			return false
		}
	}
	q.Timestamp = p.Timestamp
	q.Context = ctx
	*p = q
	return true
}

// udpTunnel reports whether the walk goes on into a tunnel from a UDP
// datagram between these ports (transportStep).
func udpTunnel(sport, dport uint16) bool {
	lt := layers.UDPPort(dport).LayerType()
	if lt == gopacket.LayerTypePayload {
		lt = layers.UDPPort(sport).LayerType()
	}
	return lt == layers.LayerTypeVXLAN || lt == layers.LayerTypeGeneve || udpShim(sport, dport) != 0
}
