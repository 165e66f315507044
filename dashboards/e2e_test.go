package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/internal/testenv"
)

// TestEndToEndPrometheus runs a real Prometheus server against a real
// borderwatch daemon reading a shared capture and the sample capture at a
// paced rate, loads the rules, and proves every dashboard query and every
// recording rule returns data, with the expected label values, that every
// rule evaluates without error, and that the government-device alert fires
// for the government group only. The 7107 packets are read at 360 packets/s,
// about 20 seconds: Prometheus scrapes each second and sees counters grow.
func TestEndToEndPrometheus(t *testing.T) {
	promBin := prometheusBin(t)
	dir := t.TempDir()
	d, site, total := twoInstances(t, dir)

	rules, _ := filepath.Abs("rules")
	base := startPrometheus(t, promBin, dir, "prometheus", `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["`+rules+`/*.yml"]
scrape_configs:
  - job_name: borderwatch
    static_configs:
      - targets: ["`+d.addr+`", "`+site.addr+`"]
`, "--storage.tsdb.path", filepath.Join(dir, "tsdb"))

	// Wait until Prometheus has scraped the whole of both files (in several
	// growing samples) and the government alert has been evaluated.
	deadline := time.Now().Add(120 * time.Second)
	for {
		r, err := tryQuery(base, fmt.Sprintf(`count_over_time(borderwatch_packets_read_total[1m]) >= 8 and borderwatch_packets_read_total >= %d`, total))
		if err == nil && r.Status == "success" && len(r.Data.Result) == 2 && firing(t, base, "BorderwatchDeniedDestination") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus never scraped enough")
		}
		time.Sleep(time.Second)
	}
	growing := query(t, base, `increase(borderwatch_packets_read_total[30s]) > 0`)
	if len(growing.Data.Result) == 0 {
		t.Error("counters did not grow between scrapes")
	}

	for where, tg := range panelQueries(t) {
		expr := dashboardVars.Replace(tg.Expr)
		r := query(t, base, expr)
		if r.Status != "success" {
			t.Errorf("%s: %s: %s", where, r.Error, expr)
		} else if len(r.Data.Result) == 0 {
			t.Errorf("%s returns no data: %s", where, expr)
		}
	}
	for _, rule := range allRules(t) {
		if rule.Record == "" {
			continue
		}
		// increase5m holds only while traffic flows; the file is read by now.
		if r := query(t, base, "max_over_time("+rule.Record+"[5m])"); len(r.Data.Result) == 0 {
			t.Errorf("recording rule %s returns no data", rule.Record)
		}
	}
	// Every rule evaluated without error (no many-to-many matching, no
	// type errors that promtool cannot see without data).
	for _, g := range ruleGroups(t, base) {
		for _, r := range g.Rules {
			if r.Health != "ok" {
				t.Errorf("rule %s in group %s: health %q: %s", r.Name, g.Name, r.Health, r.LastError)
			}
		}
	}
	// Placement by round trip, on the instance with the site: TikTok's
	// edges (Akamai, 12 ms away) are not where the database says (US);
	// bytes the round trip ruled out are never reported abroad by it;
	// round trips were measured and are in the histogram.
	siteSel := `instance="` + site.addr + `"`
	if got := labelValues(query(t, base, `sum by (country) (borderwatch_traffic_bytes_total{`+siteSel+`,app="tiktok"})`), "country"); slices.Contains(got, "US") || len(got) == 0 {
		t.Errorf("with the site, countries of app=tiktok: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (basis) (borderwatch_traffic_bytes_total{`+siteSel+`})`), "basis"); !containsAll(got, "database", "contradicted", "anycast") {
		t.Errorf("with the site, bases: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (basis) (borderwatch_traffic_bytes_total{instance="`+d.addr+`"})`), "basis"); !slices.Equal(got, []string{"database"}) && !slices.Equal(got, []string{"anycast", "database"}) {
		t.Errorf("without a site, bases: %v", got)
	}
	if r := query(t, base, `borderwatch_traffic_bytes_total{basis="contradicted",region="abroad"}`); len(r.Data.Result) != 0 {
		t.Errorf("contradicted bytes abroad: %+v", r.Data.Result)
	}
	if r := query(t, base, `sum(borderwatch_handshake_rtt_seconds_count{`+siteSel+`}) > 10`); len(r.Data.Result) == 0 {
		t.Error("too few round trips in the histogram")
	}
	// Label values a network engineer expects.
	if got := labelValues(query(t, base, `sum by (operator_country) (borderwatch_traffic_bytes_total{provider=~"ByteDance|Alibaba"})`), "operator_country"); !slices.Equal(got, []string{"CN"}) {
		t.Errorf("operator countries of ByteDance and Alibaba: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (operator_country) (borderwatch:egress_bytes_by_operator:rate5m{country="US"} or borderwatch:egress_bytes_by_operator:rate5m{country="US"} offset 1m)`), "operator_country"); !containsAll(got, "US") {
		t.Errorf("operators of egress to the US: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (country) (borderwatch_traffic_bytes_total{app="tiktok"})`), "country"); !containsAll(got, "US") {
		t.Errorf("countries of app=tiktok: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (app) (borderwatch_traffic_bytes_total{direction="egress",country="SG"})`), "app"); !containsAll(got, "capcut", "lemon8") {
		t.Errorf("apps of egress to Singapore: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (provider) (borderwatch_traffic_bytes_total{country="US"})`), "provider"); !containsAll(got, "ByteDance", "Oracle", "Google") {
		t.Errorf("providers in the US: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (region) (borderwatch_traffic_bytes_total)`), "region"); !containsAll(got, "home", "abroad") {
		t.Errorf("regions: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (direction) (borderwatch_traffic_bytes_total)`), "direction"); !containsAll(got, "egress", "ingress") {
		t.Errorf("directions: %v", got)
	}
	if got := labelValues(query(t, base, `sum by (client_group) (borderwatch_traffic_bytes_total)`), "client_group"); !containsAll(got, "government", "staff") {
		t.Errorf("client groups: %v", got)
	}
	// The share abroad is a fraction. (It is not the byte share of the
	// counters: rate() cannot see the first value of a label set that
	// appears with its final value, and most home flows of these captures
	// are that short. See the README, "Counting short flows".)
	if r := query(t, base, `borderwatch:egress_abroad:ratio_rate5m > 0 <= 1`); len(r.Data.Result) == 0 {
		t.Errorf("borderwatch:egress_abroad:ratio_rate5m not in (0, 1]: %+v", query(t, base, `borderwatch:egress_abroad:ratio_rate5m`).Data.Result)
	}
	// The government-device alert: firing for the government group, for
	// TikTok, and for nobody else.
	alerts := alertList(t, base)
	var gov, other, tiktok int
	for _, a := range alerts {
		if a.Labels["alertname"] != "BorderwatchDeniedDestination" || a.State != "firing" {
			continue
		}
		if a.Labels["client_group"] == "government" {
			gov++
		} else {
			other++
		}
		if a.Labels["client_group"] == "government" && a.Labels["app"] == "tiktok" {
			tiktok++
			if a.Labels["severity"] != "critical" || a.Labels["country"] == "" {
				t.Errorf("alert %v", a.Labels)
			}
		}
	}
	if tiktok == 0 {
		t.Errorf("BorderwatchDeniedDestination does not fire for government and tiktok: %+v", alerts)
	}
	if gov == 0 || other != 0 {
		t.Errorf("BorderwatchDeniedDestination firing for government %d times, for others %d times: %+v", gov, other, alerts)
	}
}

type ruleGroup struct {
	Name  string
	Rules []struct {
		Name, Health, LastError string
	}
}

func ruleGroups(t *testing.T, base string) []ruleGroup {
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct{ Groups []ruleGroup }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Groups) == 0 {
		t.Fatal("Prometheus loaded no rule groups")
	}
	return r.Data.Groups
}

type alert struct {
	Labels map[string]string
	State  string
}

func alertList(t *testing.T, base string) []alert {
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct{ Alerts []alert }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Data.Alerts
}

func firing(t *testing.T, base, name string) bool {
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		return false
	}
	resp.Body.Close()
	for _, a := range alertList(t, base) {
		if a.Labels["alertname"] == name && a.State == "firing" {
			return true
		}
	}
	return false
}

func containsAll(list []string, want ...string) bool {
	set := map[string]bool{}
	for _, v := range list {
		set[v] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

func countPackets(t *testing.T, path string) int {
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	for {
		if _, _, _, err := src.Next(); err != nil {
			return n
		}
		n++
	}
}

// prometheusBin returns the Prometheus server binary or skips the test.
func prometheusBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (apt-get install prometheus); CI installs it")
	}
	return bin
}

// startPrometheus runs Prometheus with the configuration cfg (written to
// dir/name.yml) and args until the test ends, and returns its base URL
// once it is ready.
func startPrometheus(t *testing.T, promBin, dir, name, cfg string, args ...string) string {
	t.Helper()
	file := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	prom := exec.Command(promBin, append([]string{"--config.file", file, "--web.listen-address", addr, "--log.level", "warn"}, args...)...)
	var stderr syncBuffer
	prom.Stderr = &stderr
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { prom.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			prom.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s: %s", name, stderr.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %s", name, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is safe to read while a process or logger writes to it.
type syncBuffer = testenv.SyncBuffer

// twoInstances runs two borderwatch daemons reading the same shared
// capture and the sample capture at a paced rate: d without a site, site
// with the site of sites.pcapng (near Milan: a Milan VPN exit answers in
// 3.5 ms), so that measured round trips overrule database countries (the
// basis label, the round-trip panels). total is the frames each reads.
func twoInstances(t *testing.T, dir string) (d, site *daemon, total int) {
	root := testenv.SharedDir(t)
	cfg := filepath.Join(dir, "bw.yml")
	// sites.pcapng's client (192.168.1.250) and the sample's 192.168.1.10
	// are government devices; the rest of 192.168.1.0/24 is staff.
	os.WriteFile(cfg, []byte(`home_region: [EU]
client_groups:
  - name: government
    prefixes: [192.168.1.250/32, 192.168.1.10/32]
  - name: staff
    prefixes: [192.168.1.0/24]
`), 0o644)
	total = countPackets(t, filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng")) + countPackets(t, "../testdata/sample.pcap.gz")
	bin, err := buildDaemon(t)
	if err != nil {
		t.Skipf("borderwatch cannot be built, skipping the end-to-end test: %v", err)
	}
	files := []string{"--capture.file", filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng"), "--capture.file", "../testdata/sample.pcap.gz"}
	d = runDaemon(t, bin, append([]string{"--config.file", cfg, "--capture.file-rate", "360"}, files...)...)
	site = runDaemon(t, bin, append([]string{"--config.file", cfg, "--capture.file-rate", "360", "--geo.site-location", "45.46,9.19"}, files...)...)
	return d, site, total
}
