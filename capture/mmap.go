package capture

import (
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// Capture files are read through a memory mapping where the system allows
// it (a regular, uncompressed file): frames are sliced from the file's pages
// in the page cache, with no read copying them (a quarter of the CPU time of
// a read of genpcap's 728 MB). The mapping is one Chunk, unmapped when the
// reader and every batch that kept a frame of it have let go. A goroutine
// beside the reader maps the pages ahead of it and drops those mapWindow
// behind it (startAhead), so a large file does not grow the process's
// resident memory.
//
// A file that shrinks while it is read (truncated by another program) would
// make an access to its lost pages raise SIGBUS. The goroutines that touch
// mapped bytes (Feed's, the fault-ahead one and the pipeline's workers) turn
// such faults into panics (runtime/debug.SetPanicOnFault) and recover them:
// Feed ends with a *FileError naming the file, and a worker drops the rest
// of its batch, counted as decode errors of reason file_changed. Never a
// crash.

// mapWindow is how far behind the reader the mapping's pages are dropped
// (every mapWindow bytes, by the fault-ahead goroutine).
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
	s.in.startAhead()
	return true
}

// faultWindow is how far ahead of the reader the fault-ahead goroutine maps
// a mapped file's pages, and faultStep how often the reader tells it where
// it is.
const (
	faultWindow = 4 << 20
	faultStep   = 1 << 20
)

// ahead is the state of a mapped file's fault-ahead goroutine.
type ahead struct {
	moved chan struct{} // the reader passed another faultStep
	stop  chan struct{} // closed when the reader closes
	done  chan struct{} // closed when the goroutine has ended
	pos   atomic.Int64  // the reader's offset, every faultStep
	// How far it has touched and dropped pages, whenever it waits (for
	// tests).
	touchedTo, droppedTo atomic.Int64
	sink                 atomic.Int32
}

// startAhead starts the goroutine that takes the page faults of a mapped
// file off the reader's goroutine: it touches a byte of every page up to
// faultWindow ahead of the reader, so that the kernel maps them before the
// reader gets there, and it drops the pages mapWindow behind the reader
// (they stay in the page cache; a frame still in a batch faults them back
// in). Faults and drops were a third of the reader's time on genpcap's
// 728 MB capture; on a machine of two cores they now run beside it, on the
// core the workers leave idle part of the time (the read's wall time went
// from 466 to 435 ms, medians of 11 alternating runs). It holds the mapping
// (a reference to its chunk) until it ends, and close waits for it. A file
// that shrinks ends it (the fault is recovered; the reader reports it).
func (b *recBuf) startAhead() {
	a := &ahead{moved: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.ahead = a
	c := b.cur
	c.Retain()
	go func() {
		defer close(a.done)
		defer c.Release()
		a.run(c.buf)
	}()
}

func (a *ahead) run(buf []byte) {
	debug.SetPanicOnFault(true)
	defer func() { _ = recover() }() // a file that shrank: the reader says so
	var x byte
	dropped := 0
	for off := 0; off < len(buf); off += pageSize {
		for off > int(a.pos.Load())+faultWindow {
			a.touchedTo.Store(int64(off))
			select {
			case <-a.moved:
			case <-a.stop:
				return
			}
			if end := (int(a.pos.Load()) - mapWindow) &^ (pageSize - 1); end-dropped >= mapWindow {
				dropPages(buf[dropped:end])
				dropped = end
				a.droppedTo.Store(int64(end))
			}
		}
		x ^= buf[off]
	}
	a.touchedTo.Store(int64(len(buf)))
	a.sink.Store(int32(x)) // kept, so that the loads are not removed
}

// tell tells the fault-ahead goroutine where the reader is.
func (b *recBuf) tell() {
	b.told = b.start
	b.ahead.pos.Store(int64(b.start))
	select {
	case b.ahead.moved <- struct{}{}:
	default: // it has not taken the last one yet
	}
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

// touchSpan is how far ahead of the reader touchAhead loads a mapped
// file's bytes.
const touchSpan = 4096

// touchAhead loads one byte of every cache line up to touchSpan bytes
// ahead of the reader. Reading a record's header waits for the memory load
// of its line, and the next header's place depends on this one's length, so
// record after record these loads follow one another; issued together in
// this loop, independent of each other, they overlap. It cut the CPU time
// of a read of genpcap's 728 MB capture by a tenth (perf stat, alternating
// runs); prefetch instructions (mem.Prefetch) in their place measured no
// better. A fault here (a file that shrank) is Feed's, as the reader's own.
func (b *recBuf) touchAhead() {
	end := min(b.start+touchSpan, len(b.buf))
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
