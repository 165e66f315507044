package geo

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Info is what borderwatch knows of an address.
type Info struct {
	Country  string // ISO 3166-1 alpha-2, upper case; "" if unknown
	ASN      uint32 // 0 if unknown
	Org      string // AS organisation; "" if unknown
	Provider string // normalised hosting provider, "other" (AS not in the table) or "unknown" (no AS)
}

// databases is one loaded generation of the country and ASN databases.
type databases struct {
	country, asn *database
	gen          uint64
}

// Resolver answers lookups from the country and ASN databases. Lookup,
// Stats, Databases and Reload are safe for concurrent use.
type Resolver struct {
	cfg       Config
	providers map[uint32]string
	cur       atomic.Pointer[databases]

	mu     sync.Mutex // guards caches and serialises Reload
	caches []*Cache

	reloads, reloadFailures atomic.Uint64
	scratch                 sync.Pool // *scratch for uncached lookups
}

// Open loads the databases named in cfg (the embedded ones where a path
// is empty). A missing, corrupt or wrong-type file is an error naming the
// file, its database_type and what was expected.
func Open(cfg Config) (*Resolver, error) {
	if cfg.CacheSize > MaxCacheSize {
		return nil, fmt.Errorf("geo cache size %d: at most %d", cfg.CacheSize, MaxCacheSize)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultConfig().CacheSize
	}
	d, err := load(cfg)
	if err != nil {
		return nil, err
	}
	r := &Resolver{cfg: cfg, providers: mergeProviders(cfg.Providers)}
	r.cur.Store(d)
	return r, nil
}

// load opens both databases (in parallel: it halves the start-up time of
// short runs when both are files). The same file given for both (IPinfo
// Lite) is read once.
func load(cfg Config) (*databases, error) {
	var c, a *database
	var cerr, aerr error
	if cfg.CountryDB != "" && cfg.CountryDB == cfg.ASNDB {
		c, cerr = openDatabase(cfg.CountryDB, nil)
		a, aerr = c, cerr
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			a, aerr = openDatabase(cfg.ASNDB, embeddedASN)
		}()
		c, cerr = openDatabase(cfg.CountryDB, embeddedCountry)
		<-done
	}
	if cerr == nil {
		cerr = c.checkRole("country")
	}
	if cerr != nil {
		return nil, fmt.Errorf("country database: %w", cerr)
	}
	if aerr == nil {
		aerr = a.checkRole("asn")
	}
	if aerr != nil {
		return nil, fmt.Errorf("asn database: %w", aerr)
	}
	ci, ai := c.info, a.info
	ci.Name, ai.Name = "country", "asn"
	return &databases{
		country: &database{r: c.r, schema: c.schema, info: ci},
		asn:     &database{r: a.r, schema: a.schema, info: ai},
	}, nil
}

// Reload reads the configured database files again and swaps them in
// atomically; on error the databases in use stay and the error is
// returned. Lookups in flight finish on the old readers, which are freed
// by the garbage collector (they hold bytes, not memory maps). Every
// Cache forgets its entries at its next lookup.
func (r *Resolver) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, err := load(r.cfg)
	if err != nil {
		r.reloadFailures.Add(1)
		return err
	}
	d.gen = r.cur.Load().gen + 1
	r.cur.Store(d)
	r.reloads.Add(1)
	return nil
}

// Databases describes the databases in use.
func (r *Resolver) Databases() []DatabaseInfo {
	d := r.cur.Load()
	return []DatabaseInfo{d.country.info, d.asn.info}
}

// Close releases the databases. Call it after the last lookup.
func (r *Resolver) Close() error {
	d := r.cur.Load()
	err := d.country.r.Close()
	if d.asn.r != d.country.r {
		if aerr := d.asn.r.Close(); err == nil {
			err = aerr
		}
	}
	return err
}

// Lookup resolves addr without a cache. An IPv4-mapped IPv6 address is
// looked up as IPv4.
func (r *Resolver) Lookup(addr netip.Addr) Info {
	s, _ := r.scratch.Get().(*scratch)
	if s == nil {
		s = new(scratch)
	}
	info := r.lookup(r.cur.Load(), addr.Unmap(), s)
	r.scratch.Put(s)
	return info
}

func (r *Resolver) lookup(d *databases, addr netip.Addr, s *scratch) Info {
	var info Info
	if !addr.IsValid() {
		info.Provider = ProviderUnknown
		return info
	}
	info.Country = d.country.country(addr, s)
	info.ASN, info.Org = d.asn.as(addr, s)
	info.Provider = r.Provider(info.ASN)
	return info
}

// Provider returns the provider of an AS number with this resolver's
// table (the built-in one with Config.Providers applied).
func (r *Resolver) Provider(asn uint32) string {
	return providerIn(r.providers, asn)
}

// Stats returns the lookups and cache hits summed over all caches.
func (r *Resolver) Stats() (lookups, hits uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.caches {
		lookups += c.lookups.Load()
		hits += c.hits.Load()
	}
	return lookups, hits
}

// ReloadStats returns the number of successful and failed reloads.
func (r *Resolver) ReloadStats() (reloads, failures uint64) {
	return r.reloads.Load(), r.reloadFailures.Load()
}
