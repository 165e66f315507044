package geo

import (
	_ "embed"
	"encoding/binary"
)

// The embedded databases' IPv4 indexes, prebuilt: building one walks the
// top sixteen levels of the database's search tree, 3.3 ms of every
// start-up for the two (1 ms of it faulting the trees in); reading one
// takes about 0.1 ms. Each is the index's 2^16 entries, little-endian,
// after a header naming the database it belongs to. It is used only for
// the very bytes embedded in the binary. TestPrebuiltV4Index keeps them
// equal to the indexes built (BORDERWATCH_UPDATE_PREBUILT=1 rewrites them
// after a database changes).
var (
	//go:embed data/country.v4index
	embeddedCountryV4 []byte
	//go:embed data/asn.v4index
	embeddedASNV4 []byte
)

const v4IndexMagic = "borderwatch v4 index 1\n"

// prebuiltV4Index returns the prebuilt index of data, or nil when data is
// not an embedded database or its prebuilt index does not match it.
func prebuiltV4Index(data []byte, nodeCount uint32) []uint32 {
	var b []byte
	switch {
	case len(data) == 0:
		return nil
	case len(embeddedCountry) > 0 && &data[0] == &embeddedCountry[0]:
		b = embeddedCountryV4
	case len(embeddedASN) > 0 && &data[0] == &embeddedASN[0]:
		b = embeddedASNV4
	default:
		return nil
	}
	jump, ok := decodeV4Index(b, len(data), nodeCount)
	if !ok {
		return nil
	}
	return jump
}

// encodeV4Index writes jump in the prebuilt form for a database of size
// bytes and nodeCount nodes.
func encodeV4Index(jump []uint32, size int, nodeCount uint32) []byte {
	b := []byte(v4IndexMagic)
	b = binary.LittleEndian.AppendUint64(b, uint64(size))
	b = binary.LittleEndian.AppendUint32(b, nodeCount)
	for _, j := range jump {
		b = binary.LittleEndian.AppendUint32(b, j)
	}
	return b
}

// decodeV4Index reads the prebuilt form, false when it is malformed or for
// another database.
func decodeV4Index(b []byte, size int, nodeCount uint32) ([]uint32, bool) {
	h := len(v4IndexMagic) + 12
	if len(b) != h+4<<v4Stride || string(b[:len(v4IndexMagic)]) != v4IndexMagic ||
		binary.LittleEndian.Uint64(b[len(v4IndexMagic):]) != uint64(size) ||
		binary.LittleEndian.Uint32(b[len(v4IndexMagic)+8:]) != nodeCount {
		return nil, false
	}
	jump := make([]uint32, 1<<v4Stride)
	for i := range jump {
		jump[i] = binary.LittleEndian.Uint32(b[h+4*i:])
	}
	return jump, true
}
