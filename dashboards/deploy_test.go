package dashboards

import (
	"bytes"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

const prometheusRulePath = "../deploy/kubernetes/prometheusrule.yaml"

// prometheusRule wraps the rule file in a prometheus-operator PrometheusRule.
func prometheusRule() ([]byte, error) {
	b, err := os.ReadFile("rules/borderwatch.rules.yml")
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := yaml.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	doc := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "borderwatch", "labels": map[string]any{"app.kubernetes.io/name": "borderwatch"}},
		"spec":       spec,
	}
	var out bytes.Buffer
	out.WriteString("# Generated from dashboards/rules/borderwatch.rules.yml by `go test ./dashboards -update`; do not edit.\n")
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
