package capture

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// keptFrame is a frame kept past the next Next, with its chunk retained,
// and a copy of its bytes to check it against.
type keptFrame struct {
	c    *Chunk
	data []byte
	want []byte
}

// TestChunksKeepFrames: frames whose chunk is retained keep their bytes
// while the file is read on (the reader never moves or reads over bytes of
// a chunk someone retains), and released chunks are reused. The frames
// are of random sizes, some far larger than a chunk, so records are cut by
// the end of chunks, moved, and grow chunks.
func TestChunksKeepFrames(t *testing.T) {
	defer func(n int) { readChunk = n }(readChunk)
	readChunk = 4096
	rng := rand.New(rand.NewPCG(1, 2))
	w := &ngBuilder{}
	w.section(false, 1, 0)
	w.iface(layers.LinkTypeEthernet, 0)
	var sent [][]byte
	for i := range 3000 {
		n := 14 + rng.IntN(1500)
		if i%500 == 7 {
			n = 3*readChunk + rng.IntN(readChunk) // larger than a chunk
		}
		f := frameOf(n, byte(i))
		sent = append(sent, f)
		w.epb(0, uint64(i), f)
	}
	for _, hold := range []int{0, 1, 40, 400} {
		f, err := newFile("kept.pcapng", io.NopCloser(bytes.NewReader(w.b)))
		if err != nil {
			t.Fatal(err)
		}
		var kept []keptFrame
		chunks := map[*Chunk]bool{}
		check := func() {
			for _, k := range kept {
				if !bytes.Equal(k.data, k.want) {
					t.Fatalf("hold %d: a kept frame of %d bytes changed while its chunk was retained", hold, len(k.want))
				}
			}
		}
		for i := 0; ; i++ {
			data, _, _, err := f.Next()
			if err == io.EOF {
				if i != len(sent) {
					t.Fatalf("hold %d: %d frames, want %d", hold, i, len(sent))
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, sent[i]) {
				t.Fatalf("hold %d: frame %d differs", hold, i)
			}
			c := f.Chunk()
			if !c.Contains(data) {
				t.Fatalf("hold %d: frame %d is not in its chunk", hold, i)
			}
			chunks[c] = true
			c.Retain()
			kept = append(kept, keptFrame{c, data, sent[i]})
			for len(kept) > hold { // release the oldest, as workers do
				kept[0].c.Release()
				kept = kept[1:]
			}
			if i%97 == 0 {
				check()
			}
		}
		check()
		for _, k := range kept {
			k.c.Release()
		}
		f.Close()
		// Reused: about the chunks the held frames span, the spares, and
		// one per frame larger than a chunk, not one per chunk's worth of
		// the file.
		read := len(w.b)/readChunk + 1
		if limit := hold*1600/readChunk + spareChunks + 2*len(sent)/500 + 4; len(chunks) > limit || hold == 0 && len(chunks) > 12 {
			t.Errorf("hold %d: %d chunks for %d chunks' worth of file (limit %d)", hold, len(chunks), read, limit)
		}
		for c := range chunks {
			if n := c.refs.Load(); n != 0 {
				t.Errorf("hold %d: a chunk has %d references after all were released and the file closed", hold, n)
			}
		}
	}
}

// TestChunkOverRelease: releasing a chunk more often than it was retained
// is a bug, reported at once.
func TestChunkOverRelease(t *testing.T) {
	c := &Chunk{buf: make([]byte, 8)}
	c.Retain()
	c.Release()
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	c.Release()
}

// TestChunkContains: a slice is in a chunk only if all of it lies in the
// chunk's bytes.
func TestChunkContains(t *testing.T) {
	buf := make([]byte, 100)
	c := &Chunk{buf: buf[10:90]}
	for _, tt := range []struct {
		b    []byte
		want bool
	}{
		{buf[10:90], true},
		{buf[20:30], true},
		{buf[89:90], true},
		{buf[5:20], false},
		{buf[80:95], false},
		{buf[90:95], false},
		{buf[20:20], false}, // empty
		{make([]byte, 4), false},
	} {
		if got := c.Contains(tt.b); got != tt.want {
			t.Errorf("Contains(len %d) = %v, want %v", len(tt.b), got, tt.want)
		}
	}
}
