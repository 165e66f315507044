package dashboards

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

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
	mounts := composeMounts(t, composeDir, c)

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
	checkRuleMounts(t, prom.RuleFiles, mounts["prometheus"])
	promtoolCheck(t, promCfg)

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

// composeMounts checks that every file or directory a compose file in dir
// mounts exists, and maps a container path to the host path, per service.
func composeMounts(t *testing.T, dir string, c composeFile) map[string]map[string]string {
	t.Helper()
	mounts := map[string]map[string]string{}
	for name, s := range c.Services {
		mounts[name] = map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
				continue // a named volume
			}
			host := filepath.Join(dir, parts[0])
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s: service %s mounts %s: %v", dir, name, parts[0], err)
			}
			mounts[name][parts[1]] = host
		}
	}
	return mounts
}

// checkRuleMounts: the rule files a Prometheus sees in its container, given
// its rule_files and its mounts, are exactly rules/*.yml.
func checkRuleMounts(t *testing.T, ruleFiles []string, mounts map[string]string) {
	t.Helper()
	var hostRules []string
	for _, g := range ruleFiles {
		for target, host := range mounts {
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
}

// promtoolCheck runs promtool check config (with args, e.g. --agent) on a
// Prometheus configuration file, its container rule directory replaced by
// dashboards/rules; a configuration with rule files must load rules.
func promtoolCheck(t *testing.T, path string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Logf("promtool not installed: %s not checked", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("rules")
	cfg := filepath.Join(t.TempDir(), filepath.Base(path))
	hasRules := strings.Contains(string(b), containerRules)
	os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), containerRules, abs)), 0o644)
	out, err := exec.Command(bin, append(append([]string{"check", "config"}, args...), cfg)...).CombinedOutput()
	if err != nil || (hasRules && !strings.Contains(string(out), "rules found")) {
		t.Errorf("promtool check config %v %s: %v\n%s", args, path, err, out)
	}
}

// serviceFlag returns the value of a service's --name=value argument.
func serviceFlag(command []string, name string) (string, bool) {
	for _, a := range command {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestComposeRemoteWrite: the many-instances compose example is wired
// together: every file it mounts exists; the agent runs in agent mode,
// scrapes every borderwatch service on its listen port and remote-writes to
// the central service, which has the receiver on, loads exactly
// dashboards/rules (promtool check config, --agent for the agent) and sends
// to the Alertmanager service; Grafana's datasource (../compose's
// provisioning) names the central service; each instance's capture file is
// mounted. TestRemoteWrite runs the same two Prometheus configurations.
func TestComposeRemoteWrite(t *testing.T) {
	var c composeFile
	readYAML(t, filepath.Join(remoteWriteDir, "docker-compose.yml"), &c)
	for _, s := range []string{"prometheus-agent", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("service %s missing", s)
		}
	}
	mounts := composeMounts(t, remoteWriteDir, c)

	var targets []string
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "borderwatch") {
			continue
		}
		addr, _ := serviceFlag(s.Command, "--web.listen-address")
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: --web.listen-address=%q: %v", name, addr, err)
		}
		targets = append(targets, name+":"+port)
		file, ok := serviceFlag(s.Command, "--capture.file")
		if _, mounted := mounts[name][file]; ok && !mounted {
			t.Errorf("%s reads %s, which nothing is mounted at", name, file)
		}
		if cfg, ok := serviceFlag(s.Command, "--config.file"); ok && mounts[name][cfg] == "" {
			t.Errorf("%s's configuration %s is not mounted", name, cfg)
		}
	}
	if len(targets) < 2 {
		t.Fatalf("want two borderwatch services, have %v", targets)
	}
	slices.Sort(targets)

	// The agent.
	agent := c.Services["prometheus-agent"]
	if !slices.Contains(agent.Command, "--agent") {
		t.Errorf("prometheus-agent does not run in agent mode: %v", agent.Command)
	}
	agentFile, _ := serviceFlag(agent.Command, "--config.file")
	agentCfg := mounts["prometheus-agent"][agentFile]
	if agentCfg == "" {
		t.Fatalf("the agent's configuration %q is not mounted", agentFile)
	}
	var ac struct {
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
		RemoteWrite []struct{ URL string } `yaml:"remote_write"`
	}
	readYAML(t, agentCfg, &ac)
	if len(ac.ScrapeConfigs) != 1 || len(ac.ScrapeConfigs[0].StaticConfigs) != 1 || !strings.HasPrefix(ac.ScrapeConfigs[0].JobName, "borderwatch") {
		t.Fatalf("the agent: want one borderwatch* job with one static config: %+v", ac.ScrapeConfigs)
	}
	got := slices.Sorted(slices.Values(ac.ScrapeConfigs[0].StaticConfigs[0].Targets))
	if diff := cmp.Diff(got, targets); diff != "" {
		t.Errorf("the agent's targets (-got +want):\n%s", diff)
	}
	central := c.Services["prometheus"]
	var centralPort string
	if len(central.Ports) == 1 {
		centralPort = central.Ports[0][strings.LastIndex(central.Ports[0], ":")+1:]
	}
	if len(ac.RemoteWrite) != 1 || ac.RemoteWrite[0].URL != "http://prometheus:"+centralPort+"/api/v1/write" {
		t.Errorf("the agent does not remote-write to the central service's port %q: %+v", centralPort, ac.RemoteWrite)
	}
	promtoolCheck(t, agentCfg, "--agent")

	// The central store.
	if !slices.Contains(central.Command, "--web.enable-remote-write-receiver") {
		t.Errorf("the central Prometheus does not receive remote writes: %v", central.Command)
	}
	centralFile, _ := serviceFlag(central.Command, "--config.file")
	centralCfg := mounts["prometheus"][centralFile]
	if centralCfg == "" {
		t.Fatalf("the central configuration %q is not mounted", centralFile)
	}
	var cc struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
			}
		}
	}
	readYAML(t, centralCfg, &cc)
	checkRuleMounts(t, cc.RuleFiles, mounts["prometheus"])
	if len(cc.Alerting.Alertmanagers) == 0 || cc.Alerting.Alertmanagers[0].StaticConfigs[0].Targets[0] != "alertmanager:9093" {
		t.Errorf("the central Prometheus does not send to the alertmanager service: %+v", cc.Alerting)
	}
	promtoolCheck(t, centralCfg)

	// Grafana queries the central service.
	prov := mounts["grafana"]["/etc/grafana/provisioning"]
	var ds struct {
		Datasources []struct{ URL string }
	}
	readYAML(t, filepath.Join(prov, "datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:"+centralPort {
		t.Errorf("Grafana's datasource %+v is not the central service", ds.Datasources)
	}
}

// TestComposeBorderwatchConfig: the example configurations of the compose
// stacks pass borderwatch's own check.
func TestComposeBorderwatchConfig(t *testing.T) {
	bin, err := buildDaemon(t)
	if err != nil {
		t.Skipf("borderwatch cannot be built: %v", err)
	}
	for _, dir := range []string{composeDir, remoteWriteDir} {
		out, err := exec.Command(bin, "run", "--config.file", filepath.Join(dir, "borderwatch.yml"), "--config.check").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "configuration OK") {
			t.Errorf("%s: borderwatch --config.check: %v\n%s", dir, err, out)
		}
	}
}

// composeCommand returns the command that runs Docker Compose (the docker
// CLI's plugin, else the standalone docker-compose), or nil.
func composeCommand() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if bin, err := exec.LookPath("docker-compose"); err == nil {
		return []string{bin}
	}
	return nil
}

// TestComposeFilesValid: Docker Compose itself accepts both compose files
// (docker compose config: the schema, interpolation and merges; it needs no
// Docker daemon). Skipped where Compose is not installed: CI does not
// install it (the structure is checked by the tests above).
func TestComposeFilesValid(t *testing.T) {
	compose := composeCommand()
	if compose == nil {
		t.Skip("neither docker compose nor docker-compose is installed")
	}
	for _, dir := range []string{composeDir, remoteWriteDir} {
		cmd := exec.Command(compose[0], append(compose[1:], "-f", filepath.Join(dir, "docker-compose.yml"), "config", "-q")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s config: %v\n%s", strings.Join(compose, " "), err, out)
		}
	}
}

const kubernetesDir = "../deploy/kubernetes"

// kubeObject is a Kubernetes manifest, reduced to what is checked.
type kubeObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string
	Metadata   struct {
		Name   string
		Labels map[string]string
	}
	Data  map[string]string // ConfigMap
	Rules []struct {        // Role
		APIGroups []string `yaml:"apiGroups"`
		Resources []string
		Verbs     []string
	}
	RoleRef  struct{ Kind, Name string } `yaml:"roleRef"`
	Subjects []struct{ Kind, Name string }
	Spec     struct {
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				Containers         []struct {
					Args  []string
					Ports []struct {
						Name          string
						ContainerPort int `yaml:"containerPort"`
					}
					VolumeMounts []struct {
						Name      string
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name      string
					ConfigMap struct{ Name string } `yaml:"configMap"`
				}
			}
		}
	}
}

// readManifests decodes every document of every deploy/kubernetes file,
// keyed by kind/name; each must have an apiVersion, a kind and a name.
func readManifests(t *testing.T) map[string]kubeObject {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	objs := map[string]kubeObject{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var o kubeObject
			if err := dec.Decode(&o); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s, document %d: %v", f, i, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s, document %d: apiVersion %q, kind %q, name %q", f, i, o.APIVersion, o.Kind, o.Metadata.Name)
			}
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := objs[key]; dup {
				t.Errorf("%s: %s defined twice", f, key)
			}
			objs[key] = o
		}
	}
	return objs
}

// relabelTarget applies the relabel configurations to a target's labels and
// says whether the target is kept.
func relabelTarget(lset labels.Labels, cfgs []*relabel.Config) (labels.Labels, bool) {
	lb := labels.NewBuilder(lset)
	keep := relabel.ProcessBuilder(lb, cfgs...)
	return lb.Labels(), keep
}

// podTarget is what Prometheus' Kubernetes pod discovery makes of one port
// of one container of a pod with these labels on a node.
func podTarget(labelSet map[string]string, port string, portNumber int, node, pod string) labels.Labels {
	sanitize := regexp.MustCompile(`[^a-zA-Z0-9_]`)
	m := map[string]string{
		"__address__":                               fmt.Sprintf("192.0.2.7:%d", portNumber),
		"__meta_kubernetes_pod_node_name":           node,
		"__meta_kubernetes_pod_name":                pod,
		"__meta_kubernetes_pod_container_port_name": port,
		"job": "borderwatch",
	}
	for k, v := range labelSet {
		m["__meta_kubernetes_pod_label_"+sanitize.ReplaceAllString(k, "_")] = v
	}
	return labels.FromMap(m)
}

// TestKubernetesAgent: the manifests parse; the Prometheus agent of
// prometheus-agent.yaml runs in agent mode on its ConfigMap's configuration
// (promtool check config --agent, where promtool has Kubernetes discovery),
// with a service account bound to a Role that may list and watch pods; its
// relabeling keeps the DaemonSet's pods on their metrics port, labelled
// with their node, and drops other pods (the agent's own).
func TestKubernetesAgent(t *testing.T) {
	objs := readManifests(t)
	ds, ok := objs["DaemonSet/borderwatch"]
	if !ok {
		t.Fatal("no DaemonSet/borderwatch")
	}
	dep, ok := objs["Deployment/borderwatch-agent"]
	if !ok {
		t.Fatal("no Deployment/borderwatch-agent")
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 || !slices.Contains(pod.Containers[0].Args, "--agent") {
		t.Fatalf("the agent's container does not run in agent mode: %+v", pod.Containers)
	}
	c := pod.Containers[0]

	// The configuration file is the ConfigMap's key, mounted.
	cfgPath, _ := serviceFlag(c.Args, "--config.file")
	var cfgText string
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(cfgPath, m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name {
				cfgText = objs["ConfigMap/"+v.ConfigMap.Name].Data[rel]
			}
		}
	}
	if cfgText == "" {
		t.Fatalf("the agent's %s is not a mounted ConfigMap key", cfgPath)
	}
	cfgFile := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	if bin, err := exec.LookPath("promtool"); err == nil {
		out, err := exec.Command(bin, "check", "config", "--agent", cfgFile).CombinedOutput()
		switch {
		case err != nil && strings.Contains(string(out), "kubernetes_sd_configs not found"):
			t.Log("this promtool is built without Kubernetes discovery (Debian's): the agent's configuration is not checked by it")
		case err != nil:
			t.Errorf("promtool check config --agent: %v\n%s", err, out)
		}
	}

	// RBAC: the service account may list and watch pods.
	rb, ok := objs["RoleBinding/"+pod.ServiceAccountName]
	if _, sa := objs["ServiceAccount/"+pod.ServiceAccountName]; !ok || !sa || rb.RoleRef.Kind != "Role" ||
		len(rb.Subjects) != 1 || rb.Subjects[0].Name != pod.ServiceAccountName {
		t.Fatalf("service account %q has no ServiceAccount and RoleBinding: %+v", pod.ServiceAccountName, rb)
	}
	role := objs["Role/"+rb.RoleRef.Name]
	if !slices.ContainsFunc(role.Rules, func(r struct {
		APIGroups []string `yaml:"apiGroups"`
		Resources []string
		Verbs     []string
	}) bool {
		return slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") &&
			slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch")
	}) {
		t.Errorf("Role %s does not let the agent list and watch pods: %+v", rb.RoleRef.Name, role.Rules)
	}

	// The relabeling, on the targets discovery makes of the DaemonSet's
	// pod and of the agent's own pod.
	var cfg struct {
		ScrapeConfigs []struct {
			JobName             string                  `yaml:"job_name"`
			KubernetesSDConfigs []struct{ Role string } `yaml:"kubernetes_sd_configs"`
			RelabelConfigs      []*relabel.Config       `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
		RemoteWrite []struct{ URL string } `yaml:"remote_write"`
	}
	if err := yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.RemoteWrite) != 1 || !strings.HasPrefix(cfg.ScrapeConfigs[0].JobName, "borderwatch") ||
		len(cfg.ScrapeConfigs[0].KubernetesSDConfigs) != 1 || cfg.ScrapeConfigs[0].KubernetesSDConfigs[0].Role != "pod" {
		t.Fatalf("want one borderwatch* job with pod discovery and one remote write: %+v", cfg)
	}
	rcs := cfg.ScrapeConfigs[0].RelabelConfigs
	for _, rc := range rcs {
		if err := rc.Validate(model.UTF8Validation); err != nil {
			t.Fatal(err)
		}
	}
	bw := ds.Spec.Template.Spec.Containers[0]
	if len(bw.Ports) != 1 {
		t.Fatalf("the DaemonSet's container has ports %+v", bw.Ports)
	}
	got, keep := relabelTarget(podTarget(ds.Spec.Template.Metadata.Labels, bw.Ports[0].Name, bw.Ports[0].ContainerPort, "node-1", "borderwatch-x7k2p"), rcs)
	if !keep || got.Get("node") != "node-1" || got.Get("pod") != "borderwatch-x7k2p" {
		t.Errorf("the DaemonSet's pod: kept %v, labels %v; want kept with node and pod", keep, got)
	}
	if _, keep := relabelTarget(podTarget(dep.Spec.Template.Metadata.Labels, c.Ports[0].Name, c.Ports[0].ContainerPort, "node-1", "borderwatch-agent-5d8f9"), rcs); keep {
		t.Error("the agent's own pod is scraped")
	}
}
