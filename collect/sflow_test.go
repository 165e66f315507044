package collect

import (
	"net"
	"net/netip"
	"testing"

	"github.com/borderwatch/borderwatch/metrics"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame builds an Ethernet/IPv4 frame (gopacket, not goflow2) and returns
// it with its IP-layer length.
func frame(t *testing.T, src, dst netip.AddrPort, udp bool, payload []byte) ([]byte, uint64) {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Protocol: layers.IPProtocolTCP}
	var l4 gopacket.SerializableLayer
	if udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true, PSH: true, Window: 65535}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), buf.Bytes()...)
	return b, uint64(len(b) - 14)
}

func dnsAnswer(t *testing.T, name string, addr netip.Addr) []byte {
	t.Helper()
	msg := &layers.DNS{ID: 7, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: addr.AsSlice()}}}
	buf := gopacket.NewSerializeBuffer()
	if err := msg.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSFlow: a flow sample carrying a whole DNS answer (1 in 256), an
// expanded flow sample carrying the first 128 bytes of two 1440-byte TCP
// packets (1 in 512), and a counter sample. The TCP bytes are the IP
// header's lengths ×512, and the sampled DNS answer names the flow.
func TestSFlow(t *testing.T) {
	h := newHarness(t, Config{})
	resolver, client := netip.AddrPortFrom(netip.MustParseAddr("192.168.1.1"), 53), netip.AddrPortFrom(cli, 5353)
	dns, dnsLen := frame(t, resolver, client, true, dnsAnswer(t, "www.tiktok.com", us))
	tcp1, len1 := frame(t, netip.AddrPortFrom(cli, 40000), netip.AddrPortFrom(us, 443), false, make([]byte, 1400))
	tcp2, len2 := frame(t, netip.AddrPortFrom(us, 443), netip.AddrPortFrom(cli, 40000), false, make([]byte, 1000))
	agent := netip.MustParseAddr("192.0.2.1")
	h.send(h.sf, sflowDatagram(agent, 1,
		flowSample(1, 256, sampledHeader(1, dns, 256)),
		counterSample(1)))
	h.send(h.sf, sflowDatagram(agent, 2,
		expandedFlowSample(2, 512, sampledHeader(1, tcp1, 128)),
		expandedFlowSample(3, 512, sampledHeader(1, tcp2, 128))))
	h.finish()

	checkTraffic(t, h.p, map[metrics.Labels]counted{
		lab("egress", "US", "tiktok"):  {512 * len1, 512},
		lab("ingress", "US", "tiktok"): {512 * len2, 512},
	})
	if got := internalBytes(h); got != 256*dnsLen {
		t.Errorf("internal bytes %d, want %d (the DNS answer ×256)", got, 256*dnsLen)
	}
	e := h.exporter()
	if n, c := e.st.records.Load(), e.st.counterSamples.Load(); n != 3 || c != 1 {
		t.Errorf("records %d, counter samples %d; want 3, 1", n, c)
	}
	checkNoErrors(t, e)
}

func internalBytes(h *harness) uint64 {
	var n uint64
	for _, sh := range h.p.Shards() {
		n += sh.InternalBytes.Load()
	}
	return n
}
