package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrapeCache shares gatherings between concurrent scrapes, so that any
// number of clients cost one gathering (and one flush of the workers) at a
// time and at most one every scrapeReuse, and a slow or hostile client
// cannot starve the real scraper: every response is a shared, already
// encoded byte slice.
type scrapeCache struct {
	g      prometheus.Gatherer
	reuse  time.Duration
	logger *slog.Logger

	mu  sync.Mutex
	cur *exposition

	// writing: expositions still being written to a client. While
	// maxWriting of them are (slow clients), a scrape gets the last
	// exposition however old rather than a new one: memory stays bounded.
	writing    atomic.Int64
	maxWriting int64

	gathers, shared atomic.Uint64
}

// exposition is one gathering and its encodings, made once per format.
type exposition struct {
	done  chan struct{} // closed when gathered
	ended time.Time
	mfs   []*dto.MetricFamily
	err   error

	mu  sync.Mutex
	enc map[string]*encoding

	writers *atomic.Int64 // responses being written from it
}

type encoding struct {
	once sync.Once
	body []byte
	err  error
}

func newScrapeCache(g prometheus.Gatherer, reuse time.Duration, logger *slog.Logger) *scrapeCache {
	return &scrapeCache{g: g, reuse: reuse, logger: logger, maxWriting: 4}
}

// get returns the gathering in flight, or the last one if it ended less
// than reuse ago, or starts a new one.
func (c *scrapeCache) get() *exposition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.cur; e != nil {
		select {
		case <-e.done:
			if time.Since(e.ended) < c.reuse || c.writing.Load() >= c.maxWriting {
				c.shared.Add(1)
				return e
			}
		default:
			c.shared.Add(1)
			return e
		}
	}
	e := &exposition{done: make(chan struct{}), enc: map[string]*encoding{}, writers: new(atomic.Int64)}
	c.cur = e
	c.gathers.Add(1)
	// Not bound to the request: a client that leaves does not cancel the
	// gathering the others wait for.
	go func() {
		e.mfs, e.err = c.g.Gather()
		if e.err != nil {
			c.logger.Error("gathering metrics", "err", e.err)
		}
		e.ended = time.Now()
		close(e.done)
	}()
	return e
}

// forget drops the last exposition (after a reload: the next scrape shows
// the new state). A gathering in flight is still shared.
func (c *scrapeCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.cur; e != nil {
		select {
		case <-e.done:
			c.cur = nil
		default:
		}
	}
}

// encoded returns the exposition in format f, gzipped or not.
func (e *exposition) encoded(f expfmt.Format, gz bool) ([]byte, error) {
	key := string(f)
	if gz {
		key += ";gzip"
	}
	e.mu.Lock()
	en := e.enc[key]
	if en == nil {
		en = &encoding{}
		e.enc[key] = en
	}
	e.mu.Unlock()
	en.once.Do(func() {
		var buf bytes.Buffer
		var zw *gzip.Writer
		enc := expfmt.NewEncoder(&buf, f)
		if gz {
			zw = gzip.NewWriter(&buf)
			enc = expfmt.NewEncoder(zw, f)
		}
		for _, mf := range e.mfs {
			if en.err = enc.Encode(mf); en.err != nil {
				return
			}
		}
		if cl, ok := enc.(expfmt.Closer); ok {
			if en.err = cl.Close(); en.err != nil {
				return
			}
		}
		if zw != nil {
			if en.err = zw.Close(); en.err != nil {
				return
			}
		}
		en.body = bytes.Clone(buf.Bytes()) // no spare capacity pinned
	})
	return en.body, en.err
}

// inTurn answers a request that is not GET or HEAD with 405, and one that
// did not get its client address' turn (perClient) within wait with 429
// ("too many <what> from this address"); it reports whether to serve it.
func inTurn(w http.ResponseWriter, r *http.Request, perClient *clientLimiter, wait time.Duration, what string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return false
	}
	if !perClient.wait(r, wait) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many "+what+" from this address", http.StatusTooManyRequests)
		return false
	}
	return true
}

// handler serves the shared exposition; a scrape waits for its turn in
// its client address' rate (perClient) and at most wait in all.
func (c *scrapeCache) handler(perClient *clientLimiter, wait time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inTurn(w, r, perClient, wait, "scrapes") {
			return
		}
		e := c.get()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-e.done:
		case <-r.Context().Done():
			return
		case <-t.C:
			http.Error(w, "gathering the metrics takes too long", http.StatusServiceUnavailable)
			return
		}
		if e.err != nil {
			http.Error(w, "error gathering metrics: see the daemon's log", http.StatusInternalServerError)
			return
		}
		f := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
		body, err := e.encoded(f, gz)
		if err != nil {
			c.logger.Error("encoding metrics", "err", err)
			http.Error(w, "error encoding metrics: see the daemon's log", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", string(f))
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		if gz {
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		// Only body stays referenced while a slow client reads it.
		writers := e.writers
		if writers.Add(1) == 1 {
			c.writing.Add(1)
		}
		w.Write(body)
		if writers.Add(-1) == 0 {
			c.writing.Add(-1)
		}
	})
}

// acceptsGzip: Accept-Encoding lists gzip (or *) with a non-zero q.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// clientLimiter queues the scrapes of each client address to a rate
// (a token bucket per address: burst at once, then one every 1/rate): a
// local client looping on /metrics waits for its own turn and leaves the
// CPU, and the scrapes of any other address, alone.
type clientLimiter struct {
	rate, burst float64
	tarpit      time.Duration // how long a refused scrape waits for its 429

	mu sync.Mutex
	m  map[netip.Addr]*bucket

	delayed, refused atomic.Uint64
}

type bucket struct {
	tokens float64 // negative: scrapes waiting
	last   time.Time
}

func newClientLimiter(rate float64, burst int) *clientLimiter {
	return &clientLimiter{rate: rate, burst: float64(burst), tarpit: time.Second, m: map[netip.Addr]*bucket{}}
}

// reserve takes the next turn of addr and says how long to wait for it; a
// turn further than max is not taken (ok false).
func (l *clientLimiter) reserve(addr netip.Addr, now time.Time, max time.Duration) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[addr]
	if b == nil {
		if len(l.m) >= 4096 {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[addr] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	d := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	if d > max {
		return 0, false
	}
	b.tokens--
	return d, true
}

// sweep forgets the addresses whose bucket is full again.
func (l *clientLimiter) sweep(now time.Time) {
	for a, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, a)
		}
	}
}

// wait waits for the request's turn; false: none within max (or the
// client left).
func (l *clientLimiter) wait(r *http.Request, max time.Duration) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return true // not TCP (e.g. vsock): no per-address limit
	}
	d, ok := l.reserve(ap.Addr().Unmap(), time.Now(), max)
	if ok && d == 0 {
		return true
	}
	if ok {
		l.delayed.Add(1)
	} else {
		// The 429 waits a second too, so that a client looping on it
		// does not spin (at thousands of requests a second).
		l.refused.Add(1)
		d = l.tarpit
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ok
	case <-r.Context().Done():
		return false
	}
}

// connLimiter bounds the connections served at once, from the server's
// ConnState hook (which net/http calls for a new connection in the accept
// loop, before serving it: waiting there queues new connections in the
// kernel's backlog).
type connLimiter struct {
	slots chan struct{}
	wait  time.Duration

	mu   sync.Mutex
	held map[net.Conn]bool // value: idle

	refused, evicted atomic.Uint64
}

func newConnLimiter(max int, wait time.Duration) *connLimiter {
	return &connLimiter{slots: make(chan struct{}, max), wait: wait, held: map[net.Conn]bool{}}
}

func (l *connLimiter) open() int { return len(l.slots) }

func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		if !l.acquire() {
			l.refused.Add(1)
			c.Close()
			return
		}
		l.mu.Lock()
		l.held[c] = false
		l.mu.Unlock()
	case http.StateActive, http.StateIdle:
		l.mu.Lock()
		if _, ok := l.held[c]; ok {
			l.held[c] = s == http.StateIdle
		}
		l.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		l.mu.Lock()
		_, ok := l.held[c]
		delete(l.held, c)
		l.mu.Unlock()
		if ok {
			<-l.slots
		}
	}
}

// acquire takes a slot: a free one, else the one of an idle keep-alive
// connection (closed for it), else one freed within the wait.
func (l *connLimiter) acquire() bool {
	deadline := time.Now().Add(l.wait)
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		l.closeIdle()
		time.Sleep(5 * time.Millisecond)
	}
}

// closeIdle closes one idle keep-alive connection; its StateClosed frees
// its slot.
func (l *connLimiter) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, idle := range l.held {
		if idle {
			l.held[c] = false // closed once
			c.Close()
			l.evicted.Add(1)
			return
		}
	}
}

// limitedLog is the http.Server's ErrorLog: its lines (TLS handshake
// errors, bad requests the server answers itself) go to the logger, at
// most burst lines and then one per every interval, so that a peer cannot
// flood the log. The next line logged says how many were suppressed.
type limitedLog struct {
	logger   *slog.Logger
	burst    float64
	interval time.Duration

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	pending    uint64 // suppressed since the last line logged
	suppressed atomic.Uint64
}

func newLimitedLog(logger *slog.Logger, burst int, interval time.Duration) *limitedLog {
	return &limitedLog{logger: logger, burst: float64(burst), interval: interval, tokens: float64(burst), last: time.Now()}
}

func (l *limitedLog) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
	l.last = now
	if l.tokens < 1 {
		l.pending++
		l.mu.Unlock()
		l.suppressed.Add(1)
		return len(p), nil
	}
	l.tokens--
	n := l.pending
	l.pending = 0
	l.mu.Unlock()
	msg := strings.TrimSpace(string(p))
	level := slog.LevelError
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelWarn // the peer's doing
	}
	attrs := []any{"component", "web"}
	if n > 0 {
		attrs = append(attrs, "suppressed_before", n)
	}
	l.logger.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}
