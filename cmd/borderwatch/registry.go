package main

import (
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// newRegistry returns the registry of everything borderwatch exports.
func newRegistry(p *pipeline.Pipeline, res *geo.Resolver) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewCollector(p),
		metrics.NewNamesCollector(p.NameStats(), p.NameCache()),
		geo.NewCollector(res),
		versioncollector.NewCollector("borderwatch"),
	)
	return reg
}
