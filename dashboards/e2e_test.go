package dashboards

import (
	"encoding/json"
	"fmt"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
)

// TestEndToEndPrometheus runs a real Prometheus server against a real
// borderwatch daemon reading a shared capture and the sample capture at a
// paced rate, loads the rules, and proves every dashboard query and every
// recording rule returns data, with the expected label values, and that the
// government-device alert fires for the government group only.
func TestEndToEndPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (apt-get install prometheus); CI installs it")
	}
	root := testenv.SharedDir(t)
	dir := t.TempDir()
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
	total := countPackets(t, filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng")) + countPackets(t, "../testdata/sample.pcap.gz")
	d := startDaemon(t, "--config.file", cfg, "--capture.file-rate", "800",
		"--capture.file", filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng"), "--capture.file", "../testdata/sample.pcap.gz")

	promAddr := freeAddr(t)
	rules, _ := filepath.Abs("rules/borderwatch.rules.yml")
	promCfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(promCfg, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["`+rules+`"]
scrape_configs:
  - job_name: borderwatch
    static_configs:
      - targets: ["`+d.addr+`"]
`), 0o644)
	prom := exec.Command(promBin, "--config.file", promCfg, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", promAddr, "--log.level", "warn")
	var promErr strings.Builder
	prom.Stderr = &promErr
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
	})
	base := "http://" + promAddr

	// Wait until Prometheus has scraped the whole of both files (in several
	// growing samples) and the government alert has been evaluated.
	deadline := time.Now().Add(120 * time.Second)
	for {
		r, err := tryQuery(base, fmt.Sprintf(`count_over_time(borderwatch_packets_read_total[1m]) >= 8 and borderwatch_packets_read_total >= %d`, total))
		if err == nil && r.Status == "success" && len(r.Data.Result) > 0 && firing(t, base, "BorderwatchDeniedDestination") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped enough: %s", promErr.String())
		}
		time.Sleep(time.Second)
	}
	growing := query(t, base, `increase(borderwatch_packets_read_total[30s]) > 0`)
	if len(growing.Data.Result) == 0 {
		t.Error("counters did not grow between scrapes")
	}

	subst := strings.NewReplacer(`$instance`, `.*`, `$client_group`, `.*`, `$app`, `.*`, `$__rate_interval`, `30s`, `$__range`, `10m`)
	for where, expr := range panelQueries(t) {
		r := query(t, base, subst.Replace(expr))
		if r.Status != "success" {
			t.Errorf("%s: %s: %s", where, r.Error, expr)
		} else if len(r.Data.Result) == 0 {
			t.Errorf("%s returns no data: %s", where, expr)
		}
	}
	for _, g := range readRules(t).Groups {
		for _, rule := range g.Rules {
			if rule.Record == "" {
				continue
			}
			if r := query(t, base, rule.Record); len(r.Data.Result) == 0 {
				t.Errorf("recording rule %s returns no data", rule.Record)
			}
		}
	}
	// Label values a network engineer expects.
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
	// The government-device alert: firing for the government group, for
	// TikTok, and for nobody else.
	alerts := alertList(t, base)
	var gov, other int
	for _, a := range alerts {
		if a.Labels["alertname"] != "BorderwatchDeniedDestination" || a.State != "firing" {
			continue
		}
		if a.Labels["client_group"] == "government" {
			gov++
		} else {
			other++
		}
		if a.Labels["client_group"] == "government" && a.Labels["app"] == "tiktok" && a.Labels["severity"] != "critical" {
			t.Errorf("alert %v", a.Labels)
		}
	}
	if gov == 0 || other != 0 {
		t.Errorf("BorderwatchDeniedDestination firing for government %d times, for others %d times: %+v", gov, other, alerts)
	}
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
