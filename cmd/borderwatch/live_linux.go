//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/bpf"
)

// ifaceState counts one interface's capture, over all its sockets and
// across reopenings.
type ifaceState struct {
	name    string
	sockets int32
	up      atomic.Int32 // sockets open
	down    atomic.Bool  // an outage is under way (counted once)
	outages atomic.Uint64

	mu     sync.Mutex
	closed capture.LiveStats // of the sockets already closed
	open   map[*capture.Live]struct{}

	lastDrops uint64 // for the drop warning (one goroutine)
	lastWarn  time.Time
}

func (s *ifaceState) stats() capture.LiveStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.closed
	for l := range s.open {
		if st, err := l.Stats(); err == nil {
			t.Received, t.Dropped, t.Freezes = t.Received+st.Received, t.Dropped+st.Dropped, t.Freezes+st.Freezes
		}
	}
	return t
}

// add records an open socket; it reports whether every socket of the
// interface is open again after an outage.
func (s *ifaceState) add(l *capture.Live) (back bool) {
	s.mu.Lock()
	s.open[l] = struct{}{}
	s.mu.Unlock()
	if s.up.Add(1) == s.sockets {
		return s.down.CompareAndSwap(true, false)
	}
	return false
}

func (s *ifaceState) remove(l *capture.Live) {
	s.mu.Lock()
	if st, err := l.Stats(); err == nil {
		s.closed.Received += st.Received
		s.closed.Dropped += st.Dropped
		s.closed.Freezes += st.Freezes
	}
	delete(s.open, l)
	l.Close()
	s.mu.Unlock()
	s.up.Add(-1)
}

// liveCollector exports the capture counters per interface.
type liveCollector struct {
	states                                       []*ifaceState
	packets, drops, freezes, qdrops, up, outages *prometheus.Desc
}

func newLiveCollector(states []*ifaceState) *liveCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("borderwatch_capture_"+name, help, []string{"interface"}, nil)
	}
	return &liveCollector{states: states,
		packets: d("packets_total", "Frames the kernel placed in borderwatch's capture rings (after the capture filter, drops excluded), per interface."),
		drops:   d("kernel_drops_total", "Frames the kernel dropped because a capture ring was full, per interface."),
		freezes: d("kernel_freezes_total", "TPACKET_V3 ring queue freezes (the ring was full), per interface."),
		qdrops:  d("queue_drops_total", "Frames dropped between capture and the flow workers (always 0: the capture goroutines block instead, so a backlog shows as kernel drops)."),
		up:      d("interface_up", "1 while every capture socket of the interface is open, 0 during an outage."),
		outages: d("interface_outages_total", "Times the interface went down or disappeared while captured."),
	}
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.drops, c.freezes, c.qdrops, c.up, c.outages} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.states {
		st := s.stats()
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(st.Delivered()), s.name)
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(st.Dropped), s.name)
		ch <- prometheus.MustNewConstMetric(c.freezes, prometheus.CounterValue, float64(st.Freezes), s.name)
		ch <- prometheus.MustNewConstMetric(c.qdrops, prometheus.CounterValue, 0, s.name)
		up := 0.0
		if s.up.Load() == s.sockets {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.name)
		ch <- prometheus.MustNewConstMetric(c.outages, prometheus.CounterValue, float64(s.outages.Load()), s.name)
	}
}

// captureFilter compiles --capture.filter (tcpdump syntax, for frames of
// the interface's link type) or reads --capture.filter-bpf; nil: none.
func captureFilter(o *options, iface string, fc **capture.FilterCompiler) ([]bpf.RawInstruction, error) {
	switch {
	case o.filter != "" && o.filterBPF != "":
		return nil, errors.New("give --capture.filter or --capture.filter-bpf, not both")
	case o.filterBPF != "":
		f, err := os.Open(o.filterBPF)
		if err != nil {
			return nil, fmt.Errorf("--capture.filter-bpf: %w", err)
		}
		defer f.Close()
		prog, err := capture.ParseRawBPF(f)
		if err != nil {
			return nil, fmt.Errorf("--capture.filter-bpf %s: %w", o.filterBPF, err)
		}
		return prog, nil
	case o.filter != "":
		lt, err := capture.LiveLinkType(iface)
		if err != nil {
			return nil, err
		}
		if *fc == nil {
			if *fc, err = capture.NewFilterCompiler(nil); err != nil {
				return nil, fmt.Errorf("--capture.filter: %w", err)
			}
		}
		prog, err := (*fc).Compile(o.filter, lt, o.snapLen)
		if err != nil {
			return nil, fmt.Errorf("--capture.filter: %w", err)
		}
		return prog, nil
	}
	return nil, nil
}

// startLive opens N sockets per interface (N = workers) in one fan-out
// group per interface; socket i feeds worker i, so the kernel's flow hash
// is the dispatch and no packet crosses a lock. It returns once every
// socket is open (or with the first error), then drops the capabilities
// it no longer needs.
func startLive(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, wg *sync.WaitGroup) error {
	type sock struct {
		st  *ifaceState
		cfg capture.LiveConfig
		l   *capture.Live
		i   int
	}
	if len(o.interfaces) > 1 && slices.Contains(o.interfaces, "any") {
		logger.Warn("capturing on \"any\" and on named interfaces: the named interfaces' packets are counted twice")
	}
	var (
		states []*ifaceState
		socks  []*sock
		fc     *capture.FilterCompiler
	)
	fail := func(err error) error {
		for _, s := range socks {
			if s.l != nil {
				s.st.remove(s.l)
			}
		}
		return err
	}
	for k, iface := range o.interfaces {
		if slices.Contains(o.interfaces[:k], iface) {
			return fail(fmt.Errorf("--capture.interface %s given twice", iface))
		}
		filter, err := captureFilter(o, iface, &fc)
		if err != nil {
			return fail(err)
		}
		st := &ifaceState{name: iface, sockets: int32(p.Workers()), open: map[*capture.Live]struct{}{}}
		states = append(states, st)
		group := uint16((os.Getpid()*31 + k*7919) & 0xffff)
		if group == 0 {
			group = 1
		}
		for i := 0; i < p.Workers(); i++ {
			cfg := capture.DefaultLiveConfig()
			cfg.Interface, cfg.Promiscuous, cfg.Filter = iface, o.promisc, filter
			cfg.SnapLen, cfg.BlockSize, cfg.NumBlocks, cfg.PollTimeout = o.snapLen, o.blockSize, o.numBlocks, o.pollTO
			if p.Workers() > 1 {
				cfg.FanoutGroup = group
			}
			l, err := capture.OpenLive(cfg)
			switch {
			case errors.Is(err, capture.ErrInterfaceDown):
				// Capture starts when it comes up; not an outage.
				if st.down.CompareAndSwap(false, true) {
					logger.Warn("interface is down: capturing once it is up", "interface", iface)
				}
			case err != nil:
				return fail(err)
			default:
				st.add(l)
			}
			socks = append(socks, &sock{st: st, cfg: cfg, l: l, i: i})
		}
		logger.Info("capturing", "interface", iface, "sockets", p.Workers(), "filter", o.filter != "" || o.filterBPF != "",
			"ring_bytes_per_socket", o.blockSize*o.numBlocks)
	}
	reg.MustRegister(newLiveCollector(states))
	if err := dropCapabilities(o.promisc); err != nil {
		logger.Warn("could not drop capabilities", "err", err)
	}
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			captureLoop(ctx, p.NewDispatcher(s.i), s.st, s.cfg, s.l, logger)
		}()
	}
	// Idle flows expire on the wall clock; drops are reported when they start.
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				p.Expire(now)
				for _, st := range states {
					d := st.stats().Dropped
					if d > st.lastDrops && now.Sub(st.lastWarn) >= time.Minute {
						logger.Warn("the kernel drops packets, counts are too low: more workers (--workers), a larger ring (--capture.num-blocks) or a capture filter help", "interface", st.name, "dropped", d-st.lastDrops)
						st.lastWarn = now
					}
					st.lastDrops = d
				}
			}
		}
	}()
	return nil
}

// captureLoop reads one socket until ctx ends, reopening it with backoff
// when the interface goes down or is deleted and re-created.
func captureLoop(ctx context.Context, d *pipeline.Dispatcher, st *ifaceState, cfg capture.LiveConfig, l *capture.Live, logger *slog.Logger) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	lastCheck := time.Now()
	for ctx.Err() == nil {
		if l == nil {
			var err error
			if l, err = capture.OpenLive(cfg); err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			backoff = minBackoff
			if st.add(l) {
				logger.Info("interface is back: capturing again", "interface", cfg.Interface)
			}
		}
		data, lt, ts, err := l.Next()
		if err == nil {
			d.Frame(data, lt, ts)
			continue
		}
		if errors.Is(err, capture.ErrTimeout) {
			d.Send() // a quiet link still delivers its batches
			if time.Since(lastCheck) < time.Second {
				continue
			}
			lastCheck = time.Now()
			if l.Alive() {
				continue
			}
		}
		// The interface went down or away (the kernel reports ENETDOWN
		// on the socket): count the outage once per interface, reopen.
		d.Send()
		if st.down.CompareAndSwap(false, true) {
			st.outages.Add(1)
			logger.Warn("interface down or gone: capturing again when it returns", "interface", cfg.Interface, "err", err)
		}
		st.remove(l)
		l = nil
	}
	if l != nil {
		d.Send()
		st.remove(l)
	}
}
