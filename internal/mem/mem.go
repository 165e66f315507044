// Package mem has helpers for the large tables the workers allocate.
package mem

import "unsafe"

// PageSize is the smallest page size of the platforms borderwatch runs on;
// on larger pages Prefault writes more often than it needs to, which is
// harmless.
const PageSize = 4096

// Prefault writes the zero value to one element in every page of s, a
// slice just made (it must hold zero values only: they are overwritten).
//
// A fresh allocation's pages are mapped on first access. When that access
// is a read, as when a hash table is probed before anything is stored in
// it, the kernel maps its shared zero page, and the first write then
// copies the page and flushes the TLB of every CPU running the process
// with an inter-processor interrupt: microseconds per page, 8% of the CPU
// time of reading a capture of real traffic (perf record, the flow table
// growing and the round-trip table). A write first maps a private page at
// once.
func Prefault[T any](s []T) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if size == 0 {
		return
	}
	step := max(1, PageSize/size)
	for i := 0; i < len(s); i += step {
		s[i] = zero
	}
}
