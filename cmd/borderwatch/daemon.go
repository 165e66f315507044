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

	"github.com/borderwatch/borderwatch/internal/startup"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// daemon implements `borderwatch run`. It starts the pipeline, the web
// server, the database watch, SIGHUP and the capture, in this order, and
// stops them in reverse (lifecycle) however it ends.
func daemon(ctx context.Context, o *options, logger *slog.Logger, stderr io.Writer) int {
	st, code := daemonSettings(o, logger, stderr)
	if st == nil {
		return code
	}

	var lc lifecycle
	defer lc.stop()
	p, err := pipeline.New(o.pipelineConfig(), st.policy)
	startup.Done(0)
	if err != nil {
		logger.Error("starting pipeline", "err", err)
		return 1
	}
	lc.push(p.Close)
	reg, gatherer := newRegistry(p, st.policy.Geo)
	rl := newReloader(o, p, st, logger, reg)

	var ready atomic.Bool
	ws, err := newWebServer(webConfig{metricPath: o.metricPath, gatherer: gatherer, ready: &ready, lifecycle: o.lifecycle, reload: rl.reload,
		report: daemonReport(o, p, rl, time.Now()), logger: logger})
	if err != nil {
		logger.Error("web server", "err", err)
		return 1
	}
	reg.MustRegister(newWebCollector(ws))
	serveErr := ws.start(o.web)
	lc.push(ws.stop)

	lc.push(watchDatabases(st.policy.Geo, o, logger))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	lc.push(func() { signal.Stop(hup) })

	c, err := startCapture(ctx, o, p, logger, reg, stderr)
	if err != nil {
		logger.Error("starting capture", "err", err)
		return 1
	}
	lc.push(c.stop)
	ready.Store(true)

	for {
		select {
		case <-ctx.Done():
			logger.Info("stopping: flushing flows")
			lc.stop() // before reading the capture's status
			return c.status()
		case err := <-serveErr:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("web server", "err", err)
				return 1
			}
		case <-hup:
			ws.reload(rl.reload)() // logs its failures
		}
	}
}

// daemonSettings checks the flags and loads the configuration and the
// databases; nil means exit with the code (--config.check, or an error).
func daemonSettings(o *options, logger *slog.Logger, stderr io.Writer) (*settings, int) {
	if err := checkTelemetryPath(o.metricPath); err != nil {
		fmt.Fprintf(stderr, "borderwatch: --web.telemetry-path %v (see borderwatch --help)\n", err)
		return nil, 2
	}
	if o.geoWatch < 0 {
		fmt.Fprintf(stderr, "borderwatch: --geo.watch-interval %v: must be 0 (off) or positive (see borderwatch --help)\n", o.geoWatch)
		return nil, 2
	}
	st, err := o.settings()
	if err != nil {
		logger.Error("starting", "err", err)
		return nil, 1
	}
	st.policy.LocalAddrs = interfaceAddrs(o.interfaces)
	if o.configCheck {
		fmt.Fprintf(stderr, "configuration OK: home region %v, %d local networks, %d client groups\n", st.home, len(st.cfg.LocalNetworks), len(st.cfg.ClientGroups))
		return nil, 0
	}
	if len(o.files) == 0 && len(o.interfaces) == 0 && !o.collecting() {
		logger.Error("nothing to capture: give --capture.interface IFACE (live), --capture.file FILE, --netflow.listen-address or --sflow.listen-address")
		return nil, 2
	}
	if len(st.home) == 0 {
		logger.Warn("no home region set (--geo.home-region or home_region in the config file): every region label is \"unknown\"")
	}
	if os.Geteuid() == 0 && len(o.interfaces) > 0 {
		logger.Warn("running as root: borderwatch needs only CAP_NET_RAW (see README, Permissions)")
	}
	return st, 0
}

// lifecycle stops what the daemon started, in reverse order, once.
type lifecycle struct {
	stops []func()
}

func (l *lifecycle) push(stop func()) { l.stops = append(l.stops, stop) }

func (l *lifecycle) stop() {
	for len(l.stops) > 0 {
		f := l.stops[len(l.stops)-1]
		l.stops = l.stops[:len(l.stops)-1]
		f()
	}
}

// captureRun is the daemon's capture: the files, the live interfaces and
// the flow collectors.
type captureRun struct {
	p       *pipeline.Pipeline
	cancel  context.CancelFunc
	sources sync.WaitGroup
	failed  atomic.Bool // a file could not be read to its end
}

// startCapture starts reading the files and the interfaces; on error what
// was started is stopped.
func startCapture(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, stderr io.Writer) (*captureRun, error) {
	capCtx, cancel := context.WithCancel(ctx)
	c := &captureRun{p: p, cancel: cancel}
	if len(o.files) > 0 {
		startFiles(capCtx, o, p, logger, &c.sources, func() { c.failed.Store(true) })
	}
	if len(o.interfaces) > 0 {
		if err := startLive(capCtx, o, p, logger, reg, &c.sources); err != nil {
			cancel()
			c.sources.Wait()
			return nil, err
		}
	}
	if err := startCollectors(capCtx, o, p, logger, reg, &c.sources); err != nil {
		cancel()
		c.sources.Wait()
		return nil, err
	}
	return c, nil
}

// stop ends the capture and flushes every flow into the counters.
func (c *captureRun) stop() {
	c.cancel()
	c.sources.Wait()
	c.p.Finish()
}

// status is the daemon's exit code as far as the capture is concerned.
func (c *captureRun) status() int {
	if c.failed.Load() {
		return 1
	}
	return 0
}
