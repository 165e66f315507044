package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// ErrTimeout is returned by a live source's Next when no frame arrived
// within its poll timeout.
var ErrTimeout = errors.New("capture: poll timeout")

// Source yields raw frames: a capture file (File), a live socket
// (LiveGroup's sockets) and, later, flow collectors. A source is read by
// one goroutine (Feed).
type Source interface {
	// Next returns the next frame, its link type and its timestamp in
	// unix nanoseconds; data is valid until the next call. At the end of
	// the input it returns io.EOF. A live source returns ErrTimeout when
	// nothing arrived for a while (at most its poll timeout), so that the
	// reader can hand on partial batches and see cancellation.
	Next() (data []byte, lt layers.LinkType, ts int64, err error)
	// LinkType is the source's main link type (a pcapng file's first
	// interface; its frames may carry others).
	LinkType() layers.LinkType
	Close() error
}

// Sized is a source whose size is known, for progress reports.
type Sized interface {
	// Progress returns the bytes read so far and the total (0: unknown).
	Progress() (read, size int64)
}

// Sink takes a source's frames: pipeline.Dispatcher.
type Sink interface {
	// Frame takes one frame; data may be reused once it returns.
	Frame(data []byte, lt layers.LinkType, ts int64)
	// Send hands on the frames taken so far (the end of input, an idle
	// live source, a pause of a paced file).
	Send()
}

// ChunkSink is a Sink that can keep frames without copying them: Feed
// gives it the frames of a source that slices them from chunks (a capture
// file) with their chunk, which it retains for as long as it keeps them.
type ChunkSink interface {
	Sink
	FrameChunk(data []byte, lt layers.LinkType, ts int64, c *Chunk)
}

// chunked is a source whose frames lie in chunks (File).
type chunked interface {
	Chunk() *Chunk
}

// FeedConfig configures Feed.
type FeedConfig struct {
	// Rate paces the reading to at most this many frames per second (0:
	// as fast as the source gives them). For demos and tests on files.
	Rate float64
	// Progress, when not nil, is called about every ProgressEvery (default
	// 500 ms) while frames flow, and once at the end.
	Progress      func(FeedProgress)
	ProgressEvery time.Duration
}

// FeedProgress is where a Feed stands.
type FeedProgress struct {
	Frames  uint64
	Read    int64 // bytes read from a Sized source, else 0
	Size    int64 // its size, 0 when unknown
	Elapsed time.Duration
	Done    bool // the last report
}

// Percent returns how much of the source was read (-1: size unknown).
func (p FeedProgress) Percent() float64 {
	if p.Size <= 0 {
		return -1
	}
	return min(float64(p.Read)*100/float64(p.Size), 100)
}

// Feed is the one feeding loop every source goes through: it reads src
// into sink until the end of input (nil), a read error (returned) or the
// cancellation of ctx (an error wrapping ctx.Err()), pacing and reporting
// progress as cfg says. Partial batches are handed on when the source is
// idle or paused and at the end. It returns the frames read.
func Feed(ctx context.Context, src Source, sink Sink, cfg FeedConfig) (frames uint64, err error) {
	defer sink.Send()
	every := cfg.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	start := time.Now()
	nextReport := start.Add(every)
	report := func(done bool) {
		if cfg.Progress == nil {
			return
		}
		p := FeedProgress{Frames: frames, Elapsed: time.Since(start), Done: done}
		if s, ok := src.(Sized); ok {
			p.Read, p.Size = s.Progress()
		}
		cfg.Progress(p)
	}
	defer func() { report(true) }()
	// Pacing, cancellation and progress are checked every step frames:
	// 1024 at full speed, about ten times a second when paced slowly.
	step := uint64(1024)
	if cfg.Rate > 0 && cfg.Rate < 10240 {
		step = uint64(max(cfg.Rate/10, 1))
	}
	if ms, ok := src.(mappedSource); ok && ms.mappedFile() != nil {
		// A fault in the mapping (the file shrank) ends the read with an
		// error, not the process.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				if !MappedFault(r) {
					panic(r)
				}
				err = ms.mappedFile().shrankErr()
			}
		}()
	}
	cs, _ := src.(chunked)
	csink, _ := sink.(ChunkSink)
	if cs == nil {
		csink = nil
	}
	for {
		data, lt, ts, err := src.Next()
		switch {
		case err == nil:
			if csink != nil {
				csink.FrameChunk(data, lt, ts, cs.Chunk())
			} else {
				sink.Frame(data, lt, ts)
			}
			frames++
			if frames%step != 0 {
				continue
			}
			if cfg.Rate > 0 {
				// Paced: wait until the frames-th frame is due.
				due := start.Add(time.Duration(float64(frames) / cfg.Rate * float64(time.Second)))
				if dt := time.Until(due); dt > 0 {
					sink.Send()
					t := time.NewTimer(dt)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				}
			}
		case errors.Is(err, ErrTimeout):
			sink.Send() // a quiet link still delivers its batches
		case err == io.EOF:
			return frames, nil
		default:
			return frames, err
		}
		if ctx.Err() != nil {
			return frames, fmt.Errorf("stopped after %d frames: %w", frames, ctx.Err())
		}
		if cfg.Progress != nil && time.Now().After(nextReport) {
			nextReport = time.Now().Add(every)
			report(false)
		}
	}
}
