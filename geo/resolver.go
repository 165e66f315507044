package geo

import (
	"net/netip"
	"strconv"
	"strings"
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

// Resolver answers lookups from the country and ASN databases. Lookup is
// safe for concurrent use.
type Resolver struct {
	cfg       Config
	country   *database
	asn       *database
	providers map[uint32]string

	mu     sync.Mutex
	caches []*Cache
	// counts of caches that were dropped are folded here
	lookups, hits atomic.Uint64
}

// Open loads the databases named in cfg (embedded ones where empty). A
// missing, corrupt or wrong-type file is an error naming it.
func Open(cfg Config) (*Resolver, error) {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultConfig().CacheSize
	}
	// The two databases load (and decompress) in parallel: it halves the
	// start-up time of short runs such as `lookup`.
	var a *database
	var aerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, aerr = openDatabase("asn", cfg.ASNDB, embeddedASN)
	}()
	c, err := openDatabase("country", cfg.CountryDB, embeddedCountry)
	<-done
	if err != nil || aerr != nil {
		if c != nil {
			c.r.Close()
		}
		if a != nil {
			a.r.Close()
		}
		if err == nil {
			err = aerr
		}
		return nil, err
	}
	return &Resolver{cfg: cfg, country: c, asn: a, providers: mergeProviders(cfg.Providers)}, nil
}

// Databases describes the loaded databases.
func (r *Resolver) Databases() []DatabaseInfo {
	return []DatabaseInfo{r.country.info, r.asn.info}
}

// Close releases the databases.
func (r *Resolver) Close() error {
	r.country.r.Close()
	return r.asn.r.Close()
}

// Lookup resolves addr without a cache.
func (r *Resolver) Lookup(addr netip.Addr) Info {
	addr = addr.Unmap()
	var info Info
	var rec record
	if r.country.lookup(addr, &rec) == nil {
		info.Country = countryOf(&rec, r.country.schema)
	}
	rec = record{}
	if r.asn.lookup(addr, &rec) == nil {
		info.ASN, info.Org = asnOf(&rec, r.asn.schema)
	}
	info.Provider = r.provider(info.ASN)
	return info
}

func countryOf(rec *record, s schema) string {
	cc := rec.Country.ISOCode
	if cc == "" {
		cc = rec.CountryCode
	}
	if cc == "" && s == schemaCountry {
		// Anycast and satellite ranges carry only the registered country.
		cc = rec.RegisteredCountry.ISOCode
	}
	cc = strings.ToUpper(cc)
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return ""
	}
	return cc
}

func asnOf(rec *record, s schema) (uint32, string) {
	if s == schemaIPinfo {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(rec.IPinfoASN), "AS"), 10, 32)
		if err != nil {
			return 0, ""
		}
		return uint32(n), rec.ASName
	}
	return rec.ASN, rec.ASOrg
}

func (r *Resolver) provider(asn uint32) string {
	if asn == 0 {
		return "unknown"
	}
	if p, ok := r.providers[asn]; ok {
		return p
	}
	return "other"
}

// Provider returns the provider of an AS number with this resolver's table.
func (r *Resolver) Provider(asn uint32) string { return r.provider(asn) }

// Stats returns lookups and cache hits over all caches.
func (r *Resolver) Stats() (lookups, hits uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lookups, hits = r.lookups.Load(), r.hits.Load()
	for _, c := range r.caches {
		lookups += c.lookups.Load()
		hits += c.hits.Load()
	}
	return lookups, hits
}
