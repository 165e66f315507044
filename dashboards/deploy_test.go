package dashboards

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"go.yaml.in/yaml/v3"
)

const prometheusRulePath = "../deploy/kubernetes/prometheusrule.yaml"

// prometheusRule wraps the groups of every rules/*.yml file (in name order)
// in a prometheus-operator PrometheusRule.
func prometheusRule() ([]byte, error) {
	paths, err := filepath.Glob("rules/*.yml")
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no rule files in rules/: %v", err)
	}
	slices.Sort(paths)
	var groups []any
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f struct{ Groups []any }
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		groups = append(groups, f.Groups...)
	}
	spec := map[string]any{"groups": groups}
	doc := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "borderwatch", "labels": map[string]any{"app.kubernetes.io/name": "borderwatch"}},
		"spec":       spec,
	}
	var out bytes.Buffer
	out.WriteString("# Generated from dashboards/rules/*.yml by `go test ./dashboards -run PrometheusRule -update`; do not edit.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// TestPrometheusRuleInSync: the Kubernetes PrometheusRule carries exactly
// the rules of the rule file.
func TestPrometheusRuleInSync(t *testing.T) {
	want, err := prometheusRule()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(prometheusRulePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is out of date (%v): run go test ./dashboards -update", prometheusRulePath, err)
	}
}

// composeFile is docker-compose.yml, reduced to what is checked.
type composeFile struct {
	Services map[string]struct {
		Image       string
		NetworkMode string   `yaml:"network_mode"`
		CapAdd      []string `yaml:"cap_add"`
		CapDrop     []string `yaml:"cap_drop"`
		Command     []string
		Ports       []string
		Volumes     []string
	}
}

const composeDir = "../deploy/compose"

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestComposeStack: the compose stack is wired together: every file it
// mounts exists, borderwatch runs on the host network with NET_RAW only,
// Prometheus scrapes borderwatch's port, loads every rule file (promtool
// check config on the same configuration) and sends to the Alertmanager
// service, Grafana's datasource points at the Prometheus service with the
// uid the dashboards' ${datasource} defaults to, and its dashboard provider
// reads the directory the dashboards are mounted at.
func TestComposeStack(t *testing.T) {
	var c composeFile
	readYAML(t, filepath.Join(composeDir, "docker-compose.yml"), &c)
	for _, s := range []string{"borderwatch", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("service %s missing", s)
		}
	}
	// mounts maps a container path to the host path, per service.
	mounts := map[string]map[string]string{}
	for name, s := range c.Services {
		mounts[name] = map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
				continue // a named volume
			}
			host := filepath.Join(composeDir, parts[0])
			if _, err := os.Stat(host); err != nil {
				t.Errorf("service %s mounts %s: %v", name, parts[0], err)
			}
			mounts[name][parts[1]] = host
		}
	}

	bw := c.Services["borderwatch"]
	if bw.NetworkMode != "host" || !slices.Equal(bw.CapAdd, []string{"NET_RAW"}) || !slices.Equal(bw.CapDrop, []string{"ALL"}) {
		t.Errorf("borderwatch: network_mode %q, cap_add %v, cap_drop %v; want host, [NET_RAW], [ALL]", bw.NetworkMode, bw.CapAdd, bw.CapDrop)
	}
	var port string
	for _, a := range bw.Command {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			_, port, _ = net.SplitHostPort(v)
		}
	}

	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
			}
		}
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	promCfg := filepath.Join(composeDir, "prometheus.yml")
	readYAML(t, promCfg, &prom)
	if len(prom.ScrapeConfigs) == 0 || !strings.HasPrefix(prom.ScrapeConfigs[0].JobName, "borderwatch") ||
		prom.ScrapeConfigs[0].StaticConfigs[0].Targets[0] != "host.docker.internal:"+port {
		t.Errorf("Prometheus does not scrape borderwatch's port %q (job names must match up{job=~\"borderwatch.*\"}): %+v", port, prom.ScrapeConfigs)
	}
	if len(prom.Alerting.Alertmanagers) == 0 || prom.Alerting.Alertmanagers[0].StaticConfigs[0].Targets[0] != "alertmanager:9093" {
		t.Errorf("Prometheus does not send to the alertmanager service: %+v", prom.Alerting)
	}
	// The rule files Prometheus sees in the container are exactly rules/*.yml.
	var hostRules []string
	for _, g := range prom.RuleFiles {
		for target, host := range mounts["prometheus"] {
			if rel, ok := strings.CutPrefix(g, target+"/"); ok {
				m, _ := filepath.Glob(filepath.Join(host, rel))
				hostRules = append(hostRules, m...)
			}
		}
	}
	want, _ := filepath.Glob("../dashboards/rules/*.yml")
	slices.Sort(hostRules)
	if diff := cmp.Diff(hostRules, want); diff != "" || len(want) == 0 {
		t.Errorf("rule files loaded in the container (-got +want):\n%s", diff)
	}
	if bin, err := exec.LookPath("promtool"); err == nil {
		// The same configuration with the host's paths.
		b, _ := os.ReadFile(promCfg)
		abs, _ := filepath.Abs("rules")
		cfg := filepath.Join(t.TempDir(), "prometheus.yml")
		os.WriteFile(cfg, []byte(strings.Replace(string(b), "/etc/prometheus/rules", abs, 1)), 0o644)
		if out, err := exec.Command(bin, "check", "config", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "rules found") {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	}

	var am struct {
		Route     struct{ Receiver string }
		Receivers []struct{ Name string }
	}
	readYAML(t, filepath.Join(composeDir, "alertmanager.yml"), &am)
	if !slices.ContainsFunc(am.Receivers, func(r struct{ Name string }) bool { return r.Name == am.Route.Receiver }) {
		t.Errorf("alertmanager route receiver %q is not defined", am.Route.Receiver)
	}

	var ds struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}
	readYAML(t, filepath.Join(composeDir, "grafana/provisioning/datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("Grafana datasource %+v, want one prometheus datasource at http://prometheus:9090", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(composeDir, "grafana/provisioning/dashboards/borderwatch.yml"), &dp)
	if len(dp.Providers) != 1 {
		t.Fatalf("Grafana dashboard providers %+v", dp.Providers)
	}
	host, ok := mounts["grafana"][dp.Providers[0].Options.Path]
	if !ok {
		t.Fatalf("Grafana reads dashboards from %s, which nothing is mounted at", dp.Providers[0].Options.Path)
	}
	got, _ := filepath.Glob(filepath.Join(host, "*.json"))
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	if diff := cmp.Diff(got, []string{"borderwatch-health.json", "borderwatch-overview.json"}); diff != "" {
		t.Errorf("dashboards provisioned (-got +want):\n%s", diff)
	}
}

// TestComposeBorderwatchConfig: the example configuration of the compose
// stack passes borderwatch's own check.
func TestComposeBorderwatchConfig(t *testing.T) {
	bin, err := buildDaemon(t)
	if err != nil {
		t.Skipf("borderwatch cannot be built: %v", err)
	}
	out, err := exec.Command(bin, "run", "--config.file", filepath.Join(composeDir, "borderwatch.yml"), "--config.check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("borderwatch --config.check: %v\n%s", err, out)
	}
}
