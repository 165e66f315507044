package geo

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// TestPrebuiltRanges: the embedded prebuilt table is the one built from
// the embedded snapshot, byte for byte, and answers alike.
// BORDERWATCH_UPDATE_PREBUILT=1 rewrites it.
func TestPrebuiltRanges(t *testing.T) {
	built, err := loadRanges("")
	if err != nil {
		t.Fatal(err)
	}
	want := encodePrebuilt(built)
	if os.Getenv("BORDERWATCH_UPDATE_PREBUILT") == "1" {
		if err := os.WriteFile("data/ranges.prebuilt", want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote data/ranges.prebuilt (%d bytes)", len(want))
		return
	}
	if !bytes.Equal(embeddedPrebuilt, want) {
		t.Fatal("data/ranges.prebuilt is not the table built from data/ranges.bin.gz: run BORDERWATCH_UPDATE_PREBUILT=1 go test ./geo -run TestPrebuiltRanges")
	}
	got, err := decodePrebuilt(embeddedPrebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if got.n != built.n || !slices.Equal(got.ranges, built.ranges) {
		t.Fatalf("prefixes %d, %d ranges; built %d, %d", got.n, len(got.ranges), built.n, len(built.ranges))
	}
	for _, a := range append(benchAddrs(1<<14), netip.MustParseAddr("89.168.64.1"), netip.MustParseAddr("2a04:4e40::1"), netip.MustParseAddr("4.182.0.1")) {
		if g, w := got.lookup(a), built.lookup(a); (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Fatalf("%s: %v, built %v", a, g, w)
		}
	}
	set, err := embeddedRangeSet()
	if err != nil || set.n != built.n {
		t.Fatalf("the resolvers' set: %v", err)
	}
}

// TestPrebuiltMalformed: every cut of the prebuilt form is refused, never a
// panic.
func TestPrebuiltMalformed(t *testing.T) {
	for _, n := range []int{0, 10, len(prebuiltMagic) + 1, len(prebuiltMagic) + 40, len(embeddedPrebuilt) / 2, len(embeddedPrebuilt) - 1} {
		if _, err := decodePrebuilt(embeddedPrebuilt[:n]); err == nil {
			t.Errorf("cut at %d: accepted", n)
		}
	}
	if _, err := decodePrebuilt(append(append([]byte(nil), embeddedPrebuilt...), 0)); err == nil {
		t.Error("a trailing byte accepted")
	}
}

func BenchmarkDecodePrebuilt(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePrebuilt(embeddedPrebuilt); err != nil {
			b.Fatal(err)
		}
	}
}
