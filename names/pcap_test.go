package names

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pkt is one decoded transport-layer packet of a capture.
type pkt struct {
	proto    uint8
	src, dst netip.AddrPort
	seq      uint32
	payload  []byte
}

// readCapture decodes every IPv4/IPv6 TCP/UDP packet of a pcap or pcapng
// file with gopacket, using the innermost IP and transport layers (so
// tunnelled traffic yields its inner 5-tuple, as nDPI reports it).
func readCapture(path string) ([]pkt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var (
		src      source
		linkType func(ci gopacket.CaptureInfo) layers.LinkType
	)
	if len(data) >= 4 && bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		src = r
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				return intf.LinkType
			}
			return r.LinkType()
		}
	} else {
		r, err := pcapgo.NewReader(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return nil, err
		}
		src = r
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return r.LinkType() }
	}
	var out []pkt
	for {
		frame, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return out, nil // truncated or corrupt file: keep what was read
		}
		p := gopacket.NewPacket(frame, linkType(ci), gopacket.Default)
		var (
			ip4  *layers.IPv4
			ip6  *layers.IPv6
			tcp  *layers.TCP
			udp  *layers.UDP
			frag bool
		)
		for _, l := range p.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				ip4, ip6, tcp, udp = l, nil, nil, nil
				frag = l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0
			case *layers.IPv6:
				ip4, ip6, tcp, udp = nil, l, nil, nil
				frag = false
			case *layers.IPv6Fragment:
				frag = true
			case *layers.TCP:
				tcp, udp = l, nil
			case *layers.UDP:
				udp, tcp = l, nil
			}
		}
		if frag || (ip4 == nil && ip6 == nil) || (tcp == nil && udp == nil) {
			continue
		}
		var sa, da netip.Addr
		if ip4 != nil {
			sa, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		} else {
			sa, _ = netip.AddrFromSlice(ip6.SrcIP)
			da, _ = netip.AddrFromSlice(ip6.DstIP)
		}
		var q pkt
		if tcp != nil {
			q = pkt{proto: 6, src: netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), dst: netip.AddrPortFrom(da, uint16(tcp.DstPort)), seq: tcp.Seq, payload: tcp.Payload}
		} else {
			q = pkt{proto: 17, src: netip.AddrPortFrom(sa, uint16(udp.SrcPort)), dst: netip.AddrPortFrom(da, uint16(udp.DstPort)), payload: udp.Payload}
		}
		out = append(out, q)
	}
	return out, nil
}

// flowKey identifies a flow in both directions.
type flowKey struct {
	proto uint8
	a, b  netip.AddrPort
}

func keyOf(proto uint8, x, y netip.AddrPort) flowKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return flowKey{proto, x, y}
}
