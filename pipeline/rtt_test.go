package pipeline

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math/bits"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/place"
)

// rttCaptures are shared captures with TCP and QUIC handshakes between
// public addresses (QUIC: Chrome to Cloudflare and Google, gQUIC).
var rttCaptures = []string{
	"ja4/pcap/chrome-cloudflare-quic-with-secrets.pcapng",
	"ja4/pcap/quic-tls-handshake.pcapng",
	"ndpi/pcap/google_meet.pcapng",
	"ndpi/pcap/doq_adguard.pcapng",
	"ja4/pcap/tls-handshake.pcapng",
	"ja4/pcap/tls-sni.pcapng",
	"ja4/pcap/tls3.pcapng",
	"ndpi/pcap/instagram.pcap",
	"ndpi/pcap/netflix.pcap",
	"ndpi/pcap/quic-29.pcap",
	"ndpi/pcap/quic_0RTT.pcap",
	"mobile/KBKlic1.pcapng",
}

// tsharkRTTs computes, from tshark's timestamps of the same packets, the
// shortest handshake round trip per remote address by the rule the
// workers apply (rtt.go): the flow's first packet is the probe when it is
// a TCP SYN (or a QUIC Initial of 1200+ bytes) towards the remote end,
// else a local server's SYN/ACK after the remote client's SYN; the answer
// is the remote end's next packet (for a SYN/ACK probe: with ACK, without
// SYN). Round trips in µs: the probe's offset from the flow's first packet
// rounded down, the answer rounded up.
func tsharkRTTs(t *testing.T, pol *Policy, file string) (best map[netip.Addr]uint32, quic int) {
	out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "(tcp or udp) and not icmp and not icmpv6", "-T", "fields", "-E", "separator=/t",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.flags", "-e", "udp.payload").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	type state struct {
		first, probe int64 // ns; probe -1: awaiting the local SYN/ACK
		remote       netip.Addr
		done         bool
	}
	flows := map[string]*state{}
	best = map[netip.Addr]uint32{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 11 || strings.Contains(sc.Text(), ",") {
			continue // tunnelled: outer and inner values
		}
		src, dst := c[1], c[2]
		if src == "" {
			src, dst = c[3], c[4]
		}
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		if err1 != nil || err2 != nil {
			continue
		}
		tcp := c[5] != ""
		sp, dp := c[5]+c[7], c[6]+c[8]
		ts := epochNanos(t, c[0])
		var flags uint64
		if tcp {
			flags, _ = strconv.ParseUint(strings.TrimPrefix(c[9], "0x"), 16, 16)
		}
		syn, ack, rst := flags&2 != 0, flags&16 != 0, flags&4 != 0
		a, b := src+"/"+sp, dst+"/"+dp
		if b < a {
			a, b = b, a
		}
		key := strconv.FormatBool(tcp) + a + b
		f := flows[key]
		if f == nil {
			f = &state{first: ts, done: true}
			flows[key] = f
			sl, dl := pol.isLocal(sa), pol.isLocal(da)
			if sl && dl {
				continue
			}
			// The remote end: the one not local; in transit, the receiver.
			f.remote = da
			if dl && !sl {
				f.remote = sa
			}
			payload, _ := hex.DecodeString(c[10])
			switch {
			case tcp && syn && !ack && !rst:
				f.done = false
				if sa == f.remote {
					f.probe = -1
				}
			case !tcp && sa != f.remote && len(payload) >= 1200 && payload[0]&0xc0 == 0xc0 && (payload[1]|payload[2]|payload[3]|payload[4]) != 0:
				f.done = false
			}
			continue
		}
		if f.done {
			continue
		}
		fromRemote := sa == f.remote
		if f.probe == -1 {
			if !fromRemote && syn && ack {
				f.probe = (ts - f.first) / 1e3 * 1e3
				if f.probe == -1 {
					f.done = true
				}
			}
			continue
		}
		if !fromRemote || tcp && syn && !ack {
			continue
		}
		f.done = true
		d := ts - f.first - f.probe
		if d <= 0 {
			continue
		}
		us := uint32((d + 999) / 1e3)
		if !tcp {
			quic++
		}
		if old, ok := best[f.remote]; !ok || us < old {
			best[f.remote] = us
		}
	}
	return best, quic
}

// epochNanos parses tshark's frame.time_epoch exactly.
func epochNanos(t *testing.T, s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		t.Fatalf("time %q", s)
	}
	frac = (frac + "000000000")[:9]
	f, _ := strconv.ParseInt(frac, 10, 64)
	return n*1e9 + f
}

// TestRTTAgainstTshark: the shortest round trip the pipeline measures per
// remote address, on shared TCP and QUIC captures, equals the one computed
// from tshark's timestamps of the same packets.
func TestRTTAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (CI installs it)")
	}
	root := testenv.SharedDir(t)
	pol := testPolicy(t)
	compared := map[string]int{}
	for _, name := range rttCaptures {
		file := filepath.Join(root, "pcaps", name)
		want, quic := tsharkRTTs(t, pol, file)
		compared["quic handshakes"] += quic
		s := &collectSink{}
		p := readAllSink(t, pol, s, file)
		got := map[netip.Addr]uint32{}
		for _, f := range s.flows {
			if f.RTT <= 0 {
				continue
			}
			a := f.Addr[f.Placement.Remote]
			us := uint32(f.RTT / time.Microsecond)
			if old, ok := got[a]; !ok || us < old {
				got[a] = us
			}
		}
		p.Close()
		for a, us := range want {
			if got[a] != us {
				t.Errorf("%s: %s: round trip %d µs, tshark's timestamps give %d µs", name, a, got[a], us)
			}
			compared[strings.SplitN(name, "/", 2)[0]]++
		}
		for a, us := range got {
			if _, ok := want[a]; !ok {
				t.Errorf("%s: %s: round trip %d µs measured, none in tshark's packets", name, a, us)
			}
		}
	}
	t.Logf("remote addresses compared: %v", compared)
	if compared["ja4"] < 3 || compared["ndpi"] < 3 || compared["mobile"] < 5 || compared["quic handshakes"] < 5 {
		t.Errorf("too few round trips compared: %v", compared)
	}
}

// readAllSink is readAll with a sink of ended flows.
func readAllSink(t *testing.T, pol *Policy, s Sink, file string) *Pipeline {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Workers = 2
	cfg.Flow.MaxFlows = 1 << 14
	cfg.Sink, cfg.SinkQueue, cfg.SinkWait = s, 1024, true
	p, err := New(cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	d := p.NewDispatcher(-1)
	src, err := capture.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for {
		data, lt, ts, err := src.Next()
		if err != nil {
			break
		}
		d.Frame(data, lt, ts)
	}
	d.Send()
	p.Finish()
	return p
}

// rttPipeline is a one-worker pipeline with the site in Frankfurt, the EU
// as home and docPolicy's databases (203.0.113.0/24 in the US).
func rttPipeline(t *testing.T, s Sink) (*Pipeline, *Worker) {
	pol := docPolicy(t, "DE", "FR", "NL", "BE", "LU", "AT", "PL", "CZ", "DK")
	site, err := place.NewSite(50.11, 8.68, pol.Home)
	if err != nil {
		t.Fatal(err)
	}
	pol.Site = site
	return sinkPipelineWith(t, pol, s, 64, 64, true)
}

// TestWorkerRTT: the state machine of rtt.go on hand-made handshakes, and
// what the round trip does to placement.
func TestWorkerRTT(t *testing.T) {
	s := &collectSink{}
	p, w := rttPipeline(t, s)
	const ms = int64(time.Millisecond)
	tcp := func(src, dst string, sport, dport uint16, flags uint8, ts int64) {
		pk := testPacket(src, dst, sport, dport, 60, ts)
		pk.TCPFlags = flags
		w.Handle(&pk)
	}
	const syn, synack, ack = capture.FlagSYN, capture.FlagSYN | capture.FlagACK, capture.FlagACK
	cli, us := "192.168.1.10", "203.0.113.5"
	// 1. Local client, SYN retransmitted after 1 s: the first SYN is the
	// probe (a later one could make the round trip too short).
	far := "203.0.113.6"
	tcp(cli, far, 40000, 443, syn, 10*ms)
	tcp(cli, far, 40000, 443, syn, 1010*ms)
	tcp(far, cli, 443, 40000, synack, 1012*ms)
	tcp(cli, far, 40000, 443, ack, 1013*ms)
	// 2. Local server: SYN/ACK (1 ms after the client's SYN) to the
	// remote client's ACK 1.5 ms later.
	tcp(us, cli, 50000, 22, syn, 100*ms)
	tcp(us, cli, 50000, 22, syn, 100*ms+500_000) // the client's SYN again: not an answer
	tcp(cli, us, 22, 50000, synack, 101*ms)
	tcp(us, cli, 50000, 22, ack, 102*ms+500_000)
	// 3. A flow caught mid-way: no handshake of its own.
	tcp(cli, "203.0.113.9", 40001, 443, ack, 10*ms)
	tcp("203.0.113.9", cli, 443, 40001, ack, 11*ms)
	// 4. A QUIC Initial answered after 1 ms.
	initial := testPacket(cli, "203.0.113.7", 40002, 443, 1228, 20*ms)
	initial.Proto = 17
	initial.Payload = append([]byte{0xc3, 0, 0, 0, 1}, make([]byte, 1195)...)
	w.Handle(&initial)
	answer := testPacket("203.0.113.7", cli, 443, 40002, 1228, 21*ms)
	answer.Proto, answer.Payload = 17, []byte{0xc1, 0, 0, 0, 1}
	w.Handle(&answer)
	// 5. A UDP flow to the QUIC server's address, later: no handshake,
	// placed with the address's round trip.
	dns := testPacket(cli, "203.0.113.7", 40003, 53, 80, 30*ms)
	dns.Proto = 17
	w.Handle(&dns)
	p.Finish()

	got := map[string]EndedFlow{}
	for _, f := range s.flows {
		got[f.Addr[0].String()+" "+strconv.Itoa(int(f.Port[0]))+" "+strconv.Itoa(int(f.Port[1]))] = f
	}
	for _, tc := range []struct {
		key            string
		rtt            time.Duration
		country, basis string
	}{
		{"192.168.1.10 40000 443", 1002 * time.Millisecond, "US", "database"}, // 1 s proves nothing
		{"192.168.1.10 22 50000", 1500 * time.Microsecond, "DE", "contradicted"},
		{"192.168.1.10 40001 443", 0, "US", "database"},
		{"192.168.1.10 40002 443", time.Millisecond, "DE", "contradicted"},
		{"192.168.1.10 40003 53", time.Millisecond, "DE", "contradicted"},
	} {
		f, ok := got[tc.key]
		if !ok {
			t.Errorf("%s: no ended flow in %v", tc.key, got)
			continue
		}
		if f.RTT != tc.rtt || f.Placement.Country != tc.country || f.Placement.Basis.String() != tc.basis {
			t.Errorf("%s: rtt %v %s %s, want %v %s %s", tc.key, f.RTT, f.Placement.Country, f.Placement.Basis, tc.rtt, tc.country, tc.basis)
		}
	}
	// The metrics: the histogram has the three handshakes (1 s abroad,
	// 1 and 1.5 ms home), the bytes
	// placed with a round trip are the flows 1, 2, 4 and 5.
	tot := metrics.SumShards(p.Shards(), len(p.Series().Labels()))
	var n uint64
	for r := range tot.RTT {
		for _, c := range tot.RTT[r] {
			n += c
		}
	}
	if n != 3 || tot.RTT[place.Abroad][11] != 1 || tot.RTT[place.Home][1] != 1 || tot.RTT[place.Home][2] != 1 {
		t.Errorf("%d round trips in the histogram, want 3: %v", n, tot.RTT)
	}
	if want := uint64(4*60 + 4*60 + 2*1228 + 80); tot.RTTBytes != want {
		t.Errorf("bytes placed with a round trip %d, want %d", tot.RTTBytes, want)
	}
	for _, l := range p.Series().Labels()[1:] {
		if l.Country == "US" && l.Region != "abroad" || l.Basis == "contradicted" && (l.Country != "DE" || l.Region != "home") {
			t.Errorf("series %+v", l)
		}
	}
}

// TestOperatorAndCloudRegionLabels: an address of Oracle's published
// eu-frankfurt-1 range (embedded snapshot) is counted with
// operator_country US and, with the option, cloud_region eu-frankfurt-1;
// an address outside the published ranges has cloud_region unknown.
func TestOperatorAndCloudRegionLabels(t *testing.T) {
	for _, withCloud := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.CloudRegionLabel = withCloud
		p, err := New(cfg, testPolicy(t))
		if err != nil {
			t.Fatal(err)
		}
		w := p.workers[0]
		w.refreshPolicy()
		for i, dst := range []string{"89.168.64.1", "192.0.2.1"} {
			pk := testPacket("192.168.1.10", dst, uint16(40000+i), 443, 100, int64(time.Second))
			w.Handle(&pk)
		}
		p.Finish()
		got := map[string]metrics.Labels{}
		for _, l := range p.Series().Labels()[1:] {
			if l.Direction == "egress" {
				got[l.Country] = l
			}
		}
		oracle, other := got["DE"], got["unknown"]
		if oracle.Provider != "Oracle" || oracle.OperatorCountry != "US" || other.OperatorCountry != "unknown" {
			t.Errorf("operator countries: %+v, %+v", oracle, other)
		}
		wantCloud, wantOther := "", ""
		if withCloud {
			wantCloud, wantOther = "eu-frankfurt-1", "unknown"
		}
		if oracle.CloudRegion != wantCloud || other.CloudRegion != wantOther {
			t.Errorf("cloud label %v: cloud regions %q, %q", withCloud, oracle.CloudRegion, other.CloudRegion)
		}
		p.Close()
	}
}

// TestRTTTable: the shortest round trip noted for an address is found, an
// address never noted finds none (its slot's bit is clear, or its tag
// differs), and a longer round trip does not replace a shorter one.
func TestRTTTable(t *testing.T) {
	tab := newRTTTable()
	addr := func(i int) *[16]byte {
		a, _ := capture.AddrBytes(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
		return &a
	}
	for i := range 1000 {
		tab.note(addr(i), uint32(100+i))
		tab.note(addr(i), uint32(5000+i)) // longer: kept out
	}
	tab.note(addr(7), 3) // shorter: replaces
	used := 0
	for i := range tab.used {
		used += bits.OnesCount64(tab.used[i].Load())
	}
	if used == 0 || used > 1000 {
		t.Errorf("%d slots marked used for 1000 addresses", used)
	}
	kept := 0
	for i := range 1000 {
		want := uint32(100 + i)
		if i == 7 {
			want = 3
		}
		// A later address may have taken the slot (direct-mapped): then 0.
		switch got := tab.min(addr(i)); got {
		case want:
			kept++
		case 0:
		default:
			t.Errorf("address %d: %d µs, want %d", i, got, want)
		}
	}
	if kept < 950 { // 1000 addresses in 65,536 slots: a few collide
		t.Errorf("%d of 1000 round trips found", kept)
	}
	found := 0
	for i := 1000; i < 2000; i++ {
		if tab.min(addr(i)) != 0 {
			found++
		}
	}
	if found != 0 {
		t.Errorf("%d addresses never noted have a round trip", found)
	}
}
