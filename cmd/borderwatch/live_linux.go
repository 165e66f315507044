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
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/bpf"
)

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

// startLive opens one capture.LiveGroup per interface, N sockets each (N =
// workers); socket i feeds worker i, so the kernel's flow hash is the
// dispatch and no packet crosses a lock. It returns once every socket is
// open (or with the first error), then drops the capabilities it no longer
// needs. Each socket is read by capture.Feed in its own goroutine until
// ctx ends; the wall clock expires idle flows.
func startLive(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, wg *sync.WaitGroup) error {
	if len(o.interfaces) > 1 && slices.Contains(o.interfaces, "any") {
		logger.Warn("capturing on \"any\" and on named interfaces: the named interfaces' packets are counted twice")
	}
	groups, err := openGroups(o, p.Workers(), logger)
	if err != nil {
		return err
	}
	reg.MustRegister(capture.NewLiveCollector(groups))
	if err := dropCapabilities(o.promisc); err != nil {
		logger.Warn("could not drop capabilities", "err", err)
	}
	for _, g := range groups {
		var socks sync.WaitGroup
		for i, s := range g.Sockets() {
			socks.Add(1)
			go func() {
				defer socks.Done()
				defer s.Close()
				capture.Feed(ctx, s, p.NewInputDispatcher(inputLive, i), capture.FeedConfig{})
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			socks.Wait()
			g.Close()
		}()
	}
	// Idle flows expire on the wall clock.
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
			}
		}
	}()
	return nil
}

// openGroups opens the sockets of every --capture.interface, or none.
func openGroups(o *options, workers int, logger *slog.Logger) ([]*capture.LiveGroup, error) {
	var (
		groups []*capture.LiveGroup
		fc     *capture.FilterCompiler
	)
	fail := func(err error) ([]*capture.LiveGroup, error) {
		for _, g := range groups {
			g.Close()
		}
		return nil, err
	}
	for k, iface := range o.interfaces {
		if slices.Contains(o.interfaces[:k], iface) {
			return fail(fmt.Errorf("--capture.interface %s given twice", iface))
		}
		filter, err := captureFilter(o, iface, &fc)
		if err != nil {
			return fail(err)
		}
		cfg := capture.DefaultLiveConfig()
		cfg.Interface, cfg.Promiscuous, cfg.Filter = iface, o.promisc, filter
		cfg.SnapLen, cfg.BlockSize, cfg.NumBlocks, cfg.PollTimeout = o.snapLen, o.blockSize, o.numBlocks, o.pollTO
		cfg.FanoutGroup = capture.FanoutGroupID(k)
		g, err := capture.OpenLiveGroup(cfg, workers, logger)
		if err != nil {
			return fail(err)
		}
		groups = append(groups, g)
		logger.Info("capturing", "interface", iface, "sockets", workers, "filter", o.filter != "" || o.filterBPF != "",
			"ring_bytes_per_socket", o.blockSize*o.numBlocks)
	}
	return groups, nil
}
