package flow

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/borderwatch/borderwatch/internal/mem"
)

// Key identifies a flow regardless of direction: endpoint A is the lower of
// the two (address, port) pairs, so both directions find the same entry.
type Key struct {
	A, B  [16]byte
	PortA uint16
	PortB uint16
	Proto uint8
	V6    bool
	// Input is the caller's input the packets came from (capture files,
	// live interfaces): flows of different inputs never share an entry, so
	// one input's flows can end without the others' (End). 0 by default.
	Input   uint8
	Context uint32
}

// MakeKey builds the canonical key of a packet's 5-tuple and reports whether
// the packet goes from B to A (reverse).
func MakeKey(src, dst [16]byte, sport, dport uint16, proto uint8, v6 bool, ctx uint32) (k Key, reverse bool) {
	c := compare(&src, &dst)
	if c > 0 || (c == 0 && sport > dport) {
		return Key{A: dst, B: src, PortA: dport, PortB: sport, Proto: proto, V6: v6, Context: ctx}, true
	}
	return Key{A: src, B: dst, PortA: sport, PortB: dport, Proto: proto, V6: v6, Context: ctx}, false
}

func compare(a, b *[16]byte) int {
	for i := 0; i < 16; i += 8 {
		x, y := binary.BigEndian.Uint64(a[i:]), binary.BigEndian.Uint64(b[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Hash returns the key's hash. It is symmetric by construction (the key is
// canonical), so it also serves to dispatch both directions to one worker.
func (k *Key) Hash() uint64 {
	h := uint64(k.PortA)<<48 | uint64(k.PortB)<<32 | uint64(k.Proto)<<24 | uint64(k.Context)
	h = mix(h, binary.LittleEndian.Uint64(k.A[0:]))
	h = mix(h, binary.LittleEndian.Uint64(k.A[8:]))
	h = mix(h, binary.LittleEndian.Uint64(k.B[0:]))
	h = mix(h, binary.LittleEndian.Uint64(k.B[8:]))
	return h ^ uint64(k.Input)<<40 // unchanged for input 0
}

// PairHash returns a hash of the address pair a, b in context ctx that is
// the same in both directions, for dispatching packets and records to
// workers: cheaper than a canonical Key's Hash (no comparison, no key,
// two multiplications instead of four), as the reader computes it for
// every packet.
func PairHash(a, b *[16]byte, ctx uint32) uint64 {
	a0, a1 := binary.LittleEndian.Uint64(a[0:]), binary.LittleEndian.Uint64(a[8:])
	b0, b1 := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	// XOR and sum are both symmetric; together two pairs with the same
	// XOR (or the same sum) still differ.
	h := mix(uint64(ctx), (a1^b1)^bits.RotateLeft64(a1+b1, 32))
	return mix(h, (a0^b0)^bits.RotateLeft64(a0+b0, 17))
}

func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, 0x9E3779B97F4A7C15)
	return hi ^ lo
}

// Side indexes per-direction counters: AtoB for packets from A to B.
const (
	AtoB = 0
	BtoA = 1
)

// Entry is one flow. It holds no pointer, so the garbage collector never
// scans the table. The fields after Key belong to the caller (the pipeline):
// the table only manages Key, First and Last.
type Entry struct {
	Key Key
	// Initiator is the client's side (AtoB or BtoA): the sender of the
	// first packet, or its receiver when the owner sees that packet is a
	// server's reply (a TCP SYN/ACK that begins the capture).
	Initiator uint8
	// NameSource is the owner's name source code.
	NameSource uint8
	// Flags belong to the owner.
	Flags uint8
	First int64 // unix ns of the first packet
	Last  int64 // unix ns of the last packet

	// Pending counters since the entry was last flushed, per side.
	Bytes   [2]uint64
	Packets [2]uint64

	// Series ids of the flow's placement per side (0: not placed yet).
	Series [2]uint32
	// NameRef refers to the flow's name in the owner's name store.
	NameRef uint32
	// RTT belongs to the owner (its round-trip state; it fills the
	// entry's tail padding: an Entry is 112 bytes).
	RTT uint32
}

// EvictReason says why a flow left the table.
type EvictReason uint8

// Eviction reasons.
const (
	EvictIdle EvictReason = iota
	EvictActive
	EvictCapacity
	EvictEnd // end of input or shutdown: not counted as an eviction
	NumEvictReasons
)

func (r EvictReason) String() string {
	switch r {
	case EvictIdle:
		return "idle"
	case EvictActive:
		return "active"
	case EvictCapacity:
		return "capacity"
	}
	return "end"
}

// Table is the flow table. Not safe for concurrent use.
//
// Beside the slots, a dense array holds each slot's tag: 0 when the slot
// is empty, else 32 bits of its entry's hash (tagOf), which also give the
// entry's home slot. A probe reads tags, 16 to a cache line, and reads a
// slot (112 bytes, on two lines) only when its tag matches: a new flow's
// lookup, which probes to an empty slot past every entry in its way,
// reads one line instead of one or two per entry passed, and deletion
// and growth find the home slots of the entries they move without
// hashing their keys again.
type Table struct {
	slots   []Entry
	tags    []uint32
	maxSlot int    // the slot count at the hard limit
	n       uint64 // len(slots)
	count   int
	limit   int
	idle    int64
	active  int64
	cursor  uint64 // < n
	evicted [NumEvictReasons]uint64
	onEvict func(e *Entry, r EvictReason)
	onVisit func(e *Entry, now int64)
}

// SetVisit sets a function that Expire calls, with its time, for every
// live flow it passes and does not end. It must not insert or delete.
func (t *Table) SetVisit(fn func(e *Entry, now int64)) { t.onVisit = fn }

// New returns a table of cfg.MaxFlows entries; onEvict is called for every
// flow that leaves the table, before its slot is reused.
func New(cfg Config, onEvict func(e *Entry, r EvictReason)) *Table {
	if cfg.MaxFlows < 16 {
		cfg.MaxFlows = 16
	}
	maxSlots := MaxSlots(cfg.MaxFlows)
	// Start small and double while the table is a quarter full, up to
	// maxSlots: a table sized to the flows present stays in the CPU caches
	// and TLB, and short probe chains keep lookups fast.
	n := min(maxSlots, initialSlots)
	slots, tags := make([]Entry, n), make([]uint32, n)
	mem.Prefault(slots)
	mem.Prefault(tags)
	return &Table{
		slots:   slots,
		tags:    tags,
		maxSlot: maxSlots,
		n:       uint64(n),
		limit:   cfg.MaxFlows,
		idle:    cfg.IdleTimeout.Nanoseconds(),
		active:  cfg.ActiveTimeout.Nanoseconds(),
		onEvict: onEvict,
	}
}

// MaxSlots is the slot count of a table of maxFlows at its limit: 3/2
// slots per flow (load factor 2/3 when full), not rounded to a power of
// two (slots are indexed by multiply-shift), so the memory is
// proportional to the limit: SlotBytes x MaxSlots.
func MaxSlots(maxFlows int) int { return max(maxFlows, 16) * 3 / 2 }

// SlotBytes is the memory of one slot: its entry and its tag.
const SlotBytes = int(unsafe.Sizeof(Entry{})) + 4

// tagOf returns the tag of hash h: its high 32 bits, never 0 (an empty
// slot's tag).
func tagOf(h uint64) uint32 {
	return max(uint32(h>>32), 1)
}

// home returns the first slot of tag g in a table of n (< 2^32) slots.
func home(g uint32, n uint64) uint64 {
	return uint64(g) * n >> 32
}

// next returns the slot after i.
func (t *Table) next(i uint64) uint64 {
	if i++; i == t.n {
		return 0
	}
	return i
}

// dist is the number of steps from slot a forward to slot b.
func (t *Table) dist(a, b uint64) uint64 {
	if b >= a {
		return b - a
	}
	return b + t.n - a
}

// Len returns the number of flows in the table.
func (t *Table) Len() int { return t.count }

// Capacity returns the entry limit.
func (t *Table) Capacity() int { return t.limit }

// Evicted returns how many flows left the table for reason r.
func (t *Table) Evicted(r EvictReason) uint64 { return t.evicted[r] }

// Get returns the entry of k, creating it if needed (created is then true).
// h must be k.Hash(). The pointer is valid until the next call that may
// insert or delete.
func (t *Table) Get(k *Key, h uint64, now int64) (e *Entry, created bool) {
	g := tagOf(h)
	i := home(g, t.n)
	for {
		tg := t.tags[i]
		if tg == 0 {
			break
		}
		if s := &t.slots[i]; tg == g && s.Key == *k {
			if (t.idle > 0 && now-s.Last > t.idle) || (t.active > 0 && now-s.First > t.active) {
				r := EvictIdle
				if !(t.idle > 0 && now-s.Last > t.idle) {
					r = EvictActive
				}
				t.remove(i, r)
				return t.Get(k, h, now)
			}
			s.Last = now
			return s, false
		}
		i = t.next(i)
	}
	if t.count+1 > len(t.slots)/4 && len(t.slots) < t.maxSlot {
		t.grow()
		return t.Get(k, h, now)
	}
	if t.count >= t.limit {
		// Evict the first flow at or after the new key's home slot: O(1)
		// on average, and spreads evictions uniformly over the table.
		j := home(g, t.n)
		for t.tags[j] == 0 {
			j = t.next(j)
		}
		t.remove(j, EvictCapacity)
		return t.Get(k, h, now)
	}
	s := &t.slots[i]
	*s = Entry{Key: *k, First: now, Last: now}
	t.tags[i] = g
	t.count++
	return s, true
}

// Prefetch asks the CPU to load the slot where a lookup of hash h begins
// (mem.Prefetch), so that the lookup a few packets later finds it in the
// cache: a caller that knows the next keys prefetches them ahead.
func (t *Table) Prefetch(h uint64) {
	i := home(tagOf(h), t.n)
	mem.Prefetch(unsafe.Pointer(&t.tags[i]))
	s := &t.slots[i]
	mem.Prefetch(unsafe.Pointer(s))
	mem.Prefetch(unsafe.Pointer(&s.Last)) // the key and times may straddle two lines
}

// initialSlots is the starting size of a table (it grows to its limit).
const initialSlots = 1 << 12

// grow doubles the slot array and re-inserts every entry; the step that
// would pass a quarter of the final size goes straight to it, so that when
// the table reaches its limit the arrays before it (the last one held
// during the copy, the earlier ones until the garbage collector returns
// them) add at most half of it. It allocates, but only while the number
// of live flows reaches a new high.
func (t *Table) grow() {
	old, oldTags := t.slots, t.tags
	n := len(old) * 2
	if n > t.maxSlot/4 {
		n = t.maxSlot
	}
	t.slots, t.tags = make([]Entry, n), make([]uint32, n)
	mem.Prefault(t.slots)
	mem.Prefault(t.tags) // the moves below probe before they write
	t.n = uint64(n)
	t.cursor = 0
	for i, g := range oldTags {
		if g == 0 {
			continue
		}
		j := home(g, t.n)
		for t.tags[j] != 0 {
			j = t.next(j)
		}
		t.slots[j], t.tags[j] = old[i], g
	}
}

// remove deletes slot i with backward-shift deletion (no tombstones).
func (t *Table) remove(i uint64, r EvictReason) {
	if t.onEvict != nil {
		t.onEvict(&t.slots[i], r)
	}
	t.evicted[r]++
	t.count--
	for {
		j := i
		for {
			j = t.next(j)
			g := t.tags[j]
			if g == 0 {
				t.tags[i] = 0 // the slot's entry is left as it is: a tag of 0 says it is empty
				return
			}
			// Move j back into the hole at i unless its home slot lies
			// cyclically after i (then i is not on its probe path).
			if t.dist(home(g, t.n), j) >= t.dist(i, j) {
				t.slots[i], t.tags[i] = t.slots[j], g
				i = j
				break
			}
		}
	}
}

// Expire examines up to n slots from a moving cursor and ends the flows
// that timed out by now. Calling it with a small n per packet (and on a
// timer when there is no traffic) sweeps the whole table steadily.
func (t *Table) Expire(now int64, n int) { t.expire(now, n, -1) }

// ExpireInput is Expire for the flows of one input: now is that input's
// clock (packet time of a file, the wall clock of live capture), so the
// other inputs' flows are passed over.
func (t *Table) ExpireInput(in uint8, now int64, n int) { t.expire(now, n, int(in)) }

func (t *Table) expire(now int64, n int, in int) {
	for ; n > 0; n-- {
		i := t.cursor
		if s := &t.slots[i]; t.tags[i] != 0 && (in < 0 || int(s.Key.Input) == in) {
			switch {
			case t.idle > 0 && now-s.Last > t.idle:
				t.remove(i, EvictIdle)
				continue // slot i may now hold a shifted entry
			case t.active > 0 && now-s.First > t.active:
				t.remove(i, EvictActive)
				continue
			}
			if t.onVisit != nil {
				t.onVisit(s, now)
			}
		}
		t.cursor = t.next(t.cursor)
	}
}

// Range calls fn for every flow in the table.
func (t *Table) Range(fn func(e *Entry)) {
	for i, g := range t.tags {
		if g != 0 {
			fn(&t.slots[i])
		}
	}
}

// End ends the flows for which match is true (reason EvictEnd), e.g. at
// the end of one input while others go on.
func (t *Table) End(match func(e *Entry) bool) {
	for i := 0; i < len(t.slots); {
		// A removal may shift a later entry back into slot i: look again.
		if s := &t.slots[i]; t.tags[i] != 0 && match(s) {
			t.remove(uint64(i), EvictEnd)
			continue
		}
		i++
	}
}

// Drain ends every flow (reason EvictEnd), e.g. at the end of input.
func (t *Table) Drain() {
	for i, g := range t.tags {
		if g != 0 && t.onEvict != nil {
			t.onEvict(&t.slots[i], EvictEnd)
		}
	}
	clear(t.tags)
	t.count = 0
}
