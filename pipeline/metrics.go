package pipeline

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the pipeline's own counters: flow records received
// and what the ended-flow sink was given or had to drop.
type Collector struct {
	p                                 *Pipeline
	records, recordsInvalid           *prometheus.Desc
	sinkFlows, sinkDropped, sinkQueue *prometheus.Desc
}

// NewCollector returns a collector over p.
func NewCollector(p *Pipeline) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("borderwatch", "", name), help, nil, nil)
	}
	return &Collector{
		p:              p,
		records:        d("records_total", "Flow records received (counted and placed like the packets they stand for)."),
		recordsInvalid: d("records_invalid_total", "Flow records not placed: an address missing, or of two families."),
		sinkFlows:      d("flow_sink_flows_total", "Ended flows queued for the flow sink."),
		sinkDropped:    d("flow_sink_dropped_total", "Ended flows dropped because the flow sink's queue was full."),
		sinkQueue:      d("flow_sink_queue_length", "Ended flows waiting in the flow sink's queue."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.recordsInvalid
	if c.p.sink != nil {
		ch <- c.sinkFlows
		ch <- c.sinkDropped
		ch <- c.sinkQueue
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(c.p.records.Load()))
	ch <- prometheus.MustNewConstMetric(c.recordsInvalid, prometheus.CounterValue, float64(c.p.recordsInvalid.Load()))
	if sq := c.p.sink; sq != nil {
		ch <- prometheus.MustNewConstMetric(c.sinkFlows, prometheus.CounterValue, float64(sq.flows.Load()))
		ch <- prometheus.MustNewConstMetric(c.sinkDropped, prometheus.CounterValue, float64(sq.dropped.Load()))
		ch <- prometheus.MustNewConstMetric(c.sinkQueue, prometheus.GaugeValue, float64(len(sq.q)))
	}
}
