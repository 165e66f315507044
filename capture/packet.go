// Package capture turns capture files and live interfaces into decoded
// packets: it owns sources (one Source interface, one feeding loop, Feed),
// live socket groups, link types, VLAN/MPLS, tunnels and IP fragments. It
// knows nothing of flows, names or geography; its only metrics are the live
// capture counters, exported by LiveCollector.
package capture

import "net/netip"

// Packet is one decoded frame: the innermost IP header's addresses and
// length, the transport ports, and the transport payload. Addresses are kept
// as fixed-size arrays (IPv4 as IPv4-mapped IPv6) so the value holds no
// pointer other than Payload, which aliases the frame buffer.
type Packet struct {
	Timestamp int64 // unix nanoseconds
	Src, Dst  [16]byte
	IPv6      bool
	Proto     uint8 // IP protocol of the innermost header (6 TCP, 17 UDP, ...)
	SrcPort   uint16
	DstPort   uint16
	IPLen     uint32 // IP-layer bytes: IPv4 total length, or IPv6 payload length + 40
	TCPFlags  uint8
	TCPSeq    uint32
	// Context separates flows that reuse addresses in different VLANs or
	// tunnels: a mix of the VLAN ids and tunnel ids crossed on the way in.
	Context uint32
	// Fragment is FragNone, FragFirst or FragLater. For FragLater the
	// ports are those of the first fragment when it was seen, else zero.
	Fragment FragKind
	// Tunnelled is true when the placed header was found inside a
	// GRE/VXLAN/Geneve/IP-in-IP tunnel (the outer header is transport).
	Tunnelled bool
	// Scale is how many packets this one stands for: a sampled packet
	// (sFlow) counts Scale times its bytes and packets. 0 means 1. Decode
	// leaves it 0; the pipeline's ScaledFrame sets it.
	Scale   uint32
	Payload []byte // transport payload (TCP/UDP data), aliases the frame
}

// FragKind tells whether a packet is an IP fragment.
type FragKind uint8

// Fragment kinds.
const (
	FragNone FragKind = iota
	FragFirst
	FragLater
)

// SrcAddr returns the source address (IPv4 unmapped).
func (p *Packet) SrcAddr() netip.Addr { return addrOf(p.Src, p.IPv6) }

// DstAddr returns the destination address (IPv4 unmapped).
func (p *Packet) DstAddr() netip.Addr { return addrOf(p.Dst, p.IPv6) }

func addrOf(a [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})
}

// AddrBytes returns the 16-byte form used in Packet for an address.
func AddrBytes(a netip.Addr) (b [16]byte, v6 bool) {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().As16(), false
	}
	return a.As16(), true
}
