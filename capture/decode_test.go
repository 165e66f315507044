package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// build serialises layers into a frame.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

type want struct {
	Src, Dst         string
	Proto            uint8
	SrcPort, DstPort uint16
	IPLen            uint32
	Payload          string
	Tunnelled        bool
	Fragment         FragKind
}

func got(p *Packet) want {
	return want{p.SrcAddr().String(), p.DstAddr().String(), p.Proto, p.SrcPort, p.DstPort, p.IPLen, string(p.Payload), p.Tunnelled, p.Fragment}
}

func TestDecodeEncapsulations(t *testing.T) {
	payload := gopacket.Payload("hello")
	tcp := func() *layers.TCP {
		return &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 7, SYN: false, ACK: true, PSH: true, Window: 1000}
	}
	udp := func(sp, dp uint16) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	}
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	}
	inner4 := func() *layers.IPv4 { return ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolTCP) }
	innerWant := want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", true, FragNone}

	cases := []struct {
		name  string
		lt    layers.LinkType
		frame func(t *testing.T) []byte
		want  want
	}{
		{"ethernet ipv4 tcp", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, eth(layers.EthernetTypeIPv4), i, c, payload)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"qinq vlan", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}, i, c, payload)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"mpls stack", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 16, TTL: 64}, &layers.MPLS{Label: 17, StackBottom: true, TTL: 64}, i, c, payload)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"ipv6 udp with hop-by-hop", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6HopByHop)
			u := udp(5353, 53)
			u.SetNetworkLayerForChecksum(i)
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocolUDP
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			return build(t, eth(layers.EthernetTypeIPv6), i, hbh, u, payload)
		}, want{"2001:db8::1", "2001:db8::2", 17, 5353, 53, 40 + 8 + 8 + 5, "hello", false, FragNone}},
		{"gre ipv4 in ipv4", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4}, i, c, payload)
		}, innerWant},
		{"vxlan", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			o := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
			u := udp(50000, 4789)
			u.SetNetworkLayerForChecksum(o)
			return build(t, eth(layers.EthernetTypeIPv4), o, u, &layers.VXLAN{ValidIDFlag: true, VNI: 42}, eth(layers.EthernetTypeIPv4), i, c, payload)
		}, innerWant},
		{"geneve", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			o := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
			u := udp(50000, 6081)
			u.SetNetworkLayerForChecksum(o)
			return build(t, eth(layers.EthernetTypeIPv4), o, u, &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 9}, eth(layers.EthernetTypeIPv4), i, c, payload)
		}, innerWant},
		{"ipv4 in ipv6", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv4), i, c, payload)
		}, innerWant},
		{"linux cooked", layers.LinkTypeLinuxSLL, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			b := build(t, i, c, payload)
			h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}
			return append(h, b...)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"linux cooked v2", layers.LinkTypeLinuxSLL2, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			b := build(t, i, c, payload)
			h := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
			return append(h, b...)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"bsd null", layers.LinkTypeNull, func(t *testing.T) []byte {
			i := inner4()
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return append([]byte{2, 0, 0, 0}, build(t, i, c, payload)...)
		}, want{"192.0.2.1", "198.51.100.7", 6, 40000, 443, 45, "hello", false, FragNone}},
		{"raw ipv6", layers.LinkTypeRaw, func(t *testing.T) []byte {
			i := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP)
			c := tcp()
			c.SetNetworkLayerForChecksum(i)
			return build(t, i, c, payload)
		}, want{"2001:db8::1", "2001:db8::2", 6, 40000, 443, 40 + 20 + 5, "hello", false, FragNone}},
		{"icmp is placed by address pair", layers.LinkTypeEthernet, func(t *testing.T) []byte {
			return build(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload)
		}, want{"192.0.2.1", "198.51.100.7", 1, 0, 0, 20 + 8 + 5, "", false, FragNone}},
	}
	d := NewDecoder()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			v, r := d.Decode(c.frame(t), c.lt, 1, &p)
			if v != Decoded {
				t.Fatalf("verdict %d reason %s", v, r)
			}
			g := got(&p)
			if c.name == "icmp is placed by address pair" {
				g.Payload = ""
			}
			if diff := cmp.Diff(c.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestDecodeFragments(t *testing.T) {
	d := NewDecoder()
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	udpHdr := []byte{0x9c, 0x40, 0x00, 0x35, 0x00, 0x30, 0, 0} // 40000 -> 53
	first := ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
	first.Id, first.Flags = 77, layers.IPv4MoreFragments
	later := ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
	later.Id, later.FragOffset = 77, 2
	stray := ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
	stray.Id, stray.FragOffset = 78, 2
	var p Packet
	for _, c := range []struct {
		frame  []byte
		kind   FragKind
		sp, dp uint16
	}{
		{build(t, eth, first, gopacket.Payload(append(udpHdr, make([]byte, 8)...))), FragFirst, 40000, 53},
		{build(t, eth, later, gopacket.Payload(make([]byte, 32))), FragLater, 40000, 53},
		{build(t, eth, stray, gopacket.Payload(make([]byte, 32))), FragLater, 0, 0}, // first fragment never seen
	} {
		if v, r := d.Decode(c.frame, layers.LinkTypeEthernet, 1, &p); v != Decoded {
			t.Fatalf("verdict %d %s", v, r)
		}
		if p.Fragment != c.kind || p.SrcPort != c.sp || p.DstPort != c.dp {
			t.Errorf("fragment %v ports %d->%d, want %v %d->%d", p.Fragment, p.SrcPort, p.DstPort, c.kind, c.sp, c.dp)
		}
	}
}

func TestDecodeNotPlaced(t *testing.T) {
	d := NewDecoder()
	arp := build(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: []byte{192, 0, 2, 1}, DstHwAddress: macB, DstProtAddress: []byte{192, 0, 2, 2}})
	var p Packet
	for _, c := range []struct {
		name  string
		frame []byte
		lt    layers.LinkType
		v     Verdict
		r     Reason
	}{
		{"arp", arp, layers.LinkTypeEthernet, Skipped, ReasonNonIP},
		{"802.11", []byte{1, 2, 3}, layers.LinkTypeIEEE802_11, Skipped, ReasonUnsupportedLinkType},
		{"empty", nil, layers.LinkTypeEthernet, Failed, ReasonTruncated},
		{"short ethernet", []byte{1, 2, 3, 4, 5}, layers.LinkTypeEthernet, Failed, ReasonTruncated},
		{"ipv4 header cut", []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0}, layers.LinkTypeEthernet, Failed, ReasonTruncated},
		{"ipv4 bad header length", []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x41, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}, layers.LinkTypeEthernet, Failed, ReasonMalformedIPv4},
	} {
		v, r := d.Decode(c.frame, c.lt, 1, &p)
		if v != c.v || r != c.r {
			t.Errorf("%s: got %d/%s, want %d/%s", c.name, v, r, c.v, c.r)
		}
	}
}

// TestDecodeNeverPanics cuts and flips real frames at every offset.
func TestDecodeNeverPanics(t *testing.T) {
	root := testenv.SharedDir(t)
	src, err := OpenFile(filepath.Join(root, "pcaps/zeek/Traces/tunnels/vxlan.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d := NewDecoder()
	var p Packet
	for {
		data, lt, ts, err := src.Next()
		if err != nil {
			break
		}
		frame := append([]byte(nil), data...)
		for i := 0; i <= len(frame); i++ {
			d.Decode(frame[:i], lt, ts, &p)
			if i < len(frame) {
				mut := append([]byte(nil), frame...)
				mut[i] ^= 0xff
				d.Decode(mut, lt, ts, &p)
			}
		}
	}
}

func writePcap(t *testing.T, frames [][]byte) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(f), Length: len(f)}, f)
	}
	return buf.Bytes()
}

func TestFileErrors(t *testing.T) {
	frame := build(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4("192.0.2.1", "198.51.100.7", 253), gopacket.Payload("x"))
	full := writePcap(t, [][]byte{frame, frame, frame})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A file cut in the middle of the third record: two packets, then an
	// error naming the file, packet 3 and its offset.
	cut := write("cut.pcap", full[:len(full)-5])
	src, err := OpenFile(cut)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, _, err = src.Next()
		if err != nil {
			break
		}
		n++
	}
	var fe *FileError
	if n != 2 || !errors.As(err, &fe) || fe.Packet != 3 || fe.Offset != int64(24+2*(16+len(frame))) || !strings.Contains(err.Error(), "cut.pcap: packet 3, byte offset") {
		t.Fatalf("read %d packets, error %v", n, err)
	}
	// gzip-compressed, read to the end.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(full)
	zw.Close()
	src, err = OpenFile(write("ok.pcap.gz", gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for {
		if _, _, _, err = src.Next(); err != nil {
			break
		}
		n++
	}
	if n != 3 || err != io.EOF {
		t.Fatalf("gzip: %d packets, %v", n, err)
	}
	for name, b := range map[string][]byte{"empty": nil, "text": []byte("hello, this is not a capture at all"), "header-only-cut": full[:10]} {
		if _, err := OpenFile(write(name, b)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v should name the file", name, err)
		}
	}
}

// benchDecode runs decode over an Ethernet, IPv4, TCP segment of 1,400
// bytes to 198.51.100.7 and checks what it decoded.
func benchDecode(b *testing.B, decode func(d *Decoder, frame []byte, p *Packet)) {
	i := ip4("192.0.2.1", "198.51.100.7", layers.IPProtocolTCP)
	c := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, Window: 1000}
	c.SetNetworkLayerForChecksum(i)
	frame := build(b, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, i, c, gopacket.Payload(make([]byte, 1400)))
	d := NewDecoder()
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		decode(d, frame, &p)
	}
	if got := p.DstAddr(); got != netip.MustParseAddr("198.51.100.7") {
		b.Fatal(got)
	}
}

func BenchmarkDecode(b *testing.B) {
	benchDecode(b, func(d *Decoder, frame []byte, p *Packet) { d.Decode(frame, layers.LinkTypeEthernet, 1, p) })
}

// FuzzDecode: any bytes, under any supported link type, decode without
// panicking, a decoded packet's length and payload are consistent, and
// a frame the fast path takes is decoded as the layer walk decodes it.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}, uint8(0))
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, 6, 64}, uint8(3))
	d := NewDecoder()
	var lts []layers.LinkType
	for _, l := range linkTable {
		if l.start != linkUnsupported {
			lts = append(lts, l.lt)
		}
	}
	for _, c := range encapCases(f) {
		for _, fr := range c.frames {
			for i, lt := range lts {
				if lt == c.lt {
					f.Add(fr, uint8(i))
				}
			}
		}
	}
	walker := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte, lt uint8) {
		var p Packet
		l := lts[int(lt)%len(lts)]
		v, _ := d.Decode(data, l, 1, &p)
		if v == Decoded && len(p.Payload) > len(data) {
			t.Fatalf("payload longer than the frame")
		}
		sameAsWalk(t, walker, data, l) // the fast path decodes as the walk
	})
}
