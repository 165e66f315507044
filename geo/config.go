// Package geo places addresses: country, autonomous system and
// organisation from MaxMind-format databases (embedded defaults, or MaxMind
// GeoLite2/GeoIP2, DB-IP and IPinfo Lite files), and the hosting provider
// from a curated ASN table. Lookups go through small per-worker caches.
package geo

// Config selects the databases and sizes the caches.
type Config struct {
	// CountryDB is a country (or city) database path; "" uses the
	// embedded one.
	CountryDB string
	// ASNDB is an ASN database path; "" uses the embedded one. An IPinfo
	// Lite file carries both and may be given for both.
	ASNDB string
	// CacheSize is the number of addresses each Cache remembers.
	CacheSize int
	// Providers extends and overrides the built-in ASN -> provider table.
	Providers map[uint32]string
}

// DefaultConfig returns the embedded databases and a 65536-entry cache.
func DefaultConfig() Config {
	return Config{CacheSize: 65536}
}
