package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestTelemetryPathRefused: a bad --web.telemetry-path is a one-line usage
// error (exit 2) before anything starts, never a panic.
func TestTelemetryPathRefused(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"", "must not be empty"},
		{"metrics", `must start with "/"`},
		{"/-/healthy", "built-in endpoint"},
		{"/-/reload", "built-in endpoint"},
		{"/-/other", "reserved"},
		{"/a b", `holds ' '`},
		{"/m/{x}", `holds '{'`},
		{"/a%20b", `holds '%'`},
		{"/a/../metrics", "not a clean path"},
		{"//metrics", "not a clean path"},
		{"GET /metrics", `must start with "/"`},
	} {
		_, stderr, code := borderwatch(t, "run", "--capture.file", "../../testdata/sample.pcap.gz", "--web.telemetry-path", c.path)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(stderr, "--web.telemetry-path") || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q", c.path, code, stderr, c.want)
		}
	}
	// Good paths build a server (registering a pattern would panic).
	for _, p := range []string{"/", "/metrics", "/metrics/", "/probe/borderwatch", "/a-b_c.d~e"} {
		if err := checkTelemetryPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
		if _, err := newWebServer(testWebConfig(p, prometheus.NewRegistry())); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func testWebConfig(path string, g prometheus.Gatherer) webConfig {
	var ready atomic.Bool
	ready.Store(true)
	return webConfig{metricPath: path, gatherer: g, ready: &ready, reload: func() error { return nil }, logger: slog.New(slog.DiscardHandler)}
}

// slowGatherer counts its gatherings; each waits for gate (if set).
type slowGatherer struct {
	gate chan struct{}
	n    atomic.Int64
}

func (g *slowGatherer) Gather() ([]*dto.MetricFamily, error) {
	n := g.n.Add(1)
	if g.gate != nil {
		<-g.gate
	}
	name, help := "test_gathering", "gathering number"
	typ := dto.MetricType_GAUGE
	v := float64(n)
	return []*dto.MetricFamily{{Name: &name, Help: &help, Type: &typ, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}, nil
}

// TestScrapesShareGathering: 200 concurrent scrapes all get a 200 and
// cost one gathering (the old handler answered 503 past 4 in flight and
// gathered for each); a scrape after the reuse window gathers again.
func TestScrapesShareGathering(t *testing.T) {
	g := &slowGatherer{gate: make(chan struct{})}
	ws, err := newWebServer(testWebConfig("/metrics", g))
	if err != nil {
		t.Fatal(err)
	}
	ws.clients.rate, ws.clients.burst = 1e9, 1e9 // one address here; TestPerClientRate

	srv := httptest.NewServer(ws.srv.Handler)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 300}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	codes := make(chan string, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(srv.URL + "/metrics")
			if err != nil {
				codes <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes <- fmt.Sprintf("%d %s", resp.StatusCode, grepLines(string(b), "test_gathering 1"))
		}()
	}
	// Every scrape is waiting for the first gathering before it ends.
	for ws.scrapes.shared.Load() < 199 {
		time.Sleep(time.Millisecond)
	}
	close(g.gate) // later gatherings pass at once
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != "200 test_gathering 1" {
			t.Errorf("a scrape got %q", c)
			break
		}
	}
	if n := g.n.Load(); n != 1 {
		t.Errorf("%d gatherings for 200 concurrent scrapes, want 1", n)
	}
	time.Sleep(scrapeReuse + 50*time.Millisecond)
	resp, err := client.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "test_gathering 2") {
		t.Errorf("after the reuse window: %s", b)
	}
	// gzip is encoded once and decoded by the client transparently.
	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("no gzip: %v", resp.Header)
	}
}

// TestPerClientRate: the scrapes of one address beyond the burst wait for
// their turn at the rate, or get a 429 when it is too far away; another
// address is served at once.
func TestPerClientRate(t *testing.T) {
	g := &slowGatherer{}
	ws, err := newWebServer(testWebConfig("/metrics", g))
	if err != nil {
		t.Fatal(err)
	}
	h := ws.srv.Handler
	scrape := func(from string) (int, time.Duration) {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = from
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, time.Since(start)
	}
	for i := range scrapeBurst {
		if code, d := scrape("192.0.2.1:1000"); code != 200 || d > 100*time.Millisecond {
			t.Fatalf("scrape %d of the burst: %d after %v", i, code, d)
		}
	}
	code, d := scrape("192.0.2.1:1001")
	if code != 200 || d < 200*time.Millisecond || d > 400*time.Millisecond {
		t.Errorf("past the burst: %d after %v, want 200 after about %v", code, d, time.Second/scrapeRate)
	}
	if code, d := scrape("[2001:db8::1]:1000"); code != 200 || d > 100*time.Millisecond {
		t.Errorf("another address: %d after %v, want at once", code, d)
	}
	// Take the turns of the next 15 s: the next scrape gets a 429 (after a
	// second, so that a loop on 429 does not spin).
	if _, ok := ws.clients.reserve(netip.MustParseAddr("192.0.2.1"), time.Now(), time.Minute); !ok {
		t.Fatal("no reservation")
	}
	for range int(scrapeWait.Seconds() * scrapeRate) {
		ws.clients.reserve(netip.MustParseAddr("192.0.2.1"), time.Now(), time.Minute)
	}
	if code, d := scrape("192.0.2.1:1002"); code != 429 || d < 900*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("turn too far: %d after %v, want 429 after 1 s", code, d)
	}
	if ws.clients.delayed.Load() != 1 || ws.clients.refused.Load() != 1 {
		t.Errorf("delayed %d, refused %d", ws.clients.delayed.Load(), ws.clients.refused.Load())
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{"": false, "gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "gzip;q=0": false, "identity": false, "*": true, "GZIP ; q=0.5": true} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("%q: %v", h, got)
		}
	}
}

// TestReloadEndpoint: /-/reload only with the lifecycle flag, only POST
// without a body, never a cross-origin browser request, and the reason of
// a failure stays in the log.
func TestReloadEndpoint(t *testing.T) {
	var calls atomic.Int64
	fail := errors.New("configuration not reloaded: /etc/secret/bw.yml:4: bad prefix")
	var result error
	reload := func() error { calls.Add(1); return result }
	for _, c := range []struct {
		name      string
		enabled   bool
		method    string
		body      string
		header    map[string]string
		result    error
		code      int
		reloads   int64
		notInBody string
	}{
		{"disabled", false, "POST", "", nil, nil, 403, 0, ""},
		{"GET", true, "GET", "", nil, nil, 405, 0, ""},
		{"PUT", true, "PUT", "", nil, nil, 405, 0, ""},
		{"DELETE", true, "DELETE", "", nil, nil, 405, 0, ""},
		{"a body", true, "POST", "x", nil, nil, 413, 0, ""},
		{"a cross-site simple POST", true, "POST", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, nil, 403, 0, ""},
		{"a cross-origin POST without Sec-Fetch-Site", true, "POST", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, nil, 403, 0, ""},
		{"failure", true, "POST", "", nil, fail, 500, 1, "bw.yml"},
		{"success", true, "POST", "", nil, nil, 200, 1, ""},
		{"curl", true, "POST", "", map[string]string{"User-Agent": "curl/8"}, nil, 200, 1, ""},
	} {
		calls.Store(0)
		result = c.result
		srv := httptest.NewServer(reloadHandler(c.enabled, reload, slog.New(slog.DiscardHandler)))
		req, _ := http.NewRequest(c.method, srv.URL+"/-/reload", strings.NewReader(c.body))
		if c.body == "" {
			req.Body = nil
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != c.code || calls.Load() != c.reloads || (c.notInBody != "" && strings.Contains(string(b), c.notInBody)) {
			t.Errorf("%s: %d %q, %d reloads; want %d, %d reloads", c.name, resp.StatusCode, b, calls.Load(), c.code, c.reloads)
		}
		if c.code == 405 && resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", c.name, resp.Header.Get("Allow"))
		}
	}
}

// TestServerErrorLog: the server's own messages (here TLS handshake
// errors from a peer speaking plain text) go through the slog logger in
// its format, at most the burst and then one per interval, the rest
// counted.
func TestServerErrorLog(t *testing.T) {
	var buf syncBuffer
	cfg := testWebConfig("/metrics", prometheus.NewRegistry())
	cfg.logger = slog.New(slog.NewJSONHandler(&buf, nil))
	ws, err := newWebServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(ws.srv.Handler)
	srv.Config.ErrorLog = ws.srv.ErrorLog
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	const peers = 30
	for range peers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		io.Copy(io.Discard, c)
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for ws.errLog.suppressed.Load()+uint64(strings.Count(buf.String(), "\n")) < peers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 10 || !strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], "TLS handshake error") || !strings.Contains(lines[0], `"component":"web"`) {
		t.Errorf("%d lines logged, want the burst of 10 as JSON warnings: %s", len(lines), buf.String())
	}
	if n := ws.errLog.suppressed.Load(); n != peers-10 {
		t.Errorf("%d suppressed, want %d", n, peers-10)
	}
	// One more line once a token is back says how many were suppressed.
	ws.errLog.mu.Lock()
	ws.errLog.tokens = 1
	ws.errLog.mu.Unlock()
	ws.errLog.Write([]byte("http: something\n"))
	if !strings.Contains(buf.String(), `"suppressed_before":20`) || !strings.Contains(buf.String(), `"level":"ERROR","msg":"http: something"`) {
		t.Errorf("no suppressed count: %s", buf.String())
	}
}

// syncBuffer is safe to read while a process or logger writes to it.
type syncBuffer = testenv.SyncBuffer

// TestConnLimiter: past the limit an idle keep-alive connection is closed
// to make room; with none idle a new connection waits, then is closed
// unanswered.
func TestConnLimiter(t *testing.T) {
	l := newConnLimiter(2, 200*time.Millisecond)
	// Not httptest: its ConnState wrapper holds a lock while our hook waits.
	addr := serve(t, &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }),
		ConnState: l.connState,
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	a, b := dial(), dial()
	if err := get(a); err != nil { // a is now idle
		t.Fatal(err)
	}
	fmt.Fprintf(b, "GET / HTTP/1.1\r\n") // b is busy: headers half sent
	c := dial()
	if err := get(c); err != nil {
		t.Fatalf("a third connection with one idle: %v", err)
	}
	if l.evicted.Load() != 1 {
		t.Errorf("evicted %d", l.evicted.Load())
	}
	if err := get(a); err == nil {
		t.Errorf("the idle connection was not closed")
	}
	// b busy, c idle: the next one takes c's slot; then, with b and d busy
	// (a request's headers half sent: an idle connection with half a next
	// request counts as idle), e waits and is refused.
	d := dial()
	fmt.Fprintf(d, "GET / HTTP/1.1\r\n")
	for l.evicted.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	e := dial()
	if err := get(e); err == nil {
		t.Errorf("a connection past the limit was served")
	}
	if l.refused.Load() != 1 || l.open() != 2 {
		t.Errorf("refused %d, open %d", l.refused.Load(), l.open())
	}
}

// TestSlowReaderDisconnected: a client that asks for /metrics and never
// reads is disconnected when the write timeout passes (there was none).
func TestSlowReaderDisconnected(t *testing.T) {
	if webWriteTimeout <= 0 || webIdleTimeout <= 0 || webReadHeaderTimeout <= 0 {
		t.Fatal("a timeout is unset")
	}
	reg := prometheus.NewRegistry()
	big := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_big", Help: "h"}, []string{"l"})
	for i := range 100000 {
		big.WithLabelValues(fmt.Sprintf("value-%06d-%s", i, strings.Repeat("x", 40))).Set(float64(i))
	}
	reg.MustRegister(big)
	ws, err := newWebServer(testWebConfig("/metrics", reg))
	if err != nil {
		t.Fatal(err)
	}
	if ws.srv.WriteTimeout != webWriteTimeout || ws.srv.IdleTimeout != webIdleTimeout || ws.srv.ReadHeaderTimeout != webReadHeaderTimeout || ws.srv.MaxHeaderBytes != webMaxHeaderBytes {
		t.Errorf("server limits not set: %+v", ws.srv)
	}
	ws.srv.WriteTimeout = time.Second // the real one is 20 s
	c, err := net.Dial("tcp", serve(t, ws.srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	for ws.conns.open() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	// Bounded by the write timeout once the gathering is done (slow under -race).
	for ws.conns.open() > 0 && time.Since(start) < 30*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if ws.conns.open() > 0 {
		t.Errorf("a client that does not read still holds its connection after %v", time.Since(start))
	}
}

// serve runs srv on a loopback port until the test ends.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// TestSlowClientsBoundExpositions: while maxWriting expositions are still
// being written to slow clients, a scrape gets the last one instead of a
// new gathering (each would stay pinned by its slow client).
func TestSlowClientsBoundExpositions(t *testing.T) {
	g := &slowGatherer{}
	c := newScrapeCache(g, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	e := c.get()
	<-e.done
	c.writing.Store(c.maxWriting)
	time.Sleep(20 * time.Millisecond)
	if c.get() != e || g.n.Load() != 1 {
		t.Errorf("a new gathering while %d expositions are being written", c.maxWriting)
	}
	c.writing.Store(c.maxWriting - 1)
	if e2 := c.get(); e2 == e {
		t.Errorf("no new gathering past the reuse window")
	} else {
		<-e2.done
	}
}
