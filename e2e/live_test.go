//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo/geotest"
)

const (
	ns      = "bwe2e-srv"
	hostIf  = "bwe2e0" // captured by borderwatch, in the test's namespace
	peerIf  = "bwe2e1" // in ns, where tshark counts independently
	local4  = "203.0.113.1"
	remote4 = "203.0.113.10"
	local6  = "2001:db8:1::1"
	remote6 = "2001:db8:1::10"
)

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture end-to-end tests need root (network namespaces, veth, AF_PACKET); CI runs them as root")
	}
	for _, tool := range []string{"ip", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install iproute2 tshark)", tool)
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "link", "del", hostIf).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: %v %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
}

// link creates the veth pair: hostIf here with the local addresses, peerIf
// in the namespace with the remote (server) addresses. Only documentation
// ranges are used, and traffic never leaves the pair.
func link(t *testing.T) {
	run(t, "ip", "link", "add", hostIf, "type", "veth", "peer", "name", peerIf)
	run(t, "ip", "link", "set", peerIf, "netns", ns)
	run(t, "ip", "addr", "add", local4+"/24", "dev", hostIf)
	run(t, "ip", "-6", "addr", "add", local6+"/64", "dev", hostIf, "nodad")
	run(t, "ip", "link", "set", hostIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", remote4+"/24", "dev", peerIf)
	run(t, "ip", "netns", "exec", ns, "ip", "-6", "addr", "add", remote6+"/64", "dev", peerIf, "nodad")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", peerIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
}

func startServers(t *testing.T) {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), "BW_E2E_SERVERS=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("servers: %q %v", line, err)
	}
}

// geoDBs places the remote IPv4 address in Singapore on ByteDance's AS and
// the remote IPv6 address in Japan on Oracle's.
func geoDBs(t *testing.T) (country, asn string) {
	dir := t.TempDir()
	country, asn = filepath.Join(dir, "c.mmdb"), filepath.Join(dir, "a.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{netip.MustParsePrefix("203.0.113.0/24"): "SG", netip.MustParsePrefix("2001:db8:1::/64"): "JP"}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{netip.MustParsePrefix("203.0.113.0/24"): {Number: 396986, Org: "Bytedance Inc."}, netip.MustParsePrefix("2001:db8:1::/64"): {Number: 31898, Org: "Oracle Corporation"}}); err != nil {
		t.Fatal(err)
	}
	return country, asn
}

type borderwatch struct {
	addr string
	stop func()
}

func startBorderwatch(t *testing.T, bin string, extra ...string) *borderwatch {
	country, asn := geoDBs(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"run", "--capture.interface", hostIf, "--workers", "2", "--web.listen-address", addr,
		"--geo.country-db", country, "--geo.asn-db", asn, "--capture.local-network", local4 + "/32", "--capture.local-network", local6 + "/128",
		"--geo.home-region", "EU"}, extra...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("borderwatch exit: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("borderwatch did not stop on SIGINT")
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &borderwatch{addr: addr, stop: stop}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("borderwatch not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics scrapes and returns sample values by "name{labels}" text.
func (b *borderwatch) metrics(t *testing.T) map[string]float64 {
	resp, err := http.Get("http://" + b.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		m[line[:i]] = v
	}
	return m
}

// sum adds the samples of metric whose labels contain every pair.
func sum(m map[string]float64, metric string, pairs ...string) float64 {
	var s float64
	for k, v := range m {
		if !strings.HasPrefix(k, metric+"{") {
			continue
		}
		ok := true
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(k, pairs[i]+`="`+pairs[i+1]+`"`) {
				ok = false
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// tsharkRun captures on the peer interface inside the namespace.
type tsharkRun struct {
	cmd  *exec.Cmd
	file string
}

func startTshark(t *testing.T) *tsharkRun {
	file := filepath.Join(t.TempDir(), "peer.pcap")
	os.WriteFile(file, nil, 0o666)
	os.Chmod(filepath.Dir(file), 0o777)
	cmd := exec.Command("ip", "netns", "exec", ns, "tshark", "-n", "-q", "-B", "32", "-i", peerIf, "-w", file)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Capturing on") {
			break
		}
	}
	deadline.Stop()
	go io.Copy(io.Discard, stderr)
	time.Sleep(time.Second) // the ring is set up after the message
	return &tsharkRun{cmd: cmd, file: file}
}

// counts stops tshark and sums IP bytes and packets per direction and
// address family between the local and remote addresses; exclude is a
// display filter of traffic to leave out.
func (r *tsharkRun) counts(t *testing.T, exclude string) map[string]float64 {
	time.Sleep(500 * time.Millisecond)
	r.cmd.Process.Signal(os.Interrupt)
	r.cmd.Wait()
	args := []string{"-n", "-r", r.file, "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.len", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen"}
	if exclude != "" {
		args = append(args, "-Y", "not ("+exclude+")")
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	c := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 6 {
			continue
		}
		src, dst, ln, country := f[0], f[1], f[2], "SG"
		if f[3] != "" {
			src, dst, ln, country = f[3], f[4], f[5], "JP"
		}
		n, _ := strconv.ParseFloat(strings.Split(ln, ",")[0], 64)
		if country == "JP" {
			n += 40
		}
		src, dst = strings.Split(src, ",")[0], strings.Split(dst, ",")[0]
		switch {
		case (src == local4 && dst == remote4) || (src == local6 && dst == remote6):
			c["egress "+country+" bytes"] += n
			c["egress "+country+" packets"]++
		case (src == remote4 && dst == local4) || (src == remote6 && dst == local6):
			c["ingress "+country+" bytes"] += n
			c["ingress "+country+" packets"]++
		}
	}
	return c
}

// traffic sends a TLS session (SNI www.tiktok.com), DNS queries, a bulk TCP
// transfer and a UDP stream to both remote addresses.
func traffic(t *testing.T) {
	for _, host := range []string{remote4, remote6} {
		// DNS: one A and one AAAA query.
		c, err := net.Dial("udp", net.JoinHostPort(host, "53"))
		if err != nil {
			t.Fatal(err)
		}
		for i, qt := range []byte{1, 28} {
			q := []byte{0, byte(i + 1), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', 'p', 'i', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, qt, 0, 1}
			c.Write(q)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("dns %s: %v", host, err)
			}
		}
		c.Close()
		// TLS with an SNI.
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(host, "443"), &tls.Config{ServerName: "www.tiktok.com", InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("tls %s: %v", host, err)
		}
		for i := 0; i < 4; i++ {
			tc.Write(bytes.Repeat([]byte("x"), 50_000))
			time.Sleep(time.Millisecond)
		}
		tc.Close()
		// Bulk TCP.
		bc, err := net.Dial("tcp", net.JoinHostPort(host, "9000"))
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < 2_000_000; sent += len(chunk) {
			bc.Write(chunk)
			time.Sleep(time.Millisecond) // paced, so that tshark's own capture keeps up
		}
		bc.Close()
		// UDP stream.
		uc, err := net.Dial("udp", net.JoinHostPort(host, "9001"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			uc.Write(make([]byte, 1000))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		uc.Close()
	}
	time.Sleep(time.Second) // FINs, last ACKs
}

func buildBorderwatch(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "borderwatch")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/borderwatch")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func compare(t *testing.T, what string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for _, dir := range []string{"egress", "ingress"} {
		for _, cc := range []string{"SG", "JP"} {
			for _, unit := range []string{"bytes", "packets"} {
				k := dir + " " + cc + " " + unit
				if want[k] == 0 {
					t.Errorf("%s: tshark saw no %s", what, k)
				}
				if got[k] != want[k] {
					t.Errorf("%s: %s: borderwatch %v, tshark %v", what, k, got[k], want[k])
				}
			}
		}
	}
}

func bwCounts(m map[string]float64) map[string]float64 {
	c := map[string]float64{}
	for _, dir := range []string{"egress", "ingress"} {
		for _, cc := range []string{"SG", "JP"} {
			c[dir+" "+cc+" bytes"] = sum(m, "borderwatch_traffic_bytes_total", "direction", dir, "country", cc)
			c[dir+" "+cc+" packets"] = sum(m, "borderwatch_traffic_packets_total", "direction", dir, "country", cc)
		}
	}
	return c
}

func diff(a, b map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range a {
		d[k] = v - b[k]
	}
	return d
}

// TestLiveCapture: bytes and packets per direction and country, captured
// live by borderwatch with two fan-out workers, equal tshark's count on the
// other end of the veth; the interface is then deleted and re-created and
// counting resumes, with the outage counted.
func TestLiveCapture(t *testing.T) {
	needRoot(t)
	link(t)
	startServers(t)
	bin := buildBorderwatch(t)
	bw := startBorderwatch(t, bin)

	ts := startTshark(t)
	traffic(t)
	want := ts.counts(t, "")
	m := bw.metrics(t)
	compare(t, "round 1", bwCounts(m), want)
	if sum(m, "borderwatch_traffic_bytes_total", "app", "tiktok", "country", "SG", "provider", "ByteDance") == 0 || sum(m, "borderwatch_traffic_bytes_total", "app", "tiktok", "country", "JP", "provider", "Oracle") == 0 {
		t.Error("the TLS sessions (SNI www.tiktok.com) are not labelled app=tiktok with their country and provider")
	}
	if sum(m, "borderwatch_capture_interface_up", "interface", hostIf) != 1 {
		t.Error("interface not reported up")
	}

	// The interface disappears and comes back.
	before := bwCounts(m)
	run(t, "ip", "link", "del", hostIf)
	deadline := time.Now().Add(10 * time.Second)
	for sum(bw.metrics(t), "borderwatch_capture_interface_up", "interface", hostIf) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deleted interface is still reported up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	link(t)
	deadline = time.Now().Add(15 * time.Second)
	for sum(bw.metrics(t), "borderwatch_capture_interface_up", "interface", hostIf) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("capture did not resume on the re-created interface")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts = startTshark(t)
	traffic(t)
	want = ts.counts(t, "")
	m = bw.metrics(t)
	compare(t, "after re-creation", diff(bwCounts(m), before), want)
	if sum(m, "borderwatch_capture_interface_outages_total", "interface", hostIf) < 1 {
		t.Error("the outage is not counted")
	}
	if sum(m, "borderwatch_capture_kernel_drops_total", "interface", hostIf) != 0 {
		t.Logf("kernel drops: %v", sum(m, "borderwatch_capture_kernel_drops_total"))
	}
	bw.stop()
}

// TestLiveCaptureFilter: with a kernel filter, the filtered traffic is
// absent and the rest exact.
func TestLiveCaptureFilter(t *testing.T) {
	needRoot(t)
	link(t)
	startServers(t)
	bin := buildBorderwatch(t)
	bw := startBorderwatch(t, bin, "--capture.filter", "not udp port 9001")
	ts := startTshark(t)
	traffic(t)
	want := ts.counts(t, "udp.port == 9001")
	m := bw.metrics(t)
	compare(t, "filtered", bwCounts(m), want)
	if n := sum(m, "borderwatch_capture_packets_total", "interface", hostIf); n == 0 {
		t.Error("no packets captured")
	}
	_ = fmt.Sprint
	_ = context.Background
}
