package main

import (
	"os"
	"path/filepath"
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
			if f := strings.Fields(lines[i+1]); len(f) < 11 || f[len(f)-4] != want {
				t.Errorf("home %q: line %q: region column is not %q", tc.home, lines[i+1], want)
			}
		}
	}
}

// lookupRow returns the fields of lookup's output line for addr (the
// organisation may hold spaces: the columns after it are counted from the
// end).
func lookupRow(t *testing.T, out, addr string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 11 && f[0] == addr {
			return f
		}
	}
	t.Fatalf("no line for %s in\n%s", addr, out)
	return nil
}

// TestLookupCloudRanges: lookup shows what the providers' published
// ranges say (the embedded snapshot of the official files: Oracle lists
// 89.168.64.0/18 in eu-frankfurt-1, Cloudflare 104.16.0.0/13), and what
// --geo.cloud-ranges and --geo.geofeed files say.
func TestLookupCloudRanges(t *testing.T) {
	out, stderr, code := borderwatch(t, "lookup", "--geo.home-region", "EU", "89.168.64.1", "104.16.1.1", "2a04:4e40::1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(out, "ADDRESS  ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "CLOUD_REGION") {
		t.Errorf("header: %q", out)
	}
	// COUNTRY, then PROVIDER, CLOUD_REGION, OPERATOR_COUNTRY, REGION from
	// the end (BASIS, SITE_KM and LOCAL follow).
	check := func(addr, country, provider, region, operator, home string) {
		t.Helper()
		f := lookupRow(t, out, addr)
		n := len(f)
		if got := []string{f[1], f[n-7], f[n-6], f[n-5], f[n-4]}; strings.Join(got, " ") != strings.Join([]string{country, provider, region, operator, home}, " ") {
			t.Errorf("%s: %q, want %s %s %s %s %s", addr, got, country, provider, region, operator, home)
		}
	}
	check("89.168.64.1", "DE", "Oracle", "eu-frankfurt-1", "US", "home")
	check("104.16.1.1", "anycast", "Cloudflare", "-", "US", "unknown")
	check("2a04:4e40::1", "anycast", "Fastly", "-", "US", "unknown")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "public_ip_ranges.json"), []byte(`{"regions":[{"region":"eu-paris-1","cidrs":[{"cidr":"198.51.100.0/24"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(dir, "feed.csv")
	if err := os.WriteFile(feed, []byte("203.0.113.0/24,CH,CH-ZH,Zurich,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = borderwatch(t, "lookup", "--geo.home-region", "EU", "--geo.cloud-ranges", dir, "--geo.geofeed", feed, "198.51.100.1", "203.0.113.1", "89.168.64.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	check("198.51.100.1", "FR", "Oracle", "eu-paris-1", "US", "home")
	check("203.0.113.1", "CH", "unknown", "Zurich", "unknown", "abroad")
	// The directory's Oracle file replaced the embedded Oracle ranges.
	if f := lookupRow(t, out, "89.168.64.1"); f[len(f)-6] != "-" {
		t.Errorf("89.168.64.1 still in an embedded Oracle region: %q", f)
	}

	if err := os.WriteFile(feed, []byte("203.0.113.0/24,CH\n203.0.113.0/99,DE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = borderwatch(t, "lookup", "--geo.geofeed", feed, "192.0.2.1")
	if code != 1 || !strings.Contains(stderr, feed+`:2: field 1 (ip_prefix) "203.0.113.0/99": not an address prefix`) {
		t.Errorf("broken geofeed: exit %d, %q", code, stderr)
	}
}

// TestLookupSiteRTT: with the site in Frankfurt, lookup gives the distance
// to the data's country, and --rtt the placement a round trip allows: 2 ms
// rules out the US (5,382 km away) and proves the EU; 80 ms decides
// nothing; a Cloudflare edge 2 ms away is home by RTT.
func TestLookupSiteRTT(t *testing.T) {
	base := []string{"lookup", "--geo.home-region", "EU", "--geo.site-location", "50.11,8.68", "8.8.8.8", "89.168.64.1", "104.16.1.1"}
	for _, tc := range []struct {
		rtt  string
		want map[string]string // country region basis site_km
	}{
		{"", map[string]string{"8.8.8.8": "US abroad database 5382", "89.168.64.1": "DE home database 0", "104.16.1.1": "anycast unknown anycast -"}},
		{"2ms", map[string]string{"8.8.8.8": "DE home contradicted 5382", "89.168.64.1": "DE home rtt 0", "104.16.1.1": "DE home rtt -"}},
		{"80ms", map[string]string{"8.8.8.8": "US abroad database 5382", "89.168.64.1": "DE home database 0", "104.16.1.1": "anycast unknown anycast -"}},
	} {
		args := base
		if tc.rtt != "" {
			args = append(append([]string(nil), base...), "--rtt", tc.rtt)
		}
		out, stderr, code := borderwatch(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for addr, want := range tc.want {
			f := lookupRow(t, out, addr)
			n := len(f)
			if got := strings.Join([]string{f[1], f[n-4], f[n-3], f[n-2]}, " "); got != want {
				t.Errorf("rtt %q: %s: %s, want %s", tc.rtt, addr, got, want)
			}
		}
	}
	if _, stderr, code := borderwatch(t, "lookup", "--rtt", "2ms", "8.8.8.8"); code != 2 || !strings.Contains(stderr, "--geo.site-location") {
		t.Errorf("--rtt without a site: exit %d, %q", code, stderr)
	}
	if _, stderr, code := borderwatch(t, "lookup", "--geo.site-location", "95,8", "8.8.8.8"); code != 1 || !strings.Contains(stderr, "--geo.site-location") {
		t.Errorf("a bad site: exit %d, %q", code, stderr)
	}
}
