package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/pipeline"
)

// The daemon's inputs: the flows of the capture files end when the files
// do, those of live capture go on.
const (
	inputLive  pipeline.Input = 0
	inputFiles pipeline.Input = 1
)

// fileFeed says how capture files are read.
type fileFeed struct {
	rate     float64                                      // packets per second, 0: as fast as possible
	progress func(path string) func(capture.FeedProgress) // nil: no progress
	every    time.Duration                                // between progress reports
	warn     func(path, msg string)                       // a file's frames will be skipped
	fail     func(err error)                              // a file could not be read (to its end)
}

// readFiles feeds the capture files one after the other to d, so flows go
// on from one file into the next. A damaged file keeps what was read
// before the damage, is reported to ff.fail and the next file is read;
// cancellation stops (reported too).
func readFiles(ctx context.Context, paths []string, d *pipeline.Dispatcher, ff fileFeed) {
	for _, path := range paths {
		err := readFile(ctx, path, d, ff)
		if err == nil {
			continue
		}
		ff.fail(err)
		if errors.Is(err, context.Canceled) {
			return
		}
	}
}

func readFile(ctx context.Context, path string, d *pipeline.Dispatcher, ff fileFeed) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if !capture.SupportedLinkType(src.LinkType()) && ff.warn != nil {
		ff.warn(path, fmt.Sprintf("link type %s is not decoded; its frames are counted as skipped (unsupported_link_type)", capture.LinkTypeName(src.LinkType())))
	}
	cfg := capture.FeedConfig{Rate: ff.rate, ProgressEvery: ff.every}
	if ff.progress != nil {
		cfg.Progress = ff.progress(path)
	}
	_, err = capture.Feed(ctx, src, d, cfg)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// startFiles reads the daemon's capture files in the background, then
// ends their flows: their counts are final, and live flows go on.
func startFiles(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, wg *sync.WaitGroup, fail func()) {
	d := p.NewInputDispatcher(inputFiles, -1)
	ff := fileFeed{
		rate:  o.fileRate,
		every: 10 * time.Second,
		progress: func(path string) func(capture.FeedProgress) {
			// Called as each file starts.
			logger.Info("reading capture file", "file", path, "rate", o.fileRate)
			return func(pr capture.FeedProgress) {
				if pr.Done {
					return
				}
				args := []any{"file", path, "packets", pr.Frames, "bytes_read", pr.Read}
				if pct := pr.Percent(); pct >= 0 {
					args = append(args, "percent", fmt.Sprintf("%.0f", pct))
				}
				logger.Info("reading capture file", args...)
			}
		},
		warn: func(path, msg string) { logger.Warn(msg, "file", path) },
		fail: func(err error) {
			if !errors.Is(err, context.Canceled) {
				logger.Error("capture file", "err", err)
				fail()
			}
		},
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		readFiles(ctx, o.files, d, ff)
		if ctx.Err() == nil {
			p.EndInput(inputFiles)
			logger.Info("capture files read; serving the final counts until stopped")
		}
	}()
}

// terminalProgress draws a progress line (file, percent, packets, Mpps) on
// a terminal and clears it at the end.
func terminalProgress(w io.Writer) func(path string) func(capture.FeedProgress) {
	return func(path string) func(capture.FeedProgress) {
		return func(pr capture.FeedProgress) {
			if pr.Done {
				fmt.Fprintf(w, "\r\033[K")
				return
			}
			pct := ""
			if p := pr.Percent(); p >= 0 {
				pct = fmt.Sprintf(" %3.0f%%", p)
			}
			fmt.Fprintf(w, "\r\033[K%s:%s %d packets, %.2f Mpps", path, pct, pr.Frames, float64(pr.Frames)/pr.Elapsed.Seconds()/1e6)
		}
	}
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
