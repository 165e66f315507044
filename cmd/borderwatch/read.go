package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/borderwatch/borderwatch/internal/startup"
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
	pc := o.pipelineConfig()
	pc.Endpoints = o.format != "prometheus"
	pc.MaxEndpoints = o.maxEndpoints
	var period report.Period
	if o.format == "html" {
		pc.Sink = &period
	}
	p, err := pipeline.New(pc, st.policy)
	startup.Done(readGCPercent)
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
	ff := fileFeed{
		warn: func(path, msg string) { fmt.Fprintf(stderr, "borderwatch: %s: %s\n", path, msg) },
		fail: func(err error) {
			fmt.Fprintf(stderr, "borderwatch: %v\n", err)
			status = 1
		},
	}
	if progressOn(o.progress, stderr) {
		ff.progress = terminalProgress(stderr)
	}
	readFiles(ctx, o.readFiles, d, ff)
	p.Finish()
	if code := writeReport(o, st, p, &period, stdout, stderr); code != 0 {
		return code
	}
	_ = logger
	return status
}

// readGCPercent is the collector's target while reading: the heap is
// mostly the tables, kept to the end, and a short read finishes before a
// first collection at 400% (GOGC, when set, wins).
const readGCPercent = 400

// writeReport writes the finished read's report in --format.
func writeReport(o *options, st *settings, p *pipeline.Pipeline, period *report.Period, stdout, stderr io.Writer) int {
	switch o.format {
	case "prometheus":
		_, g := newRegistry(p, st.policy.Geo)
		mfs, err := g.Gather()
		if err != nil {
			fmt.Fprintf(stderr, "borderwatch: gathering metrics: %v\n", err)
			return 1
		}
		// One write per 64 KiB, not one per metric family.
		bw := bufio.NewWriterSize(stdout, 64<<10)
		enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				fmt.Fprintf(stderr, "borderwatch: %v\n", err)
				return 1
			}
		}
		if err := bw.Flush(); err != nil {
			fmt.Fprintf(stderr, "borderwatch: %v\n", err)
			return 1
		}
	case "json":
		r := report.Build(p, o.readFiles, st.home, o.top)
		if err := r.WriteJSON(stdout); err != nil {
			return 1
		}
	case "html":
		r := report.Build(p, o.readFiles, st.home, o.top)
		info := pageInfo(o, st, "capture files "+strings.Join(o.readFiles, ", "))
		info.First, info.Last = period.Bounds()
		info.EndpointsTracked = true
		if err := r.WriteHTML(stdout, info); err != nil {
			fmt.Fprintf(stderr, "borderwatch: writing the HTML report: %v\n", err)
			return 1
		}
	default:
		r := report.Build(p, o.readFiles, st.home, o.top)
		if err := r.WriteTable(stdout, o.top); err != nil {
			return 1
		}
	}
	return 0
}
