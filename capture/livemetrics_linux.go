//go:build linux

package capture

import "github.com/prometheus/client_golang/prometheus"

// LiveCollector exports the live capture counters per interface, read
// from the groups at scrape time.
type LiveCollector struct {
	groups                                       []*LiveGroup
	packets, drops, freezes, qdrops, up, outages *prometheus.Desc
}

// NewLiveCollector returns the collector of groups.
func NewLiveCollector(groups []*LiveGroup) *LiveCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("borderwatch_capture_"+name, help, []string{"interface"}, nil)
	}
	return &LiveCollector{groups: groups,
		packets: d("packets_total", "Frames the kernel placed in borderwatch's capture rings (after the capture filter, drops excluded), per interface."),
		drops:   d("kernel_drops_total", "Frames the kernel dropped because a capture ring was full, per interface."),
		freezes: d("kernel_freezes_total", "TPACKET_V3 ring queue freezes (the ring was full), per interface."),
		qdrops:  d("queue_drops_total", "Frames dropped between capture and the flow workers (always 0: the capture goroutines block instead, so a backlog shows as kernel drops)."),
		up:      d("interface_up", "1 while every capture socket of the interface is open, 0 during an outage."),
		outages: d("interface_outages_total", "Times the interface went down or disappeared while captured."),
	}
}

// Describe implements prometheus.Collector.
func (c *LiveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.drops, c.freezes, c.qdrops, c.up, c.outages} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LiveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.groups {
		st := g.Stats()
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(st.Delivered()), g.iface)
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(st.Dropped), g.iface)
		ch <- prometheus.MustNewConstMetric(c.freezes, prometheus.CounterValue, float64(st.Freezes), g.iface)
		ch <- prometheus.MustNewConstMetric(c.qdrops, prometheus.CounterValue, 0, g.iface)
		up := 0.0
		if g.Up() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, g.iface)
		ch <- prometheus.MustNewConstMetric(c.outages, prometheus.CounterValue, float64(g.Outages()), g.iface)
	}
}
