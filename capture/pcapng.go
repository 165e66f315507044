package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// maxNgBlock is the largest pcapng block accepted (Wireshark's limit).
const maxNgBlock = 16 << 20

// NgBlockError is a pcapng block that cannot be read: its framing is wrong
// (a block length that cannot be, a trailing length that differs from the
// leading one) or its contents do not fit it.
type NgBlockError struct {
	Offset int64 // byte offset of the block (uncompressed)
	Msg    string
}

func (e *NgBlockError) Error() string {
	return fmt.Sprintf("pcapng block at byte offset %d: %s", e.Offset, e.Msg)
}

// pcapng block types (pcapng specification, section 11.1).
const (
	ngSectionHeader     = 0x0a0d0d0a
	ngInterface         = 1
	ngObsoletePacket    = 2
	ngSimplePacket      = 3
	ngInterfaceStats    = 5
	ngEnhancedPacket    = 6
	ngByteOrderMagic    = 0x1a2b3c4d
	ngOptTsResolution   = 9
	ngOptTsOffset       = 14
	ngSectionHeaderSize = 28 // with no options: type, length, magic, version, section length, trailer
)

// ngBlockNames name the blocks that errors speak of.
var ngBlockNames = map[uint32]string{
	ngSectionHeader:  "section header",
	ngInterface:      "interface description",
	ngObsoletePacket: "packet",
	ngSimplePacket:   "simple packet",
	ngInterfaceStats: "interface statistics",
	ngEnhancedPacket: "enhanced packet",
}

// zeroTime is the timestamp of a simple packet block, which has none: the
// zero time.Time, as gopacket's reader gave it.
var zeroTime = time.Time{}.UnixNano()

// ngReader reads the packets of a pcapng stream, sliced in place from its
// buffer. It checks each block's framing (the leading block length at
// least 12, a multiple of 4 and at most 16 MiB, the trailing length equal
// to it) before it looks inside, and that the contents it reads fit the
// block. Like gopacket's pcapgo reader, which it replaces, it reads enhanced,
// simple and obsolete packet blocks of every interface with the interface's
// own link type, timestamp resolution (if_tsresol) and offset (if_tsoffset),
// both byte orders and any number of sections (each with its own
// interfaces), and skips a section of a version other than 1.0 and the
// blocks it does not use: name resolution (whose damaged records pcapgo
// refused), decryption secrets, custom and unknown blocks, framing checked.
type ngReader struct {
	r         *recBuf
	byteOrder      // of the current section
	skip      bool // the current section is of an unknown version
	ifaces    []ngIface
}

// ngIface is an interface of the current section.
type ngIface struct {
	linkType  layers.LinkType
	snapLen   uint32
	tsMask    uint64 // timestamp units per second
	tsOffset  uint64 // seconds
	scaleUp   uint64 // units to nanoseconds: * scaleUp / scaleDown
	scaleDown uint64
}

// newNgReader reads the first section header.
func newNgReader(r *recBuf) (*ngReader, error) {
	ng := &ngReader{r: r}
	if _, _, _, err := ng.block(true); err != nil {
		return nil, err
	}
	return ng, nil
}

// byteOrder reads the integers of a capture's headers in its byte order.
type byteOrder struct{ big bool }

func (o byteOrder) u16(b []byte) uint16 {
	if o.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (o byteOrder) u32(b []byte) uint32 {
	if o.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o byteOrder) u64(b []byte) uint64 {
	if o.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// next returns the next packet (valid until the next call), its link type
// and its timestamp in unix nanoseconds. At the end of the stream it
// returns io.EOF; a block cut by the end, io.ErrUnexpectedEOF; a block that
// cannot be read, an *NgBlockError.
func (ng *ngReader) next() (data []byte, lt layers.LinkType, ts int64, err error) {
	for {
		data, lt, ts, err = ng.block(false)
		if data != nil || err != nil {
			return data, lt, ts, err
		}
	}
}

// block reads one block, and returns its packet if it is a packet block
// (data nil otherwise). With first, the block must be a section header
// and every following block of a section of an unknown version is read
// too, up to the header of one that can be read.
func (ng *ngReader) block(first bool) (data []byte, lt layers.LinkType, ts int64, err error) {
	off := ng.r.off
	h, err := ng.r.peek(12)
	if len(h) < 12 {
		if len(h) == 0 && err == io.EOF {
			return nil, 0, 0, io.EOF
		}
		return nil, 0, 0, readErr(err)
	}
	typ := binary.LittleEndian.Uint32(h)
	if typ == ngSectionHeader { // its byte-order magic says the section's byte order
		switch binary.LittleEndian.Uint32(h[8:]) {
		case ngByteOrderMagic:
			ng.big = false
		case 0x4d3c2b1a:
			ng.big = true
		default:
			return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("section header with a bad byte-order magic %#08x", binary.BigEndian.Uint32(h[8:]))}
		}
	} else {
		typ = ng.u32(h)
	}
	n := ng.u32(h[4:])
	switch {
	case n < 12 || n%4 != 0:
		return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("invalid block length %d (a block is at least 12 bytes and a multiple of 4)", n)}
	case n > maxNgBlock:
		return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("block length %d exceeds the 16 MiB limit", n)}
	}
	b, err := ng.r.peek(int(n))
	if err != nil {
		return nil, 0, 0, readErr(err)
	}
	if t := ng.u32(b[n-4:]); t != n {
		return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("trailing block length %d does not match the leading block length %d", t, n)}
	}
	ng.r.discard(int(n))
	body := b[8 : n-4]
	if typ == ngSectionHeader {
		if err := ng.section(off, body); err != nil {
			return nil, 0, 0, err
		}
		for first && ng.skip {
			if _, _, _, err := ng.block(false); err != nil {
				return nil, 0, 0, err
			}
		}
		return nil, 0, 0, nil
	}
	if ng.skip {
		return nil, 0, 0, nil
	}
	switch typ {
	case ngEnhancedPacket, ngObsoletePacket:
		if len(body) < 20 {
			return nil, 0, 0, ng.short(off, typ, n)
		}
		var id int
		if typ == ngEnhancedPacket {
			id = int(ng.u32(body))
		} else {
			id = int(ng.u16(body))
		}
		if id >= len(ng.ifaces) {
			return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("%s block of interface %d, but the section has %d", ngBlockNames[typ], id, len(ng.ifaces))}
		}
		caplen := ng.u32(body[12:])
		if uint64(caplen) > uint64(len(body)-20) {
			return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("%s block of %d bytes cannot hold its captured length %d", ngBlockNames[typ], n, caplen)}
		}
		if typ == ngEnhancedPacket {
			if err := ng.options(off, typ, body[20+(caplen+3)&^3:], nil); err != nil {
				return nil, 0, 0, err
			}
		}
		i := &ng.ifaces[id]
		t := uint64(ng.u32(body[4:]))<<32 | uint64(ng.u32(body[8:]))
		return body[20 : 20+caplen : 20+caplen], i.linkType, i.time(t), nil
	case ngSimplePacket:
		if len(body) < 4 {
			return nil, 0, 0, ng.short(off, typ, n)
		}
		if len(ng.ifaces) == 0 {
			return nil, 0, 0, &NgBlockError{off, "simple packet block before any interface description block"}
		}
		caplen := ng.u32(body)
		if s := ng.ifaces[0].snapLen; s != 0 && caplen > s {
			caplen = s
		}
		if uint64(caplen) > uint64(len(body)-4) {
			return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("simple packet block of %d bytes cannot hold its captured length %d", n, caplen)}
		}
		return body[4 : 4+caplen : 4+caplen], ng.ifaces[0].linkType, zeroTime, nil
	case ngInterface:
		return nil, 0, 0, ng.iface(off, body)
	case ngInterfaceStats:
		if len(body) < 12 {
			return nil, 0, 0, ng.short(off, typ, n)
		}
		if id := ng.u32(body); int64(id) >= int64(len(ng.ifaces)) {
			return nil, 0, 0, &NgBlockError{off, fmt.Sprintf("interface statistics block of interface %d, but the section has %d", id, len(ng.ifaces))}
		}
		return nil, 0, 0, ng.options(off, typ, body[12:], nil)
	}
	return nil, 0, 0, nil // name resolution, decryption secrets, custom, unknown: skipped
}

func (ng *ngReader) short(off int64, typ, n uint32) error {
	return &NgBlockError{off, fmt.Sprintf("%s block length %d is too short for its fields", ngBlockNames[typ], n)}
}

// section starts a section: its interfaces are forgotten, and a section
// of an unknown version is skipped.
func (ng *ngReader) section(off int64, body []byte) error {
	if len(body) < ngSectionHeaderSize-12 {
		return ng.short(off, ngSectionHeader, uint32(len(body)+12))
	}
	ng.ifaces = ng.ifaces[:0]
	ng.skip = ng.u16(body[4:]) != 1 || ng.u16(body[6:]) != 0
	if ng.skip {
		return nil
	}
	return ng.options(off, ngSectionHeader, body[16:], nil)
}

// iface reads an interface description block.
func (ng *ngReader) iface(off int64, body []byte) error {
	if len(body) < 8 {
		return ng.short(off, ngInterface, uint32(len(body)+12))
	}
	i := ngIface{linkType: layers.LinkType(ng.u16(body)), snapLen: ng.u32(body[4:])}
	res := uint8(6) // microseconds
	err := ng.options(off, ngInterface, body[8:], func(code uint16, v []byte) {
		switch {
		case code == ngOptTsResolution && len(v) >= 1:
			res = v[0]
		case code == ngOptTsOffset && len(v) >= 8:
			i.tsOffset = ng.u64(v)
		}
	})
	if err != nil {
		return err
	}
	if res == 0 {
		res = 6
	}
	exp := res & 0x7f
	if exp > 63 {
		base := "10"
		if res&0x80 != 0 {
			base = "2"
		}
		return &NgBlockError{off, fmt.Sprintf("interface timestamp resolution %s^-%d is too fine", base, exp)}
	}
	// As gopacket's reader: units per second (10^exp wraps above 10^19),
	// and their scale to nanoseconds.
	if res&0x80 != 0 {
		i.tsMask = 1 << exp
	} else {
		i.tsMask = 1
		for range exp {
			i.tsMask *= 10
		}
	}
	i.scaleUp, i.scaleDown = 1, 1
	if i.tsMask < 1e9 {
		i.scaleUp = 1e9 / i.tsMask
	} else {
		i.scaleDown = i.tsMask / 1e9
	}
	ng.ifaces = append(ng.ifaces, i)
	return nil
}

// time converts a packet's timestamp to unix nanoseconds.
func (i *ngIface) time(t uint64) int64 {
	sec := int64(t/i.tsMask + i.tsOffset)
	return sec*1e9 + int64(t%i.tsMask*i.scaleUp/i.scaleDown)
}

// options walks a block's options, up to opt_endofopt or the end of the
// block, calling fn (if not nil) with each; an option that overruns the
// block, or an opt_endofopt with a value, is an error.
func (ng *ngReader) options(off int64, typ uint32, b []byte, fn func(code uint16, v []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return &NgBlockError{off, fmt.Sprintf("%s block: an option header overruns the block", ngBlockNames[typ])}
		}
		code, l := ng.u16(b), int(ng.u16(b[2:]))
		if code == 0 {
			if l != 0 {
				return &NgBlockError{off, fmt.Sprintf("%s block: end of options with a length of %d, not 0", ngBlockNames[typ], l)}
			}
			return nil
		}
		if 4+(l+3)&^3 > len(b) {
			return &NgBlockError{off, fmt.Sprintf("%s block: option %d of %d bytes overruns the block", ngBlockNames[typ], code, l)}
		}
		if fn != nil {
			fn(code, b[4:4+l])
		}
		b = b[4+(l+3)&^3:]
	}
	return nil
}
