package pipeline

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/gopacket/gopacket/layers"
)

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
		cfg := DefaultConfig()
		cfg.Workers = 2
		p, err := New(cfg, testPolicy(t))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
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
