package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Layers gopacket has no DecodingLayer for are read by the shims below:
// each reads one header and names what follows it. Their layer types are
// private to this package and never registered with gopacket.
const (
	layerPPPoE      gopacket.LayerType = 1<<40 + iota // PPPoE session header
	layerPPP                                          // PPP, optional HDLC address/control; or Cisco HDLC
	layerCHDLC                                        // Cisco HDLC
	layerVNTag                                        // VN-Tag (802.1Qbh)
	layerETag                                         // 802.1BR E-Tag
	layerCMD                                          // Cisco metadata (SGT)
	layerCMDGRE                                       // Cisco metadata in GRE: the ethertype first
	layerFabricPath                                   // Cisco FabricPath: 2 bytes after its ethertype, then Ethernet
	layerNSH                                          // network service header
	layerAH                                           // IPsec authentication header
	layerGTPU                                         // GTP-U v1
	layerTeredo                                       // Teredo
	layerLISP                                         // LISP data plane
	layerVXLANGPE                                     // VXLAN with a next-protocol field
	layerShimEnd
)

func isShim(t gopacket.LayerType) bool { return t >= layerPPPoE && t < layerShimEnd }

// Ethertypes gopacket does not map to a layer.
const (
	ethernetTypeVNTag      layers.EthernetType = 0x8926
	ethernetTypeETag       layers.EthernetType = 0x893f
	ethernetTypeCMD        layers.EthernetType = 0x8909
	ethernetTypeFabricPath layers.EthernetType = 0x8903
	ethernetTypeNSH        layers.EthernetType = 0x894f
	ethernetTypePPP        layers.EthernetType = 0x880b // in GRE (PPTP)
)

// UDP ports of the tunnels opened by a shim.
const (
	portGTPU   = 2152
	portTeredo = 3544
	portLISP   = 4341
	portGPE    = 4790 // VXLAN-GPE
	portMPLS   = 6635 // MPLS in UDP (RFC 7510)
)

// etherNext is the layer an ethertype announces: def (gopacket's answer)
// unless a shim reads it.
func etherNext(et layers.EthernetType, def gopacket.LayerType) gopacket.LayerType {
	switch et {
	case layers.EthernetTypePPPoESession:
		return layerPPPoE
	case ethernetTypeVNTag:
		return layerVNTag
	case ethernetTypeETag:
		return layerETag
	case ethernetTypeCMD:
		return layerCMD
	case ethernetTypeFabricPath:
		return layerFabricPath
	case ethernetTypeNSH:
		return layerNSH
	case layers.EthernetTypePPPoEDiscovery:
		return gopacket.LayerTypePayload
	}
	return def
}

func etherAt(data []byte, off int) (gopacket.LayerType, []byte, uint32, Reason) {
	if len(data) < off+2 {
		return 0, nil, 0, ReasonTruncated
	}
	et := layers.EthernetType(binary.BigEndian.Uint16(data[off:]))
	return etherNext(et, et.LayerType()), data[off+2:], 0, ReasonNone
}

// shim reads the header of a shim layer. It returns the next layer and its
// bytes, an id that separates flows (a PPPoE session), or the reason the
// header cannot be read.
func shim(t gopacket.LayerType, data []byte) (next gopacket.LayerType, payload []byte, id uint32, r Reason) {
	switch t {
	case layerPPPoE:
		// version/type 0x11, code 0 (session data), session id, length, then PPP.
		if len(data) < 8 {
			return 0, nil, 0, ReasonTruncated
		}
		if data[0] != 0x11 || data[1] != 0 {
			return gopacket.LayerTypePayload, nil, 0, ReasonNone
		}
		next, payload := pppProtocol(data[6:])
		return next, payload, uint32(binary.BigEndian.Uint16(data[2:4])) + 1, ReasonNone
	case layerPPP:
		return ppp(data)
	case layerCHDLC:
		return etherAt(data, 2)
	case layerVNTag:
		return etherAt(data, 4)
	case layerETag:
		return etherAt(data, 6)
	case layerCMD:
		return etherAt(data, 6)
	case layerCMDGRE:
		if len(data) < 8 {
			return 0, nil, 0, ReasonTruncated
		}
		next, _, _, _ := etherAt(data, 0)
		return next, data[8:], 0, ReasonNone
	case layerFabricPath:
		if len(data) < 2+14 {
			return 0, nil, 0, ReasonTruncated
		}
		return layers.LayerTypeEthernet, data[2:], 0, ReasonNone
	case layerNSH:
		return nsh(data)
	case layerVXLANGPE:
		if len(data) < 8 {
			return 0, nil, 0, ReasonTruncated
		}
		if data[0]&0x04 == 0 { // no next-protocol bit: not opened
			return gopacket.LayerTypePayload, data, 0, ReasonNone
		}
		return nextProtocol(data[3]), data[8:], uint32(data[4])<<16 | uint32(data[5])<<8 | uint32(data[6]) + 1, ReasonNone
	case layerAH:
		if len(data) < 12 {
			return 0, nil, 0, ReasonTruncated
		}
		n := (int(data[1]) + 2) * 4
		if n > len(data) {
			return 0, nil, 0, ReasonTruncated
		}
		return ipNext(layers.IPProtocol(data[0])), data[n:], 0, ReasonNone
	case layerGTPU:
		return gtpu(data)
	case layerTeredo:
		return teredo(data)
	case layerLISP:
		if len(data) < 8 {
			return 0, nil, 0, ReasonTruncated
		}
		return ipByVersion(data[8:]), data[8:], 0, ReasonNone
	}
	return gopacket.LayerTypePayload, data, 0, ReasonNone
}

// ipNext is the layer an IP protocol number announces, as gopacket maps it.
func ipNext(p layers.IPProtocol) gopacket.LayerType {
	switch p {
	case layers.IPProtocolAH:
		return layerAH
	case 143: // Ethernet (RFC 8986), as SRv6 carries it
		return layers.LayerTypeEthernet
	}
	return p.LayerType()
}

// ppp reads PPP as tshark's PPP-in-HDLC-framing dissector does: a first
// byte 0x0f or 0x8f is Cisco HDLC, 0xff 0x03 an HDLC address and control
// to skip, then the protocol (one byte when its low bit is set).
func ppp(data []byte) (gopacket.LayerType, []byte, uint32, Reason) {
	if len(data) < 1 {
		return 0, nil, 0, ReasonTruncated
	}
	switch data[0] {
	case 0x0f, 0x8f:
		return etherAt(data, 2)
	case 0xff:
		if len(data) < 2 {
			return 0, nil, 0, ReasonTruncated
		}
		data = data[2:]
	}
	if len(data) < 1 || data[0]&1 == 0 && len(data) < 2 {
		return 0, nil, 0, ReasonTruncated
	}
	next, payload := pppProtocol(data)
	return next, payload, 0, ReasonNone
}

// pppProtocol reads a PPP protocol field (compressed to one byte when odd).
func pppProtocol(data []byte) (gopacket.LayerType, []byte) {
	var proto uint16
	if len(data) >= 1 && data[0]&1 == 1 {
		proto, data = uint16(data[0]), data[1:]
	} else if len(data) >= 2 {
		proto, data = binary.BigEndian.Uint16(data), data[2:]
	} else {
		return gopacket.LayerTypePayload, nil
	}
	switch proto {
	case 0x0021:
		return layers.LayerTypeIPv4, data
	case 0x0057:
		return layers.LayerTypeIPv6, data
	case 0x0281, 0x0283:
		return layers.LayerTypeMPLS, data
	}
	return gopacket.LayerTypePayload, data // LCP, IPCP, compressed or encrypted data, ...
}

// nsh reads a network service header (RFC 8300): its length in 4-byte
// words and the next protocol.
func nsh(data []byte) (gopacket.LayerType, []byte, uint32, Reason) {
	if len(data) < 8 {
		return 0, nil, 0, ReasonTruncated
	}
	n := int(data[1]&0x3f) * 4
	if n < 8 {
		return 0, nil, 0, ReasonMalformedLink
	}
	if n > len(data) {
		return 0, nil, 0, ReasonTruncated
	}
	return nextProtocol(data[3]), data[n:], 0, ReasonNone
}

// nextProtocol maps the next-protocol numbers of NSH and VXLAN-GPE.
func nextProtocol(p byte) gopacket.LayerType {
	switch p {
	case 1:
		return layers.LayerTypeIPv4
	case 2:
		return layers.LayerTypeIPv6
	case 3:
		return layers.LayerTypeEthernet
	case 4:
		return layerNSH
	case 5:
		return layers.LayerTypeMPLS
	}
	return gopacket.LayerTypePayload
}

// gtpu reads a GTP-U v1 header (3GPP TS 29.281). Only a G-PDU (message
// type 255) carries a subscriber's packet; the optional sequence number,
// N-PDU number and extension headers are skipped.
func gtpu(data []byte) (gopacket.LayerType, []byte, uint32, Reason) {
	if len(data) < 8 {
		return 0, nil, 0, ReasonTruncated
	}
	if data[0]>>5 != 1 || data[0]&0x10 == 0 || data[1] != 0xff {
		return gopacket.LayerTypePayload, data, 0, ReasonNone // GTP' or signalling (echo, error indication, ...)
	}
	n := 8
	if data[0]&0x07 != 0 {
		if len(data) < 12 {
			return 0, nil, 0, ReasonTruncated
		}
		n = 12
		for ext := data[11]; ext != 0; {
			if n >= len(data) || data[n] == 0 {
				return 0, nil, 0, ReasonTruncated
			}
			n += int(data[n]) * 4
			if n > len(data) {
				return 0, nil, 0, ReasonTruncated
			}
			ext = data[n-1]
		}
	}
	return ipByVersion(data[n:]), data[n:], 0, ReasonNone
}

// teredo reads the optional Teredo authentication and origin indication
// headers (RFC 4380) before the IPv6 packet.
func teredo(data []byte) (gopacket.LayerType, []byte, uint32, Reason) {
	if len(data) >= 4 && data[0] == 0 && data[1] == 1 {
		n := 4 + int(data[2]) + int(data[3]) + 8 + 1
		if n > len(data) {
			return 0, nil, 0, ReasonTruncated
		}
		data = data[n:]
	}
	if len(data) >= 8 && data[0] == 0 && data[1] == 0 {
		data = data[8:]
	}
	if len(data) > 0 && data[0]>>4 == 6 {
		return layers.LayerTypeIPv6, data, 0, ReasonNone
	}
	return gopacket.LayerTypePayload, data, 0, ReasonNone
}

// udpShim is the shim a UDP datagram's ports announce, or zero. As
// tshark, the lower port is tried first; the higher port only when the
// lower one is not a well-known port.
func udpShim(sport, dport uint16) gopacket.LayerType {
	lo, hi := min(sport, dport), max(sport, dport)
	if t := udpPortShim(lo); t != 0 {
		return t
	}
	if lo >= 1024 {
		return udpPortShim(hi)
	}
	return 0
}

func udpPortShim(port uint16) gopacket.LayerType {
	switch port {
	case portGTPU:
		return layerGTPU
	case portTeredo:
		return layerTeredo
	case portLISP:
		return layerLISP
	case portGPE:
		return layerVXLANGPE
	case portMPLS:
		return layers.LayerTypeMPLS
	}
	return 0
}
