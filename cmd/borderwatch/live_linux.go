//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	name                    string
	up                      atomic.Int32 // sockets open
	sockets                 int32
	outages                 atomic.Uint64
	mu                      sync.Mutex
	closed                  [3]uint64 // packets, drops, freezes of sockets already closed
	open                    map[*capture.Live]struct{}
	lastDrops, lastWarnUnix int64
}

func (s *ifaceState) stats() (packets, drops, freezes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	packets, drops, freezes = s.closed[0], s.closed[1], s.closed[2]
	for l := range s.open {
		if p, d, f, err := l.Stats(); err == nil {
			packets, drops, freezes = packets+p, drops+d, freezes+f
		}
	}
	return
}

func (s *ifaceState) add(l *capture.Live) {
	s.mu.Lock()
	s.open[l] = struct{}{}
	s.mu.Unlock()
	s.up.Add(1)
}

func (s *ifaceState) remove(l *capture.Live) {
	s.mu.Lock()
	if p, d, f, err := l.Stats(); err == nil {
		s.closed[0] += p
		s.closed[1] += d
		s.closed[2] += f
	}
	delete(s.open, l)
	s.mu.Unlock()
	s.up.Add(-1)
	l.Close()
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
		packets: d("packets_total", "Frames the kernel handed to borderwatch's rings (drops included), per interface."),
		drops:   d("kernel_drops_total", "Frames the kernel dropped because a ring was full, per interface."),
		freezes: d("kernel_freezes_total", "TPACKET_V3 ring queue freezes, per interface."),
		qdrops:  d("queue_drops_total", "Frames dropped between capture and the flow workers (borderwatch blocks instead, so a backlog shows as kernel drops)."),
		up:      d("interface_up", "1 while every capture socket of the interface is open."),
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
		p, d, f := s.stats()
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(p), s.name)
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(d), s.name)
		ch <- prometheus.MustNewConstMetric(c.freezes, prometheus.CounterValue, float64(f), s.name)
		ch <- prometheus.MustNewConstMetric(c.qdrops, prometheus.CounterValue, 0, s.name)
		up := 0.0
		if s.up.Load() == s.sockets {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.name)
		ch <- prometheus.MustNewConstMetric(c.outages, prometheus.CounterValue, float64(s.outages.Load()), s.name)
	}
}

// startLive opens N sockets per interface (N = workers) in one fan-out
// group per interface; socket i feeds worker i, so the kernel's flow hash
// is the dispatch and no packet crosses a lock. It returns once every
// socket is open (or with the first error), then drops the capabilities
// it no longer needs.
func startLive(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, wg *sync.WaitGroup) error {
	var filter []bpf.RawInstruction
	var states []*ifaceState
	type sock struct {
		st  *ifaceState
		cfg capture.LiveConfig
		l   *capture.Live
		i   int
	}
	var socks []*sock
	for k, iface := range o.interfaces {
		lt, err := capture.LiveLinkType(iface)
		if err != nil {
			return err
		}
		filter = nil
		switch {
		case o.filterBPF != "":
			f, err := os.Open(o.filterBPF)
			if err != nil {
				return fmt.Errorf("--capture.filter-bpf: %w", err)
			}
			filter, err = capture.ParseRawBPF(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("--capture.filter-bpf %s: %w", o.filterBPF, err)
			}
		case o.filter != "":
			if filter, err = capture.CompileFilter(o.filter, lt, o.snapLen); err != nil {
				return fmt.Errorf("--capture.filter: %w", err)
			}
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
			if err != nil {
				for _, s := range socks {
					s.st.remove(s.l)
				}
				return err
			}
			st.add(l)
			socks = append(socks, &sock{st: st, cfg: cfg, l: l, i: i})
		}
		logger.Info("capturing", "interface", iface, "sockets", p.Workers(), "filter", o.filter != "" || o.filterBPF != "")
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
					_, d, _ := st.stats()
					if int64(d) > st.lastDrops && now.Unix()-st.lastWarnUnix >= 60 {
						logger.Warn("kernel drops packets: the counts are too low (more workers, a bigger ring, or a capture filter help)", "interface", st.name, "dropped", int64(d)-st.lastDrops)
						st.lastWarnUnix = now.Unix()
					}
					st.lastDrops = int64(d)
				}
			}
		}
	}()
	return nil
}

// captureLoop reads one socket until ctx ends, reopening it with backoff
// when the interface goes down or is deleted and re-created.
func captureLoop(ctx context.Context, d *pipeline.Dispatcher, st *ifaceState, cfg capture.LiveConfig, l *capture.Live, logger *slog.Logger) {
	backoff := 100 * time.Millisecond
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
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			st.add(l)
			logger.Info("interface back: capturing again", "interface", cfg.Interface)
		}
		data, lt, ts, err := l.Next()
		if err == nil {
			d.Frame(data, lt, ts)
			continue
		}
		if err == capture.ErrTimeout {
			d.Send()
			if time.Since(lastCheck) < time.Second {
				continue
			}
			lastCheck = time.Now()
			if l.Alive() {
				continue
			}
		}
		// The interface went down or away: count the outage once (the
		// first socket of the interface to notice), and reopen.
		d.Send()
		if st.up.Load() == st.sockets {
			st.outages.Add(1)
			logger.Warn("interface down or gone: reopening when it returns", "interface", cfg.Interface, "err", err)
		}
		st.remove(l)
		l = nil
	}
	if l != nil {
		d.Send()
		st.remove(l)
	}
}
