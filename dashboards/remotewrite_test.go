package dashboards

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestRemoteWrite: many instances, one store. Two borderwatch instances
// are scraped by a Prometheus in agent mode (the site's collector), which
// remote-writes into a central Prometheus with the remote-write receiver
// on; the central one evaluates the rules. Every dashboard query and every
// recording rule returns data there, for both instances and summed across
// them, and per instance the central store's traffic and packet totals
// equal the instance's own /metrics.
func TestRemoteWrite(t *testing.T) {
	promBin := prometheusBin(t)
	dir := t.TempDir()
	d, site, total := twoInstances(t, dir)
	rules, _ := filepath.Abs("rules")
	central := startPrometheus(t, promBin, dir, "central", `global:
  evaluation_interval: 1s
rule_files: ["`+rules+`/*.yml"]
`, "--storage.tsdb.path", filepath.Join(dir, "central"), "--web.enable-remote-write-receiver")
	startPrometheus(t, promBin, dir, "agent", `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: borderwatch
    static_configs:
      - targets: ["`+d.addr+`", "`+site.addr+`"]
remote_write:
  - url: "`+central+`/api/v1/write"
    queue_config: {batch_send_deadline: 1s}
`, "--enable-feature=agent", "--storage.agent.path", filepath.Join(dir, "agent"))

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
