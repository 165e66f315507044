package mem

import (
	"testing"
	"unsafe"
)

// Prefetch is a hint: it never faults, whatever the address (nil, freed,
// unmapped), and leaves memory as it was.
func TestPrefetch(t *testing.T) {
	b := make([]byte, 1<<16)
	for i := range b {
		b[i] = byte(i)
	}
	for i := 0; i < len(b); i += 64 {
		Prefetch(unsafe.Pointer(&b[i]))
	}
	Prefetch(nil)
	prefetch(1 << 47) // an address nothing maps
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d changed", i)
		}
	}
}

func BenchmarkPrefetch(b *testing.B) {
	s := make([]byte, 1<<20)
	for i := range b.N {
		Prefetch(unsafe.Pointer(&s[(i*64)&(len(s)-1)]))
	}
}
