package dashboards

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// TestRemoteWrite: many instances, one store. Two borderwatch instances
// are scraped by a Prometheus in agent mode (the site's collector), which
// remote-writes into a central Prometheus with the remote-write receiver
// on; the central one evaluates the rules. Every dashboard query and every
// recording rule returns data there, for both instances and summed across
// them, per instance the central store's traffic and packet totals equal
// the instance's own /metrics, and the agent's external labels arrive. The
// agent and the central Prometheus run the configuration files users run,
// those of deploy/compose-remote-write, with only the addresses and
// intervals changed (shippedAgentConfig, shippedCentralConfig).
func TestRemoteWrite(t *testing.T) {
	promBin := prometheusBin(t)
	dir := t.TempDir()
	d, site, total := twoInstances(t, dir)
	central := startPrometheus(t, promBin, dir, "central", shippedCentralConfig(t),
		"--storage.tsdb.path", filepath.Join(dir, "central"), "--web.enable-remote-write-receiver")
	agentCfg, externalLabels := shippedAgentConfig(t, []string{d.addr, site.addr}, central+"/api/v1/write")
	startPrometheus(t, promBin, dir, "agent", agentCfg, agentFlag(t, promBin), "--storage.agent.path", filepath.Join(dir, "agent"))

	// Both instances' whole reads have arrived at the central store (in
	// several growing samples), and the rules have run on them.
	deadline := time.Now().Add(150 * time.Second)
	for {
		r, err := tryQuery(central, fmt.Sprintf(`count_over_time(borderwatch_packets_read_total[1m]) >= 8 and borderwatch_packets_read_total >= %d`, total))
		rec, _ := tryQuery(central, `borderwatch:egress_abroad:ratio_rate5m`)
		if err == nil && len(r.Data.Result) == 2 && len(rec.Data.Result) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the central store never received both instances' reads")
		}
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second) // the last scrapes, after the files ended

	for where, tg := range panelQueries(t) {
		expr := dashboardVars.Replace(tg.Expr)
		if r := query(t, central, expr); r.Status != "success" || len(r.Data.Result) == 0 {
			t.Errorf("%s on the central store: %s %s", where, r.Error, expr)
		}
	}
	for _, rule := range allRules(t) {
		if rule.Record != "" {
			if r := query(t, central, "max_over_time("+rule.Record+"[5m])"); len(r.Data.Result) == 0 {
				t.Errorf("recording rule %s returns no data on the central store", rule.Record)
			}
		}
	}
	// Per instance, and summed: the central totals are the instances' own.
	var sumOwn float64
	for _, inst := range []*daemon{d, site} {
		own := ownTotals(t, inst)
		for metric, v := range own {
			r := query(t, central, `sum(`+metric+`{instance="`+inst.addr+`"})`)
			if got := sampleValue(t, r); got != v {
				t.Errorf("%s %s: central store %v, the instance's /metrics %v", inst.addr, metric, got, v)
			}
		}
		sumOwn += own["borderwatch_traffic_bytes_total"]
	}
	if got := sampleValue(t, query(t, central, `sum(borderwatch_traffic_bytes_total)`)); got != sumOwn || got == 0 {
		t.Errorf("bytes summed across instances on the central store %v, the instances' %v", got, sumOwn)
	}
	// The agent's external labels (site) are on every instance's series.
	for name, value := range externalLabels {
		q := fmt.Sprintf(`count(borderwatch_build_info{%s=%q})`, name, value)
		if got := sampleValue(t, query(t, central, q)); got != 2 {
			t.Errorf("%s: %v series, want one per instance", q, got)
		}
	}
}

// remoteWriteDir holds the compose example of many instances and one store;
// TestRemoteWrite runs its two Prometheus configurations.
const remoteWriteDir = "../deploy/compose-remote-write"

// yamlMap returns m[key] as a map, or fails.
func yamlMap(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, got %#v", key, m[key])
	}
	return v
}

// yamlOne returns m[key] as a list of exactly one mapping, or fails.
func yamlOne(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	l, ok := m[key].([]any)
	if !ok || len(l) != 1 {
		t.Fatalf("%s: want a list of one, got %#v", key, m[key])
	}
	v, ok := l[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, got %#v", key, l[0])
	}
	return v
}

func marshalYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shippedAgentConfig returns deploy/compose-remote-write/prometheus-agent.yml
// with only what a test run must change: the scrape interval (1s), the
// static targets (the test's daemons instead of the compose services), the
// remote-write URL (the test's central Prometheus) and its queue's send
// deadline (1s). Everything else, external labels and job name included,
// is the shipped file's. It also returns the external labels.
func shippedAgentConfig(t *testing.T, targets []string, writeURL string) (string, map[string]string) {
	t.Helper()
	var cfg map[string]any
	readYAML(t, filepath.Join(remoteWriteDir, "prometheus-agent.yml"), &cfg)
	global := yamlMap(t, cfg, "global")
	global["scrape_interval"] = "1s"
	labels := map[string]string{}
	if el, ok := global["external_labels"].(map[string]any); ok {
		for k, v := range el {
			labels[k] = fmt.Sprint(v)
		}
	}
	sc := yamlOne(t, yamlOne(t, cfg, "scrape_configs"), "static_configs")
	if _, ok := sc["targets"]; !ok {
		t.Fatalf("the agent's static_configs have no targets: %v", sc)
	}
	sc["targets"] = targets
	rw := yamlOne(t, cfg, "remote_write")
	if _, ok := rw["url"]; !ok {
		t.Fatalf("the agent's remote_write has no url: %v", rw)
	}
	rw["url"] = writeURL
	qc, _ := rw["queue_config"].(map[string]any)
	if qc == nil {
		qc = map[string]any{}
	}
	qc["batch_send_deadline"] = "1s"
	rw["queue_config"] = qc
	return marshalYAML(t, cfg), labels
}

// shippedCentralConfig returns deploy/compose-remote-write/prometheus.yml
// with only what a test run must change: the evaluation interval (1s), the
// container's rule directory replaced by dashboards/rules, and no alerting
// section (no Alertmanager runs in the test).
func shippedCentralConfig(t *testing.T) string {
	t.Helper()
	var cfg map[string]any
	readYAML(t, filepath.Join(remoteWriteDir, "prometheus.yml"), &cfg)
	yamlMap(t, cfg, "global")["evaluation_interval"] = "1s"
	rules, _ := filepath.Abs("rules")
	files, _ := cfg["rule_files"].([]any)
	if len(files) == 0 {
		t.Fatal("the central configuration loads no rule files")
	}
	for i, f := range files {
		s, _ := f.(string)
		rel, ok := strings.CutPrefix(s, containerRules+"/")
		if !ok {
			t.Fatalf("rule file %q is not under %s", s, containerRules)
		}
		files[i] = rules + "/" + rel
	}
	delete(cfg, "alerting")
	return marshalYAML(t, cfg)
}

// containerRules is where the compose stacks mount dashboards/rules.
const containerRules = "/etc/prometheus/rules"

// agentFlag is the flag that starts Prometheus in agent mode: --agent
// since Prometheus 3, --enable-feature=agent before (Debian 12 has 2.42).
func agentFlag(t *testing.T, promBin string) string {
	out, _ := exec.Command(promBin, "--help").CombinedOutput()
	if regexp.MustCompile(`(?m)^\s+--agent\b`).Match(out) {
		return "--agent"
	}
	return "--enable-feature=agent"
}

// ownTotals scrapes a daemon and sums its traffic and packet counters.
func ownTotals(t *testing.T, d *daemon) map[string]float64 {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(d.scrape(t)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, name := range []string{"borderwatch_traffic_bytes_total", "borderwatch_traffic_packets_total", "borderwatch_packets_read_total", "borderwatch_internal_bytes_total"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("%s: no %s", d.addr, name)
		}
		for _, m := range f.Metric {
			out[name] += m.GetCounter().GetValue()
		}
	}
	return out
}

// sampleValue returns the value of a query's single sample.
func sampleValue(t *testing.T, r promResult) float64 {
	t.Helper()
	if len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
		t.Fatalf("want one sample: %+v", r)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("sample %q: %v", s, err)
	}
	return v
}
