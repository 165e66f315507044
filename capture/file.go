package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// maxSnaplen is the largest record accepted, whatever the file header says:
// like tcpdump and Wireshark, borderwatch reads records longer than a
// file's declared snap length (some writers do not truncate).
const maxSnaplen = 262144

// File reads frames from a pcap or pcapng file, optionally gzip-compressed,
// or from standard input when the path is "-".
type File struct {
	path     string
	closer   io.Closer
	counter  *countingReader
	pcap     *pcapReader
	ng       *pcapgo.NgReader
	ngCheck  *ngChecker
	linkType layers.LinkType
	ngTypes  []layers.LinkType // pcapng: link type per interface index
	packets  uint64            // records read so far
	offset   int64             // pcap: byte offset of the next record (uncompressed)
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
	Exact  bool // false for pcapng, where the offset is an upper bound
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
	br := bufio.NewReaderSize(rc, 1<<16)
	var r io.Reader = br
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%s: not a capture file: %w", path, emptyErr(err))
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip stream: %w", path, err)
		}
		s.gzipped = true
		r = bufio.NewReaderSize(gz, 1<<16)
	}
	s.counter = &countingReader{r: r}
	// Room for the largest record and its header: records are read in place.
	pr := bufio.NewReaderSize(s.counter, maxSnaplen+1<<12)
	head, err := pr.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: not a capture file: %w", path, emptyErr(err))
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		s.pcap, err = newPcapReader(pr)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcap header: %w", path, err)
		}
		s.format = "pcap"
		if s.pcap.hdrLen != 16 {
			s.format = s.pcap.variant
		}
		s.linkType = s.pcap.linkType
		s.offset = 24
	case 0x0a0d0d0a:
		s.format = "pcapng"
		s.ngCheck = newNgChecker(pr)
		s.ng, err = pcapgo.NewNgReader(s.ngCheck, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		var be *NgBlockError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng section header: %w", path, emptyErr(err))
		}
		s.linkType = s.ng.LinkType()
	default:
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %#08x); convert other formats with editcap", path, binary.BigEndian.Uint32(head))
	}
	return s, nil
}

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

// LinkType returns the link type of the file (pcapng: of its first interface).
func (s *File) LinkType() layers.LinkType { return s.linkType }

// BytesRead returns the bytes consumed from the (uncompressed) stream, for progress.
func (s *File) BytesRead() int64 { return s.counter.n }

// Progress returns the bytes read from the file (compressed, read ahead
// by the buffers) and its size (0 when unknown: standard input, a pipe).
func (s *File) Progress() (read, size int64) {
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
		data, ts, incl, err := s.pcap.next()
		if err != nil {
			return nil, 0, 0, s.wrap(err, true)
		}
		s.packets++
		s.offset += int64(s.pcap.hdrLen) + int64(incl)
		return data, s.linkType, ts, nil
	}
	data, ci, err := s.ng.ZeroCopyReadPacketData()
	if err != nil {
		return nil, 0, 0, s.wrap(err, false)
	}
	s.packets++
	lt = s.linkType
	if i := ci.InterfaceIndex; i >= 0 {
		for len(s.ngTypes) <= i {
			iface, err := s.ng.Interface(len(s.ngTypes))
			if err != nil {
				break
			}
			s.ngTypes = append(s.ngTypes, iface.LinkType)
		}
		if i < len(s.ngTypes) {
			lt = s.ngTypes[i]
		}
	}
	return data, lt, ci.Timestamp.UnixNano(), nil
}

func (s *File) wrap(err error, exact bool) error {
	if err == io.EOF {
		return io.EOF
	}
	var be *NgBlockError
	if !errors.As(err, &be) && s.ngCheck != nil && errors.As(s.ngCheck.err, &be) && !strings.Contains(err.Error(), be.Error()) {
		be = nil // pcapgo failed on its own, before the block the checker refused
	}
	if be != nil {
		err = be // pcapgo sometimes wraps it with %v
		return &FileError{Path: s.path, Packet: s.packets + 1, Offset: be.Offset, Exact: true, Err: err}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = errors.New("file ends in the middle of a packet record (truncated capture)")
	}
	off := s.offset
	if !exact {
		off = s.counter.n
	}
	return &FileError{Path: s.path, Packet: s.packets + 1, Offset: off, Exact: exact, Err: err}
}

// Packets returns the number of records read so far.
func (s *File) Packets() uint64 { return s.packets }

// Close closes the file.
func (s *File) Close() error { return s.closer.Close() }

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
