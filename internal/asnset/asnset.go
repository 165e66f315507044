// Package asnset is a membership filter for small sets of AS numbers
// (the ASNs of providers, of apps): most addresses a new flow places are
// in none of them, and the filter says so from one bit of an 8 KiB array
// that stays in the CPU's cache, instead of a map lookup.
package asnset

// Filter answers "maybe in the set" or "certainly not". The zero value
// is the empty set. Add makes it hold an AS number; it is not safe to Add
// concurrently with MayContain, and a filter is built once, then read.
type Filter struct {
	bits [1 << bitsLog2 / 64]uint64
}

const bitsLog2 = 16

func slot(asn uint32) uint32 {
	return asn * 0x9e3779b1 >> (32 - bitsLog2) // Fibonacci hashing
}

// Add puts asn in the set.
func (f *Filter) Add(asn uint32) {
	i := slot(asn)
	f.bits[i/64] |= 1 << (i % 64)
}

// MayContain reports false when asn is certainly not in the set.
func (f *Filter) MayContain(asn uint32) bool {
	i := slot(asn)
	return f.bits[i/64]&(1<<(i%64)) != 0
}
