package geo

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/borderwatch/borderwatch/lpm"
)

// The embedded published ranges, prebuilt: the table loadRanges("")
// builds from the snapshot (data/ranges.bin.gz), in a form read without
// building it again. Building took about 20 ms, half of a short read's
// start-up; reading it takes about 1 ms. TestPrebuiltRanges keeps it equal
// to the table built from the snapshot (BORDERWATCH_UPDATE_PREBUILT=1
// rewrites it, after the snapshot changes).
//
//go:embed data/ranges.prebuilt
var embeddedPrebuilt []byte

const prebuiltMagic = "borderwatch ranges prebuilt 1\n"

var errPrebuilt = errors.New("prebuilt ranges")

// encodePrebuilt writes s in the prebuilt form: the magic, the prefix
// count, the ranges (source, provider, region, country, anycast), then the
// table.
func encodePrebuilt(s *rangeSet) []byte {
	b := []byte(prebuiltMagic)
	b = binary.AppendUvarint(b, uint64(s.n))
	b = binary.AppendUvarint(b, uint64(len(s.ranges)))
	for _, r := range s.ranges {
		for _, f := range [4]string{r.Source, r.Provider, r.Region, r.Country} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
		if r.Anycast {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return s.table.AppendBinary(b)
}

// decodePrebuilt reads the prebuilt form, refusing anything malformed.
func decodePrebuilt(b []byte) (*rangeSet, error) {
	if len(b) < len(prebuiltMagic) || string(b[:len(prebuiltMagic)]) != prebuiltMagic {
		return nil, fmt.Errorf("%w: no header", errPrebuilt)
	}
	r := &snapReader{p: b[len(prebuiltMagic):], off: len(prebuiltMagic)}
	n, ok1 := r.uvarint(maxRangeEntries)
	nr, ok2 := r.uvarint(math.MaxInt32)
	if !ok1 || !ok2 || nr > uint64(len(r.p)) {
		return nil, fmt.Errorf("%w: counts", errPrebuilt)
	}
	s := &rangeSet{n: int(n), ranges: make([]Range, nr)}
	for i := range s.ranges {
		g := &s.ranges[i]
		var ok [4]bool
		g.Source, ok[0] = r.str()
		g.Provider, ok[1] = r.str()
		g.Region, ok[2] = r.str()
		g.Country, ok[3] = r.str()
		if ok != [4]bool{true, true, true, true} || len(r.p) < 1 || r.p[0] > 1 {
			return nil, fmt.Errorf("%w: range %d", errPrebuilt, i)
		}
		g.Anycast = r.p[0] == 1
		r.skip(1)
	}
	t, rest, err := lpm.TableFromBinary(r.p, int32(nr)-1)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPrebuilt, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errPrebuilt)
	}
	s.table = t
	return s, nil
}
