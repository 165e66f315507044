package capture

import (
	"io"
	"sync/atomic"
	"unsafe"
)

// readChunk is the size of the reads of a capture file, and of the chunks
// its records are sliced from. A chunk grows for a larger record (a pcapng
// block up to maxNgBlock).
var readChunk = 1 << 20

// Chunk is one buffer of a capture file's bytes, from which its frames are
// sliced in place. A frame stays valid while its chunk is retained: the
// file's reader holds the chunk it reads into, and a consumer that keeps
// frames past the next call to Next (the pipeline's batches, until a
// worker has handled them) retains their chunk and releases it after. A
// chunk nobody retains any more is reused for a later read; a chunk that
// is never released is only garbage, never overwritten.
type Chunk struct {
	buf   []byte
	refs  atomic.Int32
	pool  chan *Chunk // where it goes when released by all; nil: not reused
	unmap func()      // a file's mapping: unmapped when released by all
}

// Retain keeps the chunk's bytes from being overwritten until Release.
func (c *Chunk) Retain() { c.refs.Add(1) }

// Release undoes one Retain (or the reader's own hold).
func (c *Chunk) Release() {
	switch n := c.refs.Add(-1); {
	case n == 0 && c.pool != nil:
		select {
		case c.pool <- c:
		default: // enough spare chunks: this one is garbage
		}
	case n == 0 && c.unmap != nil:
		c.unmap()
	case n < 0:
		panic("capture: a chunk released more often than retained")
	}
}

// Refs returns how many holds the chunk has (the reader's and Retain's),
// for tests and diagnostics.
func (c *Chunk) Refs() int { return int(c.refs.Load()) }

// Contains reports whether b lies within the chunk's bytes.
func (c *Chunk) Contains(b []byte) bool {
	if len(b) == 0 || len(c.buf) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(c.buf)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(c.buf))
}

// spareChunks is how many released chunks a reader keeps for reuse.
const spareChunks = 8

// recBuf reads a stream in large chunks, from which the readers slice
// records in place: a record costs no copy and no call to the layers below.
// A record cut by the end of a chunk is moved to the front of the next
// chunk, or of the same one when nobody else retains it, before the next
// read. A slice returned by peek is valid until the next peek that needs
// more bytes than are buffered, or, for a consumer that retains cur, until
// it releases it.
type recBuf struct {
	r          io.Reader
	cur        *Chunk // held by recBuf (one reference) while it reads into it
	buf        []byte // cur.buf
	start, end int    // the unread bytes: buf[start:end]
	off        int64  // stream offset of buf[start]
	read       int64  // bytes read from r
	err        error  // r's error (io.EOF at its end), once seen
	spare      chan *Chunk
	mapped     bool   // buf is the whole file, mapped (see mmap.go)
	ahead      *ahead // mapped: the fault-ahead goroutine (startAhead)
	told       int    // mapped: the offset last told to ahead
	touched    int    // mapped: buf[:touched] was loaded ahead (touchAhead)
	sink       byte   // touchAhead's loads
}

func newRecBuf(r io.Reader) *recBuf {
	b := &recBuf{r: r, spare: make(chan *Chunk, spareChunks)}
	b.use(&Chunk{}) // empty: the first read takes a chunk
	return b
}

// use makes c the chunk read into, holding it.
func (b *recBuf) use(c *Chunk) {
	c.refs.Store(1)
	b.cur, b.buf = c, c.buf
}

// chunk returns an unused chunk of at least n bytes: a spare one, or a new
// one (reused later only if it has the standard size).
func (b *recBuf) chunk(n int) *Chunk {
	if n <= readChunk {
		select {
		case c := <-b.spare:
			if len(c.buf) >= n {
				return c
			}
		default:
		}
		return &Chunk{buf: make([]byte, readChunk), pool: b.spare}
	}
	return &Chunk{buf: make([]byte, n)}
}

// peek returns the next n bytes without consuming them. At the end of the
// stream it returns the bytes left, fewer than n, with io.EOF (or the read
// error).
func (b *recBuf) peek(n int) ([]byte, error) {
	if b.end-b.start >= n {
		return b.buf[b.start : b.start+n : b.start+n], nil
	}
	return b.fill(n)
}

// fill reads until n bytes are buffered (or the stream ends). When the
// chunk is full, the bytes left move to the front of a chunk with room: the
// same one if nobody else retains it, else another. It stops
// reading as soon as n bytes are there, so that a pipe's records are handed
// on as they come. A chunk grows for a larger record only as its bytes
// arrive: a length that a damaged file claims costs no more memory than the
// file has.
func (b *recBuf) fill(n int) ([]byte, error) {
	if b.mapped {
		return b.buf[b.start:b.end:b.end], b.err
	}
	for empty := 0; b.end-b.start < n && b.err == nil; {
		if b.end == len(b.buf) {
			left := b.buf[b.start:b.end]
			size := max(readChunk, min(n, 2*len(b.buf)))
			if b.cur.refs.Load() == 1 && size <= len(b.buf) {
				// Only recBuf holds it: nobody keeps the bytes before start.
				copy(b.buf, left)
			} else {
				c := b.chunk(size)
				copy(c.buf, left)
				b.cur.Release()
				b.use(c)
			}
			b.start, b.end = 0, len(left)
		}
		m, err := b.r.Read(b.buf[b.end:])
		b.end += m
		b.read += int64(m)
		switch {
		case err != nil:
			b.err = err
		case m > 0:
			empty = 0
		default:
			if empty++; empty == 100 { // as bufio: a reader that gives nothing
				b.err = io.ErrNoProgress
			}
		}
	}
	if b.end-b.start >= n {
		return b.buf[b.start : b.start+n : b.start+n], nil
	}
	return b.buf[b.start:b.end:b.end], b.err
}

// discard consumes n bytes, which peek returned.
func (b *recBuf) discard(n int) {
	b.start += n
	b.off += int64(n)
	if b.mapped {
		if b.start-b.told >= faultStep {
			b.tell()
		}
		b.touchAhead()
	}
}

// close lets go of the chunk read into.
func (b *recBuf) close() {
	if b.ahead != nil {
		close(b.ahead.stop)
		<-b.ahead.done
		b.ahead = nil
	}
	if b.cur != nil {
		b.cur.Release()
		b.cur, b.buf = nil, nil
	}
}
