package names

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const cacheShards = 64

// Cache remembers, per client, the name each server address was resolved
// from, until the record's TTL (clamped to floor and ceiling) runs out. It
// is bounded (CacheEntries) and shared by all workers: sharded locks, taken
// once per DNS answer and once per new flow, never per packet. Time is the
// packets' time, so a capture file replays with its own clock.
type Cache struct {
	floor, ceiling time.Duration
	perShard       int
	seed           uint64
	evictions      atomic.Uint64
	// learned is set by the first Learn: until then every Lookup misses
	// without hashing or locking (flows only from routers, a capture
	// without DNS, a flood of new flows: 8% of a SYN flood's time).
	learned atomic.Bool
	shards  [cacheShards]cacheShard
}

type cacheKey struct{ client, server netip.Addr }

// cacheEntry is the newest answer for a key, learned at packet time
// learned, and the one it replaced. Workers look names up at their own
// packet time, which may lag behind the dispatcher that learns answers
// (pipeline.Dispatcher): an answer is not known before its own time, and
// the one it replaced still answers until then, so a lookup finds what it
// would in a strictly sequential read.
type cacheEntry struct {
	name                     string
	learned, expires         int64 // unix ns
	prevName                 string
	prevLearned, prevExpires int64
}

// at returns the entry's name at time now.
func (e *cacheEntry) at(now int64) (string, bool) {
	if now >= e.learned {
		return e.name, now <= e.expires
	}
	return e.prevName, e.prevName != "" && now >= e.prevLearned && now <= e.prevExpires
}

type cacheShard struct {
	mu sync.Mutex
	m  map[cacheKey]cacheEntry
}

// NewCache returns a cache.
func NewCache(cfg Config) *Cache {
	cfg = cfg.withDefaults()
	per := max(cfg.CacheEntries/cacheShards, 16)
	c := &Cache{floor: cfg.TTLFloor, ceiling: cfg.TTLCeiling, perShard: per, seed: rand.Uint64()}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

// shard picks a key's shard: a seeded multiply-xorshift of the two
// addresses (maphash.Hash's streaming writes cost a tenth of a flood's new
// flows; the shard only spreads the locks, the map in it hashes again).
func (c *Cache) shard(k cacheKey) *cacheShard {
	s, cl := k.server.As16(), k.client.As16()
	h := c.seed
	for _, w := range [4]uint64{binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:]), binary.LittleEndian.Uint64(cl[:8]), binary.LittleEndian.Uint64(cl[8:])} {
		h = (h ^ w) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	return &c.shards[h%cacheShards]
}

// Learn records that client resolved server as name.
func (c *Cache) Learn(client, server netip.Addr, name string, ttl uint32, now time.Time) {
	d := time.Duration(ttl) * time.Second
	d = min(max(d, c.floor), c.ceiling)
	t := now.UnixNano()
	k := cacheKey{client.Unmap(), server.Unmap()}
	s := c.shard(k)
	if !c.learned.Load() { // written once: the workers share its cache line
		c.learned.Store(true)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.m[k] // one lookup: a DNS answer is learned on the reader's path
	if !exists && len(s.m) >= c.perShard {
		// Full: look at a few entries (map iteration starts at a random
		// place), drop the expired ones, else the one expiring first.
		var victim cacheKey
		var soonest int64
		seen := 0
		for kk, e := range s.m {
			if e.expires <= t {
				delete(s.m, kk)
			} else if seen == 0 || e.expires < soonest {
				victim, soonest = kk, e.expires
			}
			seen++
			if seen == 8 {
				break
			}
		}
		if len(s.m) >= c.perShard {
			delete(s.m, victim)
		}
		c.evictions.Add(1)
	}
	ne := cacheEntry{name: name, learned: t, expires: t + int64(d)}
	if exists {
		if old.name == name && old.learned <= t {
			// The same answer again: known since the first.
			ne.learned, ne.prevName, ne.prevLearned, ne.prevExpires = old.learned, old.prevName, old.prevLearned, old.prevExpires
		} else {
			ne.prevName, ne.prevLearned, ne.prevExpires = old.name, old.learned, old.expires
		}
	}
	s.m[k] = ne
}

// Lookup returns the name client resolved server as, if valid at now: learned
// at or before now, and not expired.
func (c *Cache) Lookup(client, server netip.Addr, now time.Time) (string, bool) {
	if !c.learned.Load() {
		return "", false
	}
	k := cacheKey{client.Unmap(), server.Unmap()}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		return "", false
	}
	name, ok := e.at(now.UnixNano())
	if !ok {
		return "", false
	}
	return name, true
}

// Len returns the number of names held.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}

// Evictions returns how many live entries were dropped to make room.
func (c *Cache) Evictions() uint64 { return c.evictions.Load() }
