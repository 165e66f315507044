package lpm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The binary form of a Table: "lpm1", then for IPv4 and IPv6 the number
// of ranges (uint32) and each range's start (two uint64) and value
// (int32), little-endian. It lets a table built once (the published
// ranges, at release) be loaded without building it again.
const binaryMagic = "lpm1"

// AppendBinary appends t's binary form to b.
func (t *Table) AppendBinary(b []byte) []byte {
	b = append(b, binaryMagic...)
	for _, pt := range [2]*prefixTable{&t.v4, &t.v6} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(pt.ranges)))
		for _, r := range pt.ranges {
			b = binary.LittleEndian.AppendUint64(b, r.start.hi)
			b = binary.LittleEndian.AppendUint64(b, r.start.lo)
			b = binary.LittleEndian.AppendUint32(b, uint32(r.v))
		}
	}
	return b
}

var errBinary = errors.New("lpm: bad binary table")

// TableFromBinary reads a table in the form AppendBinary writes, refusing
// one whose starts do not increase or whose values are below -1 (it
// checks what a lookup relies on); maxValue bounds the values. It returns
// the bytes after the table.
func TableFromBinary(b []byte, maxValue int32) (*Table, []byte, error) {
	if len(b) < len(binaryMagic) || string(b[:len(binaryMagic)]) != binaryMagic {
		return nil, nil, fmt.Errorf("%w: no %q header", errBinary, binaryMagic)
	}
	b = b[len(binaryMagic):]
	t := &Table{}
	for fam, pt := range [2]*prefixTable{&t.v4, &t.v6} {
		if len(b) < 4 {
			return nil, nil, fmt.Errorf("%w: truncated", errBinary)
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n)*20 > uint64(len(b)) {
			return nil, nil, fmt.Errorf("%w: %d ranges do not fit", errBinary, n)
		}
		pt.ranges = make([]addrRange, n)
		for i := range pt.ranges {
			r := addrRange{start: u128{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, v: int32(binary.LittleEndian.Uint32(b[16:]))}
			b = b[20:]
			if r.v < -1 || r.v > maxValue || (i > 0 && !pt.ranges[i-1].start.less(r.start)) {
				return nil, nil, fmt.Errorf("%w: family %d, range %d", errBinary, fam, i)
			}
			pt.ranges[i] = r
		}
	}
	t.v4.index4()
	return t, b, nil
}
