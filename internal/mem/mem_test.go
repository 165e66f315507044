package mem

import (
	"testing"
)

// TestPrefaultKeepsZero: every element is still the zero value, whatever
// its size relative to a page.
func TestPrefaultKeepsZero(t *testing.T) {
	type big [5000]byte // over a page
	type mid [112]byte  // a flow entry
	small := make([]uint64, 100000)
	Prefault(small)
	for i, v := range small {
		if v != 0 {
			t.Fatalf("small[%d] = %d", i, v)
		}
	}
	m := make([]mid, 1000)
	Prefault(m)
	for i := range m {
		if m[i] != (mid{}) {
			t.Fatalf("mid[%d] not zero", i)
		}
	}
	b := make([]big, 10)
	Prefault(b)
	for i := range b {
		if b[i] != (big{}) {
			t.Fatalf("big[%d] not zero", i)
		}
	}
	Prefault([]struct{}{}) // zero-sized elements: no division by zero
	Prefault(make([]struct{}, 10))
}
