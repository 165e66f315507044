package geo

import (
	"net/netip"
	"sync/atomic"
)

// cacheWays is the associativity of the cache: an address may live in one
// of this many slots of its set.
const cacheWays = 4

// Cache is a bounded set-associative cache in front of a Resolver, one per
// worker goroutine (not safe for concurrent use). It holds CacheSize
// entries rounded up to a power of two, allocated once. A hit costs a hash
// and at most four comparisons and allocates nothing; a miss replaces the
// least recently used way of the set. Caches live as long as their
// Resolver (Stats sums them): make one per worker, not per flow.
type Cache struct {
	r       *Resolver
	gen     uint64 // database generation the entries come from
	slots   []cacheSlot
	clock   uint32
	mask    uint64
	lookups atomic.Uint64
	hits    atomic.Uint64
}

type cacheSlot struct {
	addr  netip.Addr
	stamp uint32
	info  Info
}

// NewCache returns a cache of Config.CacheSize entries (rounded up to a
// power of two, at least 4).
func (r *Resolver) NewCache() *Cache {
	sets := uint64(1)
	for sets*cacheWays < uint64(r.cfg.CacheSize) {
		sets <<= 1
	}
	c := &Cache{r: r, slots: make([]cacheSlot, sets*cacheWays), mask: sets - 1, gen: r.cur.Load().gen}
	r.mu.Lock()
	r.caches = append(r.caches, c)
	r.mu.Unlock()
	return c
}

// Len returns the number of slots, the most addresses the cache holds.
func (c *Cache) Len() int { return len(c.slots) }

func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	lo := uint64(b[8]) | uint64(b[9])<<8 | uint64(b[10])<<16 | uint64(b[11])<<24 | uint64(b[12])<<32 | uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56
	hi := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	h := (lo ^ hi*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

// Lookup resolves addr through the cache.
func (c *Cache) Lookup(addr netip.Addr) Info {
	addr = addr.Unmap()
	c.lookups.Add(1)
	d := c.r.cur.Load()
	if d.gen != c.gen {
		clear(c.slots) // the databases were reloaded
		c.gen = d.gen
	}
	c.clock++
	set := c.slots[(hashAddr(addr)&c.mask)*cacheWays:][:cacheWays]
	victim := 0
	for i := range set {
		s := &set[i]
		if s.addr == addr && addr.IsValid() {
			c.hits.Add(1)
			s.stamp = c.clock
			return s.info
		}
		if s.stamp < set[victim].stamp {
			victim = i
		}
	}
	info := c.r.lookup(d, addr)
	set[victim] = cacheSlot{addr: addr, stamp: c.clock, info: info}
	return info
}
