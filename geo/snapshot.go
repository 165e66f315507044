package geo

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// The embedded snapshot of the providers' published ranges, built by
// `make geodb` (tools/geodb) from the official files with
// EncodeRangeSnapshot.
//
//go:embed data/ranges.bin.gz
var embeddedRanges []byte

// The snapshot format, gzip-compressed:
//
//	"BWRANGES1\n"
//	uvarint n, then n ranges: Source, Provider, Region, Country as
//	  uvarint length + bytes, and one byte: 1 if anycast
//	uvarint m, then m prefixes: uvarint range index, one byte (an IPv6
//	  prefix length 0-128, or 129 + an IPv4 prefix length), the prefix's
//	  ceil(bits/8) leading address bytes
const snapshotMagic = "BWRANGES1\n"

// EncodeRangeSnapshot parses the providers' files in dir (see
// RangeSources) and returns the compact snapshot geo embeds, and the
// number of prefixes in it.
func EncodeRangeSnapshot(dir string) ([]byte, int, error) {
	got, err := readRangeDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var raw bytes.Buffer
	raw.WriteString(snapshotMagic)
	index := make(map[Range]uint64)
	var ranges []Range
	var entries []rangeEntry
	for _, src := range rangeSources {
		for _, e := range got[src.name] {
			if _, ok := index[e.r]; !ok {
				index[e.r] = uint64(len(ranges))
				ranges = append(ranges, e.r)
			}
			entries = append(entries, e)
		}
	}
	putString := func(s string) {
		raw.Write(binary.AppendUvarint(nil, uint64(len(s))))
		raw.WriteString(s)
	}
	raw.Write(binary.AppendUvarint(nil, uint64(len(ranges))))
	for _, r := range ranges {
		putString(r.Source)
		putString(r.Provider)
		putString(r.Region)
		putString(r.Country)
		if r.Anycast {
			raw.WriteByte(1)
		} else {
			raw.WriteByte(0)
		}
	}
	raw.Write(binary.AppendUvarint(nil, uint64(len(entries))))
	for _, e := range entries {
		raw.Write(binary.AppendUvarint(nil, index[e.r]))
		bits := e.prefix.Bits()
		flag := byte(bits)
		if e.prefix.Addr().Is4() {
			flag += 129
		}
		raw.WriteByte(flag)
		a := e.prefix.Addr().AsSlice()
		raw.Write(a[:(bits+7)/8])
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return out.Bytes(), len(entries), nil
}

// errSnapshot is the error of a malformed snapshot.
var errSnapshot = errors.New("malformed range snapshot")

// decodeSnapshot reads a snapshot into entries by source name. It refuses
// anything malformed with an error saying where (it is fuzzed).
func decodeSnapshot(gz []byte) (map[string][]rangeEntry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSnapshot, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxRangeFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSnapshot, err)
	}
	if len(data) > maxRangeFile {
		return nil, fmt.Errorf("%w: larger than %d MiB", errSnapshot, maxRangeFile>>20)
	}
	if !bytes.HasPrefix(data, []byte(snapshotMagic)) {
		return nil, fmt.Errorf("%w: no %q header", errSnapshot, snapshotMagic[:9])
	}
	p := data[len(snapshotMagic):]
	off := len(snapshotMagic)
	fail := func(what string) error {
		return fmt.Errorf("%w: %s at byte %d", errSnapshot, what, off)
	}
	uvarint := func(max uint64) (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > max {
			return 0, false
		}
		p, off = p[n:], off+n
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uvarint(256)
		if !ok || uint64(len(p)) < n {
			return "", false
		}
		s := string(p[:n])
		p, off = p[n:], off+int(n)
		return s, true
	}
	nr, ok := uvarint(1 << 20)
	if !ok {
		return nil, fail("range count")
	}
	ranges := make([]Range, 0, min(nr, uint64(len(p))))
	for i := uint64(0); i < nr; i++ {
		var r Range
		var ok1, ok2, ok3, ok4 bool
		r.Source, ok1 = str()
		r.Provider, ok2 = str()
		r.Region, ok3 = str()
		r.Country, ok4 = str()
		if !ok1 || !ok2 || !ok3 || !ok4 || len(p) < 1 || p[0] > 1 {
			return nil, fail(fmt.Sprintf("range %d", i))
		}
		r.Anycast = p[0] == 1
		p, off = p[1:], off+1
		ranges = append(ranges, r)
	}
	ne, ok := uvarint(maxRangeEntries)
	if !ok {
		return nil, fail("prefix count")
	}
	out := make(map[string][]rangeEntry)
	for i := uint64(0); i < ne; i++ {
		ri, ok := uvarint(uint64(len(ranges)))
		if !ok || ri >= uint64(len(ranges)) || len(p) < 1 {
			return nil, fail(fmt.Sprintf("prefix %d: range index", i))
		}
		flag := p[0]
		p, off = p[1:], off+1
		bits, v6, size := int(flag), true, 16
		if flag >= 129 {
			bits, v6, size = int(flag)-129, false, 4
		}
		if bits > size*8 {
			return nil, fail(fmt.Sprintf("prefix %d: length %d", i, bits))
		}
		nb := (bits + 7) / 8
		if len(p) < nb {
			return nil, fail(fmt.Sprintf("prefix %d: truncated", i))
		}
		var a [16]byte
		copy(a[:], p[:nb])
		p, off = p[nb:], off+nb
		var addr netip.Addr
		if v6 {
			addr = netip.AddrFrom16(a)
		} else {
			addr = netip.AddrFrom4([4]byte(a[:4]))
		}
		r := ranges[ri]
		out[r.Source] = append(out[r.Source], rangeEntry{netip.PrefixFrom(addr, bits).Masked(), r})
	}
	if len(p) != 0 {
		return nil, fail("trailing bytes")
	}
	return out, nil
}
