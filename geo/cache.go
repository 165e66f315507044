package geo

import (
	"net/netip"
	"sync/atomic"
)

// cacheWays is the associativity of the cache: an address may live in one
// of this many slots of its set.
const cacheWays = 4

// Cache is a bounded set-associative cache in front of a Resolver, one per
// worker goroutine (not safe for concurrent use). A hit costs a hash and at
// most four comparisons and allocates nothing; a miss replaces the least
// recently used way of the set.
type Cache struct {
	r       *Resolver
	keys    []netip.Addr
	vals    []Info
	stamp   []uint32
	clock   uint32
	mask    uint64
	lookups atomic.Uint64
	hits    atomic.Uint64
}

// NewCache returns a cache of about cfg.CacheSize entries.
func (r *Resolver) NewCache() *Cache {
	sets := uint64(1)
	for sets*cacheWays < uint64(r.cfg.CacheSize) {
		sets <<= 1
	}
	n := sets * cacheWays
	c := &Cache{r: r, keys: make([]netip.Addr, n), vals: make([]Info, n), stamp: make([]uint32, n), mask: sets - 1}
	r.mu.Lock()
	r.caches = append(r.caches, c)
	r.mu.Unlock()
	return c
}

func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	var h uint64 = 14695981039346656037
	for i := 0; i < 16; i += 4 {
		h ^= uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24
		h *= 1099511628211
	}
	return h ^ h>>29
}

// Lookup resolves addr through the cache.
func (c *Cache) Lookup(addr netip.Addr) Info {
	addr = addr.Unmap()
	c.lookups.Add(1)
	c.clock++
	base := (hashAddr(addr) & c.mask) * cacheWays
	victim := base
	for i := base; i < base+cacheWays; i++ {
		if c.keys[i] == addr && c.keys[i].IsValid() {
			c.hits.Add(1)
			c.stamp[i] = c.clock
			return c.vals[i]
		}
		if c.stamp[i] < c.stamp[victim] {
			victim = i
		}
	}
	info := c.r.Lookup(addr)
	c.keys[victim], c.vals[victim], c.stamp[victim] = addr, info, c.clock
	return info
}
