package main

import (
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// newRegistry returns the registry of everything borderwatch exports, and
// the gatherer to serve it with (the registry plus the traffic families,
// built directly: see metrics.Gatherer).
func newRegistry(p *pipeline.Pipeline, res *geo.Resolver) (*prometheus.Registry, prometheus.Gatherer) {
	reg := prometheus.NewRegistry()
	c := metrics.NewCollector(p)
	reg.MustRegister(
		c,
		pipeline.NewCollector(p),
		metrics.NewNamesCollector(p.NameStats(), p.NameCache()),
		geo.NewCollector(res),
		versioncollector.NewCollector("borderwatch"),
	)
	return reg, metrics.NewGatherer(reg, c)
}
