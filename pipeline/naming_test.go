package pipeline

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// wire builds Ethernet/IPv4 frames with gopacket (not with the decoder
// under test) and feeds them to a one-worker pipeline.
type wire struct {
	t  *testing.T
	p  *Pipeline
	d  *Dispatcher
	ts time.Time
}

func newWire(t *testing.T) *wire {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Workers = 1
	cfg.Endpoints = true
	cfg.Flow.MaxFlows = 1 << 10
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &wire{t: t, p: p, d: p.NewDispatcher(-1), ts: time.Unix(1_700_000_000, 0)}
}

func (w *wire) frame(src, dst netip.AddrPort, l4 gopacket.SerializableLayer, nl interface {
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}, payload []byte) {
	w.t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	if _, ok := l4.(*layers.TCP); ok {
		ip.Protocol = layers.IPProtocolTCP
	} else {
		ip.Protocol = layers.IPProtocolUDP
	}
	nl.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		w.t.Fatal(err)
	}
	w.ts = w.ts.Add(10 * time.Millisecond)
	w.d.Frame(append([]byte(nil), buf.Bytes()...), layers.LinkTypeEthernet, w.ts.UnixNano())
}

// tcp sends one segment; flags is a subset of "SAPF".
func (w *wire) tcp(src, dst netip.AddrPort, flags string, seq uint32, payload []byte) {
	w.t.Helper()
	l := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Window: 65535}
	for _, f := range flags {
		switch f {
		case 'S':
			l.SYN = true
		case 'A':
			l.ACK = true
		case 'P':
			l.PSH = true
		case 'F':
			l.FIN = true
		}
	}
	w.frame(src, dst, l, l, payload)
}

func (w *wire) udp(src, dst netip.AddrPort, payload []byte) {
	w.t.Helper()
	l := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	w.frame(src, dst, l, l, payload)
}

// sync waits until the worker handled everything sent so far.
func (w *wire) sync() {
	w.d.Send()
	for i := range w.p.workers {
		done := make(chan struct{})
		w.p.in[i] <- &batch{op: opBarrier, done: done}
		<-done
	}
}

func (w *wire) endpoints() map[netip.Addr]*Endpoint {
	w.d.Send()
	w.p.Finish()
	eps, _ := w.p.Endpoints()
	m := map[netip.Addr]*Endpoint{}
	for _, ep := range eps {
		m[ep.Addr] = ep
	}
	return m
}

// clientHello returns the first flight of crypto/tls's client for sni: a
// real ClientHello record, not one built by the parser's authors.
func clientHello(t *testing.T, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	go func() {
		tls.Client(c, &tls.Config{ServerName: sni}).Handshake()
	}()
	defer c.Close()
	defer s.Close()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// handshake sends a TCP connection from client to server carrying a
// ClientHello for sni, beginning with the SYN unless fromSynAck.
func (w *wire) tlsFlow(client, server netip.AddrPort, sni string, fromSynAck bool) {
	w.t.Helper()
	if !fromSynAck {
		w.tcp(client, server, "S", 100, nil)
	}
	w.tcp(server, client, "SA", 500, nil)
	w.tcp(client, server, "A", 101, nil)
	w.tcp(client, server, "PA", 101, clientHello(w.t, sni))
	w.tcp(server, client, "PA", 501, append([]byte{0x16, 3, 3, 0, 40}, make([]byte, 40)...))
}

// TestTransitServerFromSynAck: a remote<->remote capture that begins with
// the server's SYN/ACK. The server (the SYN/ACK's sender, port 443, the
// receiver of the ClientHello) is the placed endpoint, named by the SNI;
// the client is not an endpoint.
func TestTransitServerFromSynAck(t *testing.T) {
	w := newWire(t)
	server := netip.MustParseAddrPort("198.51.100.10:443")
	client := netip.MustParseAddrPort("203.0.113.20:40000")
	w.tlsFlow(client, server, "server.example", true)
	eps := w.endpoints()
	ep := eps[server.Addr()]
	if ep == nil {
		t.Fatalf("no endpoint for the server %v; endpoints: %v", server.Addr(), eps)
	}
	if ep.Name != "server.example" || ep.TransitPackets != 4 {
		t.Errorf("server endpoint: name %q, %d transit packets; want server.example, 4", ep.Name, ep.TransitPackets)
	}
	if c := eps[client.Addr()]; c != nil {
		t.Errorf("the client is an endpoint: %+v", *c)
	}
}

// TestFlowNameWinsOverDNS: the DNS answer for alexa.amazon.com (a CNAME
// to pitangui.amazon.com) names a first flow to the address that carries
// no ClientHello (it is placed, its naming window over, before any other); the next
// flow sends SNI pitangui.amazon.com. The report names the address by the
// SNI the flows sent, not by the DNS question.
func TestFlowNameWinsOverDNS(t *testing.T) {
	w := newWire(t)
	resolver := netip.MustParseAddrPort("192.168.1.1:53")
	client := netip.MustParseAddrPort("192.168.1.10:5300")
	server := netip.MustParseAddrPort("203.0.113.50:443")
	dns := &layers.DNS{ID: 7, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte("alexa.amazon.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{
			{Name: []byte("alexa.amazon.com"), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 300, CNAME: []byte("pitangui.amazon.com")},
			{Name: []byte("pitangui.amazon.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: server.Addr().AsSlice()},
		}}
	buf := gopacket.NewSerializeBuffer()
	if err := dns.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	w.udp(resolver, client, buf.Bytes())

	// A connection seen from its middle: application data both ways.
	mid := netip.AddrPortFrom(client.Addr(), 50001)
	appData := append([]byte{0x17, 3, 3, 0, 60}, make([]byte, 60)...)
	w.tcp(mid, server, "PA", 9000, appData)
	w.tcp(server, mid, "PA", 7000, appData)
	// The flow is placed (and its endpoint counted) when its naming window
	// has passed: a later packet shows it.
	w.ts = w.ts.Add(time.Duration(namingWindow))
	w.tcp(mid, server, "A", 9060, nil)
	w.sync()

	w.tlsFlow(netip.AddrPortFrom(client.Addr(), 50002), server, "pitangui.amazon.com", false)
	ep := w.endpoints()[server.Addr()]
	if ep == nil {
		t.Fatal("no endpoint for the server")
	}
	if ep.Name != "pitangui.amazon.com" {
		t.Errorf("endpoint name %q, want the SNI pitangui.amazon.com", ep.Name)
	}
	if ep.EgressPackets != 2+3 || ep.IngressPackets != 1+2 {
		t.Errorf("packets egress %d ingress %d, want 5 and 3", ep.EgressPackets, ep.IngressPackets)
	}
}

// TestNameAfterSynRetransmits: the client's SYN is retransmitted after 1 s
// and 3 s (Linux's back-off), so its ClientHello comes more than the
// naming window after the flow's first packet. The flow still takes the
// SNI (as nDPI does on tls_heur__vmess-tcp.pcapng; the same wait names
// heuristic_tcp_ack_payload.pcap's and anyconnect-vpn.pcap's late first
// flights in TestEndpointNamesMatchNDPI): a flow whose handshake the name
// tracker has not seen yet is not placed unnamed at the window's end.
func TestNameAfterSynRetransmits(t *testing.T) {
	w := newWire(t)
	client := netip.MustParseAddrPort("192.168.1.10:50003")
	server := netip.MustParseAddrPort("203.0.113.60:443")
	start := w.ts
	w.tcp(client, server, "S", 100, nil)
	w.ts = start.Add(time.Second)
	w.tcp(client, server, "S", 100, nil)
	w.ts = start.Add(3 * time.Second)
	w.tlsFlow(client, server, "late.example.com", false)
	ep := w.endpoints()[server.Addr()]
	if ep == nil || ep.Name != "late.example.com" || ep.EgressPackets != 5 {
		t.Fatalf("endpoint %+v, want late.example.com with 5 egress packets", ep)
	}
}
