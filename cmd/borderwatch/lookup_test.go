package main

import (
	"strings"
	"testing"
)

// TestLookupRegion: lookup applies placement's region rule: home when the
// database's country is in the home region, abroad when not, unknown for
// an unplaced address or without a home region.
func TestLookupRegion(t *testing.T) {
	for _, tc := range []struct {
		home string
		want []string // region of 8.8.8.8 (US), 10.1.2.3 (no country)
	}{{"EU", []string{"abroad", "unknown"}}, {"US", []string{"home", "unknown"}}, {"", []string{"unknown", "unknown"}}} {
		args := []string{"lookup", "8.8.8.8", "10.1.2.3"}
		if tc.home != "" {
			args = append(args, "--geo.home-region", tc.home)
		}
		out, stderr, code := borderwatch(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("home %q: output %q", tc.home, out)
		}
		for i, want := range tc.want {
			if f := strings.Fields(lines[i+1]); len(f) < 7 || f[len(f)-2] != want {
				t.Errorf("home %q: line %q: region column is not %q", tc.home, lines[i+1], want)
			}
		}
	}
}
