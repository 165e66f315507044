package geo

import (
	"bytes"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// v4Stride is how many leading bits of an IPv4 address the index resolves
// with one table read.
const v4Stride = 16

// v4Index finds the record of an IPv4 address in a MaxMind DB search tree
// with one read of a table of 2^16 entries, the tree node (or record)
// reached after the address's first 16 bits, and then at most 16 node
// reads, instead of up to 32 from the IPv4 subtree's root: the upper
// levels, which every lookup walks, cost one cache line instead of a
// dozen dependent reads, and the memory is 256 KiB per database. It gives
// the same answer as maxminddb's Lookup (TestV4Index compares them on the
// embedded and on written databases of each record size).
type v4Index struct {
	tree      []byte // the search tree: nodeCount nodes of two records
	nodeCount uint32
	recBits   int
	dataSize  uint32 // bytes of the data section
	root      uint32 // the IPv4 subtree's root node
	jump      []uint32
}

// minIndexedNodes: a smaller tree stays in the CPU's caches anyway.
const minIndexedNodes = 1 << 14

// newV4Index builds the index of the database in data (r opened on it),
// nil when it has no IPv4 subtree, a record size other than 24, 28 or 32,
// or fewer than minIndexedNodes nodes.
func newV4Index(r *maxminddb.Reader, data []byte) *v4Index {
	m := r.Metadata
	nodeBytes := uint64(m.RecordSize) * 2 / 8
	treeSize := uint64(m.NodeCount) * nodeBytes
	if (m.RecordSize != 24 && m.RecordSize != 28 && m.RecordSize != 32) || m.NodeCount < minIndexedNodes || m.NodeCount >= 1<<32 || treeSize+16 > uint64(len(data)) {
		return nil
	}
	x := &v4Index{tree: data[:treeSize], nodeCount: uint32(m.NodeCount), recBits: int(m.RecordSize)}
	// The data section runs from after the tree and its 16-byte separator
	// to the metadata marker.
	end := uint64(len(data))
	if i := lastIndex(data, metadataMarker); i >= 0 {
		end = uint64(i)
	}
	if end < treeSize+16 || end-treeSize-16 >= 1<<32 {
		return nil
	}
	x.dataSize = uint32(end - treeSize - 16)
	node := uint32(0)
	if m.IPVersion == 6 {
		// IPv4 lives under ::/96.
		for i := 0; i < 96 && node < x.nodeCount; i++ {
			node = x.record(node, 0)
		}
	}
	if node >= x.nodeCount {
		return nil // no IPv4 subtree
	}
	x.root = node
	if x.jump = prebuiltV4Index(data, x.nodeCount); x.jump == nil {
		x.jump = x.build()
	}
	return x
}

// build walks the tree's top levels into a new jump table.
func (x *v4Index) build() []uint32 {
	jump := make([]uint32, 1<<v4Stride)
	x.fill(jump, x.root, 0, 0)
	return jump
}

// fill sets the entries of jump under prefix (depth bits) from node.
func (x *v4Index) fill(jump []uint32, node uint32, depth int, prefix uint32) {
	if node >= x.nodeCount || depth == v4Stride {
		lo := prefix << (v4Stride - depth)
		hi := (prefix + 1) << (v4Stride - depth)
		for i := lo; i < hi; i++ {
			jump[i] = node
		}
		return
	}
	x.fill(jump, x.record(node, 0), depth+1, prefix<<1)
	x.fill(jump, x.record(node, 1), depth+1, prefix<<1|1)
}

// record reads the left (bit 0) or right record of node (< nodeCount).
func (x *v4Index) record(node uint32, bit uint32) uint32 {
	t := x.tree
	switch x.recBits {
	case 24:
		o := uint64(node)*6 + uint64(bit)*3
		return uint32(t[o])<<16 | uint32(t[o+1])<<8 | uint32(t[o+2])
	case 28:
		o := uint64(node) * 7
		if bit == 0 {
			return uint32(t[o+3]&0xf0)<<20 | uint32(t[o])<<16 | uint32(t[o+1])<<8 | uint32(t[o+2])
		}
		return uint32(t[o+3]&0x0f)<<24 | uint32(t[o+4])<<16 | uint32(t[o+5])<<8 | uint32(t[o+6])
	default:
		o := uint64(node)*8 + uint64(bit)*4
		return uint32(t[o])<<24 | uint32(t[o+1])<<16 | uint32(t[o+2])<<8 | uint32(t[o+3])
	}
}

// offset returns the data-section offset of a's record (what maxminddb's
// Result.Offset says), found false when the database has none for a or
// the tree points outside the data section.
func (x *v4Index) offset(a netip.Addr) (off uintptr, found bool) {
	bits := v4Bits(a)
	node := x.jump[bits>>(32-v4Stride)]
	bits <<= v4Stride
	for i := 0; i < 32-v4Stride && node < x.nodeCount; i++ {
		node = x.record(node, bits>>31)
		bits <<= 1
	}
	return x.result(node)
}

// walk2 is x.offset(a) and y.offset(a) in one loop: each step's node reads
// depend on the one before, one cache miss after another down a tree; the
// two trees' reads, independent, overlap. TestWalk2 compares it with
// offset.
func walk2(x, y *v4Index, a netip.Addr) (xoff uintptr, xfound bool, yoff uintptr, yfound bool) {
	bits := v4Bits(a)
	nx, ny := x.jump[bits>>(32-v4Stride)], y.jump[bits>>(32-v4Stride)]
	bits <<= v4Stride
	for i := 0; i < 32-v4Stride && (nx < x.nodeCount || ny < y.nodeCount); i++ {
		if nx < x.nodeCount {
			nx = x.record(nx, bits>>31)
		}
		if ny < y.nodeCount {
			ny = y.record(ny, bits>>31)
		}
		bits <<= 1
	}
	xoff, xfound = x.result(nx)
	yoff, yfound = y.result(ny)
	return
}

func v4Bits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// result is the data-section offset the walk that ended at node found.
func (x *v4Index) result(node uint32) (off uintptr, found bool) {
	if node <= x.nodeCount {
		return 0, false // no record (== nodeCount), or the tree ends early
	}
	p := uint64(node) - uint64(x.nodeCount) - 16
	if uint64(node) < uint64(x.nodeCount)+16 || p >= uint64(x.dataSize) {
		return 0, false
	}
	return uintptr(p), true
}

func lastIndex(data, sep []byte) int {
	start := max(0, len(data)-metadataMaxSize)
	if i := bytes.LastIndex(data[start:], sep); i >= 0 {
		return start + i
	}
	return -1
}
