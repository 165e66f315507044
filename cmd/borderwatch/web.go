package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// What a client can do to the daemon is bounded by these (README, "What a
// client can do to the daemon").
const (
	// webMaxConns bounds the connections served at once. Past it a new
	// connection first closes an idle keep-alive connection, else waits
	// up to webConnWait for a slot, else it is closed unanswered.
	webMaxConns = 512
	webConnWait = time.Second
	// A request's headers must arrive within webReadHeaderTimeout, the
	// whole request within webReadTimeout; the whole response (including
	// the wait for a gathering) must be written within webWriteTimeout;
	// an idle keep-alive connection is closed after webIdleTimeout
	// (longer than Prometheus' default 1 min scrape interval).
	webReadHeaderTimeout = 5 * time.Second
	webReadTimeout       = 10 * time.Second
	webWriteTimeout      = 20 * time.Second
	webIdleTimeout       = 2 * time.Minute
	webMaxHeaderBytes    = 16 << 10
	// A scrape that arrives while another one is being gathered waits for
	// it and gets the same exposition; one that arrives less than
	// scrapeReuse after a gathering ended gets that one. A scrape waits at
	// most scrapeWait for its gathering, then gets a 503.
	scrapeReuse = 500 * time.Millisecond
	scrapeWait  = 15 * time.Second
	// Scrapes of one client address: scrapeBurst at once, then
	// scrapeRate per second; a scrape whose turn is more than scrapeWait
	// away gets a 429.
	scrapeRate  = 4
	scrapeBurst = 8
)

// builtinPaths are the daemon's own endpoints; the telemetry path may not
// take one of them (nor anything under /-/).
var builtinPaths = []string{"/-/healthy", "/-/ready", "/-/reload", reportPath}

// reportPath serves the HTML data-residency report of the current counts.
const reportPath = "/report"

// checkTelemetryPath says why p cannot be the path of /metrics.
func checkTelemetryPath(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty")
	case p[0] != '/':
		return fmt.Errorf("%q must start with \"/\"", p)
	}
	for _, c := range p {
		if !pathChar(c) {
			return fmt.Errorf("%q holds %q: only letters, digits, \"/\" and -._~!$&'()*+,;=:@ are allowed", p, c)
		}
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return fmt.Errorf("%q is not a clean path (%q)", p, clean)
	}
	for _, b := range builtinPaths {
		if p == b {
			return fmt.Errorf("%q is a built-in endpoint", p)
		}
	}
	if strings.HasPrefix(p, "/-/") || p == "/-" {
		return fmt.Errorf("%q: paths under /-/ are reserved for the built-in endpoints", p)
	}
	return nil
}

// pathChar: the characters RFC 3986 allows unescaped in a path segment,
// without "%" (no escapes) and "/".
func pathChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune("/-._~!$&'()*+,;=:@", c)
}

// webConfig is what the web server serves.
type webConfig struct {
	metricPath string
	gatherer   prometheus.Gatherer
	ready      *atomic.Bool
	lifecycle  bool         // --web.enable-lifecycle: POST /-/reload
	reload     func() error // logs its own failures
	// report writes the HTML report of the current counts; nil: no
	// /report.
	report func(w io.Writer) error
	logger *slog.Logger
}

// webServer is the daemon's HTTP server with its limits.
type webServer struct {
	srv     *http.Server
	conns   *connLimiter
	scrapes *scrapeCache
	clients *clientLimiter
	errLog  *limitedLog
	logger  *slog.Logger
	exited  chan struct{} // closed when the serving goroutine returns
}

func newWebServer(c webConfig) (*webServer, error) {
	if err := checkTelemetryPath(c.metricPath); err != nil {
		return nil, fmt.Errorf("--web.telemetry-path %w", err)
	}
	ws := &webServer{
		conns:   newConnLimiter(webMaxConns, webConnWait),
		scrapes: newScrapeCache(c.gatherer, scrapeReuse, c.logger),
		clients: newClientLimiter(scrapeRate, scrapeBurst),
		errLog:  newLimitedLog(c.logger, 10, 6*time.Second),
		logger:  c.logger,
	}
	mux, err := ws.routes(c)
	if err != nil {
		return nil, err
	}
	ws.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: webReadHeaderTimeout,
		ReadTimeout:       webReadTimeout,
		WriteTimeout:      webWriteTimeout,
		IdleTimeout:       webIdleTimeout,
		MaxHeaderBytes:    webMaxHeaderBytes,
		ConnState:         ws.conns.connState,
		ErrorLog:          log.New(ws.errLog, "", 0),
	}
	return ws, nil
}

// routes builds the mux. Registering a pattern panics on a bad or clashing
// one; checkTelemetryPath refuses those first, and a panic left is an error.
func (ws *webServer) routes(c webConfig) (mux *http.ServeMux, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("--web.telemetry-path %q: %v", c.metricPath, r)
		}
	}()
	mux = http.NewServeMux()
	mux.Handle(c.metricPath, ws.scrapes.handler(ws.clients, scrapeWait))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !c.ready.Load() {
			http.Error(w, "Not ready: capture is starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.Handle("/-/reload", reloadHandler(c.lifecycle, ws.reload(c.reload), c.logger))
	links := []web.LandingLinks{{Address: c.metricPath, Text: "Metrics"}, {Address: "/-/healthy", Text: "Health"}, {Address: "/-/ready", Text: "Readiness"}}
	if c.report != nil {
		mux.Handle(reportPath, reportHandler(c.report, ws.clients, scrapeWait, c.logger))
		links = append(links, web.LandingLinks{Address: reportPath, Text: "Data-residency report (HTML)"})
	}
	if c.metricPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "borderwatch",
			Description: "Where your traffic goes: bytes by remote country, AS, hosting provider and app, and how much leaves the home region.",
			Version:     version.Info(),
			Links:       links,
		})
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// reload wraps a reload so that the next scrape is gathered afresh.
func (ws *webServer) reload(f func() error) func() error {
	return func() error {
		defer ws.scrapes.forget()
		return f()
	}
}

// start serves in the background; the channel gets the error that ends
// serving (http.ErrServerClosed after stop).
func (ws *webServer) start(flags *web.FlagConfig) <-chan error {
	done := make(chan error, 1)
	ws.exited = make(chan struct{})
	go func() {
		defer close(ws.exited)
		done <- web.ListenAndServe(ws.srv, flags, ws.logger)
	}()
	return done
}

// stop lets requests in flight finish for up to 5 s, then closes, and
// waits for the serving goroutine (so that nothing logs after the daemon
// returned, e.g. when a later start step fails).
func (ws *webServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.srv.Shutdown(ctx); err != nil {
		ws.srv.Close()
	}
	if ws.exited != nil {
		select {
		case <-ws.exited:
		case <-ctx.Done():
		}
	}
}

// reloadHandler serves /-/reload: only with --web.enable-lifecycle, only
// POST without a body, never across origins (a browser's "simple" POST
// from another site), and the reason of a failure goes to the log, not to
// the client.
func reloadHandler(enabled bool, reload func() error, logger *slog.Logger) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !enabled:
			http.Error(w, "Lifecycle API is not enabled: start borderwatch with --web.enable-lifecycle (SIGHUP always reloads).", http.StatusForbidden)
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
		case r.ContentLength != 0: // -1: chunked or unknown
			w.Header().Set("Connection", "close")
			http.Error(w, "a reload takes no request body", http.StatusRequestEntityTooLarge)
		default:
			logger.Info("reload requested over HTTP", "remote", r.RemoteAddr)
			if err := reload(); err != nil {
				http.Error(w, "reload failed, the running configuration stays: see the daemon's log", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "configuration reloaded")
		}
	})
	return http.NewCrossOriginProtection().Handler(h)
}

// reportHandler serves the HTML report of the current counts: GET or
// HEAD, in the client address' turns like a scrape (a report sums every
// series and draws the map), rendered whole before it is sent so that a
// failure is a 500, never half a page. The page fetches nothing, and its
// Content-Security-Policy says so to the browser.
func reportHandler(write func(io.Writer) error, perClient *clientLimiter, wait time.Duration, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inTurn(w, r, perClient, wait, "requests") {
			return
		}
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			logger.Error("writing the HTML report", "err", err)
			http.Error(w, "error writing the report: see the daemon's log", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method != http.MethodHead {
			w.Write(buf.Bytes())
		}
	})
}

// webCollector exports the web server's own counters.
type webCollector struct {
	ws                                   *webServer
	gathers, shared, refused, suppressed *prometheus.Desc
	evicted, open                        *prometheus.Desc
	delayed, tooMany                     *prometheus.Desc
}

func newWebCollector(ws *webServer) *webCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("borderwatch_web_"+name, help, nil, nil)
	}
	return &webCollector{ws: ws,
		gathers:    d("scrape_gatherings_total", "Metric gatherings done for scrapes."),
		shared:     d("scrapes_shared_total", "Scrapes answered with an exposition gathered for another scrape (in flight, or ended less than 0.5 s before)."),
		open:       d("connections_open", "HTTP connections open."),
		delayed:    d("scrapes_delayed_total", "Scrapes that waited for their turn in their client address' rate."),
		tooMany:    d("scrapes_refused_total", "Scrapes answered 429: their client address' turn was too far away."),
		refused:    d("connections_refused_total", "HTTP connections closed unanswered because the connection limit was reached."),
		evicted:    d("connections_idle_closed_total", "Idle keep-alive connections closed to make room for a new connection at the limit."),
		suppressed: d("log_messages_suppressed_total", "HTTP server messages (e.g. TLS handshake errors) not logged because of the rate limit."),
	}
}

func (c *webCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.gathers, c.shared, c.delayed, c.tooMany, c.open, c.refused, c.evicted, c.suppressed} {
		ch <- d
	}
}

func (c *webCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.gathers, c.ws.scrapes.gathers.Load())
	counter(c.shared, c.ws.scrapes.shared.Load())
	counter(c.delayed, c.ws.clients.delayed.Load())
	counter(c.tooMany, c.ws.clients.refused.Load())
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(c.ws.conns.open()))
	counter(c.refused, c.ws.conns.refused.Load())
	counter(c.evicted, c.ws.conns.evicted.Load())
	counter(c.suppressed, c.ws.errLog.suppressed.Load())
}
