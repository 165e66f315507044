package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/borderwatch/borderwatch/collect"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// collectOpts are the flow collection flags.
type collectOpts struct {
	netflowAddrs    []string
	sflowAddrs      []string
	samplingRate    int
	maxExporters    int
	maxTemplates    int
	templateTimeout time.Duration
}

func (o *options) addCollect(c *kingpin.CmdClause) {
	c.Flag("netflow.listen-address", "UDP address (host:port) on which to collect NetFlow v5, NetFlow v9 and IPFIX, all on the same port (e.g. :2055). Repeatable.").PlaceHolder("HOST:PORT").StringsVar(&o.netflowAddrs)
	c.Flag("sflow.listen-address", "UDP address (host:port) on which to collect sFlow v5 (e.g. :6343). Repeatable.").PlaceHolder("HOST:PORT").StringsVar(&o.sflowAddrs)
	intFlag(c, "netflow.sampling-rate", "Sampling rate (1 in N) of the exporters that do not say theirs, in the record, option data or sample (0: taken as 1).", "0", &o.samplingRate, 0, 1<<24)
	intFlag(c, "netflow.max-exporters", "Exporters whose state (templates, sampling rates, sequence numbers) and exporter label are kept; the others are counted as exporter=\"other\", and their NetFlow v9/IPFIX refused.", "256", &o.maxExporters, 1, 65536)
	intFlag(c, "netflow.max-templates", "NetFlow v9/IPFIX templates kept per exporter; more are refused and counted.", "512", &o.maxTemplates, 1, 65536)
	durationFlag(c, "netflow.template-timeout", "A template not refreshed for this long expires (and an exporter silent for this long may be forgotten).", "30m", &o.templateTimeout, time.Minute, 7*24*time.Hour)
}

// collecting reports whether any flow collector is configured.
func (o *options) collecting() bool { return len(o.netflowAddrs)+len(o.sflowAddrs) > 0 }

// startCollectors opens the flow collectors' sockets (or fails with the
// first error, closing those opened) and feeds each into the pipeline in
// its own feeding loop. Collected flows are on the wall clock, like live
// capture's: they are the live input, whose idle flows the wall-clock
// sweep ends (started here when no interface is captured).
func startCollectors(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, wg *sync.WaitGroup) error {
	if !o.collecting() {
		return nil
	}
	col := collect.New(collect.Config{
		SamplingRate: uint32(o.samplingRate), MaxExporters: o.maxExporters,
		MaxTemplates: o.maxTemplates, TemplateTimeout: o.templateTimeout,
	})
	var ls []*collect.Listener
	open := func(k collect.Kind, addrs []string) error {
		for _, a := range addrs {
			l, err := col.Listen(k, a)
			if err != nil {
				return fmt.Errorf("--%s.listen-address %s: %w", k, a, err)
			}
			ls = append(ls, l)
		}
		return nil
	}
	if err := errors.Join(open(collect.NetFlow, o.netflowAddrs), open(collect.SFlow, o.sflowAddrs)); err != nil {
		for _, l := range ls {
			l.Close()
		}
		return err
	}
	reg.MustRegister(collect.NewMetrics(col))
	for _, l := range ls {
		d := p.NewInputDispatcher(inputLive, -1)
		logger.Info("collecting flows", "protocol", l.Kind().String(), "address", l.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Close()
			if err := l.Run(ctx, d); err != nil {
				logger.Error("flow collector", "address", l.Addr().String(), "err", err)
			}
		}()
	}
	if len(o.interfaces) == 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			expireEvery(ctx, p, time.Second)
		}()
	}
	return nil
}

// expireEvery sweeps the live input's idle flows on the wall clock until
// ctx ends.
func expireEvery(ctx context.Context, p *pipeline.Pipeline, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.Expire(now)
		}
	}
}
