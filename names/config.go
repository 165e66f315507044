package names

import "time"

// Config holds the settings of the name learners.
type Config struct {
	// DNSPorts are the UDP/TCP server ports whose payloads are parsed as DNS
	// messages by the caller (ParseDNS). Default: [53].
	DNSPorts []uint16
	// TTLFloor is the shortest time a DNS-learned name is kept, whatever the
	// record's TTL (many answers carry TTLs of a few seconds while the
	// connection they announce lasts minutes). Default: 60s.
	TTLFloor time.Duration
	// TTLCeiling caps the TTL of a DNS-learned name. Default: 24h.
	TTLCeiling time.Duration
	// CacheEntries is the capacity of the DNS name cache (all shards
	// together). Default: 65536.
	CacheEntries int
	// ReassemblySlots is the number of flows per Tracker whose first client
	// flight can be reassembled at the same time. Default: 256.
	ReassemblySlots int
	// MaxHelloBytes bounds the reassembled first flight (TLS records, QUIC
	// CRYPTO stream, HTTP request head) per flow. Default: 16384.
	MaxHelloBytes int
	// MaxSegments bounds the client packets fed per flow before giving up.
	// Default: 8.
	MaxSegments int
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	return Config{
		DNSPorts:        []uint16{53},
		TTLFloor:        60 * time.Second,
		TTLCeiling:      24 * time.Hour,
		CacheEntries:    65536,
		ReassemblySlots: 256,
		MaxHelloBytes:   16384,
		MaxSegments:     8,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DNSPorts == nil {
		c.DNSPorts = d.DNSPorts
	}
	if c.TTLFloor <= 0 {
		c.TTLFloor = d.TTLFloor
	}
	if c.TTLCeiling <= 0 {
		c.TTLCeiling = d.TTLCeiling
	}
	if c.TTLCeiling < c.TTLFloor {
		c.TTLCeiling = c.TTLFloor
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = d.CacheEntries
	}
	if c.ReassemblySlots <= 0 {
		c.ReassemblySlots = d.ReassemblySlots
	}
	if c.MaxHelloBytes <= 0 {
		c.MaxHelloBytes = d.MaxHelloBytes
	}
	if c.MaxHelloBytes < 1500 {
		c.MaxHelloBytes = 1500
	}
	if c.MaxSegments <= 0 {
		c.MaxSegments = d.MaxSegments
	}
	return c
}

// IsDNSPort reports whether port is one of the configured DNS ports.
func (c Config) IsDNSPort(port uint16) bool {
	for _, p := range c.DNSPorts {
		if p == port {
			return true
		}
	}
	return false
}
