package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// reloader re-reads the configuration file and swaps the policy. A bad file
// keeps the running configuration. SIGHUP and POST /-/reload (with
// --web.enable-lifecycle) call it; every failure is logged here, whoever
// asked.
type reloader struct {
	mu      sync.Mutex
	o       *options
	p       *pipeline.Pipeline
	st      *settings
	logger  *slog.Logger
	success prometheus.Gauge
	when    prometheus.Gauge
}

func newReloader(o *options, p *pipeline.Pipeline, st *settings, logger *slog.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{o: o, p: p, st: st, logger: logger,
		success: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "borderwatch", Name: "config_last_reload_successful", Help: "Whether the last configuration reload succeeded (1) or failed (0)."}),
		when:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "borderwatch", Name: "config_last_reload_success_timestamp_seconds", Help: "Time of the last successful configuration load, in unix seconds."}),
	}
	r.success.Set(1)
	r.when.SetToCurrentTime()
	reg.MustRegister(r.success, r.when)
	return r
}

// settings returns the settings in effect.
func (r *reloader) settings() *settings {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// reload reloads and logs the result; the error returned is the logged one.
func (r *reloader) reload() error {
	err := r.reloadOnce()
	if err != nil {
		r.logger.Error("reload failed", "err", err)
	}
	return err
}

func (r *reloader) reloadOnce() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The database files are read again too (an updater renamed a new file
	// over the old one); on failure the running databases stay.
	if err := r.st.policy.Geo.Reload(); err != nil {
		r.success.Set(0)
		return fmt.Errorf("geo databases not reloaded, the running ones stay: %w", err)
	}
	cfg, err := r.o.loadConfig()
	if err == nil {
		var st *settings
		st, err = r.o.buildPolicy(cfg, r.st.policy.Geo)
		if err == nil {
			st.policy.LocalAddrs = r.st.policy.LocalAddrs
			r.p.SetPolicy(st.policy)
			r.st = st
			r.success.Set(1)
			r.when.SetToCurrentTime()
			r.logger.Info("configuration reloaded", "file", r.o.configFile, "home_region", st.home)
			return nil
		}
	}
	r.success.Set(0)
	return fmt.Errorf("configuration not reloaded, the running one stays: %w", err)
}

// watchDatabases reloads the geo database files when they change on disk
// (polled every interval; 0 or embedded databases only: no watch). It
// returns a function that stops the watch and waits for it.
func watchDatabases(res *geo.Resolver, o *options, logger *slog.Logger) (stop func()) {
	if o.geoWatch <= 0 || (o.countryDB == "" && o.asnDB == "" && o.geofeed == "") {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.Watch(ctx, o.geoWatch, func(err error) {
			if err != nil {
				logger.Error("geo database files changed but could not be loaded; the running databases stay", "err", err)
				return
			}
			logger.Info("geo databases reloaded after a change on disk", "country_db", o.countryDB, "asn_db", o.asnDB)
		})
	}()
	return func() { cancel(); <-done }
}
