package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// requireMapped fails the test unless f reads through a mapping; it skips
// it on a system where borderwatch maps no file (maxMapped is 0 there).
func requireMapped(t *testing.T, f *File) {
	t.Helper()
	if maxMapped == 0 {
		t.Skip("files are not mapped on this system")
	}
	if f.mappedFile() == nil {
		t.Fatalf("%s: not mapped", f.Path())
	}
}

type recFrame struct {
	data []byte
	lt   layers.LinkType
	ts   int64
}

func readFrames(t *testing.T, f *File) []recFrame {
	t.Helper()
	var out []recFrame
	for {
		data, lt, ts, err := f.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recFrame{append([]byte(nil), data...), lt, ts})
	}
}

// TestMappedFile: an uncompressed capture file is read through a mapping,
// with the same frames, link types and timestamps as through reads; its
// progress counts the bytes consumed.
func TestMappedFile(t *testing.T) {
	gz, err := os.ReadFile(filepath.Join("..", "testdata", "sample.pcap.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	pcap, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	w := &ngBuilder{}
	w.section(false, 1, 0)
	w.iface(layers.LinkTypeEthernet, 0)
	for i := range 200 {
		w.epb(0, uint64(i)*1000, frameOf(60+i*7, byte(i)))
	}
	for name, b := range map[string][]byte{"sample.pcap": pcap, "built.pcapng": w.b} {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		requireMapped(t, f)
		got := readFrames(t, f)
		if read, size := f.Progress(); read != size || size != int64(len(b)) {
			t.Errorf("%s: progress %d of %d, file %d bytes", name, read, size, len(b))
		}
		c := f.Chunk()
		f.Close()
		if n := c.Refs(); n != 0 {
			t.Errorf("%s: the mapping has %d holds after Close", name, n)
		}
		r, err := newFile(name, io.NopCloser(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		want := readFrames(t, r)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d frames mapped, %d read", name, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].lt != want[i].lt || got[i].ts != want[i].ts {
				t.Fatalf("%s: frame %d differs", name, i)
			}
		}
	}
}

// touchSink reads every byte of every frame, as decoding may.
type touchSink struct{ sum byte }

func (s *touchSink) Frame(data []byte, lt layers.LinkType, ts int64) {
	for _, b := range data {
		s.sum += b
	}
}
func (s *touchSink) Send() {}

// writeBigPcap writes a pcap of n frames of size bytes.
func writeBigPcap(t *testing.T, path string, n, size int) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f := frameOf(size, byte(i))
		if err := w.WritePacket(ciOf(len(f)), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMappedFileShrinks: a mapped file truncated while it is read (its
// lost pages raise SIGBUS) ends the read with an error naming the file,
// not the process. The file is larger than two drop windows, so pages
// have been dropped behind the reader too.
func TestMappedFileShrinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shrinks.pcap")
	const frames, size = 30000, 1000
	writeBigPcap(t, path, frames, size)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	requireMapped(t, f)
	sink := &touchSink{}
	n, err := Feed(context.Background(), &truncateAt{File: f, at: frames / 2, path: path}, sink, FeedConfig{})
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, errShrank) || fe.Path != path {
		t.Fatalf("after %d frames: error %v, want the file's shrinking", n, err)
	}
	if n != frames/2-1 { // truncated as the frames/2-th frame was asked for
		t.Errorf("%d frames read before the error, want %d", n, frames/2-1)
	}
	t.Log(err)
}

// truncateAt truncates its file to 4 KiB after at frames.
type truncateAt struct {
	*File
	at, n int
	path  string
}

func (s *truncateAt) Next() ([]byte, layers.LinkType, int64, error) {
	if s.n++; s.n == s.at {
		if err := os.Truncate(s.path, 4096); err != nil {
			panic(err)
		}
	}
	return s.File.Next()
}

// TestMappedFileAhead: the fault-ahead goroutine maps a mapped file's pages
// up to faultWindow ahead of the reader and no further while the reader
// waits, follows it, drops the pages more than mapWindow behind it, and
// has ended (its hold on the mapping released) when Close returns.
func TestMappedFileAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ahead.pcap")
	const frames, size = 40000, 1000 // 40 MB: more than the windows
	writeBigPcap(t, path, frames, size)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	requireMapped(t, f)
	a := f.in.ahead
	// settled waits until the goroutine has touched what it may and waits.
	settled := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for a.touchedTo.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // it would go on now if it did not stop
		if got := a.touchedTo.Load(); got < want || got > want+int64(pageSize) {
			t.Fatalf("reader at %d: pages touched to %d, want %d", a.pos.Load(), got, want)
		}
	}
	if _, _, _, err := f.Next(); err != nil {
		t.Fatal(err)
	}
	settled(faultWindow + int64(pageSize))
	for range frames / 2 {
		if _, _, _, err := f.Next(); err != nil {
			t.Fatal(err)
		}
	}
	pos := f.in.told
	settled(int64(pos+faultWindow)&^int64(pageSize-1) + int64(pageSize))
	if d := a.droppedTo.Load(); d < int64(pos-2*mapWindow) || d > int64(pos-mapWindow) {
		t.Errorf("reader at %d: pages dropped to %d, want from %d to %d", pos, d, pos-2*mapWindow, pos-mapWindow)
	}
	c := f.Chunk()
	f.Close()
	select {
	case <-a.done:
	default:
		t.Error("the fault-ahead goroutine runs after Close")
	}
	if n := c.Refs(); n != 0 {
		t.Errorf("the mapping has %d holds after Close", n)
	}
}
