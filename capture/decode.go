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
	// ReasonFileChanged: a frame of a capture file read through a memory
	// mapping whose bytes went away because the file shrank while it was
	// read (see MappedFault).
	ReasonFileChanged
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
	ReasonFileChanged:              "file_changed",
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
	ErrorReasons = []Reason{ReasonTruncated, ReasonMalformedLink, ReasonMalformedVLAN, ReasonMalformedMPLS, ReasonMalformedIPv4, ReasonMalformedIPv6, ReasonFileChanged}
)

// NumReasons bounds Reason values, for arrays indexed by Reason.
const NumReasons = int(numReasons)

// maxLayers bounds the layers walked in one frame, so that a hostile frame
// (VLAN in VLAN in VLAN ..., tunnels in tunnels) costs a bounded time.
const maxLayers = 24

// Decoder decodes frames with preallocated gopacket DecodingLayers and the
// shims of shim.go. It is not safe for concurrent use: each worker owns one.
// It walks the layers itself rather than through a DecodingLayerParser
// because a tunnelled frame holds the same layer type twice (outer and
// inner IPv4); the inner header simply overwrites the outer one, which is
// what is placed.
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
	w         walk
	frags     fragTable
}

// walk is the state of one frame's decoding.
type walk struct {
	haveIP   bool   // an IP header was read: the frame is placed
	ctx      uint32 // the VLAN and tunnel ids crossed (Packet.Context)
	afterGRE bool   // the previous layer was GRE
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.frags.init(fragTableSize)
	return d
}

// SetTruncated implements gopacket.DecodeFeedback.
func (d *Decoder) SetTruncated() { d.truncated = true }

// Decode decodes one frame of link type lt into p. p.Payload aliases data.
// It never panics and never allocates for well-formed frames. Each layer is
// a shim (shim.go) or a gopacket DecodingLayer followed by the step that
// reads it into p and names the next layer (ipstep.go, linkNext).
func (d *Decoder) Decode(data []byte, lt layers.LinkType, ts int64, p *Packet) (Verdict, Reason) {
	*p = Packet{Timestamp: ts}
	k := linkOf(lt)
	if fast(data, k, p) {
		return Decoded, ReasonNone
	}
	return d.walkLayers(data, k, p)
}

// walkLayers decodes a frame layer by layer (see Decode).
func (d *Decoder) walkLayers(data []byte, k linkStart, p *Packet) (Verdict, Reason) {
	if k == linkUnsupported {
		return Skipped, ReasonUnsupportedLinkType
	}
	if len(data) == 0 {
		return Failed, ReasonTruncated
	}
	typ, data, r := firstLayer(k, data)
	if r != ReasonNone {
		return Failed, r
	}
	d.truncated = false
	d.w = walk{}
	for i := 0; i < maxLayers; i++ {
		var v Verdict
		var done bool
		if isShim(typ) {
			if typ, data, v, r, done = d.shimStep(typ, data, p); done {
				return v, r
			}
			continue
		}
		dl := d.layerFor(typ, data)
		if dl == nil {
			return d.undecoded(typ, data, p)
		}
		if err := dl.DecodeFromBytes(data, d); err != nil {
			if typ, data, v, r, done = d.failed(typ, data, p); done {
				return v, r
			}
			continue
		}
		var next gopacket.LayerType
		var payload []byte
		switch typ {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment,
			layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			next, payload, v, r, done = d.ipStep(typ, data, p)
		case layers.LayerTypeTCP, layers.LayerTypeUDP:
			next, payload, v, r, done = d.transportStep(typ, p)
		case layers.LayerTypeGRE:
			next, payload, v, r, done = d.greStep(p)
		default:
			next, payload = d.linkNext(typ, dl)
		}
		d.w.afterGRE = typ == layers.LayerTypeGRE
		if done {
			return v, r
		}
		if next == gopacket.LayerTypeFragment || len(payload) == 0 {
			if next, payload, v, r, done = d.onward(next, payload, p); done {
				return v, r
			}
		}
		typ, data = next, payload
	}
	if d.w.haveIP {
		return d.placed(p, p.Payload)
	}
	return Skipped, ReasonUnsupportedEncapsulation
}

// undecoded ends a frame at a layer borderwatch does not decode.
func (d *Decoder) undecoded(typ gopacket.LayerType, data []byte, p *Packet) (Verdict, Reason) {
	switch typ {
	case gopacket.LayerTypeFragment:
		return d.fragment(p)
	case layers.LayerTypeIPv4, layers.LayerTypeIPv6: // the version nibble says otherwise
		return d.stop(p, typ, nil)
	}
	return d.stop(p, typ, data)
}

// onward checks the layer found after a decoded one before it is decoded.
func (d *Decoder) onward(next gopacket.LayerType, data []byte, p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	if next == gopacket.LayerTypeFragment {
		// IPv4 fragment: NextLayerType says so before the payload check.
		p.Context = d.w.ctx
		v, r := d.fragment(p)
		return 0, nil, v, r, true
	}
	if len(data) == 0 {
		if d.w.haveIP {
			v, r := d.placed(p, p.Payload)
			return 0, nil, v, r, true
		}
		return 0, nil, Failed, ReasonTruncated, true
	}
	return next, data, 0, 0, false
}

// layerFor returns the DecodingLayer for typ, or nil when borderwatch does
// not decode it. A header announced as IP whose version nibble says
// otherwise is not decoded either.
func (d *Decoder) layerFor(typ gopacket.LayerType, data []byte) gopacket.DecodingLayer {
	switch typ {
	case layers.LayerTypeEthernet:
		return &d.eth
	case layers.LayerTypeLinuxSLL:
		return &d.sll
	case layers.LayerTypeLinuxSLL2:
		return &d.sll2
	case layers.LayerTypeLoopback:
		return &d.loop
	case layers.LayerTypeDot1Q:
		return &d.dot1q
	case layers.LayerTypeMPLS:
		return &d.mpls
	case layers.LayerTypeIPv4:
		if len(data) > 0 && data[0]>>4 == 4 {
			return &d.ip4
		}
	case layers.LayerTypeIPv6:
		if len(data) > 0 && data[0]>>4 == 6 {
			return &d.ip6
		}
	case layers.LayerTypeIPv6Fragment:
		return &d.ip6frag
	case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return &d.ip6ext
	case layers.LayerTypeGRE:
		return &d.gre
	case layers.LayerTypeVXLAN:
		return &d.vxlan
	case layers.LayerTypeGeneve:
		return &d.geneve
	case layers.LayerTypeEtherIP:
		return &d.etherip
	case layers.LayerTypeERSPANII:
		if d.w.afterGRE { // ERSPAN is only opened inside GRE
			return &d.erspan
		}
	case layers.LayerTypeTCP:
		return &d.tcp
	case layers.LayerTypeUDP:
		return &d.udp
	}
	return nil
}

// linkNext is the layer after a decoded link, shim-carrying or tunnel layer.
func (d *Decoder) linkNext(typ gopacket.LayerType, dl gopacket.DecodingLayer) (gopacket.LayerType, []byte) {
	next := dl.NextLayerType()
	switch typ {
	case layers.LayerTypeEthernet:
		next = etherNext(d.eth.EthernetType, next)
	case layers.LayerTypeDot1Q:
		d.w.ctx = d.w.ctx*31 + uint32(d.dot1q.VLANIdentifier) + 1
		next = etherNext(d.dot1q.Type, next)
	case layers.LayerTypeLinuxSLL:
		next = etherNext(d.sll.proto, next)
	case layers.LayerTypeLinuxSLL2:
		switch d.sll2.ARPHardwareType {
		case layers.ARPHardwareTypeFRAD, layers.ARPHardwareTypeDot11Radiotap, layers.ARPHardwareTypeIPGRE:
		default:
			next = etherNext(d.sll2.ProtocolType, next)
		}
	case layers.LayerTypeVXLAN:
		d.w.ctx = d.w.ctx*31 + d.vxlan.VNI + 11
	case layers.LayerTypeGeneve:
		d.w.ctx = d.w.ctx*31 + d.geneve.VNI + 13
	}
	return next, dl.LayerPayload()
}

// shimStep reads a header gopacket has no layer for (shim.go).
func (d *Decoder) shimStep(typ gopacket.LayerType, data []byte, p *Packet) (gopacket.LayerType, []byte, Verdict, Reason, bool) {
	next, payload, id, r := shim(typ, data)
	d.w.afterGRE = false
	if r != ReasonNone {
		if d.w.haveIP { // a tunnel header that cannot be read: the outer header is placed
			v, r := d.placed(p, nil)
			return 0, nil, v, r, true
		}
		return 0, nil, Failed, r, true
	}
	switch typ {
	case layerPPPoE:
		d.w.ctx = d.w.ctx*31 + id + 19
	case layerAH:
		p.Proto = data[0]
	case layerVXLANGPE:
		d.w.ctx = d.w.ctx*31 + id + 11
	case layerGTPU, layerTeredo, layerLISP:
		d.w.ctx = d.w.ctx*31 + uint32(typ-layerPPPoE) + 23
	}
	if next == gopacket.LayerTypePayload || next == gopacket.LayerTypeZero {
		v, r := d.stop(p, next, payload)
		return 0, nil, v, r, true
	}
	return d.onward(next, payload, p)
}

// stop handles a layer borderwatch does not decode further.
func (d *Decoder) stop(p *Packet, typ gopacket.LayerType, data []byte) (Verdict, Reason) {
	if d.w.haveIP {
		// Any other IP protocol (ICMP, ESP, SCTP, ...), or a tunnel
		// borderwatch does not open: counted by address pair; the
		// protocol is already set from the IP header.
		return d.placed(p, data)
	}
	return Skipped, ReasonNonIP // ARP, LLDP, STP, PPP control, ...
}

// placed ends a frame whose IP header was read.
func (d *Decoder) placed(p *Packet, payload []byte) (Verdict, Reason) {
	p.Payload = payload
	p.Context = d.w.ctx
	return Decoded, ReasonNone
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
