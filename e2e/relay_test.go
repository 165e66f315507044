//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The round-trip test's world: the client and server namespaces of the
// other tests, joined through a third namespace, midNS, where a delay line
// (the "relay" role) copies Ethernet frames between two veth pairs and
// holds back the frames a server sends by that server's delay. The
// kernel's netem qdisc would do the same; the delay line works where the
// kernel has no netem (it is a module many minimal kernels leave out).
const (
	midNS  = "bwe2e-mid"
	midCli = "bwe2em0" // in midNS, the client side's peer
	midSrv = "bwe2em1" // in midNS, the server side's peer
)

// setupRelay is setup with the relay's namespace between client and
// server. Offloads are off on every end: the relay copies frames one by
// one (no segmentation or checksum left to the hardware).
func setupRelay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture end-to-end tests need root (network namespaces, veth, AF_PACKET); CI runs them as root")
	}
	for _, tool := range []string{"ip", "tshark", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install iproute2 tshark ethtool)", tool)
		}
	}
	for _, ns := range []string{cliNS, srvNS, midNS} {
		exec.Command("ip", "netns", "del", ns).Run()
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("network namespaces unavailable (ip netns add): %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", cliNS, "link", "add", cliIf, "type", "veth", "peer", "name", midCli)
	run(t, "ip", "-n", cliNS, "link", "set", midCli, "netns", midNS)
	run(t, "ip", "-n", srvNS, "link", "add", srvIf, "type", "veth", "peer", "name", midSrv)
	run(t, "ip", "-n", srvNS, "link", "set", midSrv, "netns", midNS)
	run(t, "ip", "-n", cliNS, "addr", "add", client4+"/15", "dev", cliIf)
	run(t, "ip", "-n", cliNS, "-6", "addr", "add", client6+"/64", "dev", cliIf, "nodad")
	for _, s := range servers {
		bits := 24
		if netip.MustParseAddr(s.addr).Is6() {
			bits = 64
		}
		run(t, "ip", "-n", srvNS, "addr", "add", fmt.Sprintf("%s/%d", s.addr, bits), "dev", srvIf, "nodad")
	}
	for _, l := range [][2]string{{cliNS, cliIf}, {midNS, midCli}, {midNS, midSrv}, {srvNS, srvIf}} {
		run(t, "ip", "netns", "exec", l[0], "ethtool", "-K", l[1], "tx", "off", "tso", "off", "gso", "off", "gro", "off")
		run(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	for _, r := range [][2]string{{cliNS, cliIf}, {srvNS, srvIf}} {
		run(t, "ip", "-n", r[0], "route", "add", "default", "dev", r[1])
		run(t, "ip", "-n", r[0], "-6", "route", "add", "default", "dev", r[1])
	}
}

// startRelay runs the delay line in midNS: frames from the servers in
// delays are held back that long.
func startRelay(t *testing.T, delays map[string]time.Duration) {
	var spec []string
	for a, d := range delays {
		spec = append(spec, a+"="+d.String())
	}
	startRole(t, midNS, "relay", "BW_E2E_DELAYS="+strings.Join(spec, ","))
}

// runRelay is the "relay" role: it copies frames both ways between midCli
// and midSrv, each frame from a delayed source address after its delay
// (in order per delay).
func runRelay() error {
	delays := map[netip.Addr]time.Duration{}
	for _, kv := range strings.Split(os.Getenv("BW_E2E_DELAYS"), ",") {
		a, d, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		dur, err := time.ParseDuration(d)
		if err != nil {
			return err
		}
		delays[netip.MustParseAddr(a)] = dur
	}
	cli, err := packetSocket(midCli)
	if err != nil {
		return err
	}
	srv, err := packetSocket(midSrv)
	if err != nil {
		return err
	}
	go pump(cli, srv, nil)
	go pump(srv, cli, delays)
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
	return nil
}

type packetConn struct {
	fd int
	to unix.SockaddrLinklayer
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket on the interface that sees its
// incoming frames only.
func packetSocket(name string) (*packetConn, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, err
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, &sa); err != nil {
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	// Room for the bulk transfers' bursts: a frame the relay lost would be
	// seen by borderwatch and not by tshark.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 32<<20)
	return &packetConn{fd: fd, to: sa}, nil
}

// pump copies frames from in to out, each after the delay of its IP
// source address (none when absent).
func pump(in, out *packetConn, delays map[netip.Addr]time.Duration) {
	type frame struct {
		b   []byte
		due time.Time
	}
	queues := map[time.Duration]chan frame{}
	queue := func(d time.Duration) chan frame {
		q := queues[d]
		if q == nil {
			q = make(chan frame, 1<<14)
			queues[d] = q
			go func() {
				to := out.to // Sendto writes into its address: one per goroutine
				for f := range q {
					time.Sleep(time.Until(f.due))
					for try := 0; ; try++ {
						err := unix.Sendto(out.fd, f.b, 0, &to)
						if err == nil {
							break
						}
						if err != unix.ENOBUFS && err != unix.EAGAIN || try == 1000 {
							fmt.Fprintf(os.Stderr, "relay: frame of %d bytes lost: %v\n", len(f.b), err)
							break
						}
						time.Sleep(50 * time.Microsecond)
					}
				}
			}()
		}
		return q
	}
	buf := make([]byte, 1<<16)
	for {
		n, from, err := unix.Recvfrom(in.fd, buf, 0)
		if err != nil {
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := frame{b: append([]byte(nil), buf[:n]...), due: time.Now()}
		d := delays[frameSource(f.b)]
		f.due = f.due.Add(d)
		queue(d) <- f
	}
}

// frameSource returns the IP source address of an Ethernet frame.
func frameSource(b []byte) netip.Addr {
	if len(b) < 14 {
		return netip.Addr{}
	}
	switch uint16(b[12])<<8 | uint16(b[13]) {
	case 0x0800:
		if len(b) >= 14+20 {
			return netip.AddrFrom4([4]byte(b[26:30]))
		}
	case 0x86dd:
		if len(b) >= 14+40 {
			return netip.AddrFrom16([16]byte(b[22:38]))
		}
	}
	return netip.Addr{}
}

// TestLivePlacementRTT: with the site in Frankfurt and the EU as home,
// servers that the test's database places in Singapore and Japan but that
// answer within about 1 ms are not abroad (basis contradicted: those
// countries are thousands of km beyond reach), the server placed in the
// US that answers after 80 ms keeps the database's country (basis
// database: 80 ms reaches the US), the German one with no delay is home,
// and every byte is still counted, exactly as tshark counts them on the
// far side of the delay line.
func TestLivePlacementRTT(t *testing.T) {
	setupRelay(t)
	sg, us, de, jp := servers[0], servers[1], servers[2], servers[3]
	if sg.country != "SG" || us.country != "US" || de.country != "DE" || jp.country != "JP" {
		t.Fatal("the servers table changed")
	}
	startRelay(t, map[string]time.Duration{sg.addr: time.Millisecond, jp.addr: time.Millisecond, us.addr: 80 * time.Millisecond})
	startServers(t)
	dir := workDir(t)
	bin := buildBorderwatch(t, dir)
	bw := startBorderwatch(t, dir, bin, nil, "--geo.site-location", "50.11,8.68")
	ts := startTshark(t, dir)
	traffic(t)
	truth := ts.truth(t, "")
	both := func(cc string) float64 { return truth["egress "+cc+" bytes"] + truth["ingress "+cc+" bytes"] }
	if both("SG") == 0 || both("US") == 0 || both("DE") == 0 || both("JP") == 0 {
		t.Fatalf("tshark saw no traffic to some server: %v", truth)
	}
	type view struct{ total, abroad, abroadUS, contradicted, contradictedAbroad, home, rttBytes, rtts float64 }
	want := view{total: both("SG") + both("US") + both("DE") + both("JP"), abroad: both("US"), abroadUS: both("US"),
		contradicted: both("SG") + both("JP")}
	var got view
	var m map[string]float64
	deadline := time.Now().Add(40 * time.Second)
	for {
		m = bw.metrics(t)
		const tb = "borderwatch_traffic_bytes_total"
		// (Neighbour discovery to multicast groups is counted too, with
		// country unknown: not traffic to the servers.)
		got = view{total: sum(m, tb) - sum(m, tb, "country", "unknown"), abroad: sum(m, tb, "region", "abroad"), abroadUS: sum(m, tb, "region", "abroad", "country", "US", "basis", "database"),
			contradicted: sum(m, tb, "basis", "contradicted"), contradictedAbroad: sum(m, tb, "basis", "contradicted", "region", "abroad"),
			home: sum(m, tb, "region", "home"), rttBytes: sum(m, "borderwatch_rtt_placed_bytes_total"), rtts: sum(m, "borderwatch_handshake_rtt_seconds_count")}
		if got.total == want.total && got.abroad == want.abroad && got.abroadUS == want.abroadUS && got.contradicted == want.contradicted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("borderwatch %+v, want %+v (from tshark's %v)\n%s", got, want, truth, bw.stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got.contradictedAbroad != 0 {
		t.Errorf("%v contradicted bytes abroad", got.contradictedAbroad)
	}
	if sum(m, "borderwatch_traffic_bytes_total", "country", "SG")+sum(m, "borderwatch_traffic_bytes_total", "country", "JP") != 0 {
		t.Error("a country the round trip rules out is reported")
	}
	if got.home < both("DE") {
		t.Errorf("home bytes %v, less than the German server's %v", got.home, both("DE"))
	}
	// Every flow to a server has a round trip: its own handshake's (TLS,
	// bulk) or, for DNS and UDP, the address's.
	if got.rttBytes != want.total {
		t.Errorf("bytes placed with a round trip %v, want all %v", got.rttBytes, want.total)
	}
	if got.rtts < 8 { // 2 TCP handshakes per server
		t.Errorf("%v handshake round trips in the histogram, want 8", got.rtts)
	}
	// The delays show in the histogram: the US server's 80 ms ones are
	// over 50 ms, abroad; the others under 50 ms.
	if n := sum(m, "borderwatch_handshake_rtt_seconds_bucket", "region", "abroad", "le", "0.05"); n != 0 {
		t.Errorf("%v abroad round trips under 50 ms", n)
	}
}
