package geo

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// benchAddrs returns n random addresses, a quarter IPv6 in 2000::/4.
func benchAddrs(n int) []netip.Addr {
	rnd := rand.New(rand.NewPCG(7, 8))
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		if i%4 == 3 {
			var b [16]byte
			for j := range b {
				b[j] = byte(rnd.Uint32())
			}
			b[0] = 0x20 | b[0]&0x0f
			addrs[i] = netip.AddrFrom16(b)
			continue
		}
		addrs[i] = netip.AddrFrom4([4]byte{byte(1 + rnd.IntN(223)), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
	}
	return addrs
}

// BenchmarkCacheHit: every lookup is answered by the cache (1024
// addresses in a 65536-entry cache).
func BenchmarkCacheHit(b *testing.B) {
	r := embedded(b)
	c := r.NewCache()
	addrs := benchAddrs(1024)
	for _, a := range addrs {
		c.Lookup(a)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Lookup(addrs[i&1023])
		i++
	}
	// This cache's own counts (the embedded resolver is shared with the
	// other benchmarks). Besides the first 1,024, a few of the addresses
	// miss until the cache grows: the sets that more than four of them
	// share.
	if l, h := c.lookups.Load(), c.hits.Load(); h < l-l/100 {
		b.Fatalf("%d lookups, %d hits: not all hits", l, h)
	}
}

// BenchmarkCacheMiss: every lookup misses (1M distinct addresses through
// a 4096-entry cache) and goes to both databases.
func BenchmarkCacheMiss(b *testing.B) {
	cfg := DefaultConfig()
	cfg.CacheSize = 4096
	r, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c := r.NewCache()
	addrs := benchAddrs(1 << 20)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Lookup(addrs[i&(1<<20-1)])
		i++
	}
}

// BenchmarkResolverLookup: uncached lookups of random addresses.
func BenchmarkResolverLookup(b *testing.B) {
	r := embedded(b)
	addrs := benchAddrs(1 << 16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Lookup(addrs[i&(1<<16-1)])
		i++
	}
}

// BenchmarkOpenEmbedded: start-up cost of the embedded databases.
func BenchmarkOpenEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// TestCacheHitAllocs: a hit allocates nothing (the benchmark measures,
// this asserts).
func TestCacheHitAllocs(t *testing.T) {
	r := embedded(t)
	c := r.NewCache()
	a := netip.MustParseAddr("8.8.8.8")
	c.Lookup(a)
	if n := testing.AllocsPerRun(1000, func() { c.Lookup(a) }); n != 0 {
		t.Errorf("%v allocations per cache hit", n)
	}
}

// TestLookupAllocs: a miss allocates nothing once the organisation
// strings are in maxminddb's string cache; neither does an uncached
// lookup (its records come from a pool).
func TestLookupAllocs(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, CacheSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewCache()
	addrs := []netip.Addr{}
	for i := range 64 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	for _, a := range addrs {
		c.Lookup(a)
	}
	l0, h0 := r.Stats()
	if n := testing.AllocsPerRun(10, func() {
		for _, a := range addrs {
			c.Lookup(a)
		}
	}); n != 0 {
		t.Errorf("%v allocations per %d cache misses", n, len(addrs))
	}
	if l, h := r.Stats(); h-h0 > (l-l0)/10 {
		t.Errorf("%d hits of %d lookups: expected misses", h-h0, l-l0)
	}
	if n := testing.AllocsPerRun(100, func() { r.Lookup(addrs[3]) }); n != 0 {
		t.Errorf("%v allocations per uncached lookup", n)
	}
}

func TestParseASN(t *testing.T) {
	for in, want := range map[string]uint32{"AS15169": 15169, "as13335": 13335, "15169": 15169, "AS": 0, "": 0, "ASx1": 0, "AS4294967295": 4294967295, "AS4294967296": 0, "AS-1": 0, "AS00000000001": 0} {
		if got := parseASN(in); got != want {
			t.Errorf("parseASN(%q) = %d, want %d", in, got, want)
		}
	}
}
