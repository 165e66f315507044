package pipeline

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// testPipeline returns a pipeline of the test policy with workers workers,
// closed when the test ends.
func testPipeline(t testing.TB, workers int) *Pipeline {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Workers = workers
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// chunkSpy is a capture file that remembers the chunks of its frames.
type chunkSpy struct {
	*capture.File
	seen map[*capture.Chunk]bool
}

func (s *chunkSpy) Next() ([]byte, layers.LinkType, int64, error) {
	data, lt, ts, err := s.File.Next()
	if err == nil {
		s.seen[s.File.Chunk()] = true
	}
	return data, lt, ts, err
}

// copySink hides the dispatcher's FrameChunk: every payload is copied.
type copySink struct{ d *Dispatcher }

func (s copySink) Frame(data []byte, lt layers.LinkType, ts int64) { s.d.Frame(data, lt, ts) }
func (s copySink) Send()                                           { s.d.Send() }

// TestFrameChunk: frames read from a file reach the workers without their
// payloads copied (their batches retain the file's chunks, and no arena is
// allocated for them), every chunk is released once the workers are done,
// and the counts are those of the copying path.
func TestFrameChunk(t *testing.T) {
	path := filepath.Join("..", "testdata", "sample.pcap.gz")
	run := func(chunks bool) breakdown {
		p := testPipeline(t, 2)
		f, err := capture.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		spy := &chunkSpy{File: f, seen: map[*capture.Chunk]bool{}}
		d := p.NewDispatcher(-1)
		if chunks {
			// A few frames, not sent: their batches hold chunks, not copies.
			for range 50 {
				data, lt, ts, err := spy.Next()
				if err != nil {
					t.Fatal(err)
				}
				d.FrameChunk(data, lt, ts, f.Chunk())
			}
			held := 0
			for _, bt := range d.cur {
				if bt == nil {
					continue
				}
				if cap(bt.arena) != 0 {
					t.Errorf("a batch of %d file frames allocated a payload arena", len(bt.pkts))
				}
				held += len(bt.chunks)
			}
			if held == 0 {
				t.Error("no batch retains a chunk")
			}
			if _, err := capture.Feed(context.Background(), spy, d, capture.FeedConfig{}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := capture.Feed(context.Background(), spy, copySink{d}, capture.FeedConfig{}); err != nil {
			t.Fatal(err)
		}
		p.Finish()
		f.Close()
		for c := range spy.seen {
			if n := c.Refs(); n != 0 {
				t.Errorf("chunks %v: a chunk still has %d holds after the read", chunks, n)
			}
		}
		return breakdownOf(p)
	}
	copied, kept := run(false), run(true)
	if len(kept.Series) == 0 {
		t.Fatal("nothing counted")
	}
	if !reflect.DeepEqual(copied, kept) {
		t.Errorf("counts differ:\ncopied %v\nkept   %v", copied, kept)
	}
}

// TestWorkerMappedFileShrinks: payloads kept in a mapped capture file that
// is truncated before a worker reads them (the worker faults on the lost
// pages) are counted as decode errors of reason file_changed, and the
// process goes on.
func TestWorkerMappedFileShrinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shrinks.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	const frames = 200
	for i := range frames {
		payload := make([]byte, 1300) // a QUIC Initial's size: the worker reads it
		payload[0] = 0xc0
		payload[4] = 1
		f := udpFrame(t, "192.168.1.10", "203.0.113.50", uint16(40000+i), 443, payload)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)*1e6), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	p := testPipeline(t, 1)
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	release := make(chan struct{})
	p.in[0] <- &batch{op: opHold, done: release}
	d := p.NewDispatcher(-1)
	for {
		data, lt, ts, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d.FrameChunk(data, lt, ts, f.Chunk())
	}
	d.Send()
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	close(release)
	p.Finish()
	tot := metrics.SumShards(p.Shards(), len(p.Series().Labels()))
	if tot.PacketsRead != frames {
		t.Errorf("%d frames read, want %d", tot.PacketsRead, frames)
	}
	if got := tot.Skipped[capture.ReasonFileChanged]; got == 0 || got > frames {
		t.Errorf("%d frames counted as file_changed, want some of the %d", got, frames)
	} else {
		t.Logf("%d of %d frames lost with the file's end", got, frames)
	}
}
