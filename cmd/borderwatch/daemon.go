package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// daemon implements `borderwatch run`.
func daemon(ctx context.Context, o *options, logger *slog.Logger, stderr io.Writer) int {
	st, err := o.settings()
	if err != nil {
		logger.Error("starting", "err", err)
		return 1
	}
	st.policy.LocalAddrs = interfaceAddrs(o.interfaces)
	if o.configCheck {
		fmt.Fprintf(stderr, "configuration OK: home region %v, %d local networks, %d client groups\n", st.home, len(st.cfg.LocalNetworks), len(st.cfg.ClientGroups))
		return 0
	}
	if len(o.files) == 0 && len(o.interfaces) == 0 {
		logger.Error("nothing to capture: give --capture.interface IFACE (live) or --capture.file FILE")
		return 2
	}
	if len(st.home) == 0 {
		logger.Warn("no home region set (--geo.home-region or home_region in the config file): every region label is \"unknown\"")
	}
	if os.Geteuid() == 0 && len(o.interfaces) > 0 {
		logger.Warn("running as root: borderwatch needs only CAP_NET_RAW (see README, Permissions)")
	}
	p, err := pipeline.New(o.pipelineConfig(len(o.interfaces) == 0), st.policy)
	if err != nil {
		logger.Error("starting pipeline", "err", err)
		return 1
	}
	reg := newRegistry(p, st.policy.Geo)
	rl := newReloader(o, p, st, logger, reg)

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle(o.metricPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), Registry: reg, MaxRequestsInFlight: 4, Timeout: 30 * time.Second}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "Not ready: capture is starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.reload(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	if o.metricPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "borderwatch",
			Description: "Where your traffic goes: bytes by remote country, AS, hosting provider and app, and how much leaves the home region.",
			Version:     version.Info(),
			Links:       []web.LandingLinks{{Address: o.metricPath, Text: "Metrics"}, {Address: "/-/healthy", Text: "Health"}, {Address: "/-/ready", Text: "Readiness"}},
		})
		if err != nil {
			logger.Error("landing page", "err", err)
			return 1
		}
		mux.Handle("/", landing)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, o.web, logger) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	capCtx, stopCapture := context.WithCancel(ctx)
	var sources sync.WaitGroup
	status := 0
	var statusMu sync.Mutex
	fail := func() { statusMu.Lock(); status = 1; statusMu.Unlock() }
	if len(o.files) > 0 {
		d := p.NewDispatcher(-1)
		sources.Add(1)
		go func() {
			defer sources.Done()
			for _, f := range o.files {
				logger.Info("reading capture file", "file", f, "rate", o.fileRate)
				if err := readFile(capCtx, f, d, o.fileRate, false, stderr); err != nil {
					if errors.Is(err, context.Canceled) {
						break
					}
					logger.Error("capture file", "err", err)
					fail()
				}
			}
			d.Send()
			if capCtx.Err() == nil {
				p.Finish() // flows of the files end: counts are final
				logger.Info("capture files read; serving the final counts until stopped")
			}
		}()
	}
	if len(o.interfaces) > 0 {
		if err := startLive(capCtx, o, p, logger, reg, &sources); err != nil {
			logger.Error("live capture", "err", err)
			stopCapture()
			sources.Wait()
			p.Close()
			return 1
		}
	}
	ready.Store(true)

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("web server", "err", err)
				stopCapture()
				sources.Wait()
				p.Close()
				return 1
			}
		case <-hup:
			if err := rl.reload(); err != nil {
				logger.Error("reload", "err", err)
			}
		}
	}
	logger.Info("stopping: flushing flows")
	stopCapture()
	sources.Wait()
	p.Finish()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	server.Shutdown(shutdownCtx)
	p.Close()
	return status
}

// reloader re-reads the configuration file and swaps the policy. A bad file
// keeps the running configuration.
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

func (r *reloader) reload() error {
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
