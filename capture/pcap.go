package capture

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads the records of a pcap file, including the variants
// that capinfos recognises whose records carry extra header bytes after
// the usual 16: "Modified tcpdump" (magic 0xa1b2cd34, 24 bytes), "SuSE 6.3
// tcpdump" (0xa1b2cd34, 28), "RedHat 6.1 tcpdump" (usual magic, 24) and
// "Nokia tcpdump" (usual magic, 20). As Wireshark does, the variant is
// chosen by which record size makes the first records plausible.
//
// Like tcpdump and Wireshark it reads a record whose captured length
// exceeds its original length, and records longer than the file's snap
// length up to maxSnaplen.
type pcapReader struct {
	r         *recBuf
	byteOrder // of the headers
	nsec      bool
	hdrLen    int // record header length
	linkType  layers.LinkType
	variant   string
}

// pcapVariants are the record header sizes tried for each magic, first
// the one of the usual format.
var pcapVariants = map[bool][]struct {
	hdrLen int
	name   string
}{
	false: {{16, "pcap"}, {24, "RedHat 6.1 tcpdump pcap"}, {20, "Nokia tcpdump pcap"}},
	true:  {{24, "modified tcpdump pcap"}, {28, "SuSE 6.3 tcpdump pcap"}},
}

func newPcapReader(r *recBuf) (*pcapReader, error) {
	h, err := r.peek(24)
	if err != nil {
		return nil, emptyErr(err)
	}
	p := &pcapReader{r: r}
	modified := false
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
	case 0xd4c3b2a1:
		p.big = true
	case 0xa1b23c4d:
		p.nsec = true
	case 0x4d3cb2a1:
		p.big, p.nsec = true, true
	case 0xa1b2cd34:
		modified = true
	case 0x34cdb2a1:
		p.big, modified = true, true
	}
	if major := p.u16(h[4:]); major != 2 {
		return nil, fmt.Errorf("unknown pcap version %d.%d", major, p.u16(h[6:]))
	}
	p.linkType = layers.LinkType(p.u32(h[20:]) & 0xffff)
	r.discard(24)
	vs := pcapVariants[modified]
	p.hdrLen, p.variant = vs[0].hdrLen, vs[0].name
	for _, v := range vs {
		if p.plausible(v.hdrLen) {
			p.hdrLen, p.variant = v.hdrLen, v.name
			break
		}
	}
	return p, nil
}

// plausible reports whether the first records read well with headers of n
// bytes: sane lengths, a fraction of a second below one second, and at
// most three records checked, those whose headers are in the first 64 KiB
// of the file (the same bytes for every variant, even if the stream fails
// after them).
func (p *pcapReader) plausible(n int) bool {
	buf, _ := p.r.peek(1<<16 - 24)
	frac := uint32(1000000)
	if p.nsec {
		frac = 1000000000
	}
	off := 0
	for i := 0; i < 3 && off+n <= len(buf); i++ {
		h := buf[off:]
		incl, orig := p.u32(h[8:]), p.u32(h[12:])
		if p.u32(h[4:]) >= frac || incl > maxSnaplen || orig > 128<<20 || incl > orig {
			return false
		}
		off += n + int(incl)
	}
	return true
}

// next returns the next record's data (valid until the next call) and its
// timestamp.
func (p *pcapReader) next() (data []byte, ts int64, err error) {
	h, err := p.r.peek(p.hdrLen)
	if err != nil {
		if len(h) == 0 && err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, readErr(err)
	}
	sec, frac := int64(p.u32(h)), int64(p.u32(h[4:]))
	incl := p.u32(h[8:])
	if incl > maxSnaplen {
		return nil, 0, fmt.Errorf("record captured length %d is above the %d-byte limit", incl, maxSnaplen)
	}
	n := p.hdrLen + int(incl)
	rec, err := p.r.peek(n)
	if err != nil {
		return nil, 0, readErr(err)
	}
	p.r.discard(n)
	if !p.nsec {
		frac *= 1000
	}
	return rec[p.hdrLen:], sec*1e9 + frac, nil
}

// readErr is the error of a record cut by the end of the stream, or the
// stream's own error (a gzip stream's, a disk's).
func readErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
