package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the dashboard JSON files from dashboards.go")

// TestDashboardsUpToDate: the committed JSON is exactly what dashboards.go
// generates (normalised: ${datasource}, no id/version/iteration, sorted keys).
func TestDashboardsUpToDate(t *testing.T) {
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range ds {
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run go test ./dashboards -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from dashboards.go: run go test ./dashboards -update", name)
		}
		var d map[string]any
		if err := json.Unmarshal(got, &d); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "version", "iteration"} {
			if _, ok := d[k]; ok {
				t.Errorf("%s has volatile field %q", name, k)
			}
		}
		if strings.Count(string(got), `"uid": "${datasource}"`) < 2 || regexp.MustCompile(`"uid": "(?:[^$"][^"]*)",\s*"type": "prometheus"`).Match(got) {
			t.Errorf("%s: every datasource must be ${datasource}", name)
		}
	}
}

// panelQueries returns every query of every dashboard, with its panel.
func panelQueries(t *testing.T) map[string]string {
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	q := map[string]string{}
	for name, b := range ds {
		var d struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for i, tg := range p.Targets {
				q[fmt.Sprintf("%s / %s #%d", name, p.Title, i)] = tg.Expr
			}
		}
	}
	return q
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr string
		}
	}
}

func readRules(t *testing.T) ruleFile {
	b, err := os.ReadFile("rules/borderwatch.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

var metricRE = regexp.MustCompile(`borderwatch[_:][a-zA-Z0-9_:]*`)

// liveOnly are metrics exported only while capturing from interfaces
// (the capture package's live collector); rules may use them.
var liveOnly = map[string]bool{"borderwatch_capture_kernel_drops_total": true, "borderwatch_capture_queue_drops_total": true}

// TestQueriesUseExportedMetrics: every metric a dashboard panel or a rule
// uses is one borderwatch exports (taken from a running daemon's /metrics)
// or a recording rule of rules/.
func TestQueriesUseExportedMetrics(t *testing.T) {
	d := startDaemon(t, "--capture.file", "../testdata/sample.pcap.gz")
	exported := map[string]bool{}
	for _, line := range strings.Split(d.scrape(t), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			exported[strings.Fields(line)[2]] = true
		}
	}
	recorded := map[string]bool{}
	rf := readRules(t)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	check := func(where, expr string, allowLive bool) {
		for _, m := range metricRE.FindAllString(expr, -1) {
			if !exported[m] && !recorded[m] && !(allowLive && liveOnly[m]) {
				t.Errorf("%s uses %s, which borderwatch does not export", where, m)
			}
		}
	}
	for where, expr := range panelQueries(t) {
		check(where, expr, false)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			check("rule "+r.Record+r.Alert, r.Expr, true)
		}
	}
}

// TestRulesPromtool: the rules pass promtool check and every unit test
// (each alert fires in one case and stays silent in another).
func TestRulesPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (apt-get install prometheus); CI installs it")
	}
	for _, args := range [][]string{{"check", "rules", "borderwatch.rules.yml"}, {"test", "rules", "tests/alerts.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = "rules"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
	// Every alert has a firing test case.
	tests, _ := os.ReadFile("rules/tests/alerts.yml")
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !strings.Contains(string(tests), "alertname: "+r.Alert) {
				t.Errorf("alert %s has no promtool test", r.Alert)
			}
		}
	}
}

type daemon struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon builds borderwatch and runs it with args until the test ends.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "borderwatch")
	build := exec.Command("go", "build", "-o", bin, "../cmd/borderwatch")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	d := &daemon{addr: freeAddr(t), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--web.listen-address", d.addr, "--log.level", "warn"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-d.done:
			if err != nil && ctx.Err() == nil {
				t.Errorf("borderwatch: %v\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("borderwatch did not stop")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("borderwatch not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) scrape(t *testing.T) string {
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// promResult is a /api/v1/query answer.
type promResult struct {
	Status string
	Data   struct {
		Result []struct {
			Metric map[string]string
			Value  []any
		}
	}
	Error string
}

func query(t *testing.T, base, q string) promResult {
	r, err := tryQuery(base, q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tryQuery(base, q string) (promResult, error) {
	var r promResult
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

func labelValues(r promResult, l string) []string {
	set := map[string]bool{}
	for _, s := range r.Data.Result {
		set[s.Metric[l]] = true
	}
	var out []string
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
