package capture

import (
	"io"
)

// readChunk is the size of the reads of a capture file, and of the buffer
// its records are sliced from. It grows for a larger record (a pcapng block
// up to maxNgBlock).
var readChunk = 1 << 20

// recBuf reads a stream in large chunks into one buffer, from which the
// readers slice records in place: a record costs no copy and no call to the
// layers below. Only the bytes of a record cut by the end of the buffer are
// moved, to its front, before the next read. A slice returned by peek is
// valid until the next peek that needs more bytes than are buffered.
type recBuf struct {
	r          io.Reader
	buf        []byte
	start, end int   // the unread bytes: buf[start:end]
	off        int64 // stream offset of buf[start]
	read       int64 // bytes read from r
	err        error // r's error (io.EOF at its end), once seen
}

func newRecBuf(r io.Reader) *recBuf {
	return &recBuf{r: r}
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

// fill reads until n bytes are buffered (or the stream ends): the bytes
// left are moved to the front of the buffer and the rest of the buffer is
// read into. It stops reading as soon as n bytes are there, so that a
// pipe's records are handed on as they come. The buffer grows for a
// larger record only as its bytes arrive: a length that a damaged file
// claims costs no more memory than the file has.
func (b *recBuf) fill(n int) ([]byte, error) {
	if b.start > 0 {
		b.end = copy(b.buf, b.buf[b.start:b.end])
		b.start = 0
	}
	for empty := 0; b.end < n && b.err == nil; {
		if b.end == len(b.buf) {
			nb := make([]byte, max(readChunk, min(n, 2*len(b.buf))))
			copy(nb, b.buf[:b.end])
			b.buf = nb
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
	if b.end >= n {
		return b.buf[:n:n], nil
	}
	return b.buf[:b.end:b.end], b.err
}

// discard consumes n bytes, which peek returned.
func (b *recBuf) discard(n int) {
	b.start += n
	b.off += int64(n)
}
