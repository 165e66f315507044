package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func borderwatch(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = runContext(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return mfs
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func sum(mf *dto.MetricFamily, filter func(*dto.Metric) bool) float64 {
	var s float64
	if mf == nil {
		return 0
	}
	for _, m := range mf.Metric {
		if filter == nil || filter(m) {
			if m.Counter != nil {
				s += m.Counter.GetValue()
			} else if m.Gauge != nil {
				s += m.Gauge.GetValue()
			}
		}
	}
	return s
}

// TestReadPrometheusTotals: on a genpcap capture, `read --format
// prometheus` accounts for every packet, and the sums over country and
// over region equal the generator's own totals per direction.
func TestReadPrometheusTotals(t *testing.T) {
	root := testenv.SharedDir(t)
	dir := t.TempDir()
	pcap, truthPath := filepath.Join(dir, "g.pcap"), filepath.Join(dir, "g.json")
	cmd := exec.Command("go", "run", ".", "-o", pcap, "-packets", "150000", "-ranges", "../server-prefixes.txt", "-truth", truthPath)
	cmd.Dir = filepath.Join(root, "bench", "genpcap")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genpcap: %v %s", err, out)
	}
	var truth []map[string]any
	b, _ := os.ReadFile(truthPath)
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, r := range truth {
		want["egress bytes"] += r["egress_bytes"].(float64)
		want["ingress bytes"] += r["ingress_bytes"].(float64)
		want["egress packets"] += r["egress_packets"].(float64)
		want["ingress packets"] += r["ingress_packets"].(float64)
	}
	out, stderr, code := borderwatch(t, "read", "--format", "prometheus", "--geo.home-region", "EU", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mfs := parseMetrics(t, out)
	bytesMF, pktsMF := mfs["borderwatch_traffic_bytes_total"], mfs["borderwatch_traffic_packets_total"]
	for _, dir := range []string{"egress", "ingress"} {
		isDir := func(m *dto.Metric) bool { return label(m, "direction") == dir }
		gotB, gotP := sum(bytesMF, isDir), sum(pktsMF, isDir)
		if gotB != want[dir+" bytes"] || gotP != want[dir+" packets"] {
			t.Errorf("%s: %v bytes %v packets, truth %v and %v", dir, gotB, gotP, want[dir+" bytes"], want[dir+" packets"])
		}
		// Sum by country, then by region: each grouping adds up to the total.
		for _, key := range []string{"country", "region", "provider", "app"} {
			groups := map[string]float64{}
			for _, m := range bytesMF.Metric {
				if isDir(m) {
					groups[label(m, key)] += m.Counter.GetValue()
				}
			}
			var s float64
			for _, v := range groups {
				s += v
			}
			if s != gotB {
				t.Errorf("%s: sum over %s = %v, total %v", dir, key, s, gotB)
			}
			if key == "region" && (groups["home"] == 0 || groups["abroad"] == 0) {
				t.Errorf("%s: region split %v: expected both home and abroad", dir, groups)
			}
		}
	}
	read := sum(mfs["borderwatch_packets_read_total"], nil)
	accounted := sum(pktsMF, nil) + sum(mfs["borderwatch_internal_packets_total"], nil) + sum(mfs["borderwatch_packets_skipped_total"], nil) + sum(mfs["borderwatch_decode_errors_total"], nil)
	if read == 0 || read != accounted {
		t.Errorf("packets read %v, accounted for %v", read, accounted)
	}
	for _, m := range bytesMF.Metric {
		for _, l := range m.Label {
			if net.ParseIP(l.GetValue()) != nil {
				t.Errorf("an address in a label: %v", m)
			}
		}
	}
	problems, err := promlint.New(strings.NewReader(out)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
	if _, err := exec.LookPath("promtool"); err == nil {
		c := exec.Command("promtool", "check", "metrics")
		c.Stdin = strings.NewReader(out)
		if o, err := c.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, o)
		}
	}
}

func TestLookup(t *testing.T) {
	out, stderr, code := borderwatch(t, "lookup", "8.8.8.8", "71.18.0.1", "10.1.2.3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(out, "\n")
	for i, want := range [][]string{{"8.8.8.8", "US", "15169", "Google"}, {"71.18.0.1", "ByteDance"}, {"10.1.2.3", "unknown", "true"}} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %q lacks %q", lines[i+1], w)
			}
		}
	}
	if _, stderr, code := borderwatch(t, "lookup", "not-an-ip"); code != 1 || !strings.Contains(stderr, "not an IP address") {
		t.Errorf("bad address: exit %d %q", code, stderr)
	}
}

func TestReadTableAndJSON(t *testing.T) {
	out, stderr, code := borderwatch(t, "read", "--geo.home-region", "EU", "../../testdata/sample.pcap.gz")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"egress leaving the home region", "by country", "by provider", "ByteDance", "by AS organisation", "Oracle Corporation", "by app", "tiktok", "top remote endpoints", "v16-webapp.tiktok.com"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q", w)
		}
	}
	out, _, code = borderwatch(t, "read", "--format", "json", "../../testdata/sample.pcap.gz")
	var r struct {
		PacketsRead uint64 `json:"packets_read"`
		Endpoints   []struct {
			Address, Name, App, Provider, Country string
		} `json:"endpoints"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.PacketsRead == 0 || len(r.Endpoints) == 0 {
		t.Fatalf("json: exit %d, %+v", code, r)
	}
	found := false
	for _, e := range r.Endpoints {
		if e.Address == "129.213.0.10" {
			found = e.Provider == "Oracle" && e.Country == "US"
		}
	}
	if !found {
		t.Errorf("Oracle Cloud US endpoint not placed: %+v", r.Endpoints)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../testdata/sample.pcap.gz")
	if err != nil {
		t.Fatal(err)
	}
	// A truncated capture: what was read is kept, the error names the
	// file, packet and offset, the exit code is 1.
	zr := mustGunzip(t, sample)
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, zr[:len(zr)/2], 0o644)
	out, stderr, code := borderwatch(t, "read", "--format", "json", cut)
	if code != 1 || !strings.Contains(stderr, "cut.pcap: packet ") || !strings.Contains(stderr, "byte offset") || !strings.Contains(out, "packets_read") {
		t.Errorf("truncated: exit %d stderr %q", code, stderr)
	}
	asnAsCountry := filepath.Join(dir, "asn.mmdb")
	writeASNDB(t, asnAsCountry)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"read", "--no-such-flag", cut}, 2, "unknown long flag"},
		{[]string{"read", filepath.Join(dir, "missing.pcap")}, 1, "missing.pcap"},
		{[]string{"lookup", "--geo.country-db", asnAsCountry, "8.8.8.8"}, 1, "given as the country database"},
		{[]string{"read", "--geo.home-region", "EU,ATLANTIS", cut}, 1, "ATLANTIS"},
		{[]string{"run"}, 2, "nothing to capture"},
		{[]string{"healthcheck", "--url", "http://" + freePort(t) + "/-/healthy"}, 1, "connection refused"},
	} {
		_, stderr, code := borderwatch(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDaemon: the daemon reads a capture while serving /metrics, the
// landing page, health, readiness and reload, and exits 0 when stopped.
func TestDaemon(t *testing.T) {
	addr := freePort(t)
	cfg := filepath.Join(t.TempDir(), "bw.yml")
	os.WriteFile(cfg, []byte("home_region: [EU]\nclient_groups:\n  - name: lab\n    prefixes: [192.168.1.0/24]\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"run", "--capture.file", "../../testdata/sample.pcap.gz", "--capture.file-rate", "3000", "--web.listen-address", addr, "--config.file", cfg, "--web.enable-lifecycle"}, io.Discard, &stderr)
	}()
	base := "http://" + addr
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/-/ready"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var prev float64
	grew := 0
	for i := 0; i < 6; i++ {
		_, body := get("/metrics")
		v := sum(parseMetrics(t, body)["borderwatch_traffic_bytes_total"], nil)
		if v > prev {
			grew++
		}
		prev = v
		time.Sleep(300 * time.Millisecond)
	}
	if grew < 2 {
		t.Errorf("counters grew in only %d of 6 scrapes", grew)
	}
	_, body := get("/metrics")
	for _, w := range []string{`client_group="lab"`, `region="abroad"`, "borderwatch_build_info", "borderwatch_geo_database_build_timestamp_seconds", "borderwatch_config_last_reload_successful 1"} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if problems, err := promlint.New(strings.NewReader(body)).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint /metrics: %v %v", err, problems)
	}
	if code, page := get("/"); code != 200 || !strings.Contains(page, "borderwatch") {
		t.Errorf("landing page: %d", code)
	}
	if code, _ := get("/-/healthy"); code != 200 {
		t.Errorf("healthy: %d", code)
	}
	if _, e, code := borderwatch(t, "healthcheck", "--url", base+"/-/healthy"); code != 0 {
		t.Errorf("healthcheck: %d %s", code, e)
	}
	// A broken config on reload keeps the running one.
	os.WriteFile(cfg, []byte("home_region: [EU]\nclient_groups:\n  - name: lab\n    prefixes: [192.168.1.0/33]\n"), 0o644)
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(b), "bw.yml") || !strings.Contains(string(b), "log") {
		t.Errorf("bad reload: %d %s (want 500, a generic message and no file name)", resp.StatusCode, b)
	}
	_, body = get("/metrics")
	if !strings.Contains(body, "borderwatch_config_last_reload_successful 0") || !strings.Contains(body, `client_group="lab"`) {
		t.Errorf("after a failed reload: %s", grepLines(body, "reload"))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
		// The reason of the failed POST reload is in the log, not in the answer.
		if !strings.Contains(stderr.String(), "reload failed") || !strings.Contains(stderr.String(), "bw.yml:4") {
			t.Errorf("failed reload not logged: %s", stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

func grepLines(s, w string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, w) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var _ = fmt.Sprint
var _ = strconv.Itoa
