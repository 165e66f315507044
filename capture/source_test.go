package capture

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// script is a source that returns its steps in order, then io.EOF (or
// forever frames when endless).
type script struct {
	steps   []error // nil: a frame
	i       int
	endless bool
	closed  bool
}

func (s *script) Next() ([]byte, layers.LinkType, int64, error) {
	if s.i >= len(s.steps) {
		if s.endless {
			return []byte{byte(s.i)}, layers.LinkTypeEthernet, int64(s.i), nil
		}
		return nil, 0, 0, io.EOF
	}
	s.i++
	if err := s.steps[s.i-1]; err != nil {
		return nil, 0, 0, err
	}
	return []byte{byte(s.i)}, layers.LinkTypeEthernet, int64(s.i), nil
}
func (s *script) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (s *script) Close() error              { s.closed = true; return nil }

// recorder is a sink that writes down what it is given.
type recorder struct{ log []string }

func (r *recorder) Frame(data []byte, lt layers.LinkType, ts int64) {
	r.log = append(r.log, "frame")
}
func (r *recorder) Send() {
	if n := len(r.log); n == 0 || r.log[n-1] != "send" {
		r.log = append(r.log, "send")
	}
}

func TestFeed(t *testing.T) {
	bad := errors.New("bad record")
	for _, tc := range []struct {
		name   string
		steps  []error
		frames uint64
		err    error
		log    []string
	}{
		{"to the end", []error{nil, nil, nil}, 3, nil, []string{"frame", "frame", "frame", "send"}},
		{"idle live source hands on its batch", []error{nil, ErrTimeout, ErrTimeout, nil}, 2, nil, []string{"frame", "send", "frame", "send"}},
		{"read error", []error{nil, bad, nil}, 1, bad, []string{"frame", "send"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			n, err := Feed(context.Background(), &script{steps: tc.steps}, &r, FeedConfig{})
			if n != tc.frames || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("got %d frames, %v; want %d, %v", n, err, tc.frames, tc.err)
			}
			if d := cmp.Diff(r.log, tc.log); d != "" {
				t.Errorf("sink calls (-got +want)\n%s", d)
			}
		})
	}
}

func TestFeedCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var r recorder
	n, err := Feed(ctx, &script{endless: true}, &r, FeedConfig{})
	if !errors.Is(err, context.Canceled) || n == 0 || n%1024 != 0 {
		t.Errorf("got %d frames, %v; want a multiple of 1024 and context.Canceled", n, err)
	}
	// A paced feed stops while it waits.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	n, err = Feed(ctx, &script{endless: true}, &r, FeedConfig{Rate: 1}) // the second frame is due after 1 s
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second || n != 1 {
		t.Errorf("paced: %d frames, %v after %v", n, err, time.Since(start))
	}
}

// TestFeedPaced: 100 frames at 200 per second take at least half a second.
func TestFeedPaced(t *testing.T) {
	var r recorder
	start := time.Now()
	n, err := Feed(context.Background(), &script{steps: make([]error, 100)}, &r, FeedConfig{Rate: 200})
	if el := time.Since(start); n != 100 || err != nil || el < 450*time.Millisecond {
		t.Errorf("%d frames, %v in %v; want 100 in at least 450ms", n, err, el)
	}
}

// TestFeedProgress reads a gzip-compressed file: the reports count up, and
// the last one has every packet (capinfos -c: 6408) and the whole file.
func TestFeedProgress(t *testing.T) {
	const path = "../testdata/sample.pcap.gz"
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reports []FeedProgress
	var r recorder
	n, err := Feed(context.Background(), f, &r, FeedConfig{Progress: func(p FeedProgress) { reports = append(reports, p) }, ProgressEvery: time.Nanosecond})
	if err != nil || n != 6408 {
		t.Fatalf("%d frames, %v", n, err)
	}
	if len(reports) < 3 {
		t.Fatalf("%d reports", len(reports))
	}
	for i, p := range reports[1:] {
		if p.Frames < reports[i].Frames || p.Read < reports[i].Read {
			t.Errorf("report %d goes back: %+v after %+v", i+1, p, reports[i])
		}
	}
	last := reports[len(reports)-1]
	if !last.Done || last.Frames != 6408 || last.Size != st.Size() || last.Read != st.Size() || last.Percent() != 100 {
		t.Errorf("last report %+v, want done, 6408 frames and %d of %d bytes", last, st.Size(), st.Size())
	}
	if p := reports[0]; p.Done || p.Frames >= 6408 {
		t.Errorf("first report %+v", p)
	}
}
