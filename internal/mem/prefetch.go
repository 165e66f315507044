package mem

import "unsafe"

// Prefetch asks the CPU to bring the cache line at p into its caches, and
// returns at once: a lookup in a table larger than the cache costs a memory
// load (about 100 ns), and a caller that knows which slot it will read a
// few packets later prefetches it now, so that the wait overlaps the work
// between. A plain load would not do: the CPU retires instructions in
// order, and a missing load stalls it once its reorder buffer is full, a
// few hundred instructions later. On amd64 and arm64 it is one instruction
// (PREFETCHT0, PRFM PLDL1KEEP) behind a call; elsewhere it does nothing. It
// never faults, whatever p is.
func Prefetch(p unsafe.Pointer) { prefetch(uintptr(p)) }
