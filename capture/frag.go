package capture

// fragTableSize bounds the remembered first fragments per decoder.
const fragTableSize = 4096

// fragTable remembers the ports of recent first fragments, keyed by
// (addresses, protocol, identification), in a fixed direct-mapped array:
// a collision simply forgets the older datagram, whose later fragments are
// then placed by address pair with zero ports. Bytes per address stay exact.
type fragTable struct {
	entries []fragEntry
}

type fragEntry struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	used     bool
	sport    uint16
	dport    uint16
}

func (t *fragTable) init(n int) { t.entries = make([]fragEntry, n) }

func (t *fragTable) slot(p *Packet, id uint32) *fragEntry {
	h := uint32(2166136261)
	for _, b := range p.Src[8:] {
		h = (h ^ uint32(b)) * 16777619
	}
	for _, b := range p.Dst[8:] {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ id) * 16777619
	h = (h ^ uint32(p.Proto)) * 16777619
	return &t.entries[h%uint32(len(t.entries))]
}

func (t *fragTable) put(p *Packet, id uint32) {
	e := t.slot(p, id)
	*e = fragEntry{src: p.Src, dst: p.Dst, id: id, proto: p.Proto, used: true, sport: p.SrcPort, dport: p.DstPort}
}

func (t *fragTable) get(p *Packet, id uint32) (uint16, uint16) {
	e := t.slot(p, id)
	if e.used && e.id == id && e.proto == p.Proto && e.src == p.Src && e.dst == p.Dst {
		return e.sport, e.dport
	}
	return 0, 0
}
