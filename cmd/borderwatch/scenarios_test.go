package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestScenarios runs the questions borderwatch exists for on the sample
// capture (testdata/sample.pcap.gz: real service addresses, placed by the
// embedded databases), with home region EU and two client groups.
func TestScenarios(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bw.yml")
	os.WriteFile(cfg, []byte(`home_region: [EU]
client_groups:
  - name: government
    prefixes: [192.168.1.10/32]
  - name: staff
    prefixes: [192.168.1.0/24]
`), 0o644)
	out, stderr, code := borderwatch(t, "read", "--format", "prometheus", "--config.file", cfg, "../../testdata/sample.pcap.gz")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mfs := parseMetrics(t, out)
	series := mfs["borderwatch_traffic_bytes_total"].Metric
	values := func(filter func(m *dto.Metric) bool, key string) []string {
		set := map[string]bool{}
		for _, m := range series {
			if filter(m) && m.Counter.GetValue() > 0 {
				set[label(m, key)] = true
			}
		}
		var out []string
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	is := func(kv ...string) func(m *dto.Metric) bool {
		return func(m *dto.Metric) bool {
			for i := 0; i < len(kv); i += 2 {
				if label(m, kv[i]) != kv[i+1] {
					return false
				}
			}
			return true
		}
	}
	eq := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	// (a) TikTok traffic is placed by country and provider.
	eq("countries of app=tiktok", values(is("app", "tiktok"), "country"), "US")
	eq("providers of app=tiktok", values(is("app", "tiktok"), "provider"), "ByteDance")
	// (b) A flow to Oracle Cloud in the US, apart from ByteDance's network.
	eq("countries of provider=Oracle", values(is("provider", "Oracle"), "country"), "US")
	if got := values(is("provider", "Oracle"), "app"); len(got) != 1 || got[0] == "tiktok" {
		t.Errorf("Oracle traffic is labelled %v", got)
	}
	// (c) With home region EU, bytes abroad are counted by country and app.
	eq("countries abroad", values(is("direction", "egress", "region", "abroad"), "country"), "HK", "SG", "US")
	eq("countries at home", values(is("direction", "egress", "region", "home"), "country"), "NL")
	if apps := values(is("direction", "egress", "region", "abroad"), "app"); len(apps) < 4 {
		t.Errorf("apps abroad: %v", apps)
	}
	// (d) Egress to Singapore is visible per app.
	eq("apps of egress to SG", values(is("direction", "egress", "country", "SG"), "app"), "capcut", "lemon8")
	// Client groups: the government device reached TikTok.
	if got := values(is("client_group", "government"), "app"); !contains(got, "tiktok") {
		t.Errorf("apps of the government group: %v", got)
	}
	eq("client groups", values(func(*dto.Metric) bool { return true }, "client_group"), "government", "staff")
	// (f) No series carries an address.
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if _, err := netip.ParseAddr(l.GetValue()); err == nil || strings.Contains(l.GetValue(), "192.168.") {
					t.Errorf("%s carries an address: %s=%s", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
