package geo

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/borderwatch/borderwatch/internal/asnset"
)

// Info is what borderwatch knows of an address. Country, ASN, Org and
// Provider are the databases' and the provider table's answers; Range is
// what a published range or geofeed adds (see Location, Operator).
type Info struct {
	Country  string // the country database's ISO 3166-1 alpha-2, upper case; "" if unknown
	ASN      uint32 // 0 if unknown
	Org      string // AS organisation; "" if unknown
	Provider string // normalised hosting provider of the AS, "other" (AS not in the table) or "unknown" (no AS)
	// Range is the published range or geofeed entry containing the
	// address (the user's geofeed first, then the providers' files), or
	// nil. It is shared: don't modify it.
	Range *Range
	// OperatorCountry is where the network's operator is headquartered
	// (of Operator()): curated for the provider table, "unknown" for
	// other networks (no offline source of AS registration countries).
	OperatorCountry string
}

// Location is the country the address is in: the published range's (a
// cloud region's or a geofeed's country takes precedence over the
// database), "" for an anycast range (no country is its location), else
// the database's.
func (i Info) Location() string {
	if r := i.Range; r != nil {
		if r.Country != "" {
			return r.Country
		}
		if r.Anycast {
			return ""
		}
	}
	return i.Country
}

// Anycast reports whether the address is in a published anycast or CDN
// edge range.
func (i Info) Anycast() bool { return i.Range != nil && i.Range.Anycast }

// CloudRegion is the published range's region ("eu-frankfurt-1", or a
// geofeed's city), or "".
func (i Info) CloudRegion() string {
	if i.Range == nil {
		return ""
	}
	return i.Range.Region
}

// Operator is the network's provider: the one that publishes the range
// containing the address (it covers ranges the ASN data lacks, such as
// Fastly's 2a04:4e40::/32), else Provider.
func (i Info) Operator() string {
	if i.Range != nil && i.Range.Provider != "" {
		return i.Range.Provider
	}
	return i.Provider
}

// databases is one loaded generation of the country and ASN databases.
type databases struct {
	country, asn *database
	ranges, feed *rangeSet // published ranges, the user's geofeed; nil: none
	gen          uint64
	stamps       []fileStamp // of the watched files, taken before they were read
}

// Resolver answers lookups from the country and ASN databases. Lookup,
// Stats, Databases and Reload are safe for concurrent use.
type Resolver struct {
	cfg       Config
	providers map[uint32]string
	// providerSet holds the keys of providers: most AS numbers are no
	// provider's, which it tells without the map.
	providerSet asnset.Filter
	cur         atomic.Pointer[databases]

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
	for asn := range r.providers {
		r.providerSet.Add(asn)
	}
	r.cur.Store(d)
	return r, nil
}

// load opens both databases (in parallel: it halves the start-up time of
// short runs when both are files). The same file given for both (IPinfo
// Lite) is read once.
func load(cfg Config) (*databases, error) {
	stamps := stampsOf(watchedPaths(cfg)) // before reading: a later change is seen
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
	ranges, err := embeddedRangeSet()
	if cfg.CloudRanges != "" {
		ranges, err = loadRanges(cfg.CloudRanges)
	}
	if err != nil {
		return nil, fmt.Errorf("cloud ranges: %w", err)
	}
	var feed *rangeSet
	if cfg.Geofeed != "" {
		if feed, err = loadGeofeed(cfg.Geofeed); err != nil {
			return nil, fmt.Errorf("geofeed: %w", err)
		}
	}
	ci, ai := c.info, a.info
	ci.Name, ai.Name = "country", "asn"
	return &databases{
		country: &database{r: c.r, v4: c.v4, schema: c.schema, info: ci},
		asn:     &database{r: a.r, v4: a.v4, schema: a.schema, info: ai},
		ranges:  ranges,
		feed:    feed,
		stamps:  stamps,
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

// RangeStats returns the number of prefixes of published ranges and of
// the user's geofeed in use.
func (r *Resolver) RangeStats() (ranges, geofeed int) {
	d := r.cur.Load()
	if d.ranges != nil {
		ranges = d.ranges.n
	}
	if d.feed != nil {
		geofeed = d.feed.n
	}
	return ranges, geofeed
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
// looked up as IPv4. Its scratch records come from a pool, without record
// caches (one allocation when the pool is empty; the workers' caches have
// their own).
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
		info.Provider, info.OperatorCountry = ProviderUnknown, CountryUnknown
		return info
	}
	if x, y := d.country.v4, d.asn.v4; x != nil && y != nil && addr.Is4() {
		// Both trees walked in one loop: their memory loads overlap (the
		// walk reads only within the trees: it cannot panic).
		co, cf, ao, af := walk2(x, y, addr)
		info.Country = d.country.countryAt(co, cf, s)
		info.ASN, info.Org = d.asn.asAt(ao, af, s)
	} else {
		info.Country = d.country.country(addr, s)
		info.ASN, info.Org = d.asn.as(addr, s)
	}
	info.Provider = r.Provider(info.ASN)
	if info.Range = d.feed.lookup(addr); info.Range == nil {
		info.Range = d.ranges.lookup(addr)
	}
	info.OperatorCountry = OperatorCountry(info.Operator())
	return info
}

// Provider returns the provider of an AS number with this resolver's
// table (the built-in one with Config.Providers applied).
func (r *Resolver) Provider(asn uint32) string {
	if asn != 0 && !r.providerSet.MayContain(asn) {
		return ProviderOther
	}
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
