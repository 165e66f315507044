package pipeline

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/place"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// sentFrame is a frame built with gopacket and the IP-layer length it
// carries (the frame's length past the Ethernet header).
type sentFrame struct {
	data  []byte
	ts    int64
	ipLen uint64
}

func buildFrame(t *testing.T, src, dst netip.AddrPort, udp bool, payload []byte, ts int64) sentFrame {
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
	return sentFrame{data: b, ts: ts, ipLen: uint64(len(b) - 14)}
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

// trafficExposition returns the traffic families of p's metrics as text.
func trafficExposition(t *testing.T, p *Pipeline) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(p))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		n := mf.GetName()
		if strings.HasPrefix(n, "borderwatch_traffic_") || strings.HasPrefix(n, "borderwatch_internal_") ||
			strings.HasPrefix(n, "borderwatch_named_") || n == "borderwatch_flows_total" {
			expfmt.MetricFamilyToText(&sb, mf)
		}
	}
	return sb.String()
}

// TestRecordsCountLikePackets: flow records give exactly the metrics of
// the packets they stand for: a TCP flow as one record per direction, a
// sampled UDP flow (2 packets sampled 1 in 3 for 6 sent), both named by
// a DNS answer captured as a frame beside the records.
func TestRecordsCountLikePackets(t *testing.T) {
	pol := docPolicy(t, "DE")
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	ms := int64(time.Millisecond)
	resolver, client := netip.MustParseAddrPort("192.168.1.1:53"), netip.MustParseAddrPort("192.168.1.10:5353")
	cli, srv := netip.MustParseAddrPort("192.168.1.10:40000"), netip.MustParseAddrPort("203.0.113.5:443")
	cli2, srv2 := netip.MustParseAddrPort("192.168.1.10:40001"), netip.MustParseAddrPort("203.0.113.6:443")

	dns := []sentFrame{
		buildFrame(t, resolver, client, true, dnsAnswer(t, "www.tiktok.com", srv.Addr()), t0),
		buildFrame(t, resolver, client, true, dnsAnswer(t, "www.tiktok.com", srv2.Addr()), t0+ms),
	}
	var flowFrames []sentFrame
	recs := []Record{
		{Src: cli.Addr(), Dst: srv.Addr(), SrcPort: cli.Port(), DstPort: srv.Port(), Proto: 6},
		{Src: srv.Addr(), Dst: cli.Addr(), SrcPort: srv.Port(), DstPort: cli.Port(), Proto: 6},
	}
	ts := t0 + 10*ms
	for i := 0; i < 9; i++ {
		from, to, r := cli, srv, &recs[0]
		size := 100 + i
		if i%2 == 1 {
			from, to, r = srv, cli, &recs[1]
			size = 1200 + i
		}
		f := buildFrame(t, from, to, false, make([]byte, size), ts)
		flowFrames = append(flowFrames, f)
		if r.Packets == 0 {
			r.First = ts
		}
		r.Last = ts
		r.Bytes += f.ipLen
		r.Packets++
		ts += 5 * ms
	}
	sampled := Record{Src: cli2.Addr(), Dst: srv2.Addr(), SrcPort: cli2.Port(), DstPort: srv2.Port(), Proto: 17, SamplingRate: 3, First: ts, Last: ts + 5*ms}
	for i := 0; i < 6; i++ {
		f := buildFrame(t, cli2, srv2, true, make([]byte, 300), ts+int64(i)*ms)
		flowFrames = append(flowFrames, f)
		if i < 2 {
			sampled.Bytes += f.ipLen
			sampled.Packets++
		}
	}
	recs = append(recs, sampled)

	run := func(feed func(d *Dispatcher)) string {
		cfg := DefaultConfig()
		cfg.Workers = 2
		p, err := New(cfg, pol)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		d := p.NewDispatcher(-1)
		for _, f := range dns {
			d.Frame(f.data, layers.LinkTypeEthernet, f.ts)
		}
		feed(d)
		d.Send()
		p.Finish()
		return trafficExposition(t, p)
	}
	fromPackets := run(func(d *Dispatcher) {
		for _, f := range flowFrames {
			d.Frame(f.data, layers.LinkTypeEthernet, f.ts)
		}
	})
	fromRecords := run(func(d *Dispatcher) {
		for i := range recs {
			d.Record(&recs[i])
		}
	})
	if d := cmp.Diff(fromRecords, fromPackets); d != "" {
		t.Errorf("records vs packets (-records +packets)\n%s", d)
	}
	// The packets' own truth: the bytes sent, named by the DNS answer.
	var egress uint64
	for _, f := range flowFrames {
		if f.data[26+3] == 10 { // IPv4 source 192.168.1.10
			egress += f.ipLen
		}
	}
	want := `borderwatch_traffic_bytes_total{app="tiktok",basis="database",client_group="default",country="US",direction="egress",operator_country="unknown",provider="other",region="abroad"} ` + itoa(egress)
	if !strings.Contains(fromPackets, want) {
		t.Errorf("want %s in\n%s", want, fromPackets)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestRecordDirection: an exporter's direction overrides the local
// networks (both addresses public here), and records with unusable
// addresses are counted as invalid, not placed.
func TestRecordDirection(t *testing.T) {
	cfg := DefaultConfig()
	p, err := New(cfg, docPolicy(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := p.NewDispatcher(-1)
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	de, us := netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("203.0.113.7")
	d.Record(&Record{Src: de, Dst: us, SrcPort: 5000, DstPort: 443, Proto: 6, Bytes: 1000, Packets: 10, First: t0, Last: t0, Direction: place.Egress})
	d.Record(&Record{Src: us, Dst: de, SrcPort: 443, DstPort: 5001, Proto: 6, Bytes: 700, Packets: 7, First: t0, Last: t0, Direction: place.Ingress})
	d.Record(&Record{Src: us, Dst: de, SrcPort: 443, DstPort: 5002, Proto: 6, Bytes: 50, Packets: 1, First: t0, Last: t0})
	d.Record(&Record{Src: netip.Addr{}, Dst: de, Bytes: 1, Packets: 1})
	d.Record(&Record{Src: netip.MustParseAddr("2001:db8::1"), Dst: de, Bytes: 1, Packets: 1})
	d.Send()
	p.Finish()
	got := traffic(p)
	lab := func(dir, country, region string) metrics.Labels {
		return metrics.Labels{Direction: dir, Country: country, Provider: "other", App: "unknown", Region: region, ClientGroup: "default", Basis: "database", OperatorCountry: "unknown"}
	}
	want := map[metrics.Labels]uint64{
		lab("egress", "US", "abroad"):  1000, // 198.51.100.9 is local by the exporter's word
		lab("ingress", "US", "abroad"): 700,
		lab("transit", "DE", "home"):   50, // no direction: both remote, the responder is placed
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("(-got +want)\n%s", d)
	}
	if n, bad := p.records.Load(), p.recordsInvalid.Load(); n != 5 || bad != 2 {
		t.Errorf("records %d, invalid %d; want 5 and 2", n, bad)
	}
}

// BenchmarkRecord: one record counted into an established flow on one
// worker (key, table lookup, counting): the per-record cost of the seam,
// without decoding of any export protocol.
func BenchmarkRecord(b *testing.B) {
	p, err := New(DefaultConfig(), docPolicy(b, "DE"))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	w := newWorker(p, 1<<16)
	w.refreshPolicy()
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	recs := make([]Record, 4096)
	for i := range recs {
		recs[i] = Record{Src: netip.AddrFrom4([4]byte{192, 168, 1, byte(i % 200)}), Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(i / 200)}),
			SrcPort: uint16(40000 + i), DstPort: 443, Proto: 6, Bytes: 15000, Packets: 10, First: t0, Last: t0 + 3*sec}
		w.HandleRecord(&recs[i])
	}
	w.ExpireIdle(t0 + 3*sec) // nothing ends; flows are placed
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.HandleRecord(&recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestScaledFrame: a frame sampled 1 in 4 counts exactly like the same
// frame seen four times, and a sampled DNS answer still names its address
// (sFlow's flow samples feed names as a capture does).
func TestScaledFrame(t *testing.T) {
	pol := docPolicy(t, "DE")
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	ms := int64(time.Millisecond)
	resolver, client := netip.MustParseAddrPort("192.168.1.1:53"), netip.MustParseAddrPort("192.168.1.10:5353")
	cli, srv := netip.MustParseAddrPort("192.168.1.10:40000"), netip.MustParseAddrPort("203.0.113.5:443")
	dns := buildFrame(t, resolver, client, true, dnsAnswer(t, "www.tiktok.com", srv.Addr()), t0)
	var frames []sentFrame
	for i := 0; i < 5; i++ {
		frames = append(frames, buildFrame(t, cli, srv, false, make([]byte, 100+i), t0+int64(10+i)*ms))
	}
	run := func(feed func(d *Dispatcher)) string {
		cfg := DefaultConfig()
		cfg.Workers = 2
		p, err := New(cfg, pol)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		d := p.NewDispatcher(-1)
		d.ScaledFrame(dns.data, layers.LinkTypeEthernet, dns.ts, 4)
		feed(d)
		d.Send()
		p.Finish()
		return trafficExposition(t, p)
	}
	scaled := run(func(d *Dispatcher) {
		for _, f := range frames {
			d.ScaledFrame(f.data, layers.LinkTypeEthernet, f.ts, 4)
		}
	})
	repeated := run(func(d *Dispatcher) {
		for _, f := range frames {
			for range 4 {
				d.Frame(f.data, layers.LinkTypeEthernet, f.ts)
			}
		}
	})
	var egress uint64
	for _, f := range frames {
		egress += 4 * f.ipLen
	}
	want := `borderwatch_traffic_bytes_total{app="tiktok",basis="database",client_group="default",country="US",direction="egress",operator_country="unknown",provider="other",region="abroad"} ` + itoa(egress)
	if !strings.Contains(scaled, want) {
		t.Errorf("want %s in\n%s", want, scaled)
	}
	wantPk := `borderwatch_traffic_packets_total{app="tiktok",basis="database",client_group="default",country="US",direction="egress",operator_country="unknown",provider="other",region="abroad"} 20`
	if !strings.Contains(scaled, wantPk) {
		t.Errorf("want %s in\n%s", wantPk, scaled)
	}
	// The DNS answer itself is internal: scaled 4 times, once in repeated.
	if !strings.Contains(scaled, "borderwatch_internal_packets_total 4") {
		t.Errorf("the sampled DNS answer should count 4 internal packets:\n%s", scaled)
	}
	if a, b := withoutInternal(scaled), withoutInternal(repeated); a != b {
		t.Errorf("scaled vs repeated frames:\n%s", cmp.Diff(a, b))
	}
}

func withoutInternal(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "borderwatch_internal_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
