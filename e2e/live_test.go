//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

type borderwatch struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	stop   func()
}

// startBorderwatch runs borderwatch in the client namespace, capturing on
// the veth with two fan-out workers; prefix is put before the binary
// (e.g. setpriv to run it as another user).
func startBorderwatch(t *testing.T, dir, bin string, prefix []string, extra ...string) *borderwatch {
	return startDaemon(t, dir, bin, prefix, append([]string{"--capture.interface", cliIf}, extra...)...)
}

// startDaemon runs borderwatch in the client namespace with two workers,
// the test's databases and local networks, and the inputs in extra.
func startDaemon(t *testing.T, dir, bin string, prefix []string, extra ...string) *borderwatch {
	country, asn := geoDBs(t, dir)
	args := append(append([]string{"netns", "exec", cliNS}, prefix...), bin, "run", "--workers", "2",
		"--web.listen-address", webAddr, "--geo.country-db", country, "--geo.asn-db", asn, "--geo.home-region", "EU")
	for _, n := range localNets {
		args = append(args, "--capture.local-network", n)
	}
	cmd := exec.Command("ip", append(args, extra...)...)
	bw := &borderwatch{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = bw.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	bw.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("borderwatch exit: %v\n%s", err, bw.stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("borderwatch did not stop on SIGINT\n%s", bw.stderr.String())
		}
	}
	t.Cleanup(bw.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := get("/-/ready"); err == nil {
			return bw
		}
		select {
		case err := <-done:
			t.Fatalf("borderwatch exited: %v\n%s", err, bw.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("borderwatch not ready\n%s", bw.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metrics scrapes and returns sample values by "name{labels}".
func (b *borderwatch) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	body, err := get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
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
		if k != metric && !strings.HasPrefix(k, metric+"{") {
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

// counts are bytes and packets by "direction country unit", plus the TLS
// sessions' bytes by "tls country".
type counts map[string]float64

// truth stops tshark and counts, from its capture, IP bytes and packets
// per direction and server country; exclude is a display filter of
// traffic to leave out.
func (r *tsharkRun) truth(t *testing.T, exclude string) counts {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	r.cmd.Process.Signal(os.Interrupt)
	r.cmd.Wait()
	args := []string{"-n", "-r", r.file, "-T", "fields", "-E", "occurrence=f", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.len", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen", "-e", "tcp.srcport", "-e", "tcp.dstport"}
	if exclude != "" {
		args = append(args, "-Y", "not ("+exclude+")")
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	country := map[string]string{}
	for _, s := range servers {
		country[s.addr] = s.country
	}
	c := counts{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 8 {
			continue
		}
		src, dst, ln, extra := f[0], f[1], f[2], 0.0
		if f[3] != "" {
			src, dst, ln, extra = f[3], f[4], f[5], 40
		}
		n, err := strconv.ParseFloat(ln, 64)
		if err != nil {
			continue
		}
		n += extra
		var dir, cc string
		switch {
		case (src == client4 || src == client6) && country[dst] != "":
			dir, cc = "egress", country[dst]
		case (dst == client4 || dst == client6) && country[src] != "":
			dir, cc = "ingress", country[src]
		default:
			continue
		}
		c[dir+" "+cc+" bytes"] += n
		c[dir+" "+cc+" packets"]++
		if f[6] == "443" || f[7] == "443" {
			c["tls "+cc] += n
		}
	}
	return c
}

// observed reads the same counts from borderwatch's metrics.
func observed(m map[string]float64) counts {
	c := counts{}
	for _, s := range servers {
		for _, dir := range []string{"egress", "ingress"} {
			c[dir+" "+s.country+" bytes"] = sum(m, "borderwatch_traffic_bytes_total", "direction", dir, "country", s.country)
			c[dir+" "+s.country+" packets"] = sum(m, "borderwatch_traffic_packets_total", "direction", dir, "country", s.country)
		}
		c["tls "+s.country] = sum(m, "borderwatch_traffic_bytes_total", "country", s.country, "app", "tiktok", "provider", s.provider)
	}
	return c
}

func (c counts) minus(o counts) counts {
	d := counts{}
	for k, v := range c {
		d[k] = v - o[k]
	}
	return d
}

// waitCounts polls borderwatch until its counts since base equal want (or
// a deadline passes) and reports the difference. The TLS sessions (SNI
// www.tiktok.com) must be counted as app="tiktok" unless names is false;
// later flows to the same address may be too (names are remembered per
// address), so that is a lower bound.
func waitCounts(t *testing.T, bw *borderwatch, what string, base, want counts, names bool) map[string]float64 {
	t.Helper()
	for _, s := range servers {
		for _, k := range []string{"egress " + s.country + " bytes", "ingress " + s.country + " packets", "tls " + s.country} {
			if want[k] == 0 {
				t.Fatalf("%s: tshark saw no %s: the traffic did not flow", what, k)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := bw.metrics(t)
		got := observed(m).minus(base)
		var short []string
		for _, s := range servers {
			k := "tls " + s.country
			if names && got[k] < want[k] {
				short = append(short, fmt.Sprintf("%s: app=tiktok has %v bytes, the TLS sessions %v", s.country, got[k], want[k]))
			}
			delete(got, k)
		}
		exact := counts{}
		for k, v := range want {
			if !strings.HasPrefix(k, "tls ") {
				exact[k] = v
			}
		}
		d := cmp.Diff(got, exact)
		if d == "" && len(short) == 0 {
			return m
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: borderwatch vs tshark (-borderwatch +tshark)\n%s\n%s\nkernel drops %v", what, d, strings.Join(short, "\n"), sum(m, "borderwatch_capture_kernel_drops_total"))
			return m
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUp polls borderwatch_capture_interface_up until it is want.
func waitUp(t *testing.T, bw *borderwatch, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for sum(bw.metrics(t), "borderwatch_capture_interface_up", "interface", cliIf) != want {
		if time.Now().After(deadline) {
			t.Fatalf("borderwatch_capture_interface_up is not %v\n%s", want, bw.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCaps asserts that every thread of borderwatch holds CAP_NET_RAW
// and nothing else (bounding set too when bounding is true), with
// no_new_privs set.
func checkCaps(t *testing.T, pid int, bounding bool) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of %d: %v %v", pid, tasks, err)
	}
	want := map[string]string{"CapInh": "0000000000000000", "CapPrm": "0000000000002000", "CapEff": "0000000000002000", "CapAmb": "0000000000000000", "NoNewPrivs": "1"}
	if bounding {
		want["CapBnd"] = "0000000000002000"
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":\t")
			if _, ok := want[k]; ok {
				got[k] = strings.TrimSpace(v)
			}
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("%s (-got +want)\n%s", task, d)
		}
	}
}

// TestLiveCapture: borderwatch (root, two fan-out workers) counts bytes and
// packets per direction and country exactly as tshark on the other end of
// the veth, labels the TLS sessions by SNI, and keeps only CAP_NET_RAW on
// every thread. The interface then goes down and up, and is deleted and
// re-created: each outage is counted and counting resumes, exact again.
func TestLiveCapture(t *testing.T) {
	setup(t)
	startServers(t)
	dir := workDir(t)
	bin := buildBorderwatch(t, dir)
	bw := startBorderwatch(t, dir, bin, nil)
	checkCaps(t, bw.cmd.Process.Pid, true)

	ts := startTshark(t, dir)
	traffic(t)
	m := waitCounts(t, bw, "round 1", counts{}, ts.truth(t, ""), true)
	if sum(m, "borderwatch_capture_interface_up", "interface", cliIf) != 1 || sum(m, "borderwatch_capture_packets_total", "interface", cliIf) == 0 {
		t.Error("the interface is not reported up, or no packets captured")
	}
	if n := sum(m, "borderwatch_traffic_bytes_total", "region", "home"); n != sum(m, "borderwatch_traffic_bytes_total", "country", "DE") || n == 0 {
		t.Errorf("home region bytes %v, not those of DE (home region EU)", n)
	}

	// Down and up.
	before := observed(m)
	run(t, "ip", "-n", cliNS, "link", "set", cliIf, "down")
	waitUp(t, bw, 0)
	run(t, "ip", "-n", cliNS, "link", "set", cliIf, "up")
	run(t, "ip", "-n", srvNS, "link", "set", srvIf, "up")
	for _, r := range [][2]string{{cliNS, cliIf}, {srvNS, srvIf}} {
		run(t, "ip", "-n", r[0], "route", "replace", "default", "dev", r[1])
		run(t, "ip", "-n", r[0], "-6", "route", "replace", "default", "dev", r[1])
	}
	waitUp(t, bw, 1)
	ts = startTshark(t, dir)
	traffic(t)
	m = waitCounts(t, bw, "after down and up", before, ts.truth(t, ""), true)
	if n := sum(m, "borderwatch_capture_interface_outages_total", "interface", cliIf); n != 1 {
		t.Errorf("outages after down/up: %v, want 1", n)
	}

	// Deleted and re-created (a new interface index).
	before = observed(m)
	run(t, "ip", "-n", cliNS, "link", "del", cliIf)
	waitUp(t, bw, 0)
	link(t)
	waitUp(t, bw, 1)
	ts = startTshark(t, dir)
	traffic(t)
	m = waitCounts(t, bw, "after re-creation", before, ts.truth(t, ""), true)
	if n := sum(m, "borderwatch_capture_interface_outages_total", "interface", cliIf); n != 2 {
		t.Errorf("outages after re-creation: %v, want 2", n)
	}
	if n := sum(m, "borderwatch_capture_kernel_drops_total", "interface", cliIf); n != 0 {
		t.Errorf("kernel drops: %v", n)
	}
	bw.stop()
	if !strings.Contains(bw.stderr.String(), "interface down or gone") || !strings.Contains(bw.stderr.String(), "interface is back") {
		t.Errorf("the outages are not logged:\n%s", bw.stderr.String())
	}
}

// TestLiveCaptureFilter: with a kernel filter, given in tcpdump syntax or
// as tcpdump -ddd output (with a short snap length), the filtered traffic
// is absent and the rest exact; every frame the kernel delivered is read.
func TestLiveCaptureFilter(t *testing.T) {
	setup(t)
	startServers(t)
	dir := workDir(t)
	bin := buildBorderwatch(t, dir)
	const expr = "not udp port 9001"
	for _, tc := range []struct {
		name  string
		names bool // whole packets: the SNI is read
		args  func(t *testing.T) []string
	}{
		{"tcpdump syntax", true, func(t *testing.T) []string { return []string{"--capture.filter", expr} }},
		{"raw BPF, snap length 128", false, func(t *testing.T) []string {
			if _, err := exec.LookPath("tcpdump"); err != nil {
				t.Skip("tcpdump not installed (apt-get install tcpdump)")
			}
			out, err := exec.Command("tcpdump", "-y", "EN10MB", "-s", "128", "-ddd", expr).Output()
			if err != nil {
				t.Fatalf("tcpdump -ddd: %v", err)
			}
			file := filepath.Join(dir, "filter.bpf")
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"--capture.filter-bpf", file, "--capture.snaplen", "128"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw := startBorderwatch(t, dir, bin, nil, tc.args(t)...)
			ts := startTshark(t, dir)
			traffic(t)
			want := ts.truth(t, "udp.port == 9001")
			m := waitCounts(t, bw, "filtered", counts{}, want, tc.names)
			if n := sum(m, "borderwatch_traffic_packets_total", "country", "SG"); n == 0 {
				t.Error("nothing counted")
			}
			// The two counters are read a moment apart, and the link
			// carries frames of its own (IPv6 neighbour and router
			// messages): they must meet once it is quiet.
			for deadline := time.Now().Add(5 * time.Second); ; m = bw.metrics(t) {
				read, delivered := sum(m, "borderwatch_packets_read_total"), sum(m, "borderwatch_capture_packets_total", "interface", cliIf)
				if read == delivered {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("borderwatch_packets_read_total %v, borderwatch_capture_packets_total %v", read, delivered)
				}
				time.Sleep(200 * time.Millisecond)
			}
			bw.stop()
		})
	}
}

// TestLiveCaptureNonRoot: as an unprivileged user with only the file
// capability cap_net_raw+ep, borderwatch captures exactly and holds
// nothing but CAP_NET_RAW.
func TestLiveCaptureNonRoot(t *testing.T) {
	setup(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed (util-linux)")
	}
	startServers(t)
	dir := workDir(t)
	bin := buildBorderwatch(t, dir)
	os.Chmod(bin, 0o755)
	setFileCaps(t, bin)
	bw := startBorderwatch(t, dir, bin, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", bw.cmd.Process.Pid))
	if err != nil || !strings.Contains(string(b), "Uid:\t65534\t65534\t65534\t65534") {
		t.Fatalf("borderwatch does not run as 65534: %v\n%s", err, b)
	}
	checkCaps(t, bw.cmd.Process.Pid, false)
	if strings.Contains(bw.stderr.String(), "running as root") {
		t.Error("warned about root")
	}
	ts := startTshark(t, dir)
	traffic(t)
	waitCounts(t, bw, "non-root", counts{}, ts.truth(t, ""), true)
	bw.stop()
}

// syncBuffer is safe to read while a process or logger writes to it.
type syncBuffer = testenv.SyncBuffer
