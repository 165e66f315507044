package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool returns the promtool binary or skips the test.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus, or go install github.com/prometheus/prometheus/cmd/promtool); CI installs it")
	}
	return p
}

// TestRulesPromtool: every rule file passes `promtool check rules` and every
// unit test file passes `promtool test rules`.
func TestRulesPromtool(t *testing.T) {
	bin := promtool(t)
	files, _ := filepath.Glob("rules/*.yml")
	tests, _ := filepath.Glob("rules/tests/*.yml")
	if len(files) == 0 || len(tests) == 0 {
		t.Fatalf("rule files %v, tests %v", files, tests)
	}
	for _, args := range [][]string{
		append([]string{"check", "rules"}, files...),
		append([]string{"test", "rules"}, tests...),
	} {
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// ruleTestFile is a promtool unit test file, reduced to what is checked.
type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		PromQLExprTest []struct {
			Expr string
		} `yaml:"promql_expr_test"`
		AlertRuleTest []struct {
			Alertname string
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	}
}

// TestRuleTestsCoverEveryRule: every alert has a test case where it fires
// (with its severity and all three annotations asserted exactly) and one
// where it does not; every recording rule has a value check; every rule
// file is loaded by some test file.
func TestRuleTestsCoverEveryRule(t *testing.T) {
	paths, _ := filepath.Glob("rules/tests/*.yml")
	fires, silent, checked := map[string]bool{}, map[string]bool{}, map[string]bool{}
	loaded := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var tf ruleTestFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, rf := range tf.RuleFiles {
			loaded[filepath.Clean(filepath.Join("rules/tests", rf))] = true
		}
		for _, tc := range tf.Tests {
			for _, e := range tc.PromQLExprTest {
				for _, m := range recordRE.FindAllString(e.Expr, -1) {
					checked[m] = true
				}
			}
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) == 0 {
					silent[a.Alertname] = true
				}
				for _, ea := range a.ExpAlerts {
					if ea.ExpLabels["severity"] == "" || ea.ExpAnnotations["summary"] == "" ||
						ea.ExpAnnotations["description"] == "" || ea.ExpAnnotations["runbook_url"] == "" {
						t.Errorf("%s: a firing case of %s does not assert severity, summary, description and runbook_url", p, a.Alertname)
						continue
					}
					fires[a.Alertname] = true
				}
			}
		}
	}
	files, _ := filepath.Glob("rules/*.yml")
	for _, f := range files {
		if !loaded[f] {
			t.Errorf("no test file loads %s", f)
		}
	}
	for _, r := range allRules(t) {
		switch {
		case r.Alert != "" && !fires[r.Alert]:
			t.Errorf("alert %s has no test case where it fires", r.Alert)
		case r.Alert != "" && !silent[r.Alert]:
			t.Errorf("alert %s has no test case where it stays silent", r.Alert)
		case r.Record != "" && !checked[r.Record]:
			t.Errorf("recording rule %s has no value check", r.Record)
		}
	}
}

var recordRE = regexp.MustCompile(`[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+`)

// githubAnchor is the anchor GitHub gives a markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

const runbookBase = "https://github.com/borderwatch/borderwatch#"

// TestAlertConventions: every alert carries a severity of a known value and
// the summary, description and runbook_url annotations; every runbook_url
// points at a heading of the README (the runbooks of .notes/dashboards.md
// merged there), named after the alert where the alert has its own.
func TestAlertConventions(t *testing.T) {
	anchors := map[string]bool{}
	for _, f := range []string{"../README.md", "../.notes/dashboards.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "#") {
				anchors[githubAnchor(strings.TrimLeft(line, "#"))] = true
			}
		}
	}
	if len(anchors) == 0 {
		t.Fatal("neither README.md nor .notes/dashboards.md found")
	}
	sev := map[string]bool{"critical": true, "warning": true, "info": true}
	for _, r := range allRules(t) {
		if r.Alert == "" {
			continue
		}
		if !sev[r.Labels["severity"]] {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		u := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(u, runbookBase)
		if !ok || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q is not a heading of the README", r.Alert, u)
		}
		if own := "runbook-" + strings.ToLower(r.Alert); anchors[own] && anchor != own {
			t.Errorf("%s: runbook_url %q, want #%s", r.Alert, u, own)
		}
	}
	if got := githubAnchor(" Runbook: BorderwatchDown"); got != "runbook-borderwatchdown" {
		t.Errorf("githubAnchor = %q", got)
	}
}
