package asnset

import (
	"math/rand/v2"
	"testing"
)

// TestFilter: every AS number added is reported as maybe present (no
// false negative); of the others, few are (the false-positive rate a
// 65,536-bit filter with one hash gives for this many members).
func TestFilter(t *testing.T) {
	var f Filter
	r := rand.New(rand.NewPCG(3, 4))
	in := map[uint32]bool{}
	for len(in) < 1000 {
		n := r.Uint32()
		if len(in)%2 == 0 {
			n %= 70000 // many small AS numbers, as real sets have
		}
		in[n] = true
		f.Add(n)
	}
	for n := range in {
		if !f.MayContain(n) {
			t.Fatalf("AS%d added, not found", n)
		}
	}
	fp, trials := 0, 0
	for n := uint32(1); n < 400000; n++ {
		if in[n] {
			continue
		}
		trials++
		if f.MayContain(n) {
			fp++
		}
	}
	if rate := float64(fp) / float64(trials); rate > 0.03 {
		t.Errorf("false positives %d of %d (%.3f): more than a 1,000-member set should give", fp, trials, rate)
	}
	var empty Filter
	for n := range in {
		if empty.MayContain(n) {
			t.Fatalf("the empty filter holds AS%d", n)
		}
	}
}
