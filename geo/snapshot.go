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

// snapReader walks a snapshot's bytes, keeping the offset for errors.
type snapReader struct {
	p   []byte
	off int
}

func (r *snapReader) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errSnapshot, what, r.off)
}

func (r *snapReader) skip(n int) { r.p, r.off = r.p[n:], r.off+n }

// uvarint reads a varint of at most max.
func (r *snapReader) uvarint(max uint64) (uint64, bool) {
	v, n := binary.Uvarint(r.p)
	if n <= 0 || v > max {
		return 0, false
	}
	r.skip(n)
	return v, true
}

// str reads a length-prefixed string of at most 256 bytes.
func (r *snapReader) str() (string, bool) {
	n, ok := r.uvarint(256)
	if !ok || uint64(len(r.p)) < n {
		return "", false
	}
	s := string(r.p[:n])
	r.skip(int(n))
	return s, true
}

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
	r := &snapReader{p: data[len(snapshotMagic):], off: len(snapshotMagic)}
	ranges, err := r.ranges()
	if err != nil {
		return nil, err
	}
	out, err := r.prefixes(ranges)
	if err != nil {
		return nil, err
	}
	if len(r.p) != 0 {
		return nil, r.fail("trailing bytes")
	}
	return out, nil
}

// ranges reads the snapshot's table of ranges (source, provider, region,
// country, anycast).
func (r *snapReader) ranges() ([]Range, error) {
	nr, ok := r.uvarint(1 << 20)
	if !ok {
		return nil, r.fail("range count")
	}
	ranges := make([]Range, 0, min(nr, uint64(len(r.p))))
	for i := uint64(0); i < nr; i++ {
		var g Range
		var ok1, ok2, ok3, ok4 bool
		g.Source, ok1 = r.str()
		g.Provider, ok2 = r.str()
		g.Region, ok3 = r.str()
		g.Country, ok4 = r.str()
		if !ok1 || !ok2 || !ok3 || !ok4 || len(r.p) < 1 || r.p[0] > 1 {
			return nil, r.fail(fmt.Sprintf("range %d", i))
		}
		g.Anycast = r.p[0] == 1
		r.skip(1)
		ranges = append(ranges, g)
	}
	return ranges, nil
}

// prefixes reads the prefixes, each an index into ranges, a length byte
// (129+bits for IPv4) and the prefix's significant bytes.
func (r *snapReader) prefixes(ranges []Range) (map[string][]rangeEntry, error) {
	ne, ok := r.uvarint(maxRangeEntries)
	if !ok {
		return nil, r.fail("prefix count")
	}
	// Each prefix takes at least 2 bytes: the capacity is bounded by the
	// input, and the entries are grouped by source once, at the end,
	// without a slice growing per source.
	all := make([]rangeEntry, 0, min(ne, uint64(len(r.p)/2)))
	for i := uint64(0); i < ne; i++ {
		ri, ok := r.uvarint(uint64(len(ranges)))
		if !ok || ri >= uint64(len(ranges)) || len(r.p) < 1 {
			return nil, r.fail(fmt.Sprintf("prefix %d: range index", i))
		}
		flag := r.p[0]
		r.skip(1)
		bits, v6, size := int(flag), true, 16
		if flag >= 129 {
			bits, v6, size = int(flag)-129, false, 4
		}
		if bits > size*8 {
			return nil, r.fail(fmt.Sprintf("prefix %d: length %d", i, bits))
		}
		nb := (bits + 7) / 8
		if len(r.p) < nb {
			return nil, r.fail(fmt.Sprintf("prefix %d: truncated", i))
		}
		var a [16]byte
		copy(a[:], r.p[:nb])
		r.skip(nb)
		addr := netip.AddrFrom16(a)
		if !v6 {
			addr = netip.AddrFrom4([4]byte(a[:4]))
		}
		all = append(all, rangeEntry{netip.PrefixFrom(addr, bits).Masked(), ranges[ri]})
	}
	counts := make(map[string]int)
	for i := range all {
		counts[all[i].r.Source]++
	}
	out := make(map[string][]rangeEntry, len(counts))
	for src, n := range counts {
		out[src] = make([]rangeEntry, 0, n)
	}
	for i := range all {
		src := all[i].r.Source
		out[src] = append(out[src], all[i])
	}
	return out, nil
}
