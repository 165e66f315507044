package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func key(i int) Key {
	var a, b [16]byte
	a[15], a[14], a[13] = byte(i), byte(i>>8), byte(i>>16)
	b[15] = 1
	k, _ := MakeKey(a, b, uint16(i), 443, 6, true, 0)
	return k
}

func TestMakeKeySymmetric(t *testing.T) {
	a := [16]byte{15: 1}
	b := [16]byte{15: 2}
	k1, r1 := MakeKey(a, b, 1000, 443, 6, false, 7)
	k2, r2 := MakeKey(b, a, 443, 1000, 6, false, 7)
	if k1 != k2 || r1 == r2 || k1.Hash() != k2.Hash() {
		t.Fatalf("keys differ: %+v %v / %+v %v", k1, r1, k2, r2)
	}
	k3, _ := MakeKey(a, b, 1000, 443, 6, false, 8)
	if k3 == k1 {
		t.Fatal("context must separate flows")
	}
}

// TestTableAgainstMap drives the table and a map with the same random
// operations and checks they always agree, so insertion, lookup, capacity
// eviction and backward-shift deletion are exercised together: with the
// keys' hashes, and with hashes that give every key the same tag (a
// constant, and hashes whose high 32 bits are 0, the empty slot's tag),
// so that every probe passes entries of its own tag and compares keys.
func TestTableAgainstMap(t *testing.T) {
	for _, c := range []struct {
		name string
		hash func(k *Key) uint64
	}{
		{"key hash", (*Key).Hash},
		{"one tag", func(*Key) uint64 { return 0x9e3779b97f4a7c15 }},
		{"zero tag", func(k *Key) uint64 { return k.Hash() & 0xffffffff }},
	} {
		t.Run(c.name, func(t *testing.T) { tableAgainstMap(t, c.hash) })
	}
}

func tableAgainstMap(t *testing.T, hash func(k *Key) uint64) {
	evicted := map[Key]EvictReason{}
	tab := New(Config{MaxFlows: 64, IdleTimeout: 10 * time.Second}, func(e *Entry, r EvictReason) { evicted[e.Key] = r })
	live := map[Key]int64{} // key -> last seen
	rng := rand.New(rand.NewPCG(1, 2))
	now := int64(0)
	for step := 0; step < 200000; step++ {
		now += int64(rng.IntN(5)) * int64(time.Millisecond) * 10
		k := key(rng.IntN(200))
		clear(evicted)
		e, created := tab.Get(&k, hash(&k), now)
		if e.Key != k {
			t.Fatalf("step %d: got entry %v for key %v", step, e.Key, k)
		}
		last, ok := live[k]
		wantCreated := !ok || now-last > int64(10*time.Second)
		if created != wantCreated {
			t.Fatalf("step %d: created=%v want %v", step, created, wantCreated)
		}
		for ek := range evicted {
			if ek != k {
				delete(live, ek)
			}
		}
		live[k] = now
		if tab.Len() != len(live) || tab.Len() > 64 {
			t.Fatalf("step %d: table has %d flows, model %d", step, tab.Len(), len(live))
		}
		if step%1000 == 0 {
			n := 0
			tab.Range(func(e *Entry) {
				n++
				if _, ok := live[e.Key]; !ok {
					t.Fatalf("step %d: table holds %v which the model does not", step, e.Key)
				}
				// every entry must be reachable from its home slot
				if got, created := tab.Get(&e.Key, hash(&e.Key), e.Last); created || got.Key != e.Key {
					t.Fatalf("step %d: entry %v unreachable", step, e.Key)
				}
			})
			tags := 0
			for i, g := range tab.tags {
				if g != 0 {
					tags++
					if k := &tab.slots[i].Key; g != tagOf(hash(k)) {
						t.Fatalf("step %d: slot %d of %v has tag %#x, its hash's is %#x", step, i, *k, g, tagOf(hash(k)))
					}
				}
			}
			if tags != len(live) {
				t.Fatalf("step %d: %d tagged slots, model %d", step, tags, len(live))
			}
			if n != len(live) {
				t.Fatalf("step %d: range saw %d, model %d", step, n, len(live))
			}
		}
	}
	// With one tag every new flow evicts the first of one cluster, whose
	// flows never get to be idle.
	if tab.Evicted(EvictCapacity) == 0 || (tab.Evicted(EvictIdle) == 0 && tagOf(hash(&Key{})) != tagOf(hash(&Key{PortA: 1}))) {
		t.Fatalf("expected both capacity and idle evictions, got %d and %d", tab.Evicted(EvictCapacity), tab.Evicted(EvictIdle))
	}
}

func TestGrowKeepsEntries(t *testing.T) {
	tab := New(Config{MaxFlows: 100000, IdleTimeout: time.Hour}, nil)
	start := len(tab.slots)
	for i := 0; i < 50000; i++ {
		k := key(i)
		e, _ := tab.Get(&k, k.Hash(), 0)
		e.Bytes[0] = uint64(i)
	}
	if len(tab.slots) <= start || tab.Len() != 50000 {
		t.Fatalf("slots %d (from %d), len %d", len(tab.slots), start, tab.Len())
	}
	for i := 0; i < 50000; i++ {
		k := key(i)
		if e, created := tab.Get(&k, k.Hash(), 0); created || e.Bytes[0] != uint64(i) {
			t.Fatalf("entry %d lost in growth", i)
		}
	}
}

func TestExpire(t *testing.T) {
	var ended []EvictReason
	tab := New(Config{MaxFlows: 1000, IdleTimeout: time.Second, ActiveTimeout: 10 * time.Second}, func(e *Entry, r EvictReason) { ended = append(ended, r) })
	for i := 0; i < 100; i++ {
		k := key(i)
		tab.Get(&k, k.Hash(), 0)
	}
	// keep flow 0 busy past the active timeout
	k0 := key(0)
	for ts := int64(0); ts <= int64(11*time.Second); ts += int64(500 * time.Millisecond) {
		tab.Get(&k0, k0.Hash(), ts)
	}
	tab.Expire(int64(11*time.Second), 1<<20)
	// flow 0 was ended by its active timeout at 10.5 s and started anew
	if tab.Len() != 1 || len(ended) != 100 {
		t.Fatalf("after expiry: %d flows left, %d ended", tab.Len(), len(ended))
	}
	if tab.Evicted(EvictActive) != 1 || tab.Evicted(EvictIdle) != 99 {
		t.Fatalf("active %d idle %d", tab.Evicted(EvictActive), tab.Evicted(EvictIdle))
	}
}

func BenchmarkGet(b *testing.B) {
	tab := New(Config{MaxFlows: 1 << 16, IdleTimeout: time.Minute}, nil)
	keys := make([]Key, 1<<15)
	for i := range keys {
		keys[i] = key(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := &keys[i&(len(keys)-1)]
		tab.Get(k, k.Hash(), int64(i))
	}
}

// TestEnd ends one input's flows in full tables (long probe chains,
// wrapping around the end): exactly those end, and every other flow is
// still found.
func TestEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		ended := map[Key]bool{}
		tab := New(Config{MaxFlows: 16}, func(e *Entry, r EvictReason) {
			if r != EvictEnd {
				t.Fatalf("reason %v", r)
			}
			ended[e.Key] = true
		})
		var keys []Key
		for i := 0; i < 16; i++ {
			k := key(rng.IntN(1 << 20))
			k.Input = uint8(rng.IntN(2))
			if _, created := tab.Get(&k, k.Hash(), 0); created {
				keys = append(keys, k)
			}
		}
		tab.End(func(e *Entry) bool { return e.Key.Input == 1 })
		left := 0
		for _, k := range keys {
			if ended[k] != (k.Input == 1) {
				t.Fatalf("trial %d: flow of input %d ended: %v", trial, k.Input, ended[k])
			}
			if k.Input == 0 {
				left++
				if _, created := tab.Get(&k, k.Hash(), 0); created {
					t.Fatalf("trial %d: a flow of input 0 is lost", trial)
				}
			}
		}
		if tab.Len() != left || len(ended) != len(keys)-left {
			t.Fatalf("trial %d: %d flows left (want %d), %d ended", trial, tab.Len(), left, len(ended))
		}
	}
}

func TestInputSeparatesFlows(t *testing.T) {
	k1 := key(1)
	k2 := k1
	k2.Input = 1
	if k1 == k2 || k1.Hash() == k2.Hash() {
		t.Fatal("the input must separate flows")
	}
}

// TestPairHash: the same in both directions, different across contexts,
// not fooled by pairs with the same XOR, and spread evenly over workers.
func TestPairHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	addr := func() (a [16]byte) {
		binary.LittleEndian.PutUint64(a[0:], rng.Uint64())
		binary.LittleEndian.PutUint64(a[8:], rng.Uint64())
		return
	}
	var per [3]int
	const n = 30000
	for range n {
		a, b := addr(), addr()
		h := PairHash(&a, &b, 7)
		if h != PairHash(&b, &a, 7) {
			t.Fatal("not symmetric")
		}
		if h == PairHash(&a, &b, 8) {
			t.Fatal("the context changes nothing")
		}
		per[h%3]++
	}
	for i, c := range per {
		if c < n/3*95/100 || c > n/3*105/100 {
			t.Errorf("worker %d of 3 gets %d of %d pairs", i, c, n)
		}
	}
	// 10.0.0.1 <-> 10.0.0.2 and 10.0.0.5 <-> 10.0.0.6 have the same XOR.
	p := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	a, b, c, d := p("::ffff:10.0.0.1"), p("::ffff:10.0.0.2"), p("::ffff:10.0.0.5"), p("::ffff:10.0.0.6")
	if PairHash(&a, &b, 0) == PairHash(&c, &d, 0) {
		t.Error("pairs with the same XOR hash alike")
	}
}
