package capture

import (
	"errors"
	"io"
	"os"
	"runtime"
)

// Capture files are read through a memory mapping where the system allows
// it (a regular, uncompressed file): frames are sliced from the file's pages
// in the page cache, with no read copying them (a quarter of the CPU time of
// a read of genpcap's 728 MB). The mapping is one Chunk, unmapped when the
// reader and every batch that kept a frame of it have let go. Behind the
// reader, pages are dropped from the mapping every mapWindow bytes (they stay
// in the page cache; a frame still in a batch faults them back in), so a
// large file does not grow the process's resident memory.
//
// A file that shrinks while it is read (truncated by another program) would
// make an access to its lost pages raise SIGBUS. The goroutines that touch
// mapped bytes (Feed's, and the pipeline's workers) turn such faults into
// panics (runtime/debug.SetPanicOnFault) and recover them: Feed ends with a
// *FileError naming the file, and a worker drops the rest of its batch,
// counted as decode errors of reason file_changed. Never a crash.

// mapWindow is how far behind the reader the mapping's pages are dropped
// (every mapWindow bytes).
const mapWindow = 8 << 20

// errShrank is the error of a mapped file that lost bytes while read.
var errShrank = errors.New("the file shrank while it was being read (truncated by another program?); the frames after this point were not read")

// MappedFault reports whether r, a recovered panic value, is a memory fault
// (see runtime/debug.SetPanicOnFault): the signature of a mapped capture
// file that shrank under its reader.
func MappedFault(r any) bool {
	err, ok := r.(runtime.Error)
	if !ok {
		return false
	}
	var addr interface{ Addr() uintptr }
	return errors.As(err, &addr)
}

// mapped makes s read from a mapping of f (size bytes), if the system
// allows it and the file is not compressed; it reports whether it did.
func (s *File) mapped(f *os.File, size int64) bool {
	if size < 4 || size > maxMapped {
		return false
	}
	var magic [2]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || isGzip(magic[:]) {
		return false // gzip: read through its stream
	}
	mm, err := mapFile(f, int(size))
	if err != nil {
		return false
	}
	c := &Chunk{buf: mm, unmap: func() { unmapFile(mm) }}
	s.in = &recBuf{buf: mm, end: len(mm), read: int64(len(mm)), err: io.EOF, mapped: true}
	s.in.use(c)
	return true
}

// dropBehind drops the mapping's pages more than mapWindow behind the
// reader.
func (b *recBuf) dropBehind() {
	end := (b.start - mapWindow) &^ (pageSize - 1)
	dropPages(b.buf[b.dropped:end])
	b.dropped = end
}

// shrankErr is Feed's error for a fault in s's mapping.
func (s *File) shrankErr() error {
	return &FileError{Path: s.path, Packet: s.packets + 1, Offset: s.in.off, Err: errShrank}
}

// mappedSource is a source that may be a mapped file (File; a type that
// embeds one).
type mappedSource interface {
	mappedFile() *File
}

// mappedFile returns s if it reads through a mapping, else nil.
func (s *File) mappedFile() *File {
	if s.in != nil && s.in.mapped {
		return s
	}
	return nil
}

// touchAhead is how far ahead of the reader a mapped file's bytes are
// loaded (touchAhead).
const touchAhead = 4096

// touchAhead loads one byte of every cache line up to touchAhead bytes
// ahead of the reader. Reading a record's header waits for the memory load
// of its line, and the next header's place depends on this one's length, so
// record after record these loads follow one another; issued together in
// this loop, independent of each other, they overlap. It cut the CPU time
// of a read of genpcap's 728 MB capture by a tenth (perf stat, alternating
// runs); prefetch instructions (mem.Prefetch) in their place measured no
// better. A fault here (a file that shrank) is Feed's, as the reader's own.
func (b *recBuf) touchAhead() {
	end := min(b.start+touchAhead, len(b.buf))
	t := b.touched
	if t >= end {
		return
	}
	t = max(t, b.start)
	var x byte
	for ; t < end; t += 64 {
		x ^= b.buf[t]
	}
	b.sink ^= x // kept, so that the loads are not removed
	b.touched = t
}
