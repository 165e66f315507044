// Package geo places addresses: country, autonomous system and
// organisation from MaxMind-format databases (embedded defaults, or MaxMind
// GeoLite2/GeoIP2, DB-IP and IPinfo Lite files), and the hosting provider
// from a curated ASN table; the cloud and CDN providers' published ranges
// and RFC 8805 geofeeds (embedded snapshot, fresh files, the user's own
// geofeed) add the cloud region, anycast edges and the provider, and a
// curated table the operator's country (Info.Range, Location, Operator,
// OperatorCountry). Lookups go through bounded per-worker caches
// that allocate nothing; the databases can be reloaded while lookups run
// (Reload, Watch). Package geotest writes databases for tests.
package geo

// Config selects the databases and sizes the caches.
type Config struct {
	// CountryDB is a country (or city) database path; "" uses the
	// embedded one.
	CountryDB string
	// ASNDB is an ASN database path; "" uses the embedded one. An IPinfo
	// Lite file carries both and may be given for both.
	ASNDB string
	// CloudRanges is a directory of fresh downloads of the providers'
	// published range files (RangeSources names them); each provider
	// found there replaces its part of the embedded snapshot. "": the
	// snapshot only.
	CloudRanges string
	// Geofeed is the user's own RFC 8805 geofeed; its prefixes take
	// precedence over the published ranges and the database. "": none.
	Geofeed string
	// CacheSize is the number of addresses each Cache remembers, rounded
	// up to a power of two; 0 means the default, more than MaxCacheSize is
	// an error. A cache costs about 100 bytes per entry (6.5 MiB at 65536).
	CacheSize int
	// Providers extends and overrides the built-in ASN -> provider table.
	Providers map[uint32]string
}

// MaxCacheSize is the largest CacheSize Open accepts.
const MaxCacheSize = 1 << 24

// DefaultConfig returns the embedded databases and a 65536-entry cache.
func DefaultConfig() Config {
	return Config{CacheSize: 65536}
}
