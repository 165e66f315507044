package geo

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/borderwatch/borderwatch/internal/mem"
)

// cacheWays is the associativity of the cache: an address may live in one
// of this many slots of its set.
const cacheWays = 4

// Cache is a bounded set-associative cache in front of a Resolver, one per
// worker goroutine (not safe for concurrent use). It holds CacheSize
// entries rounded up to a power of two, allocated once. The four keys of a
// set fill one 64-byte line, so a hit costs a hash, one line of keys, the
// stamps and the value, and allocates nothing; a miss replaces the least
// recently used way of the set. Caches live as long as their Resolver
// (Stats sums them): make one per worker, not per flow.
type Cache struct {
	r       *Resolver
	gen     uint64     // database generation the entries come from
	keys    []cacheKey // cacheWays per set
	stamps  []uint32   // last use; 0: empty slot
	vals    []Info
	clock   uint32
	mask    uint64
	maxSets uint64 // the sets of CacheSize entries
	fills   uint64 // misses since the last growth
	scratch scratch
	lookups atomic.Uint64
	hits    atomic.Uint64

	// The flood bypass (see bypassWindow).
	winLookups, winHits uint32
	bypass              bool
	tick                uint32
}

// A cache that almost never hits, as under a flood or a scan of new
// addresses, costs a probe and an insert in cold memory per lookup and
// helps nothing. So every bypassWindow lookups the window's hit rate is
// looked at: under 1 in bypassBelow, the next window sends only one
// lookup in bypassSample through the cache, to keep measuring, and the
// rest straight to the databases; at or over it, all go through the cache
// again. The answers are the same either way.
const (
	bypassWindow = 4096
	bypassBelow  = 64
	bypassSample = 16
)

// cacheKey is an address as 16 bytes (IPv4 as IPv4-mapped IPv6; zones
// don't matter to geography).
type cacheKey struct{ hi, lo uint64 }

func keyOf(a netip.Addr) cacheKey {
	b := a.As16()
	return cacheKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (k cacheKey) hash() uint64 {
	h := (k.lo ^ k.hi*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

// NewCache returns a cache of Config.CacheSize entries (rounded up to a
// power of two, at least 4).
func (r *Resolver) NewCache() *Cache {
	sets := uint64(1)
	for sets*cacheWays < uint64(r.cfg.CacheSize) {
		sets <<= 1
	}
	c := &Cache{r: r, maxSets: sets, gen: r.cur.Load().gen}
	c.scratch.init()
	c.alloc(min(sets, initialSets))
	r.mu.Lock()
	r.caches = append(r.caches, c)
	r.mu.Unlock()
	return c
}

// initialSets is the size a cache starts at (4,096 addresses, about 400
// KB). It doubles each time it has taken as many new addresses as it has
// slots, up to CacheSize: a short read does not pay for touching the pages
// of a cache it never fills (the full default is about 6.5 MB per worker).
const initialSets = 1024

// grow doubles the cache, keeping its entries.
func (c *Cache) grow() {
	keys, stamps, vals := c.keys, c.stamps, c.vals
	c.alloc(2 * (c.mask + 1))
	for i := range keys {
		if stamps[i] == 0 {
			continue
		}
		base := (keys[i].hash() & c.mask) * cacheWays
		for w := range uint64(cacheWays) {
			if c.stamps[base+w] == 0 {
				c.keys[base+w], c.stamps[base+w], c.vals[base+w] = keys[i], stamps[i], vals[i]
				break
			}
		}
	}
}

func (c *Cache) alloc(sets uint64) {
	n := sets * cacheWays
	c.keys, c.stamps, c.vals, c.mask, c.fills = make([]cacheKey, n), make([]uint32, n), make([]Info, n), sets-1, 0
	mem.Prefault(c.keys)
	mem.Prefault(c.stamps)
	mem.Prefault(c.vals)
}

// Len returns the number of slots, the most addresses the cache holds
// now (it grows to CacheSize).
func (c *Cache) Len() int { return len(c.keys) }

// Lookup resolves addr through the cache.
func (c *Cache) Lookup(addr netip.Addr) Info {
	c.lookups.Add(1)
	if !addr.IsValid() {
		return Info{Provider: ProviderUnknown, OperatorCountry: CountryUnknown}
	}
	addr = addr.Unmap()
	d := c.r.cur.Load()
	if d.gen != c.gen {
		// The databases were reloaded.
		clear(c.stamps)
		c.gen = d.gen
	}
	if c.winLookups++; c.winLookups == bypassWindow {
		c.endWindow()
	}
	if c.bypass {
		if c.tick++; c.tick%bypassSample != 0 {
			return c.r.lookup(d, addr, &c.scratch)
		}
	}
	if c.clock++; c.clock == 0 {
		// Wrapped after 2^32 lookups: start the ages again.
		clear(c.stamps)
		c.clock = 1
	}
	k := keyOf(addr)
	base := (k.hash() & c.mask) * cacheWays
	keys := c.keys[base : base+cacheWays : base+cacheWays]
	stamps := c.stamps[base : base+cacheWays : base+cacheWays]
	victim := 0
	for i := range keys {
		if keys[i] == k && stamps[i] != 0 {
			c.hits.Add(1)
			c.winHits++
			stamps[i] = c.clock
			return c.vals[base+uint64(i)]
		}
		if stamps[i] < stamps[victim] {
			victim = i
		}
	}
	info := c.r.lookup(d, addr, &c.scratch)
	keys[victim], stamps[victim], c.vals[base+uint64(victim)] = k, c.clock, info
	if c.fills++; c.fills >= uint64(len(c.keys)) && c.mask+1 < c.maxSets {
		c.grow()
	}
	return info
}

// endWindow decides whether the next window bypasses the cache.
func (c *Cache) endWindow() {
	through := uint32(bypassWindow) // lookups that went through the cache
	if c.bypass {
		through /= bypassSample
	}
	c.bypass = c.winHits*bypassBelow < through
	c.winLookups, c.winHits = 0, 0
}
