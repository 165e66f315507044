package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/borderwatch/borderwatch/report"
	"github.com/prometheus/common/expfmt"
)

// read implements `borderwatch read`.
func read(ctx context.Context, o *options, logger *slog.Logger, stdout, stderr io.Writer) int {
	st, err := o.settings()
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	defer st.policy.Geo.Close()
	pc := o.pipelineConfig(true)
	pc.Endpoints = o.format != "prometheus"
	pc.MaxEndpoints = o.maxEndpoints
	p, err := pipeline.New(pc, st.policy)
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	defer p.Close()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "borderwatch: %v\n", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	d := p.NewDispatcher(-1)
	status := 0
	for _, path := range o.readFiles {
		if err := readFile(ctx, path, d, 0, progressOn(o.progress, stderr), stderr); err != nil {
			// A damaged file keeps what was read before the damage.
			fmt.Fprintf(stderr, "borderwatch: %v\n", err)
			status = 1
			if errors.Is(err, context.Canceled) {
				break
			}
		}
	}
	d.Send()
	p.Finish()
	switch o.format {
	case "prometheus":
		_, g := newRegistry(p, st.policy.Geo)
		mfs, err := g.Gather()
		if err != nil {
			fmt.Fprintf(stderr, "borderwatch: gathering metrics: %v\n", err)
			return 1
		}
		enc := expfmt.NewEncoder(stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				fmt.Fprintf(stderr, "borderwatch: %v\n", err)
				return 1
			}
		}
	case "json":
		r := report.Build(p, o.readFiles, st.home, o.top)
		if err := r.WriteJSON(stdout); err != nil {
			return 1
		}
	default:
		r := report.Build(p, o.readFiles, st.home, o.top)
		if err := r.WriteTable(stdout, o.top); err != nil {
			return 1
		}
	}
	_ = logger
	return status
}

func progressOn(mode string, stderr io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := stderr.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readFile feeds one capture file to d. rate > 0 paces the reading to that
// many packets per second.
func readFile(ctx context.Context, path string, d *pipeline.Dispatcher, rate float64, progress bool, stderr io.Writer) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if !capture.SupportedLinkType(src.LinkType()) {
		fmt.Fprintf(stderr, "borderwatch: %s: link type %s is not decoded; its frames are counted as skipped (unsupported_link_type)\n", path, capture.LinkTypeName(src.LinkType()))
	}
	var size int64
	if st, err := os.Stat(path); err == nil && !src.Compressed() {
		size = st.Size()
	}
	start := time.Now()
	nextReport := start.Add(500 * time.Millisecond)
	var n uint64
	// Pacing, cancellation and progress are checked every step packets:
	// 1024 at full speed, about ten times a second when paced slowly.
	step := uint64(1024)
	if rate > 0 && rate < 10240 {
		step = uint64(max(rate/10, 1))
	}
	defer func() {
		if progress {
			fmt.Fprintf(stderr, "\r\033[K")
		}
	}()
	for {
		data, lt, ts, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		d.Frame(data, lt, ts)
		n++
		if n%step != 0 {
			continue
		}
		if rate > 0 {
			// Paced: wait until the n-th packet is due.
			if dt := time.Until(start.Add(time.Duration(float64(n) / rate * float64(time.Second)))); dt > 0 {
				d.Send()
				select {
				case <-time.After(dt):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: stopped after %d packets: %w", path, n, ctx.Err())
		}
		if progress && time.Now().After(nextReport) {
			nextReport = time.Now().Add(500 * time.Millisecond)
			el := time.Since(start).Seconds()
			pct := ""
			if size > 0 {
				pct = fmt.Sprintf(" %3.0f%%", float64(src.BytesRead())*100/float64(size))
			}
			fmt.Fprintf(stderr, "\r\033[K%s:%s %d packets, %.2f Mpps", path, pct, n, float64(n)/el/1e6)
		}
	}
}
