package collect

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exports the collector's self-metrics. The exporter
// label is the exporter's address (at most MaxExporters of them), or
// "other" for the exporters past that bound; it is never on traffic.
type metricsCollector struct {
	c                                           *Collector
	exporters, recvErrors                       *prometheus.Desc
	datagrams, records, ignored, misses, errors *prometheus.Desc
	gaps, templates, lastSeen, rate, byRate     *prometheus.Desc
}

// NewMetrics returns the prometheus collector of c's self-metrics.
func NewMetrics(c *Collector) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("borderwatch_collector_"+name, help, labels, nil)
	}
	return &metricsCollector{
		c:          c,
		exporters:  d("exporters", "Flow exporters whose state (templates, rates, sequence numbers) is kept."),
		recvErrors: d("receive_errors_total", "Socket read errors of the flow listeners (the listener goes on)."),
		datagrams:  d("datagrams_total", "Export datagrams received, by exporter and protocol (netflow5, netflow9, ipfix, sflow5, unknown).", "exporter", "protocol"),
		records:    d("records_total", "Flow records (NetFlow/IPFIX data records, sFlow flow samples) handed to the pipeline, by exporter.", "exporter"),
		ignored:    d("ignored_samples_total", "sFlow samples counted and otherwise ignored, by exporter and kind (counter, drop).", "exporter", "kind"),
		misses:     d("template_misses_total", "NetFlow v9/IPFIX data sets whose template was unknown (or expired) when they came: their records are not counted.", "exporter"),
		errors:     d("decode_errors_total", "Datagrams, or parts of them, not used, by exporter and reason.", "exporter", "reason"),
		gaps:       d("sequence_gaps_total", "Missing sequence numbers: lost datagrams (NetFlow v9, sFlow) or records (NetFlow v5, IPFIX).", "exporter"),
		templates:  d("templates", "NetFlow v9/IPFIX templates kept for the exporter.", "exporter"),
		lastSeen:   d("last_seen_timestamp_seconds", "When the exporter's last datagram came (unix seconds).", "exporter"),
		rate:       d("sampling_rate", "The sampling rate (1 in N) of the exporter's last record or sample.", "exporter"),
		byRate:     d("sampled_records_total", "Records and samples by the sampling rate they were scaled by (at most 8 rates per exporter; the rest rate=\"other\").", "exporter", "rate"),
	}
}

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.exporters, m.recvErrors, m.datagrams, m.records, m.ignored, m.misses, m.errors, m.gaps, m.templates, m.lastSeen, m.rate, m.byRate} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	m.c.mu.Lock()
	exps := make([]*exporter, 0, len(m.c.exporters)+1)
	for _, e := range m.c.exporters {
		exps = append(exps, e)
	}
	m.c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.exporters, prometheus.GaugeValue, float64(len(exps)))
	ch <- prometheus.MustNewConstMetric(m.recvErrors, prometheus.CounterValue, float64(m.c.recvErrors.Load()))
	sort.Slice(exps, func(i, j int) bool { return exps[i].addr.Less(exps[j].addr) })
	if m.c.other.st.lastSeen.Load() != 0 {
		exps = append(exps, m.c.other)
	}
	for _, e := range exps {
		m.collectExporter(ch, e)
	}
}

func (m *metricsCollector) collectExporter(ch chan<- prometheus.Metric, e *exporter) {
	name := "other"
	if e.addr.IsValid() {
		name = e.addr.String()
	}
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
	}
	g := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
	}
	st := &e.st
	for p := range numProtocols {
		if n := st.datagrams[p].Load(); n > 0 || p != protoUnknown {
			c(m.datagrams, n, protocolNames[p])
		}
	}
	c(m.records, st.records.Load())
	c(m.ignored, st.counterSamples.Load(), "counter")
	c(m.ignored, st.dropSamples.Load(), "drop")
	c(m.misses, st.templateMisses.Load())
	for r := range numReasons {
		c(m.errors, st.errors[r].Load(), reasonNames[r])
	}
	c(m.gaps, st.seqGaps.Load())
	g(m.templates, float64(st.templates.Load()))
	g(m.lastSeen, float64(st.lastSeen.Load())/1e9)
	g(m.rate, float64(st.lastRate.Load()))
	e.ratesMu.Lock()
	rates := make(map[uint32]uint64, len(e.seenRates))
	for r, n := range e.seenRates {
		rates[r] = n
	}
	e.ratesMu.Unlock()
	for r, n := range rates {
		l := "other"
		if r != 0 {
			l = strconv.FormatUint(uint64(r), 10)
		}
		c(m.byRate, n, l)
	}
}
