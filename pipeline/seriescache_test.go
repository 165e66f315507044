package pipeline

import (
	"strconv"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/metrics"
)

// TestSeriesCache: hits compare the labels, not their pointers; equal
// labels in other strings still find their id or miss (never another
// label set's id); the table grows and stops at its bound.
func TestSeriesCache(t *testing.T) {
	c := newSeriesCache(1000)
	lab := func(i int) metrics.Labels {
		return metrics.Labels{Direction: "egress", Country: "C" + strconv.Itoa(i%50), App: "app" + strconv.Itoa(i), Region: "abroad"}
	}
	var kept []metrics.Labels
	for i := range 1500 {
		l := lab(i)
		kept = append(kept, l)
		c.put(&l, seriesRef{id: uint32(i)})
	}
	if c.n != 1000 {
		t.Fatalf("%d entries, want the bound 1000", c.n)
	}
	for i := range 1500 {
		l := lab(i) // the same labels in new strings: a hit only by chance, never a wrong one
		l.Direction = strings.Clone(l.Direction)
		r, ok := c.get(&l)
		if ok && r.id != uint32(i) {
			t.Fatalf("labels %d: id %d", i, r.id)
		}
		if i >= 1000 && ok {
			t.Fatalf("labels %d past the bound cached", i)
		}
	}
	for i := range 1000 {
		if r, ok := c.get(&kept[i]); !ok || r.id != uint32(i) {
			t.Fatalf("labels %d (the strings put): %v %v, want id %d", i, r, ok, i)
		}
	}
	c.reset()
	l := lab(1)
	if _, ok := c.get(&l); ok || c.n != 0 {
		t.Error("reset kept entries")
	}
}
