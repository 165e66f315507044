package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// sawIP notes an IP header: a second one makes the packet tunnelled.
func (d *Decoder) sawIP(p *Packet) {
	if d.w.haveIP {
		p.Tunnelled = true
	}
	d.w.haveIP = true
}

// ipStep reads a decoded IPv4, IPv6 or IPv6 extension header into p.
func (d *Decoder) ipStep(typ gopacket.LayerType, data []byte, p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	var next gopacket.LayerType
	var payload []byte
	switch typ {
	case layers.LayerTypeIPv4:
		d.sawIP(p)
		d.setIPv4(p, data)
		next, payload = d.ip4.NextLayerType(), d.ip4.Payload
		if next == gopacket.LayerTypeFragment && d.ip4.FragOffset == 0 {
			// The first fragment of a tunnelled datagram holds the
			// inner header: place it, as tshark does.
			next = firstFragmentTunnel(d.ip4.Protocol, payload)
		}
		if d.ip4.Protocol == layers.IPProtocolAH && next != gopacket.LayerTypeFragment {
			next = layerAH
		}
	case layers.LayerTypeIPv6:
		d.sawIP(p)
		d.setIPv6(p, data)
		next, payload = ipNext(layers.IPProtocol(p.Proto)), d.ip6.Payload
	case layers.LayerTypeIPv6Fragment:
		f := &d.ip6frag
		p.Proto = uint8(f.NextHeader)
		p.Context = d.w.ctx
		if f.FragmentOffset != 0 {
			v, r := d.laterFragment(p, f.Identification)
			return 0, nil, v, r, true
		}
		if f.MoreFragments {
			v, r := d.firstFragment(p, f.Identification, f.LayerPayload())
			return 0, nil, v, r, true
		}
		next, payload = ipNext(f.NextHeader), f.LayerPayload()
	default:
		p.Proto = uint8(d.ip6ext.NextHeader)
		next, payload = ipNext(d.ip6ext.NextHeader), d.ip6ext.LayerPayload()
	}
	if next == layers.LayerTypeEthernet { // IP protocol 143 (Ethernet, as SRv6 carries it)
		d.w.ctx = d.w.ctx*31 + 29
	}
	return next, payload, 0, 0, false
}

// firstFragmentTunnel is the layer to decode in the first fragment of an
// IPv4 datagram: the tunnel it carries (GRE, or UDP to or from a tunnel
// port), else the fragment itself.
func firstFragmentTunnel(proto layers.IPProtocol, payload []byte) gopacket.LayerType {
	switch proto {
	case layers.IPProtocolGRE:
		return layers.LayerTypeGRE
	case layers.IPProtocolUDP:
		if len(payload) < 8 {
			break
		}
		sport, dport := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		switch layers.UDPPort(dport).LayerType() {
		case layers.LayerTypeVXLAN, layers.LayerTypeGeneve:
			return layers.LayerTypeUDP
		}
		if udpShim(sport, dport) != 0 {
			return layers.LayerTypeUDP
		}
	}
	return gopacket.LayerTypeFragment
}

// transportStep reads a decoded TCP or UDP header into p. A UDP datagram
// to or from a tunnel port goes on into the tunnel.
func (d *Decoder) transportStep(typ gopacket.LayerType, p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	if typ == layers.LayerTypeTCP {
		t := &d.tcp
		p.SrcPort, p.DstPort = uint16(t.SrcPort), uint16(t.DstPort)
		p.TCPSeq = t.Seq
		p.TCPFlags = tcpFlags(t)
		v, r := d.placed(p, t.Payload)
		return 0, nil, v, r, true
	}
	u := &d.udp
	p.SrcPort, p.DstPort = uint16(u.SrcPort), uint16(u.DstPort)
	p.Payload = u.Payload
	if len(u.Payload) > 0 {
		if next := u.NextLayerType(); next == layers.LayerTypeVXLAN || next == layers.LayerTypeGeneve {
			return next, u.Payload, 0, 0, false
		}
		if next := udpShim(p.SrcPort, p.DstPort); next != 0 {
			return next, u.Payload, 0, 0, false
		}
	}
	v, r := d.placed(p, u.Payload)
	return 0, nil, v, r, true
}

// greStep chooses what a decoded GRE header leads to.
func (d *Decoder) greStep(p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	d.w.ctx = d.w.ctx*31 + d.gre.Key + 7
	p.Proto = 0
	next, data := d.gre.NextLayerType(), d.gre.LayerPayload()
	switch d.gre.Protocol {
	case layers.EthernetTypeIPv4, layers.EthernetTypeIPv6, layers.EthernetTypeTransparentEthernetBridging, layers.EthernetTypeERSPAN:
		return next, data, 0, 0, false
	case ethernetTypePPP: // PPTP
		return layerPPP, data, 0, 0, false
	case ethernetTypeCMD:
		return layerCMDGRE, data, 0, 0, false
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
		return layers.LayerTypeMPLS, data, 0, 0, false
	case ethernetTypeNSH:
		return layerNSH, data, 0, 0, false
	case ethernetTypeERSPAN3:
		// ERSPAN type III: a 12-byte header (+8 with the O flag),
		// then the mirrored frame: Ethernet (FT 0) or IP (FT 2).
		if len(data) >= 12 {
			hl := 12
			if data[11]&0x01 != 0 {
				hl += 8
			}
			ft := (data[9] >> 2) & 0x1f
			if len(data) > hl && (ft == 0 || ft == 2) {
				if ft == 2 {
					return ipByVersionOr4(data[hl:]), data[hl:], 0, 0, false
				}
				return layers.LayerTypeEthernet, data[hl:], 0, 0, false
			}
		}
	case ethernetTypeWCCP:
		// WCCP redirect: a 4-byte redirect header, then IPv4.
		if len(data) > 4 {
			return layers.LayerTypeIPv4, data[4:], 0, 0, false
		}
		return next, data, 0, 0, false
	}
	// Anything else: the outer header is placed.
	v, r := d.placed(p, data)
	return 0, nil, v, r, true
}

func ipByVersionOr4(data []byte) gopacket.LayerType {
	if data[0]>>4 == 6 {
		return layers.LayerTypeIPv6
	}
	return layers.LayerTypeIPv4
}

// failed handles a layer gopacket refused.
func (d *Decoder) failed(typ gopacket.LayerType, data []byte, p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	if typ == layers.LayerTypeIPv4 || typ == layers.LayerTypeIPv6 {
		// A header gopacket rejects (bad IHL or options, IPv6 length 0
		// without a jumbo option as BIG TCP captures have) still names
		// its addresses and length: place it, as tshark does.
		if next, payload, ok := rawIP(p, data, typ == layers.LayerTypeIPv6); ok {
			d.sawIP(p)
			if next == gopacket.LayerTypeZero {
				v, r := d.placed(p, nil)
				return 0, nil, v, r, true
			}
			return next, payload, 0, 0, false
		}
	}
	if d.w.haveIP {
		// The IP header is good: place by it, with whatever the
		// transport or inner header left us.
		v, r := d.placed(p, nil)
		return 0, nil, v, r, true
	}
	return 0, nil, Failed, failReason(typ, data, d.truncated), true
}

// failReason names what is wrong with a header gopacket refused: too short
// for its fixed part, or else malformed.
func failReason(typ gopacket.LayerType, data []byte, truncated bool) Reason {
	min, malformed := 0, ReasonMalformedLink
	switch typ {
	case layers.LayerTypeEthernet:
		min = 14
	case layers.LayerTypeLinuxSLL:
		min = 16
	case layers.LayerTypeLinuxSLL2:
		min = 20
	case layers.LayerTypeLoopback:
		min = 4
	case layers.LayerTypeDot1Q:
		min, malformed = 4, ReasonMalformedVLAN
	case layers.LayerTypeMPLS:
		min, malformed = 4, ReasonMalformedMPLS
	case layers.LayerTypeIPv4:
		min, malformed = 20, ReasonMalformedIPv4
	case layers.LayerTypeIPv6:
		min, malformed = 40, ReasonMalformedIPv6
	case layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		malformed = ReasonMalformedIPv6
	}
	if truncated || len(data) < min {
		return ReasonTruncated
	}
	return malformed
}
