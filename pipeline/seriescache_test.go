package pipeline

import (
	"strconv"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/place"
)

// TestSeriesCache: hits compare the labels, not their pointers, and side
// 1's direction; equal labels in other strings still find their ids or
// miss (never another label set's ids); the table grows and stops at its
// bound.
func TestSeriesCache(t *testing.T) {
	c := newSeriesCache(1000)
	lab := func(i int) metrics.Labels {
		return metrics.Labels{Direction: "egress", Country: "C" + strconv.Itoa(i%50), App: "app" + strconv.Itoa(i), Region: "abroad"}
	}
	var kept []metrics.Labels
	for i := range 1500 {
		l := lab(i)
		kept = append(kept, l)
		c.put(&l, place.Ingress, [2]seriesRef{{id: uint32(i)}, {id: uint32(i) + 1<<20}})
	}
	if c.n != 1000 {
		t.Fatalf("%d entries, want the bound 1000", c.n)
	}
	for i := range 1500 {
		l := lab(i) // the same labels in new strings: a hit only by chance, never a wrong one
		l.Direction = strings.Clone(l.Direction)
		r, ok := c.get(&l, place.Ingress)
		if ok && r != [2]seriesRef{{id: uint32(i)}, {id: uint32(i) + 1<<20}} {
			t.Fatalf("labels %d: ids %v", i, r)
		}
		if i >= 1000 && ok {
			t.Fatalf("labels %d past the bound cached", i)
		}
	}
	for i := range 1000 {
		if r, ok := c.get(&kept[i], place.Ingress); !ok || r[0].id != uint32(i) || r[1].id != uint32(i)+1<<20 {
			t.Fatalf("labels %d (the strings put): %v %v, want ids %d and %d", i, r, ok, i, i+1<<20)
		}
		if r, ok := c.get(&kept[i], place.Transit); ok {
			t.Fatalf("labels %d with side 1 in transit: %v, cached for ingress only", i, r)
		}
	}
	c.reset()
	l := lab(1)
	if _, ok := c.get(&l, place.Ingress); ok || c.n != 0 {
		t.Error("reset kept entries")
	}
}
