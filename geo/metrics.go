package geo

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the resolver's self-metrics at scrape time: the
// counters are read from the caches' atomics, nothing is counted here.
type collector struct {
	r *Resolver
	// borderwatch_geo_lookups_total: lookups through the caches.
	lookups *prometheus.Desc
	// borderwatch_geo_cache_hits_total: lookups a cache answered.
	hits *prometheus.Desc
	// borderwatch_geo_database_build_timestamp_seconds{database}: metadata build_epoch.
	built *prometheus.Desc
	// borderwatch_geo_database_info{database,type,path}: constant 1.
	info *prometheus.Desc
	// borderwatch_geo_database_reloads_total{result}: Reload calls.
	reloads *prometheus.Desc
}

// NewCollector exports the resolver's lookups, cache hits, reloads and
// databases. Register it on the registry main makes.
func NewCollector(r *Resolver) prometheus.Collector {
	return &collector{
		r:       r,
		lookups: prometheus.NewDesc("borderwatch_geo_lookups_total", "Geo lookups of remote addresses (through the per-worker caches).", nil, nil),
		hits:    prometheus.NewDesc("borderwatch_geo_cache_hits_total", "Geo lookups answered by a per-worker cache.", nil, nil),
		built:   prometheus.NewDesc("borderwatch_geo_database_build_timestamp_seconds", "Build time of each geo database in use, from its metadata, in unix seconds.", []string{"database"}, nil),
		info:    prometheus.NewDesc("borderwatch_geo_database_info", "The geo databases in use: role, metadata database_type and file (\"embedded\" for the built-in ones).", []string{"database", "type", "path"}, nil),
		reloads: prometheus.NewDesc("borderwatch_geo_database_reloads_total", "Geo database reloads by result (success: swapped in; failure: the old databases stay).", []string{"result"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lookups
	ch <- c.hits
	ch <- c.built
	ch <- c.info
	ch <- c.reloads
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l, h := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(l))
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(h))
	for _, d := range c.r.Databases() {
		ch <- prometheus.MustNewConstMetric(c.built, prometheus.GaugeValue, float64(d.BuildTime.Unix()), d.Name)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, d.Name, d.Type, d.Path)
	}
	ok, failed := c.r.ReloadStats()
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(ok), "success")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(failed), "failure")
}
