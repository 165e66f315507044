package geo

import (
	"github.com/prometheus/client_golang/prometheus"
)

type collector struct {
	r                          *Resolver
	lookups, hits, built, info *prometheus.Desc
}

// NewCollector exports the resolver's lookups, cache hits and databases.
func NewCollector(r *Resolver) prometheus.Collector {
	return &collector{
		r:       r,
		lookups: prometheus.NewDesc("borderwatch_geo_lookups_total", "Geo lookups of remote addresses (through the per-worker caches).", nil, nil),
		hits:    prometheus.NewDesc("borderwatch_geo_cache_hits_total", "Geo lookups answered by a cache.", nil, nil),
		built:   prometheus.NewDesc("borderwatch_geo_database_build_timestamp_seconds", "Build time of each geo database, from its metadata, in unix seconds.", []string{"database"}, nil),
		info:    prometheus.NewDesc("borderwatch_geo_database_info", "The geo databases in use: role, database_type and file (\"embedded\" for the built-in ones).", []string{"database", "type", "path"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lookups
	ch <- c.hits
	ch <- c.built
	ch <- c.info
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l, h := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(l))
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(h))
	for _, d := range c.r.Databases() {
		ch <- prometheus.MustNewConstMetric(c.built, prometheus.GaugeValue, float64(d.BuildTime.Unix()), d.Name)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, d.Name, d.Type, d.Path)
	}
}
