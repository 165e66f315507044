package report

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/borderwatch/borderwatch/lpm"
	"github.com/borderwatch/borderwatch/pipeline"
	gocmp "github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	client   = netip.MustParseAddrPort("192.168.1.10:40000")
	client2  = netip.MustParseAddrPort("192.168.1.10:40001")
	printer  = netip.MustParseAddrPort("192.168.1.20:9100")
	resolver = netip.MustParseAddrPort("192.168.1.1:53")
	dnsPort  = netip.MustParseAddrPort("192.168.1.10:5353")
	usServer = netip.MustParseAddrPort("203.0.113.5:443")  // US, AS 64500, named www.tiktok.com by DNS
	deServer = netip.MustParseAddrPort("198.51.100.9:443") // DE, AS 64501
)

func policy(t *testing.T, home ...string) *pipeline.Policy {
	t.Helper()
	dir := t.TempDir()
	country, asn := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{
		netip.MustParsePrefix("203.0.113.0/24"): "US", netip.MustParsePrefix("198.51.100.0/24"): "DE"}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{
		netip.MustParsePrefix("203.0.113.0/24"):  {Number: 64500, Org: "Example US"},
		netip.MustParsePrefix("198.51.100.0/24"): {Number: 64501, Org: "Example DE"}}); err != nil {
		t.Fatal(err)
	}
	res, err := geo.Open(geo.Config{CountryDB: country, ASNDB: asn, CacheSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cat, err := apps.Default()
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]bool{}
	for _, c := range home {
		h[c] = true
	}
	return &pipeline.Policy{Geo: res, Apps: cat, Local: lpm.NewSet(config.Default().LocalNetworks), Groups: config.NewGroupMatcher(nil), Home: h, HomeRegion: home}
}

// sentCapture is what the test sent, built with gopacket, and the truth
// derived from the bytes themselves.
type sentCapture struct {
	frames                        [][]byte
	ts                            []int64
	egressUS, ingressUS, egressDE Counts
	internal                      Counts
	nonIP, truncated              uint64
	placedPackets                 uint64
}

func ipFrame(t *testing.T, src, dst netip.AddrPort, udp bool, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Protocol: layers.IPProtocolTCP}
	var l4 gopacket.SerializableLayer
	if udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true, Window: 65535}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func buildCapture(t *testing.T) *sentCapture {
	c := &sentCapture{}
	ts := time.Unix(1_700_000_000, 0).UnixNano()
	add := func(f []byte, into *Counts) {
		c.frames = append(c.frames, f)
		c.ts = append(c.ts, ts)
		ts += int64(time.Millisecond)
		if into != nil {
			into.Bytes += uint64(len(f) - 14)
			into.Packets++
		}
	}
	msg := &layers.DNS{ID: 1, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte("www.tiktok.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte("www.tiktok.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: usServer.Addr().AsSlice()}}}
	buf := gopacket.NewSerializeBuffer()
	if err := msg.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	add(ipFrame(t, resolver, dnsPort, true, buf.Bytes()), &c.internal)
	for i := 0; i < 4; i++ {
		add(ipFrame(t, client, usServer, false, make([]byte, 200+i)), &c.egressUS)
		add(ipFrame(t, usServer, client, false, make([]byte, 1400)), &c.ingressUS)
	}
	for i := 0; i < 3; i++ {
		add(ipFrame(t, client2, deServer, true, make([]byte, 100)), &c.egressDE)
	}
	add(ipFrame(t, client, printer, false, make([]byte, 50)), &c.internal)
	arp := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06}
	add(append(arp, make([]byte, 28)...), nil)
	c.nonIP++
	ipv4 := ipFrame(t, client, usServer, false, nil)
	add(ipv4[:14+10], nil) // cut inside the IPv4 header
	c.truncated++
	c.placedPackets = c.egressUS.Packets + c.ingressUS.Packets + c.egressDE.Packets
	return c
}

func run(t *testing.T, pol *pipeline.Policy, c *sentCapture, maxEndpoints int) *pipeline.Pipeline {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.Workers = 2
	cfg.Endpoints = true
	cfg.MaxEndpoints = maxEndpoints
	p, err := pipeline.New(cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	d := p.NewDispatcher(-1)
	for i, f := range c.frames {
		d.Frame(f, layers.LinkTypeEthernet, c.ts[i])
	}
	d.Send()
	p.Finish()
	return p
}

func sum(cs ...Counts) Counts {
	var out Counts
	for _, c := range cs {
		out.Bytes += c.Bytes
		out.Packets += c.Packets
	}
	return out
}

// TestBuild: every total of the report equals what was sent.
func TestBuild(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t, "DE"), c, 1<<10)
	r := Build(p, []string{"test.pcap"}, []string{"DE"}, 0)

	us := sum(c.egressUS, c.ingressUS)
	if got, want := r.PacketsRead, uint64(len(c.frames)); got != want {
		t.Errorf("packets read %d, want %d", got, want)
	}
	if d := gocmp.Diff(r.Placed, sum(us, c.egressDE)); d != "" {
		t.Errorf("placed (-got +want)\n%s", d)
	}
	if d := gocmp.Diff(r.Internal, c.internal); d != "" {
		t.Errorf("internal (-got +want)\n%s", d)
	}
	row := func(k string, c Counts) Row { return Row{Key: k, Counts: c} }
	for _, tc := range []struct {
		name      string
		got, want []Row
	}{
		{"direction", r.ByDirection, []Row{row("ingress", c.ingressUS), row("egress", sum(c.egressUS, c.egressDE))}},
		{"country", r.ByCountry, []Row{row("US", us), row("DE", c.egressDE)}},
		{"provider", r.ByProvider, []Row{row("other", sum(us, c.egressDE))}},
		{"org", r.ByOrg, []Row{row("Example US", us), row("Example DE", c.egressDE)}},
		{"app", r.ByApp, []Row{row("tiktok", us), row("unknown", c.egressDE)}},
		{"name source", r.ByNameSource, []Row{row("dns", Counts{us.Bytes, 1}), row("none", Counts{c.egressDE.Bytes, 1})}},
		{"skipped", r.Skipped, []Row{row("non_ip", Counts{0, c.nonIP})}},
		{"decode errors", r.DecodeErrors, []Row{row("truncated", Counts{0, c.truncated})}},
	} {
		if d := gocmp.Diff(tc.got, tc.want); d != "" {
			t.Errorf("by %s (-got +want)\n%s", tc.name, d)
		}
	}
	if r.EgressBytes != c.egressUS.Bytes+c.egressDE.Bytes || r.EgressAbroad != c.egressUS.Bytes {
		t.Errorf("egress %d, abroad %d; want %d, %d", r.EgressBytes, r.EgressAbroad, c.egressUS.Bytes+c.egressDE.Bytes, c.egressUS.Bytes)
	}
	if want := float64(c.egressUS.Bytes) / float64(c.egressUS.Bytes+c.egressDE.Bytes); r.AbroadShare == nil || *r.AbroadShare != want {
		t.Errorf("abroad share %v, want %v", r.AbroadShare, want)
	}
	wantEPs := []Endpoint{
		{Address: "203.0.113.5", Name: "www.tiktok.com", App: "tiktok", Country: "US", ASN: 64500, Org: "Example US", Provider: "other", Basis: "database", DBCountry: "US", Egress: c.egressUS, Ingress: c.ingressUS},
		{Address: "198.51.100.9", App: "unknown", Country: "DE", ASN: 64501, Org: "Example DE", Provider: "other", Basis: "database", DBCountry: "DE", Egress: c.egressDE},
	}
	if d := gocmp.Diff(r.Endpoints, wantEPs); d != "" {
		t.Errorf("endpoints (-got +want)\n%s", d)
	}
	if r.OtherEndpoints != nil {
		t.Errorf("other endpoints %+v, want none", r.OtherEndpoints)
	}
	// Without a site every byte is placed by the database.
	if want := []Row{{Key: "database", Counts: c.egressUS}}; !gocmp.Equal(r.AbroadByBasis, want) {
		t.Errorf("abroad by basis %+v, want %+v", r.AbroadByBasis, want)
	}
	// top limits the endpoints listed, not the totals.
	if top := Build(p, nil, []string{"DE"}, 1); len(top.Endpoints) != 1 || top.Endpoints[0].Address != "203.0.113.5" || top.Placed != r.Placed {
		t.Errorf("top 1: %+v, placed %+v", top.Endpoints, top.Placed)
	}
}

// TestBuildLimits: addresses past the endpoint limit are summed as
// "other"; without a home region there is no abroad share.
func TestBuildLimits(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t), c, 1)
	r := Build(p, nil, nil, 0)
	if r.AbroadShare != nil || r.EgressAbroad != 0 {
		t.Errorf("no home region: abroad share %v, abroad bytes %d", r.AbroadShare, r.EgressAbroad)
	}
	if len(r.Endpoints) != 1 || r.OtherEndpoints == nil || r.OtherEndpoints.Address != "other" {
		t.Fatalf("endpoints %+v, other %+v; want one and other", r.Endpoints, r.OtherEndpoints)
	}
	total := sum(r.Endpoints[0].Egress, r.Endpoints[0].Ingress, r.OtherEndpoints.Egress, r.OtherEndpoints.Ingress)
	if want := sum(c.egressUS, c.ingressUS, c.egressDE); total != want {
		t.Errorf("endpoints and other sum to %+v, want %+v", total, want)
	}
	var out bytes.Buffer
	if err := r.WriteTable(&out, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `no home region set (--geo.home-region): every region label is "unknown"`) {
		t.Errorf("table without home region:\n%s", out.String())
	}
}

// TestWrite: the JSON is the report (field names as documented), the
// table shows the abroad share, the breakdowns and the endpoints.
func TestWrite(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t, "DE"), c, 1<<10)
	r := Build(p, []string{"a.pcap", "b.pcap"}, []string{"DE"}, 0)
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"packets_read": float64(len(c.frames)), "egress_abroad_bytes": float64(c.egressUS.Bytes),
		"egress_abroad_share": *r.AbroadShare, "home_region": []any{"DE"}, "files": []any{"a.pcap", "b.pcap"}} {
		if d := gocmp.Diff(back[k], want); d != "" {
			t.Errorf("json %s (-got +want)\n%s", k, d)
		}
	}
	eps, _ := back["endpoints"].([]any)
	if len(eps) != 2 || eps[0].(map[string]any)["name"] != "www.tiktok.com" {
		t.Errorf("json endpoints %v", back["endpoints"])
	}
	var tb bytes.Buffer
	if err := r.WriteTable(&tb, 1); err != nil {
		t.Fatal(err)
	}
	out := tb.String()
	for _, want := range []string{
		"borderwatch read: a.pcap, b.pcap",
		"egress leaving the home region (DE): " + human(c.egressUS.Bytes) + " of " + human(c.egressUS.Bytes+c.egressDE.Bytes) + " egress",
		"by country", "US  " + human(c.egressUS.Bytes+c.ingressUS.Bytes),
		"... 1 more", // one row per table
		"top remote endpoints", "203.0.113.5  www.tiktok.com  tiktok",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "198.51.100.9") {
		t.Errorf("table lists more endpoints than rowsPerTable:\n%s", out)
	}
}

func TestHuman(t *testing.T) {
	for b, want := range map[uint64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1500: "1.5 kB", 2_500_000: "2.5 MB", 7_000_000_000_000: "7.0 TB"} {
		if got := human(b); got != want {
			t.Errorf("human(%d) = %q, want %q", b, got, want)
		}
	}
}

// TestRowsOrder: by bytes, then packets, then key.
func TestRowsOrder(t *testing.T) {
	got := rows(map[string]*Counts{"b": {10, 1}, "a": {10, 1}, "c": {10, 5}, "d": {20, 1}})
	want := []Row{{"d", Counts{20, 1}}, {"c", Counts{10, 5}}, {"a", Counts{10, 1}}, {"b", Counts{10, 1}}}
	if d := gocmp.Diff(got, want); d != "" {
		t.Errorf("(-got +want)\n%s", d)
	}
}
