package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Verdict is what Decode made of a frame. Every frame gets exactly one.
type Verdict uint8

// Verdicts.
const (
	// Decoded: the Packet is valid and carries an IP header to place.
	Decoded Verdict = iota
	// Skipped: a well-formed frame that carries no IP (ARP, LLDP, ...) or
	// uses a link type or encapsulation borderwatch does not decode.
	Skipped
	// Failed: a truncated or malformed frame, before any IP header.
	Failed
)

// Reason says why a frame was skipped or failed. Reasons are a closed set,
// safe as a metric label value.
type Reason uint8

// Reasons.
const (
	ReasonNone Reason = iota
	ReasonUnsupportedLinkType
	ReasonNonIP
	ReasonUnsupportedEncapsulation
	ReasonTruncated
	ReasonMalformedLink
	ReasonMalformedVLAN
	ReasonMalformedMPLS
	ReasonMalformedIPv4
	ReasonMalformedIPv6
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:                     "none",
	ReasonUnsupportedLinkType:      "unsupported_link_type",
	ReasonNonIP:                    "non_ip",
	ReasonUnsupportedEncapsulation: "unsupported_encapsulation",
	ReasonTruncated:                "truncated",
	ReasonMalformedLink:            "malformed_link",
	ReasonMalformedVLAN:            "malformed_vlan",
	ReasonMalformedMPLS:            "malformed_mpls",
	ReasonMalformedIPv4:            "malformed_ipv4",
	ReasonMalformedIPv6:            "malformed_ipv6",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// SkipReasons and ErrorReasons list the label values of the two counters.
var (
	SkipReasons  = []Reason{ReasonUnsupportedLinkType, ReasonNonIP, ReasonUnsupportedEncapsulation}
	ErrorReasons = []Reason{ReasonTruncated, ReasonMalformedLink, ReasonMalformedVLAN, ReasonMalformedMPLS, ReasonMalformedIPv4, ReasonMalformedIPv6}
)

// NumReasons bounds Reason values, for arrays indexed by Reason.
const NumReasons = int(numReasons)

// maxLayers bounds the layers walked in one frame, so that a hostile frame
// (VLAN in VLAN in VLAN ..., tunnels in tunnels) costs a bounded time.
const maxLayers = 24

// Decoder decodes frames with preallocated gopacket DecodingLayers. It is
// not safe for concurrent use: each worker owns one. It walks the layers
// itself rather than through a DecodingLayerParser because a tunnelled frame
// holds the same layer type twice (outer and inner IPv4); the inner header
// simply overwrites the outer one, which is what is placed.
type Decoder struct {
	eth     layers.Ethernet
	sll     sllLayer
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	dot1q   layers.Dot1Q
	mpls    mplsLayer
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	gre     layers.GRE
	vxlan   layers.VXLAN
	geneve  layers.Geneve
	etherip layers.EtherIP
	erspan  layers.ERSPANII
	tcp     layers.TCP
	udp     layers.UDP

	truncated bool
	frags     fragTable
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.frags.init(fragTableSize)
	return d
}

// SetTruncated implements gopacket.DecodeFeedback.
func (d *Decoder) SetTruncated() { d.truncated = true }

// firstLayer maps a link type to the layer that starts the frame.
func firstLayer(lt layers.LinkType, data []byte) gopacket.LayerType {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12, 14:
		if len(data) == 0 {
			return gopacket.LayerTypeZero
		}
		switch data[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4
		case 6:
			return layers.LayerTypeIPv6
		}
		return gopacket.LayerTypeZero
	}
	return gopacket.LayerTypeZero
}

// SupportedLinkType reports whether frames of lt can be decoded.
func SupportedLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull,
		layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		return true
	}
	return false
}

// Decode decodes one frame of link type lt into p. p.Payload aliases data.
// It never panics and never allocates for well-formed frames.
func (d *Decoder) Decode(data []byte, lt layers.LinkType, ts int64, p *Packet) (Verdict, Reason) {
	*p = Packet{Timestamp: ts}
	if !SupportedLinkType(lt) {
		return Skipped, ReasonUnsupportedLinkType
	}
	typ := firstLayer(lt, data)
	if typ == gopacket.LayerTypeZero || len(data) == 0 {
		if len(data) == 0 {
			return Failed, ReasonTruncated
		}
		return Failed, ReasonMalformedLink
	}
	d.truncated = false
	haveIP := false
	var ctx uint32
	afterGRE := false
	for i := 0; i < maxLayers; i++ {
		var dl gopacket.DecodingLayer
		switch typ {
		case layers.LayerTypeEthernet:
			dl = &d.eth
		case layers.LayerTypeLinuxSLL:
			dl = &d.sll
		case layers.LayerTypeLinuxSLL2:
			dl = &d.sll2
		case layers.LayerTypeLoopback:
			dl = &d.loop
		case layers.LayerTypeDot1Q:
			dl = &d.dot1q
		case layers.LayerTypeMPLS:
			dl = &d.mpls
		case layers.LayerTypeIPv4:
			if len(data) > 0 && data[0]>>4 != 4 {
				return d.notIP(p, haveIP, ctx)
			}
			dl = &d.ip4
		case layers.LayerTypeIPv6:
			if len(data) > 0 && data[0]>>4 != 6 {
				return d.notIP(p, haveIP, ctx)
			}
			dl = &d.ip6
		case layers.LayerTypeIPv6Fragment:
			dl = &d.ip6frag
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			dl = &d.ip6ext
		case layers.LayerTypeGRE:
			dl = &d.gre
		case layers.LayerTypeVXLAN:
			dl = &d.vxlan
		case layers.LayerTypeGeneve:
			dl = &d.geneve
		case layers.LayerTypeEtherIP:
			dl = &d.etherip
		case layers.LayerTypeERSPANII:
			if !afterGRE { // ERSPAN is only opened inside GRE
				return d.stop(p, haveIP, typ, data)
			}
			dl = &d.erspan
		case layers.LayerTypeTCP:
			dl = &d.tcp
		case layers.LayerTypeUDP:
			dl = &d.udp
		case gopacket.LayerTypeFragment:
			return d.fragment(p)
		default:
			return d.stop(p, haveIP, typ, data)
		}
		if err := dl.DecodeFromBytes(data, d); err != nil {
			if typ == layers.LayerTypeIPv4 || typ == layers.LayerTypeIPv6 {
				// A header gopacket rejects (bad IHL or options, IPv6
				// length 0 without a jumbo option as BIG TCP captures
				// have) still names its addresses and length: place it,
				// as tshark does.
				next, payload, ok := rawIP(p, data, typ == layers.LayerTypeIPv6)
				if ok {
					if haveIP {
						p.Tunnelled = true
					}
					haveIP = true
					p.Context = ctx
					if next == gopacket.LayerTypeZero {
						return Decoded, ReasonNone
					}
					typ, data = next, payload
					continue
				}
				if typ == layers.LayerTypeIPv4 && len(data) > 0 && data[0]>>4 != 4 || typ == layers.LayerTypeIPv6 && len(data) > 0 && data[0]>>4 != 6 {
					if haveIP {
						p.Payload = nil
						return Decoded, ReasonNone
					}
					return Skipped, ReasonNonIP
				}
			}
			if haveIP {
				// The IP header is good: place by it, with whatever the
				// transport or inner header left us.
				p.Payload = nil
				return Decoded, ReasonNone
			}
			return Failed, failReason(typ, d.truncated || len(data) < minHeader(typ))
		}
		switch typ {
		case layers.LayerTypeDot1Q:
			ctx = ctx*31 + uint32(d.dot1q.VLANIdentifier) + 1
		case layers.LayerTypeIPv4:
			if haveIP {
				p.Tunnelled = true
			}
			haveIP = true
			d.setIPv4(p, data)
		case layers.LayerTypeIPv6:
			if haveIP {
				p.Tunnelled = true
			}
			haveIP = true
			d.setIPv6(p, data)
		case layers.LayerTypeIPv6Fragment:
			p.Proto = uint8(d.ip6frag.NextHeader)
			if d.ip6frag.FragmentOffset != 0 {
				return d.laterFragment(p, d.ip6frag.Identification)
			}
			if d.ip6frag.MoreFragments {
				return d.firstFragment(p, d.ip6frag.Identification, d.ip6frag.LayerPayload())
			}
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			p.Proto = uint8(d.ip6ext.NextHeader)
		case layers.LayerTypeGRE:
			ctx = ctx*31 + d.gre.Key + 7
			p.Proto = 0
		case layers.LayerTypeVXLAN:
			ctx = ctx*31 + d.vxlan.VNI + 11
		case layers.LayerTypeGeneve:
			ctx = ctx*31 + d.geneve.VNI + 13
		case layers.LayerTypeTCP:
			p.SrcPort, p.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.TCPSeq = d.tcp.Seq
			p.TCPFlags = tcpFlags(&d.tcp)
			p.Payload = d.tcp.Payload
			p.Context = ctx
			return Decoded, ReasonNone
		case layers.LayerTypeUDP:
			p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.Payload = d.udp.Payload
			next := d.udp.NextLayerType()
			if (next != layers.LayerTypeVXLAN && next != layers.LayerTypeGeneve) || len(p.Payload) == 0 {
				p.Context = ctx
				return Decoded, ReasonNone
			}
		}
		typ = dl.NextLayerType()
		data = dl.LayerPayload()
		_, afterGRE = dl.(*layers.GRE)
		switch dl.(type) {
		case *layers.IPv4, *layers.IPv6, *layers.IPv6ExtensionSkipper:
			if typ == layers.LayerTypeEthernet { // IP protocol 143: not a tunnel borderwatch opens
				p.Payload = data
				p.Context = ctx
				return Decoded, ReasonNone
			}
		case *layers.GRE:
			switch d.gre.Protocol {
			case layers.EthernetTypeIPv4, layers.EthernetTypeIPv6, layers.EthernetTypeTransparentEthernetBridging, layers.EthernetTypeERSPAN:
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
						typ, data = layers.LayerTypeEthernet, data[hl:]
						if ft == 2 {
							typ = layers.LayerTypeIPv4
							if data[0]>>4 == 6 {
								typ = layers.LayerTypeIPv6
							}
						}
						break
					}
				}
				p.Payload = data
				p.Context = ctx
				return Decoded, ReasonNone
			case ethernetTypeWCCP:
				// WCCP redirect: a 4-byte redirect header, then IPv4.
				if len(data) > 4 {
					typ, data = layers.LayerTypeIPv4, data[4:]
				}
			default: // PPP, ...: the outer header is placed
				p.Payload = data
				p.Context = ctx
				return Decoded, ReasonNone
			}
		}
		if typ == gopacket.LayerTypeFragment {
			// IPv4 fragment: NextLayerType says so before the payload check.
			p.Context = ctx
			return d.fragment(p)
		}
		if len(data) == 0 {
			if haveIP {
				p.Context = ctx
				return Decoded, ReasonNone
			}
			return Failed, ReasonTruncated
		}
	}
	if haveIP {
		p.Context = ctx
		return Decoded, ReasonNone
	}
	return Skipped, ReasonUnsupportedEncapsulation
}

// stop handles a layer borderwatch does not decode further.
func (d *Decoder) stop(p *Packet, haveIP bool, typ gopacket.LayerType, data []byte) (Verdict, Reason) {
	if haveIP {
		// Any other IP protocol (ICMP, ESP, SCTP, ...): counted by
		// address pair; the protocol is already set from the IP header.
		p.Payload = data
		return Decoded, ReasonNone
	}
	switch typ {
	case layers.LayerTypeARP, layers.LayerTypeLLC, layers.LayerTypeSNAP, layers.LayerTypeLinkLayerDiscovery,
		layers.LayerTypeCiscoDiscovery, layers.LayerTypeEthernetCTP, layers.LayerTypeEAPOL, layers.LayerTypeSTP,
		layers.LayerTypeEAP:
		return Skipped, ReasonNonIP
	case layers.LayerTypePPPoE, layers.LayerTypePPP:
		return Skipped, ReasonUnsupportedEncapsulation
	}
	if typ == gopacket.LayerTypePayload || typ == gopacket.LayerTypeZero {
		return Skipped, ReasonNonIP
	}
	return Skipped, ReasonNonIP
}

// minHeader is the fixed header size of the layers decoded before IP.
func minHeader(typ gopacket.LayerType) int {
	switch typ {
	case layers.LayerTypeEthernet:
		return 14
	case layers.LayerTypeLinuxSLL:
		return 16
	case layers.LayerTypeLinuxSLL2:
		return 20
	case layers.LayerTypeLoopback, layers.LayerTypeDot1Q, layers.LayerTypeMPLS:
		return 4
	case layers.LayerTypeIPv4:
		return 20
	case layers.LayerTypeIPv6:
		return 40
	}
	return 0
}

func failReason(typ gopacket.LayerType, truncated bool) Reason {
	if truncated {
		return ReasonTruncated
	}
	switch typ {
	case layers.LayerTypeDot1Q:
		return ReasonMalformedVLAN
	case layers.LayerTypeMPLS:
		return ReasonMalformedMPLS
	case layers.LayerTypeIPv4:
		return ReasonMalformedIPv4
	case layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6HopByHop,
		layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return ReasonMalformedIPv6
	}
	return ReasonMalformedLink
}

func (d *Decoder) setIPv4(p *Packet, data []byte) {
	ip := &d.ip4
	p.IPv6 = false
	p.Src = [16]byte{10: 0xff, 11: 0xff}
	p.Dst = [16]byte{10: 0xff, 11: 0xff}
	copy(p.Src[12:], ip.SrcIP)
	copy(p.Dst[12:], ip.DstIP)
	p.Proto = uint8(ip.Protocol)
	// The header's own total length, as tshark's ip.len; a zero length
	// (TSO) was replaced by the captured length in DecodeFromBytes.
	p.IPLen = uint32(ip.Length)
	if binary.BigEndian.Uint16(data[2:4]) == 0 {
		p.IPLen = uint32(len(data)) // BIG TCP/TSO: the frame is longer than 16 bits can say
	}
	p.SrcPort, p.DstPort, p.Payload = 0, 0, nil
}

// notIP handles a header announced as IP whose version nibble says otherwise.
func (d *Decoder) notIP(p *Packet, haveIP bool, ctx uint32) (Verdict, Reason) {
	if haveIP {
		p.Payload = nil
		p.Context = ctx
		return Decoded, ReasonNone
	}
	return Skipped, ReasonNonIP
}

// rawIP places an IP header that gopacket refused, from its fixed fields.
// For an IPv6 header with payload length 0 (BIG TCP without its jumbo
// option) it goes on to the transport header in the rest of the frame.
func rawIP(p *Packet, data []byte, v6 bool) (next gopacket.LayerType, payload []byte, ok bool) {
	if !v6 {
		if len(data) < 20 || data[0]>>4 != 4 {
			return 0, nil, false
		}
		// As tshark: a header length under 20 bytes, or a total length
		// shorter than the header, is not an IPv4 header.
		ihl := int(data[0]&0x0f) * 4
		if tl := int(binary.BigEndian.Uint16(data[2:4])); ihl < 20 || (tl != 0 && tl < ihl) {
			return 0, nil, false
		}
		p.IPv6 = false
		p.Src = [16]byte{10: 0xff, 11: 0xff}
		p.Dst = [16]byte{10: 0xff, 11: 0xff}
		copy(p.Src[12:], data[12:16])
		copy(p.Dst[12:], data[16:20])
		p.Proto = data[9]
		p.IPLen = uint32(binary.BigEndian.Uint16(data[2:4]))
		if p.IPLen == 0 {
			p.IPLen = uint32(len(data))
		}
		p.SrcPort, p.DstPort, p.Payload = 0, 0, nil
		return gopacket.LayerTypeZero, nil, true
	}
	if len(data) < 40 || data[0]>>4 != 6 {
		return 0, nil, false
	}
	p.IPv6 = true
	copy(p.Src[:], data[8:24])
	copy(p.Dst[:], data[24:40])
	p.Proto = data[6]
	plen := binary.BigEndian.Uint16(data[4:6])
	p.IPLen = uint32(plen) + 40
	p.SrcPort, p.DstPort, p.Payload = 0, 0, nil
	if plen == 0 && len(data) > 40 {
		switch p.Proto {
		case 6:
			return layers.LayerTypeTCP, data[40:], true
		case 17:
			return layers.LayerTypeUDP, data[40:], true
		}
	}
	return gopacket.LayerTypeZero, nil, true
}

func (d *Decoder) setIPv6(p *Packet, data []byte) {
	ip := &d.ip6
	p.IPv6 = true
	copy(p.Src[:], ip.SrcIP)
	copy(p.Dst[:], ip.DstIP)
	p.Proto = uint8(ip.NextHeader)
	if ip.HopByHop != nil {
		p.Proto = uint8(ip.HopByHop.NextHeader)
	}
	// The payload length field as written, + 40 (tshark's ipv6.plen + 40).
	p.IPLen = uint32(binary.BigEndian.Uint16(data[4:6])) + 40
	p.SrcPort, p.DstPort, p.Payload = 0, 0, nil
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	if t.FIN {
		f |= 0x01
	}
	if t.SYN {
		f |= 0x02
	}
	if t.RST {
		f |= 0x04
	}
	if t.PSH {
		f |= 0x08
	}
	if t.ACK {
		f |= 0x10
	}
	if t.URG {
		f |= 0x20
	}
	return f
}

// TCP flag bits in Packet.TCPFlags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagACK = 0x10
)

// fragment handles an IPv4 fragment (the IPv4 header is in d.ip4).
func (d *Decoder) fragment(p *Packet) (Verdict, Reason) {
	ip := &d.ip4
	if ip.FragOffset != 0 {
		return d.laterFragment(p, uint32(ip.Id))
	}
	return d.firstFragment(p, uint32(ip.Id), ip.Payload)
}

// firstFragment reads the ports of a first fragment and remembers them so
// the later fragments of the same datagram join the same flow.
func (d *Decoder) firstFragment(p *Packet, id uint32, payload []byte) (Verdict, Reason) {
	p.Fragment = FragFirst
	if (p.Proto == 6 || p.Proto == 17) && len(payload) >= 4 {
		p.SrcPort = binary.BigEndian.Uint16(payload[0:2])
		p.DstPort = binary.BigEndian.Uint16(payload[2:4])
		if p.Proto == 6 && len(payload) >= 14 {
			p.TCPSeq = binary.BigEndian.Uint32(payload[4:8])
			p.TCPFlags = payload[13] & 0x3f
		}
	}
	d.frags.put(p, id)
	p.Payload = nil
	return Decoded, ReasonNone
}

func (d *Decoder) laterFragment(p *Packet, id uint32) (Verdict, Reason) {
	p.Fragment = FragLater
	p.SrcPort, p.DstPort = d.frags.get(p, id)
	p.Payload = nil
	return Decoded, ReasonNone
}

// ethernetTypeWCCP is the GRE protocol type of WCCP redirected packets.
const ethernetTypeWCCP layers.EthernetType = 0x883e

// ethernetTypeERSPAN3 is the GRE protocol type of ERSPAN type III.
const ethernetTypeERSPAN3 layers.EthernetType = 0x22eb
