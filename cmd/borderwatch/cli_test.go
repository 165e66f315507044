package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runCLI runs borderwatch in-process and turns a panic into a test error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%q panicked: %v\n%s", args, r, debug.Stack())
				code = -1
			}
		}()
		code = runContext(context.Background(), args, &o, &e)
	}()
	return o.String(), e.String(), code
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds borderwatch with a plain go build (no -ldflags) once.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "borderwatch-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "borderwatch")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// tsharkFrames counts the frames of a capture with tshark.
func tsharkFrames(t *testing.T, path string) int {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	return strings.Count(string(out), "\n")
}

func samplePcap(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sample.pcap.gz")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sample.pcap")
	if err := os.WriteFile(p, mustGunzip(t, b), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var packetsReadRE = regexp.MustCompile(`(?m)^borderwatch_packets_read_total (\d+)$`)

func packetsRead(t *testing.T, exposition string) int {
	t.Helper()
	m := packetsReadRE.FindStringSubmatch(exposition)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestStdin: a bare "-" reads standard input, for read (as the file
// argument) and for run (as --capture.file's value): every frame tshark
// counts is read. Before the fix kingpin handed "" to the code ("open :
// no such file or directory") and the daemon served zeros.
func TestStdin(t *testing.T) {
	pcap := samplePcap(t)
	want := tsharkFrames(t, pcap)
	bin := binary(t)
	stdin := func(cmd *exec.Cmd) *exec.Cmd {
		f, err := os.Open(pcap)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stdin = f
		return cmd
	}
	for _, args := range [][]string{
		{"read", "--format", "prometheus", "-"},
		{"read", "-", "--format", "prometheus"},
		{"read", "--format", "prometheus", "--", "-"},
		{"--workers", "2", "read", "--format=prometheus", "-"},
	} {
		var stderr bytes.Buffer
		cmd := stdin(exec.Command(bin, args...))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%q: %v %s", args, err, stderr.String())
			continue
		}
		if got := packetsRead(t, string(out)); got != want {
			t.Errorf("%q: %d packets read, tshark counts %d", args, got, want)
		}
	}
	if _, _, code := runCLI(t, "read", "-", "-"); code != 2 {
		t.Errorf("stdin twice: exit %d, want 2", code)
	}

	// The daemon: --capture.file - (and once more with a repeated flag).
	for _, args := range [][]string{
		{"--capture.file", "-"},
		{"--capture.file", "-", "--capture.file", pcap},
	} {
		addr := freePort(t)
		var stderr bytes.Buffer
		cmd := stdin(exec.Command(bin, append([]string{"run", "--web.listen-address", addr}, args...)...))
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wantN := want * (len(args) / 2)
		got := -1
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && got != wantN; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				continue
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			got = packetsRead(t, b.String())
		}
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if got != wantN {
			t.Errorf("run %q: %d packets read, want %d\n%s", args, got, wantN, stderr.String())
		}
		if strings.Contains(stderr.String(), "level=ERROR") {
			t.Errorf("run %q: %s", args, stderr.String())
		}
	}
	// A capture file that cannot be opened stops the daemon before it
	// reports ready.
	if _, stderr, code := runCLI(t, "run", "--capture.file", filepath.Join(t.TempDir(), "missing.pcap"), "--web.listen-address", freePort(t)); code != 1 || !strings.Contains(stderr, "missing.pcap: no such file") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
}

// TestHelpAndVersionExit: --help, -h, --version and help COMMAND print and
// exit 0 for every command, whatever else is on the command line; the
// command does not run (no report, no log line, no request, no panic).
func TestHelpAndVersionExit(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer srv.Close()
	sample := "../../testdata/sample.pcap.gz"
	commands := map[string][]string{
		"":            {"--capture.file", sample, "--web.listen-address", freePort(t)},
		"run":         {"--capture.file", sample, "--web.listen-address", freePort(t)},
		"read":        {sample},
		"lookup":      {"8.8.8.8"},
		"healthcheck": {"--url", srv.URL + "/-/healthy"},
	}
	for name, rest := range commands {
		cmd := []string{}
		if name != "" {
			cmd = []string{name}
		}
		for _, c := range []struct {
			args []string
			want string // on standard output
		}{
			{append(append(cmd, "--help"), rest...), "usage: borderwatch"},
			{append(append(cmd, rest...), "--help"), "usage: borderwatch"},
			{append(append(cmd, rest...), "-h"), "usage: borderwatch"},
			{append(append(cmd, "--version"), rest...), "borderwatch, version "},
			{append(append(cmd, rest...), "--version"), "borderwatch, version "},
			// Absurd values do not stop the help or the version either.
			{append(append(cmd, rest...), "--workers", "-3", "--version"), "borderwatch, version "},
			{append(append(cmd, rest...), "--flow.max-flows", "x", "--help"), "usage: borderwatch"},
			{append([]string{"help"}, cmd...), "usage: borderwatch " + name},
		} {
			out, stderr, code := runCLI(t, c.args...)
			if code != 0 || !strings.HasPrefix(out, c.want) || stderr != "" {
				t.Errorf("%q: exit %d, stdout %.60q, stderr %q; want exit 0, %q, no error", c.args, code, out, stderr, c.want)
			}
			if strings.Contains(out, "packets read") || strings.Contains(out, "ADDRESS") {
				t.Errorf("%q: the command ran: %.200s", c.args, out)
			}
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("healthcheck made %d requests after --help/--version", n)
	}
	if _, stderr, code := runCLI(t, "help", "nosuch"); code != 2 || !strings.Contains(stderr, `"nosuch"`) {
		t.Errorf("help nosuch: exit %d %q", code, stderr)
	}
}

// TestFlagValues runs every command with negative, zero, huge, empty and
// garbage values for every numeric and duration flag: out of range is a
// one-line usage error (exit 2) naming the flag and the range, the
// command does not run, nothing panics; the range's ends are accepted.
func TestFlagValues(t *testing.T) {
	sample := "../../testdata/sample.pcap.gz"
	type flag struct {
		name    string
		cmds    []string // commands that take it
		bad     []string
		good    []string // accepted (checked with read or lookup where the flag allows)
		errText string   // the range, as the message gives it
	}
	common := []string{"read", "lookup", "run"}
	flags := []flag{
		{"geo.cache-size", common, []string{"-1", "0", "16777217", "99999999999999999999", "", "x", "1.5"}, []string{"1", "16777216"}, "from 1 to 16777216"},
		{"metrics.series-limit", common, []string{"-1", "0", "1000001", "", "ten"}, []string{"1", "1000000"}, "from 1 to 1000000"},
		{"flow.max-flows", common, []string{"-1", "0", "15", "67108865", "1e6", ""}, []string{"262144", "67108864"}, "from 16 to 67108864"},
		{"flow.idle-timeout", common, []string{"-1s", "0", "0s", "999ms", "8d", "1000000000h", "", "soon", "5"}, []string{"1s", "7d", "90m"}, "from 1s to 7d"},
		{"flow.active-timeout", common, []string{"-5m", "0", "169h", "", "x"}, []string{"1s", "168h"}, "from 1s to 7d"},
		{"workers", common, []string{"-3", "257", "1000000", "", "two", "0x"}, []string{"0", "1", "256"}, "from 0 to 256"},
		{"names.dns-port", common, []string{"-1", "0", "65536", "70000", "", "dns"}, []string{"1", "65535", "5353"}, "from 1 to 65535"},
		{"top", []string{"read"}, []string{"-1", "1000001", "", "all"}, []string{"0", "1000000"}, "from 0 to 1000000"},
		{"report.max-endpoints", []string{"read"}, []string{"-1", "0", "67108865", "", "x"}, []string{"1024", "67108864"}, "from 1 to 67108864"},
		{"format", []string{"read"}, []string{"", "xml", "-"}, []string{"json"}, "one of table, json, html, prometheus"},
		{"progress", []string{"read"}, []string{"", "sometimes"}, []string{"never"}, "one of auto, always, never"},
		{"capture.file-rate", []string{"run"}, []string{"-1", "0.001", "1e10", "NaN", "Inf", "-Inf", "", "fast"}, nil, "0 (as fast as possible) or packets per second from 0.01 to 1e9"},
		{"capture.snaplen", []string{"run"}, []string{"-1", "0", "63", "262145", ""}, nil, "from 64 to 262144"},
		{"capture.block-size", []string{"run"}, []string{"-1", "0", "4095", "268435457", ""}, nil, "to 268435456"},
		{"capture.num-blocks", []string{"run"}, []string{"-1", "0", "65537", ""}, nil, "from 1 to 65536"},
		{"capture.poll-timeout", []string{"run"}, []string{"-1ms", "0", "61s", "", "x"}, nil, "from 1ms to 1m0s"},
		{"timeout", []string{"healthcheck"}, []string{"-1s", "0", "6m", "", "x"}, nil, "from 1ms to 5m0s"},
		{"url", []string{"healthcheck"}, []string{"", "::", "ftp://x/", "localhost:10107", "http://"}, nil, "want an http:// or https:// URL"},
		{"log.level", common, []string{"", "x", "-1"}, []string{"debug"}, "want one of debug, info, warn, error"},
		{"log.format", common, []string{"", "xml"}, []string{"json"}, "want one of logfmt, json"},
	}
	cmdArgs := map[string][]string{"read": {"--format", "json", sample}, "lookup": {"192.0.2.1"}, "run": {"--capture.file", sample}, "healthcheck": nil}
	for _, f := range flags {
		for _, cmd := range f.cmds {
			for _, v := range f.bad {
				for _, form := range [][]string{{"--" + f.name, v}, {"--" + f.name + "=" + v}} {
					args := append(append([]string{cmd}, form...), cmdArgs[cmd]...)
					if f.name == "format" || f.name == "progress" || f.name == "top" || f.name == "report.max-endpoints" {
						args = append([]string{cmd, sample}, form...)
					}
					out, stderr, code := runCLI(t, args...)
					lines := strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") + 1
					if code != 2 || lines != 1 || !strings.Contains(stderr, "--"+f.name+" ") || !strings.Contains(stderr, f.errText) || out != "" {
						t.Errorf("%q: exit %d, %d lines %q, stdout %.80q; want exit 2, one line naming --%s and %q", args, code, lines, stderr, out, f.name, f.errText)
					}
				}
			}
		}
		for _, v := range f.good {
			cmd := f.cmds[0]
			args := []string{cmd, "--" + f.name, v}
			if cmd == "read" || f.name == "format" {
				args = []string{"read", "--format", "json", sample, "--" + f.name, v}
				if f.name == "format" {
					args = []string{"read", sample, "--" + f.name, v}
				}
				args = append(args, "--flow.max-flows", "65536")
				if f.name == "flow.max-flows" {
					args = args[:len(args)-2]
				}
			}
			if f.name == "geo.cache-size" || f.name == "metrics.series-limit" {
				args = []string{"lookup", "--" + f.name, v, "192.0.2.1"}
			}
			_, stderr, code := runCLI(t, args...)
			if code != 0 {
				t.Errorf("%q: exit %d %s; want accepted", args, code, stderr)
			}
		}
	}
	// Limits that depend on the number of workers.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"read", "--workers", "4", "--flow.max-flows", "63", sample}, "--flow.max-flows 63: at least 16 per worker, 64 with 4 workers"},
		{[]string{"read", "--workers", "8", "--report.max-endpoints", "7", sample}, "--report.max-endpoints 7: at least one per worker, 8 with 8 workers"},
		{[]string{"run", "--capture.block-size", "268435456", "--capture.num-blocks", "17", "--capture.interface", "lo"}, "a ring of at most 4294967296 bytes"},
		{[]string{"run", "--capture.block-size", "6000", "--capture.interface", "lo"}, "multiple of the page size"},
		{[]string{"read", ""}, "an empty capture file name"},
		{[]string{"run", "--capture.file", ""}, "an empty capture file name"},
	} {
		out, stderr, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || out != "" {
			t.Errorf("%q: exit %d %q; want exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
	// A flag value that merely looks negative is still a flag where it
	// must be: a bool flag is not given a value.
	if _, stderr, code := runCLI(t, "read", "--metrics.asn-label", "-3", sample); code != 2 || !strings.Contains(stderr, "-3") {
		t.Errorf("bool flag then -3: exit %d %q", code, stderr)
	}
}

// TestVersion: a binary from a plain go build (no -ldflags) reports the
// module version and VCS revision that go version -m reads from it; a
// version stamped with -ldflags stays.
func TestVersion(t *testing.T) {
	bin := binary(t)
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var modVersion, revision string
	sc := bufio.NewScanner(bytes.NewReader(meta))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/borderwatch/borderwatch" {
			modVersion = f[2]
		}
		if len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if modVersion == "" {
		t.Fatalf("go version -m shows no module version:\n%s", meta)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	first := strings.SplitN(string(out), "\n", 2)[0]
	if !strings.HasPrefix(first, "borderwatch, version "+modVersion+" (") {
		t.Errorf("--version: %q, module version %q", first, modVersion)
	}
	if revision != "" && !strings.Contains(first, "revision: "+revision) {
		t.Errorf("--version: %q, revision %q", first, revision)
	}

	stamped := filepath.Join(t.TempDir(), "borderwatch")
	if o, err := exec.Command("go", "build", "-o", stamped, "-ldflags", "-X github.com/prometheus/common/version.Version=1.2.3", ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, o)
	}
	if out, _ := exec.Command(stamped, "--version").Output(); !strings.HasPrefix(string(out), "borderwatch, version 1.2.3 (") {
		t.Errorf("stamped --version: %q", out)
	}

	for _, c := range []struct {
		bi        debug.BuildInfo
		ver, date string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0", ""},
		{debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201230054-2442820cad09+dirty"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "2442820cad09f1df3688367b7a75c0847247fdd5"}, {Key: "vcs.time", Value: "2026-12-01T23:00:54Z"}}}, "v0.0.0-20261201230054-2442820cad09+dirty", "2026-12-01T23:00:54Z"},
		{debug.BuildInfo{}, "(devel)", ""},
	} {
		if v, d := buildVersion(&c.bi); v != c.ver || d != c.date {
			t.Errorf("buildVersion(%v) = %q, %q; want %q, %q", c.bi.Main.Version, v, d, c.ver, c.date)
		}
	}
}
