package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// linkStart says how a link type's frames begin.
type linkStart uint8

const (
	linkUnsupported linkStart = iota // named, not decoded
	linkEthernet
	linkSLL
	linkSLL2
	linkNull  // BSD loopback: a 4-byte address family in host order, or PPP in HDLC framing
	linkLoop  // OpenBSD loopback: the family in network order
	linkRaw   // an IP header, version by its first nibble
	linkIPv6  // an IPv6 header
	linkPPP   // PPP, with or without HDLC address/control, or Cisco HDLC
	linkPPPoE // a PPPoE session header without Ethernet (BSD)
	linkCHDLC // Cisco HDLC: address, control, ethertype
	linkNFLOG // Linux NFLOG: a header and TLVs, one of them the IP packet
	numLinkStarts
)

// linkInfo is one row of the link-type table: the DLT number, tcpdump's
// name for it, and how its frames start.
type linkInfo struct {
	lt    layers.LinkType
	name  string
	start linkStart
}

// linkTable is the one place that knows link types: which are decoded, how
// each starts, and the names of common ones that are not decoded (for
// warnings). Names are libpcap's DLT_ names without the prefix, as tcpdump
// -y takes them.
var linkTable = []linkInfo{
	{0, "NULL", linkNull},
	{1, "EN10MB", linkEthernet},
	{9, "PPP", linkPPP},
	{12, "RAW", linkRaw},
	{14, "RAW", linkRaw}, // DLT_RAW on OpenBSD
	{50, "PPP_SERIAL", linkPPP},
	{51, "PPP_ETHER", linkPPPoE},
	{101, "RAW", linkRaw},
	{104, "C_HDLC", linkCHDLC},
	{108, "LOOP", linkLoop},
	{113, "LINUX_SLL", linkSLL},
	{228, "IPV4", linkRaw},
	{229, "IPV6", linkIPv6},
	{239, "NFLOG", linkNFLOG},
	{276, "LINUX_SLL2", linkSLL2},

	{3, "AX25", linkUnsupported},
	{6, "IEEE802", linkUnsupported},
	{7, "ARCNET", linkUnsupported},
	{8, "SLIP", linkUnsupported},
	{10, "FDDI", linkUnsupported},
	{100, "ATM_RFC1483", linkUnsupported},
	{105, "IEEE802_11", linkUnsupported},
	{107, "FRELAY", linkUnsupported},
	{117, "PFLOG", linkUnsupported},
	{119, "PRISM_HEADER", linkUnsupported},
	{122, "IP_OVER_FC", linkUnsupported},
	{123, "SUNATM", linkUnsupported},
	{127, "IEEE802_11_RADIO", linkUnsupported},
	{129, "ARCNET_LINUX", linkUnsupported},
	{138, "APPLE_IP_OVER_IEEE1394", linkUnsupported},
	{139, "MTP2_WITH_PHDR", linkUnsupported},
	{140, "MTP2", linkUnsupported},
	{141, "MTP3", linkUnsupported},
	{142, "SCCP", linkUnsupported},
	{143, "DOCSIS", linkUnsupported},
	{144, "LINUX_IRDA", linkUnsupported},
	{163, "IEEE802_11_RADIO_AVS", linkUnsupported},
	{165, "BACNET_MS_TP", linkUnsupported},
	{166, "PPP_PPPD", linkUnsupported},
	{169, "GPRS_LLC", linkUnsupported},
	{177, "LINUX_LAPD", linkUnsupported},
	{187, "BLUETOOTH_HCI_H4", linkUnsupported},
	{189, "USB_LINUX", linkUnsupported},
	{192, "PPI", linkUnsupported},
	{195, "IEEE802_15_4_WITHFCS", linkUnsupported},
	{201, "BLUETOOTH_HCI_H4_WITH_PHDR", linkUnsupported},
	{215, "IEEE802_15_4_NONASK_PHY", linkUnsupported},
	{220, "USB_LINUX_MMAPPED", linkUnsupported},
	{227, "CAN_SOCKETCAN", linkUnsupported},
	{230, "IEEE802_15_4_NOFCS", linkUnsupported},
	{231, "DBUS", linkUnsupported},
	{235, "DVB_CI", linkUnsupported},
	{240, "NETANALYZER", linkUnsupported},
	{249, "USBPCAP", linkUnsupported},
	{251, "BLUETOOTH_LE_LL", linkUnsupported},
	{253, "NETLINK", linkUnsupported},
	{254, "BLUETOOTH_LINUX_MONITOR", linkUnsupported},
	{256, "BLUETOOTH_LE_LL_WITH_PHDR", linkUnsupported},
	{264, "ISO_14443", linkUnsupported},
	{279, "ZWAVE_R1_R2", linkUnsupported},
	{281, "ETW", linkUnsupported},
	{283, "ZBOSS_NCP", linkUnsupported},
	{290, "ATSC_ALP", linkUnsupported},
}

// linkStarts is linkTable indexed by link type, for the per-frame lookup.
var linkStarts = func() (t [300]linkStart) {
	for _, l := range linkTable {
		t[l.lt] = l.start
	}
	return t
}()

func linkOf(lt layers.LinkType) linkStart {
	if int(lt) < len(linkStarts) {
		return linkStarts[lt]
	}
	return linkUnsupported
}

// SupportedLinkType reports whether frames of lt can be decoded.
func SupportedLinkType(lt layers.LinkType) bool { return linkOf(lt) != linkUnsupported }

// LinkTypeName names a link type for people: its DLT number and libpcap
// name, as "DLT 104 (C_HDLC)", or "DLT 147 (unknown)".
func LinkTypeName(lt layers.LinkType) string {
	if n := dltName(lt); n != "" {
		return fmt.Sprintf("DLT %d (%s)", lt, n)
	}
	return fmt.Sprintf("DLT %d (unknown)", lt)
}

// dltName is libpcap's name of lt without the DLT_ prefix, or "".
func dltName(lt layers.LinkType) string {
	for _, l := range linkTable {
		if l.lt == lt {
			return l.name
		}
	}
	if lt >= 147 && lt <= 162 {
		return fmt.Sprintf("USER%d", lt-147)
	}
	return ""
}

// firstLayer finds the layer that starts a frame of link kind k. Headers
// that gopacket has no layer for (PPP, Cisco HDLC, NFLOG, BSD loopback with
// an HDLC-style header) are read here; their payload is returned.
func firstLayer(k linkStart, data []byte) (gopacket.LayerType, []byte, Reason) {
	switch k {
	case linkEthernet:
		return layers.LayerTypeEthernet, data, ReasonNone
	case linkSLL:
		return layers.LayerTypeLinuxSLL, data, ReasonNone
	case linkSLL2:
		return layers.LayerTypeLinuxSLL2, data, ReasonNone
	case linkLoop:
		return layers.LayerTypeLoopback, data, ReasonNone
	case linkIPv6:
		return layers.LayerTypeIPv6, data, ReasonNone
	case linkRaw:
		if t := ipByVersion(data); t != gopacket.LayerTypeZero {
			return t, data, ReasonNone
		}
		return 0, nil, ReasonMalformedLink
	case linkNull:
		return nullHeader(data)
	case linkPPP:
		return layerPPP, data, ReasonNone
	case linkPPPoE:
		return layerPPPoE, data, ReasonNone
	case linkCHDLC:
		return layerCHDLC, data, ReasonNone
	case linkNFLOG:
		return nflog(data)
	}
	return 0, nil, ReasonUnsupportedLinkType
}

// ipByVersion is IPv4 or IPv6 by the first nibble of data, else zero.
func ipByVersion(data []byte) gopacket.LayerType {
	if len(data) > 0 {
		switch data[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4
		case 6:
			return layers.LayerTypeIPv6
		}
	}
	return gopacket.LayerTypeZero
}

// nullHeader reads a DLT_NULL header as tshark does: 0xff03 starts PPP in
// HDLC framing (some BSD PPP captures), a value above 1500 is an ethertype,
// anything else an address family for gopacket's loopback layer.
func nullHeader(data []byte) (gopacket.LayerType, []byte, Reason) {
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
		return layerPPP, data, ReasonNone
	}
	if len(data) < 4 {
		return 0, nil, ReasonTruncated
	}
	h := binary.LittleEndian.Uint32(data) // as read on a little-endian host
	if h&0xffff0000 != 0 {
		if h&0xff000000 == 0 && h&0x00ff0000 < 0x00060000 {
			h >>= 16
		} else {
			h = binary.BigEndian.Uint32(data)
		}
	} else if h&0xff == 0 && h&0xff00 < 0x0600 {
		h = uint32(data[0])<<8 | uint32(data[1])
	}
	if h > 1500 {
		et := layers.EthernetType(h)
		return etherNext(et, et.LayerType()), data[4:], ReasonNone
	}
	return layers.LayerTypeLoopback, data, ReasonNone
}

// nflog reads a Linux NFLOG header (family, version, resource id) and its
// TLVs (length and type in host order, little-endian here as on the
// machines that write them), and returns the packet payload TLV.
func nflog(data []byte) (gopacket.LayerType, []byte, Reason) {
	const nfulaPayload = 9
	if len(data) < 4 {
		return 0, nil, ReasonTruncated
	}
	family := data[0]
	for off := 4; off+4 <= len(data); {
		n := int(binary.LittleEndian.Uint16(data[off:]))
		typ := binary.LittleEndian.Uint16(data[off+2:]) & 0x7fff
		if n < 4 {
			return 0, nil, ReasonMalformedLink
		}
		if off+n > len(data) {
			return 0, nil, ReasonTruncated
		}
		if typ == nfulaPayload {
			v := data[off+4 : off+n]
			switch family {
			case 2: // AF_INET
				return layers.LayerTypeIPv4, v, ReasonNone
			case 10: // AF_INET6
				return layers.LayerTypeIPv6, v, ReasonNone
			}
			return gopacket.LayerTypePayload, v, ReasonNone
		}
		off += (n + 3) &^ 3
	}
	return gopacket.LayerTypePayload, nil, ReasonNone // no packet payload: a log message only
}
