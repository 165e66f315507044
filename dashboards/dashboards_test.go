package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the dashboard JSON files from dashboards.go")

// TestDashboardsUpToDate: the committed JSON is exactly what dashboards.go
// generates.
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
	}
}

// committedDashboards reads every dashboard JSON file of the directory (not
// only those dashboards.go generates, so a hand-added file is checked too).
func committedDashboards(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if norm, err := normalJSON(d); err != nil || !bytes.Equal(norm, b) {
			t.Errorf("%s is not normalised (sorted keys, 2-space indent, no HTML escapes): %v", f, err)
		}
		out[f] = d
	}
	return out
}

// TestDashboardsNormalised: no volatile fields, a stable uid, schemaVersion
// 39, every datasource reference is the ${datasource} variable, and the
// template variables the dashboards promise exist.
func TestDashboardsNormalised(t *testing.T) {
	uids := map[string]string{}
	for name, d := range committedDashboards(t) {
		for _, k := range []string{"id", "version", "iteration"} {
			if _, ok := d[k]; ok {
				t.Errorf("%s has volatile field %q", name, k)
			}
		}
		uid, _ := d["uid"].(string)
		if uid == "" || uid != strings.TrimSuffix(name, ".json") {
			t.Errorf("%s: uid %q, want the file name without .json", name, uid)
		}
		if other, ok := uids[uid]; ok {
			t.Errorf("%s and %s share uid %q", name, other, uid)
		}
		uids[uid] = name
		if v, _ := d["schemaVersion"].(float64); v != 39 {
			t.Errorf("%s: schemaVersion %v, want 39", name, d["schemaVersion"])
		}
		refs := 0
		walkJSON(d, "", func(path string, m map[string]any) {
			ds, ok := m["datasource"]
			if !ok {
				return
			}
			dm, isMap := ds.(map[string]any)
			if !isMap {
				t.Errorf("%s %s: datasource %v is not a {type, uid} reference", name, path, ds)
				return
			}
			refs++
			if dm["uid"] != "${datasource}" || dm["type"] != "prometheus" {
				t.Errorf("%s %s: datasource %v, want {type: prometheus, uid: ${datasource}}", name, path, dm)
			}
		})
		if refs == 0 {
			t.Errorf("%s: no datasource references", name)
		}
		var vars []string
		for _, v := range d["templating"].(map[string]any)["list"].([]any) {
			vm := v.(map[string]any)
			vars = append(vars, vm["name"].(string))
			if vm["name"] == "datasource" && (vm["type"] != "datasource" || vm["query"] != "prometheus") {
				t.Errorf("%s: datasource variable %v", name, vm)
			}
		}
		want := []string{"datasource", "instance"}
		if name == "borderwatch-overview.json" {
			want = []string{"datasource", "instance", "client_group", "app"}
		}
		if diff := cmp.Diff(vars, want); diff != "" {
			t.Errorf("%s template variables (-got +want):\n%s", name, diff)
		}
	}
}

// walkJSON calls f for every object in v with its path.
func walkJSON(v any, path string, f func(string, map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(path, v)
		for k, c := range v {
			walkJSON(c, path+"."+k, f)
		}
	case []any:
		for i, c := range v {
			walkJSON(c, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// dashTarget is one query of one panel.
type dashTarget struct {
	Expr, LegendFormat, Format string
	Instant                    bool
}

type dashPanel struct {
	ID      int
	Title   string
	Type    string
	Targets []dashTarget
	Options struct {
		Layers []struct {
			Location struct{ Mode, Lookup, Gazetteer string }
			Config   struct {
				Style struct {
					Size struct{ Field string }
				}
			}
		}
	}
}

type dashboard struct {
	Panels     []dashPanel
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
}

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	out := map[string]dashboard{}
	for name := range committedDashboards(t) {
		b, _ := os.ReadFile(name)
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		out[name] = d
	}
	return out
}

// dashboardVars replaces Grafana's variables as a user with "All" selected
// would see them (the same replacement the end-to-end test queries with).
var dashboardVars = strings.NewReplacer(`$instance`, `.*`, `$client_group`, `.*`, `$app`, `.*`,
	`$__rate_interval`, `30s`, `$__range`, `10m`, `$__interval`, `15s`)

// panelQueries returns every query of every dashboard, with its panel.
func panelQueries(t *testing.T) map[string]dashTarget {
	q := map[string]dashTarget{}
	for name, d := range readDashboards(t) {
		for _, p := range d.Panels {
			for i, tg := range p.Targets {
				q[fmt.Sprintf("%s / %s #%d", name, p.Title, i)] = tg
			}
		}
	}
	return q
}

type rule struct {
	Record, Alert, Expr, For string
	Labels, Annotations      map[string]string
}

type ruleFile struct {
	Groups []struct {
		Name     string
		Interval string
		Rules    []rule
	}
}

// ruleFiles returns the rule files of rules/, by path.
func ruleFiles(t *testing.T) map[string]ruleFile {
	t.Helper()
	paths, err := filepath.Glob("rules/*.yml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	out := map[string]ruleFile{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = rf
	}
	return out
}

// allRules returns every rule in file order.
func allRules(t *testing.T) []rule {
	var out []rule
	files := ruleFiles(t)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		for _, g := range files[p].Groups {
			out = append(out, g.Rules...)
		}
	}
	return out
}

// exportedSchema scrapes a real daemon and returns every metric it exports
// with the label names of its series (plus instance and job, which
// Prometheus adds). Metrics of live capture (not exported when reading
// files) are listed without labels.
func exportedSchema(t *testing.T) (schema, map[string]bool) {
	t.Helper()
	d := startDaemon(t, "--capture.file", "../testdata/sample.pcap.gz")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(d.scrape(t)))
	if err != nil {
		t.Fatal(err)
	}
	sc := schema{}
	exported := map[string]bool{}
	for name, f := range fams {
		exported[name] = true
		if len(f.Metric) == 0 {
			continue
		}
		ls := setOf("instance", "job")
		for _, m := range f.Metric {
			for _, l := range m.Label {
				ls[l.GetName()] = true
			}
		}
		sc[name] = ls
		if f.GetType() == dto.MetricType_HISTOGRAM {
			// Queried as its series: _bucket (with le), _sum and _count.
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				s := setOf()
				for l := range ls {
					s[l] = true
				}
				if suffix == "_bucket" {
					s["le"] = true
				}
				sc[name+suffix], exported[name+suffix] = s, true
			}
		}
	}
	return sc, exported
}

// liveOnly are metrics exported only while capturing from interfaces
// (the capture package's live collector); rules may use them.
var liveOnly = map[string]bool{"borderwatch_capture_kernel_drops_total": true, "borderwatch_capture_queue_drops_total": true,
	"borderwatch_capture_interface_up": true, "borderwatch_capture_interface_outages_total": true, "borderwatch_capture_kernel_freezes_total": true}

var legendRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// TestQueriesUseExportedMetrics: every dashboard query and every rule
// parses as PromQL, selects only metrics borderwatch exports (taken from a
// running daemon's /metrics) or recording rules of rules/, and uses only
// label names those series have: in matchers, by/without, on/ignoring,
// legends, variables and the geomap's country lookup.
func TestQueriesUseExportedMetrics(t *testing.T) {
	sc, exported := exportedSchema(t)
	for m := range liveOnly {
		exported[m] = true
	}
	// Recording rules, in order: each may use the ones before it.
	recorded := map[string]bool{}
	for _, r := range allRules(t) {
		out, names, problems, err := sc.checkExpr(r.Expr)
		where := "rule " + r.Record + r.Alert
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, p := range problems {
			t.Errorf("%s: %s", where, p)
		}
		for _, n := range names {
			if !exported[n] && !recorded[n] && n != "up" {
				t.Errorf("%s uses %s, which borderwatch does not export", where, n)
			}
		}
		if r.Record != "" {
			if out == nil {
				t.Errorf("%s: cannot tell its labels", where)
			}
			recorded[r.Record] = true
			sc[r.Record] = out
		}
	}
	for where, tg := range panelQueries(t) {
		out, names, problems, err := sc.checkExpr(dashboardVars.Replace(tg.Expr))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, p := range problems {
			t.Errorf("%s: %s", where, p)
		}
		for _, n := range names {
			if !exported[n] && !recorded[n] {
				t.Errorf("%s uses %s, which borderwatch does not export", where, n)
			}
			if liveOnly[n] {
				t.Errorf("%s uses %s, which is empty when reading files: the panel would show no data", where, n)
			}
		}
		for _, m := range legendRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
			if out != nil && !out[m[1]] {
				t.Errorf("%s: legend uses {{%s}}, the query returns only {%s}", where, m[1], out)
			}
		}
	}
	for name, d := range readDashboards(t) {
		for _, p := range d.Panels {
			if p.Type != "geomap" {
				continue
			}
			if len(p.Targets) != 1 || len(p.Options.Layers) != 1 {
				t.Errorf("%s / %s: want one target and one layer", name, p.Title)
				continue
			}
			tg, l := p.Targets[0], p.Options.Layers[0]
			out, _, _, _ := sc.checkExpr(dashboardVars.Replace(tg.Expr))
			if l.Location.Mode != "lookup" || l.Location.Gazetteer != "public/gazetteer/countries.json" || !out["country"] || l.Location.Lookup != "country" {
				t.Errorf("%s / %s: location %+v must look the query's country label {%s} up in the countries gazetteer", name, p.Title, l.Location, out)
			}
			if !tg.Instant || tg.Format != "table" || l.Config.Style.Size.Field != "Value" {
				t.Errorf("%s / %s: want an instant table query whose Value column sizes the markers, got %+v, size %q", name, p.Title, tg, l.Config.Style.Size.Field)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, _ := v.Query.(map[string]any)["query"].(string)
			m := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`).FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
				continue
			}
			out, names, problems, err := sc.checkExpr(dashboardVars.Replace(m[1]))
			if err != nil || len(problems) > 0 || !out[m[2]] || len(names) != 1 || !exported[names[0]] {
				t.Errorf("%s variable %s: %q: %v %v, labels {%s}", name, v.Name, q, err, problems, out)
			}
		}
	}
}

// TestSchemaChecker: the label checker finds the mistakes it is there for
// (a test of the test).
func TestSchemaChecker(t *testing.T) {
	sc := schema{"m": setOf("instance", "job", "app", "country")}
	for _, tc := range []struct {
		expr     string
		out      string
		problems int
	}{
		{`sum by (app) (rate(m{country="US"}[5m]))`, "app", 0},
		{`sum by (ap) (rate(m[5m]))`, "ap", 1},
		{`rate(m{countri="US"}[5m])`, "app,country,instance,job", 1},
		{`topk(3, sum by (app, country) (m))`, "app,country", 0},
		{`sum by (instance) (m) / on (instance) sum by (instance, app) (m)`, "instance", 0},
		{`sum by (instance) (m) / on (job) sum by (instance, app) (m)`, "job", 2},
		{`sum(m) / sum(m)`, "", 0},
		{`m > 0 or sum by (app) (m)`, "app,country,instance,job", 0},
		{`(time() - max by (country) (m)) / 86400`, "country", 0},
		{`unknown_metric{anything="x"}`, "<nil>", 0},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			out, _, problems, err := sc.checkExpr(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := "<nil>"
			if out != nil {
				got = out.String()
			}
			if got != tc.out || len(problems) != tc.problems {
				t.Errorf("labels {%s} problems %v, want {%s} and %d problems", got, problems, tc.out, tc.problems)
			}
		})
	}
	if _, _, _, err := sc.checkExpr(`sum(rate(m[$__rate_interval]))`); err == nil {
		t.Error("an unreplaced Grafana variable parsed")
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

// buildDaemon returns a borderwatch binary: $BORDERWATCH_BIN if set (CI
// builds it once), else ./cmd/borderwatch built into a temporary directory.
func buildDaemon(t *testing.T) (string, error) {
	t.Helper()
	if bin := os.Getenv("BORDERWATCH_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(t.TempDir(), "borderwatch")
	build := exec.Command("go", "build", "-o", bin, "../cmd/borderwatch")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/borderwatch: %w\n%s", err, out)
	}
	return bin, nil
}

// startDaemon builds borderwatch and runs it with args until the test ends.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	bin, err := buildDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	return runDaemon(t, bin, args...)
}

// runDaemon runs bin with args until the test ends and waits until it is
// ready.
func runDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
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
