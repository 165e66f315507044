//go:build linux

package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Reopening backoff of a socket whose interface went away.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// LiveGroup captures one interface with several sockets in one
// PACKET_FANOUT_HASH group: the kernel hashes both directions of a flow to
// the same socket, and socket i feeds one reader (flow worker i). Each
// socket is a Source that survives the interface going down, or being
// deleted and re-created: it closes, and reopens with backoff when the
// interface is back. The group counts outages, sums the kernel counters of
// its sockets across reopenings and warns (at most once a minute) while
// the kernel drops.
type LiveGroup struct {
	iface   string
	logger  *slog.Logger
	sockets []*LiveSocket
	want    int32        // sockets
	up      atomic.Int32 // sockets open
	down    atomic.Bool  // an outage is under way (counted once)
	outages atomic.Uint64

	mu     sync.Mutex
	closed LiveStats // of the sockets already closed
	open   map[*Live]struct{}

	stop chan struct{}
	done chan struct{}
}

// LiveSocket is one socket of a LiveGroup. Next never blocks longer than
// the poll timeout, also while the interface is away. Not safe for
// concurrent use.
type LiveSocket struct {
	g         *LiveGroup
	cfg       LiveConfig
	l         *Live // nil while the interface is away
	lt        layers.LinkType
	backoff   time.Duration
	retry     time.Time // next reopening attempt
	lastCheck time.Time
	closed    bool
}

// FanoutGroupID derives a fan-out group id from the process and the
// interface's position: groups are global to the network namespace, so
// two borderwatch processes must not share one.
func FanoutGroupID(k int) uint16 {
	group := uint16((os.Getpid()*31 + k*7919) & 0xffff)
	if group == 0 {
		group = 1
	}
	return group
}

// OpenLiveGroup opens n sockets on cfg.Interface (joined in fan-out group
// cfg.FanoutGroup when n > 1). An interface that is down is not an error:
// its sockets open once it is up. Any other error closes what was opened.
func OpenLiveGroup(cfg LiveConfig, n int, logger *slog.Logger) (*LiveGroup, error) {
	if n < 1 {
		n = 1
	}
	if n == 1 {
		cfg.FanoutGroup = 0
	}
	lt, err := LiveLinkType(cfg.Interface)
	if err != nil {
		return nil, err
	}
	g := &LiveGroup{iface: cfg.Interface, logger: logger, want: int32(n), open: map[*Live]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
	for range n {
		s := &LiveSocket{g: g, cfg: cfg, lt: lt, backoff: minBackoff}
		l, err := OpenLive(cfg)
		switch {
		case errors.Is(err, ErrInterfaceDown):
			// Capture starts when it comes up; not an outage.
			if g.down.CompareAndSwap(false, true) {
				logger.Warn("interface is down: capturing once it is up", "interface", cfg.Interface)
			}
		case err != nil:
			for _, s := range g.sockets {
				s.Close()
			}
			return nil, err
		default:
			s.l = l
			g.add(l)
		}
		g.sockets = append(g.sockets, s)
	}
	go g.watchDrops()
	return g, nil
}

// Interface returns the captured interface's name.
func (g *LiveGroup) Interface() string { return g.iface }

// Sockets returns the group's sockets; socket i is to be read by worker i.
func (g *LiveGroup) Sockets() []*LiveSocket { return g.sockets }

// Up reports whether every socket of the group is open.
func (g *LiveGroup) Up() bool { return g.up.Load() == g.want }

// Outages returns how many times the interface went down or away.
func (g *LiveGroup) Outages() uint64 { return g.outages.Load() }

// Stats returns the kernel counters summed over the group's sockets, the
// closed ones included.
func (g *LiveGroup) Stats() LiveStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.closed
	for l := range g.open {
		if st, err := l.Stats(); err == nil {
			t.add(st)
		}
	}
	return t
}

// Close stops the drop warnings and closes the sockets still open. Call
// it once the sockets' readers have stopped.
func (g *LiveGroup) Close() error {
	select {
	case <-g.stop:
		return nil
	default:
	}
	close(g.stop)
	<-g.done
	for _, s := range g.sockets {
		s.Close()
	}
	return nil
}

func (s *LiveStats) add(o LiveStats) {
	s.Received += o.Received
	s.Dropped += o.Dropped
	s.Freezes += o.Freezes
}

// add records an open socket; it reports whether every socket of the
// interface is open again after an outage.
func (g *LiveGroup) add(l *Live) (back bool) {
	g.mu.Lock()
	g.open[l] = struct{}{}
	g.mu.Unlock()
	if g.up.Add(1) == g.want {
		return g.down.CompareAndSwap(true, false)
	}
	return false
}

// remove closes a socket, keeping its counters.
func (g *LiveGroup) remove(l *Live) {
	g.mu.Lock()
	if st, err := l.Stats(); err == nil {
		g.closed.add(st)
	}
	delete(g.open, l)
	l.Close()
	g.mu.Unlock()
	g.up.Add(-1)
}

// watchDrops warns, at most once a minute, while the kernel drops.
func (g *LiveGroup) watchDrops() {
	defer close(g.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	var lastWarn time.Time
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			d := g.Stats().Dropped
			if d > last && now.Sub(lastWarn) >= time.Minute {
				g.logger.Warn("the kernel drops packets, counts are too low: more workers (--workers), a larger ring (--capture.num-blocks) or a capture filter help", "interface", g.iface, "dropped", d-last)
				lastWarn = now
			}
			last = d
		}
	}
}

// LinkType returns the link type of the interface's frames.
func (s *LiveSocket) LinkType() layers.LinkType { return s.lt }

// Next returns the next frame, or ErrTimeout after the poll timeout
// (also while the interface is away and the socket waits to reopen).
func (s *LiveSocket) Next() (data []byte, lt layers.LinkType, ts int64, err error) {
	if s.l == nil && !s.reopen() {
		return nil, 0, 0, ErrTimeout
	}
	data, lt, ts, err = s.l.Next()
	if err == nil {
		return data, lt, ts, nil
	}
	if errors.Is(err, ErrTimeout) {
		if time.Since(s.lastCheck) < time.Second {
			return nil, 0, 0, ErrTimeout
		}
		s.lastCheck = time.Now()
		if s.l.Alive() {
			return nil, 0, 0, ErrTimeout
		}
		err = fmt.Errorf("%s: %w", s.cfg.Interface, errGone)
	}
	// The interface went down or away (the kernel reports ENETDOWN on
	// the socket, or it has a new index): count the outage once per
	// interface, reopen later.
	if s.g.down.CompareAndSwap(false, true) {
		s.g.outages.Add(1)
		s.g.logger.Warn("interface down or gone: capturing again when it returns", "interface", s.cfg.Interface, "err", err)
	}
	s.g.remove(s.l)
	s.l = nil
	s.backoff, s.retry = minBackoff, time.Now().Add(minBackoff)
	return nil, 0, 0, ErrTimeout
}

var errGone = errors.New("interface down, or deleted and re-created")

// reopen tries to open the socket again when its backoff is over; before
// that it waits, at most the poll timeout.
func (s *LiveSocket) reopen() bool {
	if s.closed {
		return false
	}
	if dt := time.Until(s.retry); dt > 0 {
		time.Sleep(min(dt, max(s.cfg.PollTimeout, time.Millisecond)))
		return false
	}
	l, err := OpenLive(s.cfg)
	if err != nil {
		s.backoff = min(s.backoff*2, maxBackoff)
		s.retry = time.Now().Add(s.backoff)
		return false
	}
	s.l, s.backoff, s.lastCheck = l, minBackoff, time.Now()
	if s.g.add(l) {
		s.g.logger.Info("interface is back: capturing again", "interface", s.cfg.Interface)
	}
	return true
}

// Close closes the socket (its counters stay in the group's).
func (s *LiveSocket) Close() error {
	s.closed = true
	if s.l != nil {
		s.g.remove(s.l)
		s.l = nil
	}
	return nil
}
