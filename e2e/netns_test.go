//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo/geotest"
	"golang.org/x/sys/unix"
)

// The test's own world: two network namespaces joined by a veth pair.
// Clients and borderwatch live in cliNS, servers and tshark in srvNS; both
// namespaces route everything to the veth, so no packet can leave them.
// Addresses are documentation and benchmarking ranges only.
const (
	cliNS   = "bwe2e-cli"
	srvNS   = "bwe2e-srv"
	cliIf   = "bwe2e0" // in cliNS, captured by borderwatch
	srvIf   = "bwe2e1" // in srvNS, captured by tshark (the oracle)
	client4 = "198.18.0.1"
	client6 = "2001:db8:1::1"
	sni     = "www.tiktok.com"
	webAddr = "127.0.0.1:19107" // in cliNS
)

// servers are the remote endpoints and where the test's databases place them.
var servers = []struct {
	addr, prefix, country string
	as                    geotest.AS
	provider              string
}{
	{"203.0.113.10", "203.0.113.0/24", "SG", geotest.AS{Number: 396986, Org: "Bytedance Inc."}, "ByteDance"},
	{"198.51.100.10", "198.51.100.0/24", "US", geotest.AS{Number: 31898, Org: "Oracle Corporation"}, "Oracle"},
	{"2001:db8:2::10", "2001:db8:2::/48", "DE", geotest.AS{Number: 24940, Org: "Hetzner Online GmbH"}, "Hetzner"},
	{"2001:db8:3::10", "2001:db8:3::/48", "JP", geotest.AS{Number: 138699, Org: "TikTok Pte. Ltd."}, "ByteDance"},
}

// localNets make the client side local.
var localNets = []string{"198.18.0.0/15", "2001:db8:1::/48"}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// setup skips unless root with ip and tshark, and creates the namespaces
// and the link.
func setup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture end-to-end tests need root (network namespaces, veth, AF_PACKET); CI runs them as root")
	}
	for _, tool := range []string{"ip", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install iproute2 tshark)", tool)
		}
	}
	for _, ns := range []string{cliNS, srvNS} {
		exec.Command("ip", "netns", "del", ns).Run()
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("network namespaces unavailable (ip netns add): %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	for _, ns := range []string{cliNS, srvNS} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// IPv6 addresses survive the test's link down and up.
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.keep_addr_on_down=1")
	}
	link(t)
}

// link creates the veth pair with its addresses and routes (again after
// the test deleted it).
func link(t *testing.T) {
	t.Helper()
	run(t, "ip", "-n", cliNS, "link", "add", cliIf, "type", "veth", "peer", "name", srvIf)
	run(t, "ip", "-n", cliNS, "link", "set", srvIf, "netns", srvNS)
	run(t, "ip", "-n", cliNS, "addr", "add", client4+"/15", "dev", cliIf)
	run(t, "ip", "-n", cliNS, "-6", "addr", "add", client6+"/64", "dev", cliIf, "nodad")
	for _, s := range servers {
		p := netip.MustParsePrefix(s.prefix)
		bits := 24
		if p.Addr().Is6() {
			bits = 64
		}
		run(t, "ip", "-n", srvNS, "addr", "add", fmt.Sprintf("%s/%d", s.addr, bits), "dev", srvIf, "nodad")
	}
	run(t, "ip", "-n", cliNS, "link", "set", cliIf, "up")
	run(t, "ip", "-n", srvNS, "link", "set", srvIf, "up")
	for _, r := range [][2]string{{cliNS, cliIf}, {srvNS, srvIf}} {
		run(t, "ip", "-n", r[0], "route", "add", "default", "dev", r[1])
		run(t, "ip", "-n", r[0], "-6", "route", "add", "default", "dev", r[1])
	}
}

// inNS returns a command running the test binary in role inside ns.
func inNS(ns, role string, env ...string) *exec.Cmd {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "BW_E2E_ROLE="+role), env...)
	return cmd
}

func startServers(t *testing.T) { startRole(t, srvNS, "servers") }

// startRole runs the test binary in role inside ns until the test ends
// (it closes the role's standard input), once the role says "ready".
func startRole(t *testing.T, ns, role string, env ...string) {
	cmd := inNS(ns, role, env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("%s: %q %v", role, line, err)
	}
}

func traffic(t *testing.T) {
	t.Helper()
	if out, err := inNS(cliNS, "traffic").CombinedOutput(); err != nil {
		t.Fatalf("traffic: %v\n%s", err, out)
	}
}

// get fetches path from borderwatch inside cliNS.
func get(path string) (string, error) {
	var stderr bytes.Buffer
	cmd := inNS(cliNS, "get", "BW_E2E_URL=http://"+webAddr+path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("GET %s: %v %s", path, err, stderr.String())
	}
	return string(out), nil
}

// geoDBs writes the test's country and ASN databases into dir.
func geoDBs(t *testing.T, dir string) (country, asn string) {
	country, asn = filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	cm, am := map[netip.Prefix]string{}, map[netip.Prefix]geotest.AS{}
	for _, s := range servers {
		cm[netip.MustParsePrefix(s.prefix)] = s.country
		am[netip.MustParsePrefix(s.prefix)] = s.as
	}
	if err := geotest.WriteCountry(country, cm); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, am); err != nil {
		t.Fatal(err)
	}
	return country, asn
}

// workDir is a directory a non-root borderwatch can read.
func workDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bwe2e")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func buildBorderwatch(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "borderwatch")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/borderwatch")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// setFileCaps gives bin the file capability cap_net_raw+ep (what
// `setcap cap_net_raw+ep bin` does), as a version 2 security.capability
// extended attribute.
func setFileCaps(t *testing.T, bin string) {
	var v [20]byte
	binary.LittleEndian.PutUint32(v[0:], 0x02000000|0x000001) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(v[4:], 1<<unix.CAP_NET_RAW) // permitted, low word
	if err := unix.Setxattr(bin, "security.capability", v[:], 0); err != nil {
		t.Skipf("cannot set file capabilities on %s: %v", bin, err)
	}
}

// tsharkRun captures on the server end of the veth.
type tsharkRun struct {
	cmd  *exec.Cmd
	file string
}

func startTshark(t *testing.T, dir string) *tsharkRun { return startTsharkFilter(t, dir, "") }

// startTsharkFilter is startTshark with a capture filter (tcpdump syntax;
// "" for none).
func startTsharkFilter(t *testing.T, dir, filter string) *tsharkRun {
	file := filepath.Join(dir, fmt.Sprintf("peer-%d.pcap", time.Now().UnixNano()))
	os.WriteFile(file, nil, 0o666)
	args := []string{"netns", "exec", srvNS, "tshark", "-n", "-q", "-B", "64", "-i", srvIf, "-w", file}
	if filter != "" {
		args = append(args, "-f", filter)
	}
	cmd := exec.Command("ip", args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Capturing on") {
			break
		}
	}
	deadline.Stop()
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(time.Second) // the ring is set up after the message
	return &tsharkRun{cmd: cmd, file: file}
}
