package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"
)

// maxSnaplen is the largest record accepted, whatever the file header says:
// like tcpdump and Wireshark, borderwatch reads records longer than a
// file's declared snap length (some writers do not truncate).
const maxSnaplen = 262144

// File reads frames from a pcap or pcapng file, optionally gzip-compressed,
// or from standard input when the path is "-". Records are sliced in place
// from large buffers (recBuf's chunks): a record is copied once, by the
// read into its chunk, and a consumer that retains the chunk can keep the
// frame without copying it (Chunk).
type File struct {
	path     string
	closer   io.Closer
	in       *recBuf
	pcap     *pcapReader
	ng       *ngReader
	linkType layers.LinkType
	packets  uint64 // records read so far
	format   string
	gzipped  bool
	raw      *countingReader // bytes read from the file itself (progress)
	size     int64           // of the file, 0 when unknown (standard input, a pipe)
}

// FileError is a read error with its position: the file, the number of the
// packet that could not be read (1-based) and its byte offset.
type FileError struct {
	Path   string
	Packet uint64
	Offset int64
	Exact  bool // the offset is the record's or block's (false: an upper bound)
	Err    error
}

func (e *FileError) Error() string {
	where := "byte offset"
	if !e.Exact {
		where = "at or before byte offset"
	}
	return fmt.Sprintf("%s: packet %d, %s %d: %v", e.Path, e.Packet, where, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// OpenFile opens a capture file. It detects gzip, pcap (both byte orders,
// micro- and nanosecond) and pcapng by their magic numbers.
func OpenFile(path string) (*File, error) {
	var f *os.File
	if path == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
	}
	var size int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	if path != "-" {
		s := &File{path: path, closer: f, size: size}
		if s.mapped(f, size) {
			if _, err := s.detect(path); err != nil {
				s.Close()
				return nil, err
			}
			return s, nil
		}
	}
	raw := &countingReader{r: f}
	var rc io.ReadCloser = readCloser{raw, f}
	if path == "-" {
		rc = io.NopCloser(raw)
	}
	src, err := newFile(path, rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	src.raw, src.size = raw, size
	return src, nil
}

func newFile(path string, rc io.ReadCloser) (*File, error) {
	s := &File{path: path, closer: rc}
	// Only the first bytes pass through br: the large reads of recBuf go
	// around its buffer, straight to the file. A gzip stream reads it.
	br := bufio.NewReaderSize(rc, 1<<16)
	var r io.Reader = br
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%s: not a capture file: %w", path, emptyErr(err))
	}
	if isGzip(magic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip stream: %w", path, err)
		}
		s.gzipped = true
		r = gz
	}
	s.in = newRecBuf(r)
	return s.detect(path)
}

// detect reads the capture's header from s.in.
func (s *File) detect(path string) (*File, error) {
	head, err := s.in.peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: not a capture file: %w", path, emptyErr(err))
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		s.pcap, err = newPcapReader(s.in)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcap header: %w", path, err)
		}
		s.format = "pcap"
		if s.pcap.hdrLen != 16 {
			s.format = s.pcap.variant
		}
		s.linkType = s.pcap.linkType
	case ngSectionHeader:
		s.format = "pcapng"
		s.ng, err = newNgReader(s.in)
		var be *NgBlockError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng section header: %w", path, emptyErr(err))
		}
		// The link type of a pcapng file is its packets': LinkType stays 0,
		// as gopacket's reader (with mixed link types) left it.
	default:
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %#08x); convert other formats with editcap", path, binary.BigEndian.Uint32(head))
	}
	return s, nil
}

// isGzip reports whether a stream begins with gzip's magic number.
func isGzip(magic []byte) bool { return len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b }

func emptyErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("file is empty or too short")
	}
	return err
}

// Path returns the path given to OpenFile.
func (s *File) Path() string { return s.path }

// Format returns "pcap", "pcapng", or the name of a pcap variant
// ("modified tcpdump pcap", ...).
func (s *File) Format() string { return s.format }

// LinkType returns the link type of a pcap file. A pcapng file's packets
// carry their interface's link type, and its LinkType is 0, as gopacket's
// reader left it before.
func (s *File) LinkType() layers.LinkType { return s.linkType }

// BytesRead returns the bytes read from the (uncompressed) stream, for
// progress: those consumed and the buffer's read-ahead.
func (s *File) BytesRead() int64 {
	if s.in.mapped {
		return s.in.off
	}
	return s.in.read
}

// Progress returns the bytes read from the file (compressed, read ahead
// by the buffers) and its size (0 when unknown: standard input, a pipe).
func (s *File) Progress() (read, size int64) {
	if s.in.mapped {
		return s.in.off, s.size
	}
	if s.raw == nil {
		return 0, 0
	}
	return s.raw.n, s.size
}

// Compressed reports whether the file is gzip-compressed.
func (s *File) Compressed() bool { return s.gzipped }

// Next returns the next frame, its link type and its timestamp in unix
// nanoseconds. data is valid until the next call. At the end of the file it
// returns io.EOF; a truncated or corrupt file gives a *FileError.
func (s *File) Next() (data []byte, lt layers.LinkType, ts int64, err error) {
	if s.pcap != nil {
		data, ts, err = s.pcap.next()
		lt = s.linkType
	} else {
		data, lt, ts, err = s.ng.next()
	}
	if err != nil {
		return nil, 0, 0, s.wrap(err, s.in.off) // the record or block that failed
	}
	s.packets++
	return data, lt, ts, nil
}

// wrap makes a read error a *FileError at off, the offset (uncompressed) of
// the record (pcap) or block (pcapng) that could not be read.
func (s *File) wrap(err error, off int64) error {
	if err == io.EOF {
		return io.EOF
	}
	var be *NgBlockError
	if errors.As(err, &be) {
		off = be.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = errors.New("file ends in the middle of a packet record (truncated capture)")
	}
	return &FileError{Path: s.path, Packet: s.packets + 1, Offset: off, Exact: true, Err: err}
}

// Packets returns the number of records read so far.
func (s *File) Packets() uint64 { return s.packets }

// Close closes the file.
func (s *File) Close() error {
	s.in.close()
	return s.closer.Close()
}

// Chunk returns the chunk that holds the frame Next returned last: a
// consumer that keeps the frame after the next call retains it (see Chunk).
func (s *File) Chunk() *Chunk { return s.in.cur }

type readCloser struct {
	io.Reader
	io.Closer
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
