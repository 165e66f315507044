// Package flow is borderwatch's flow table: a fixed-capacity open-addressing
// hash table of pointer-free entries keyed by the 5-tuple plus VLAN/tunnel
// context, with idle and active timeouts and a hard entry limit. One table
// belongs to one worker goroutine; it takes no lock.
package flow

import "time"

// Config sets the table's limits.
type Config struct {
	// MaxFlows is the hard limit on entries in this table. When it is
	// reached a new flow evicts an existing one (counted as "capacity").
	MaxFlows int
	// IdleTimeout ends a flow that has seen no packet for this long.
	IdleTimeout time.Duration
	// ActiveTimeout ends a flow this long after its first packet, even if
	// it is still busy (NetFlow's active timeout): the next packet starts a
	// new flow, placed anew.
	ActiveTimeout time.Duration
}

// DefaultConfig returns the defaults: 262144 flows, 60 s idle, 30 min active.
func DefaultConfig() Config {
	return Config{MaxFlows: 1 << 18, IdleTimeout: 60 * time.Second, ActiveTimeout: 30 * time.Minute}
}
