package metrics

import (
	"sync/atomic"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/place"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "borderwatch"

// Source is what the collector reads: the series and the shards. A scrape
// never waits for the workers: they count placed flows into their shards
// as packets arrive.
type Source interface {
	Series() *Series
	Shards() []*Shard
}

// Collector exports the traffic and capture counters at scrape time.
type Collector struct {
	src      Source
	external atomic.Bool // the traffic families are left to a Gatherer

	trafficBytes, trafficPackets, flows *prometheus.Desc
	internalBytes, internalPackets      *prometheus.Desc
	namedBytes, namedFlows              *prometheus.Desc
	overflow, seriesActive, seriesLimit *prometheus.Desc
	packetsRead, skipped, decodeErrors  *prometheus.Desc
	flowsActive, flowsEvicted           *prometheus.Desc
	sweepTimeouts                       *prometheus.Desc
	rtt, rttBytes                       *prometheus.Desc
}

const (
	helpTrafficBytes   = "IP-layer bytes placed by direction, remote country, provider, app, region, client group and the basis of the placement (database, rtt, contradicted, anycast)."
	helpTrafficPackets = "Packets placed by direction, remote country, provider, app, region, client group and the basis of the placement (database, rtt, contradicted, anycast)."
	helpFlows          = "Flows started, by the labels of their first packet's direction."
)

// TrafficLabelNames returns the label names of the traffic series.
func TrafficLabelNames(o SeriesOptions) []string {
	l := []string{"direction", "country", "provider", "app", "region", "client_group", "basis", "operator_country"}
	if o.ASN {
		l = append(l, "asn")
	}
	if o.CloudRegion {
		l = append(l, "cloud_region")
	}
	return l
}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	tl := TrafficLabelNames(src.Series().Options())
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &Collector{
		src:             src,
		trafficBytes:    d("traffic_bytes_total", helpTrafficBytes, tl...),
		trafficPackets:  d("traffic_packets_total", helpTrafficPackets, tl...),
		flows:           d("flows_total", helpFlows, tl...),
		internalBytes:   d("internal_bytes_total", "IP-layer bytes between two local addresses (counted, not placed)."),
		internalPackets: d("internal_packets_total", "Packets between two local addresses (counted, not placed)."),
		namedBytes:      d("named_bytes_total", "IP-layer bytes of placed flows by the source of their name (none: no name known).", "source"),
		namedFlows:      d("named_flows_total", "Placed flows by the source of their name (none: no name known).", "source"),
		overflow:        d("series_overflow_total", "Flow placements whose label set was folded into \"other\" values because the series budget was reached."),
		seriesActive:    d("series_active", "Distinct traffic label sets in use."),
		seriesLimit:     d("series_limit", "The traffic series budget (--metrics.series-limit)."),
		packetsRead:     d("packets_read_total", "Frames read from all sources."),
		skipped:         d("packets_skipped_total", "Frames not placed because they carry no IP or use an unsupported link type or encapsulation.", "reason"),
		decodeErrors:    d("decode_errors_total", "Frames that could not be decoded (truncated or malformed before the IP header).", "reason"),
		flowsActive:     d("flows_active", "Flows currently in the flow tables."),
		sweepTimeouts:   d("flow_sweep_timeouts_total", "Idle-flow sweeps (live capture, once a second) that the workers did not finish within 5 s; scrapes never wait for the workers."),
		rtt:             d("handshake_rtt_seconds", "Round trip between the capture point and the remote end of flows whose handshake was seen (TCP SYN to SYN/ACK, or SYN/ACK to ACK for local servers; QUIC client Initial to the server's first packet), by the region the flow was placed in.", "region"),
		rttBytes:        d("rtt_placed_bytes_total", "IP-layer bytes of flows placed with a measured round trip (their own handshake's, or an earlier one's to the same address)."),
		flowsEvicted:    d("flows_evicted_total", "Flows ended by the idle or active timeout, or evicted because the table was full (capacity).", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.trafficBytes, c.trafficPackets, c.flows, c.internalBytes, c.internalPackets,
		c.namedBytes, c.namedFlows, c.overflow, c.seriesActive, c.seriesLimit, c.packetsRead, c.skipped,
		c.decodeErrors, c.flowsActive, c.flowsEvicted, c.sweepTimeouts, c.rtt, c.rttBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	series := c.src.Series()
	labels := series.Labels()
	t := SumShards(c.src.Shards(), len(labels))
	opts := series.Options()
	for id := 1; id < len(labels) && !c.external.Load(); id++ {
		lv := labels[id].values(opts)
		ch <- prometheus.MustNewConstMetric(c.trafficBytes, prometheus.CounterValue, float64(t.Bytes[id]), lv...)
		ch <- prometheus.MustNewConstMetric(c.trafficPackets, prometheus.CounterValue, float64(t.Packets[id]), lv...)
		ch <- prometheus.MustNewConstMetric(c.flows, prometheus.CounterValue, float64(t.Flows[id]), lv...)
	}
	ch <- prometheus.MustNewConstMetric(c.internalBytes, prometheus.CounterValue, float64(t.InternalBytes))
	ch <- prometheus.MustNewConstMetric(c.internalPackets, prometheus.CounterValue, float64(t.InternalPackets))
	for i, name := range NameSourceNames {
		ch <- prometheus.MustNewConstMetric(c.namedBytes, prometheus.CounterValue, float64(t.NamedBytes[i]), name)
		ch <- prometheus.MustNewConstMetric(c.namedFlows, prometheus.CounterValue, float64(t.NamedFlows[i]), name)
	}
	ch <- prometheus.MustNewConstMetric(c.overflow, prometheus.CounterValue, float64(t.Overflow))
	ch <- prometheus.MustNewConstMetric(c.seriesActive, prometheus.GaugeValue, float64(series.Len()))
	ch <- prometheus.MustNewConstMetric(c.seriesLimit, prometheus.GaugeValue, float64(series.Limit()))
	ch <- prometheus.MustNewConstMetric(c.packetsRead, prometheus.CounterValue, float64(t.PacketsRead))
	for _, r := range capture.SkipReasons {
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(t.Skipped[r]), r.String())
	}
	for _, r := range capture.ErrorReasons {
		ch <- prometheus.MustNewConstMetric(c.decodeErrors, prometheus.CounterValue, float64(t.Skipped[r]), r.String())
	}
	ch <- prometheus.MustNewConstMetric(c.flowsActive, prometheus.GaugeValue, float64(t.FlowsActive))
	ch <- prometheus.MustNewConstMetric(c.sweepTimeouts, prometheus.CounterValue, float64(t.SweepTimeouts))
	for r := flow.EvictIdle; r < flow.EvictEnd; r++ {
		ch <- prometheus.MustNewConstMetric(c.flowsEvicted, prometheus.CounterValue, float64(t.Evicted[r]), r.String())
	}
	c.collectRTT(ch, t)
}

// collectRTT exports the handshake round-trip histograms and the bytes
// placed with a round trip.
func (c *Collector) collectRTT(ch chan<- prometheus.Metric, t *Totals) {
	for r := place.Region(0); r < place.NumRegions; r++ {
		buckets := make(map[float64]uint64, len(RTTBuckets))
		var n uint64
		for i, le := range RTTBuckets {
			n += t.RTT[r][i]
			buckets[le] = n
		}
		n += t.RTT[r][len(RTTBuckets)]
		ch <- prometheus.MustNewConstHistogram(c.rtt, n, float64(t.RTTSum[r])/1e6, buckets, r.String())
	}
	ch <- prometheus.MustNewConstMetric(c.rttBytes, prometheus.CounterValue, float64(t.RTTBytes))
}
