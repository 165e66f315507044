package config

import (
	"bufio"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/google/go-cmp/cmp"
)

var prefixComparer = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// The member lists below are written out from the treaties, independently
// of regions.go.
var (
	euMembers = []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
		"IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
	eeaMembers = sorted(append(slices.Clone(euMembers), "IS", "LI", "NO"))
)

func sorted(s []string) []string { slices.Sort(s); return s }

func TestExample(t *testing.T) {
	got, err := Load("testdata/example.yml")
	if err != nil {
		t.Fatal(err)
	}
	regions := BuiltinRegions()
	regions["EU"] = sorted(regions["EU"])
	regions["NORDICS"] = []string{"DK", "FI", "IS", "NO", "SE"}
	regions["DACH"] = []string{"AT", "CH", "DE"}
	regions["EUROPE_PLUS"] = sorted(append(slices.Clone(eeaMembers), "CH", "GB"))
	want := &Config{
		HomeRegion: sorted(append(slices.Clone(euMembers), "CH", "IS", "NO")),
		LocalNetworks: prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
			"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10", "198.18.0.0/15", "2001:db8:100::/48", "203.0.113.7/32"),
		ClientGroups: []ClientGroup{
			{Name: "government", Prefixes: prefixes("10.20.0.0/16")},
			{Name: "guests", Prefixes: prefixes("10.30.0.0/16", "fd00:30::/64")},
			{Name: "government-lab", Prefixes: prefixes("10.20.5.0/24")},
		},
		Providers: map[uint32]string{64500: "ExampleCloud", 64501: "OtherCloud", 16509: "AWS"},
		Apps: []apps.App{
			{ID: "intranet", Name: "Example intranet", Domains: []string{"intranet.example", "corp.example"}},
			{ID: "teams", Name: "Microsoft Teams", Domains: []string{"teams.microsoft.com", "teams.office.com"}},
		},
		Regions: regions,
	}
	if diff := cmp.Diff(want, got, prefixComparer); diff != "" {
		t.Errorf("example.yml (-want +got):\n%s", diff)
	}
	// The example's apps build a catalog with the built-in one.
	base, err := apps.DefaultApps()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := apps.New(base, got.Apps)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"wiki.corp.example": "intranet", "teams.microsoft.com": "teams", "www.microsoft.com": "microsoft365"} {
		if app := cat.Classify(name, 0); app != want {
			t.Errorf("Classify(%q) = %q, want %q", name, app, want)
		}
	}
}

// TestInvalid: every broken file in testdata/ fails with exactly this error.
func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"unknown-key", `2: unknown key "home_regoin"`},
		{"duplicate-key", `2: mapping key "home_region" already defined at line 1`},
		{"not-yaml", `1: did not find expected ',' or ']'`},
		{"wrong-type", `1: home_region: expected a list, got a string (EU)`},
		{"prefixes-scalar", `3: client_groups[0].prefixes: expected a list, got a string (10.0.0.0/8)`},
		{"provider-list", `2: providers.64500: expected a string, got a list`},
		{"unknown-region", `1: home_region[1]: unknown region "ATLANTIS" (built-in regions: CHINA, EEA, EFTA, EU, FIVE_EYES; define others under regions:)`},
		{"bad-country", `3: home_region[1]: "QQ" is not an ISO 3166-1 alpha-2 country code`},
		{"uk", `1: home_region[0]: "UK" is not an ISO 3166-1 alpha-2 country code (did you mean GB?)`},
		{"region-bad-member", `6: regions.BALTICS[2]: "LX" in region BALTICS is not an ISO 3166-1 alpha-2 country code`},
		{"region-cycle", `2: regions.AREA_A[1]: region AREA_A includes itself (AREA_A -> AREA_B -> AREA_C -> AREA_A)`},
		{"region-builtin", `2: regions: "Efta" redefines the built-in region EFTA`},
		{"region-code-name", `2: regions: "DE" is not a region name (a letter, then letters, digits, '_' or '-'; at least 3 characters, so that it is not taken for a country code)`},
		{"region-empty", `2: regions.NOWHERE: empty region`},
		{"host-bits", `3: local_networks[1]: "10.1.2.3/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"replace-empty", `1: local_networks_replace_defaults: true, but local_networks lists nothing (no address would be local)`},
		{"bad-prefix", `6: client_groups[1].prefixes[0]: "10.0.0.0/33" is not a valid prefix`},
		{"group-zone", `3: client_groups[0].prefixes[0]: "fe80::1%eth0" is not a valid prefix`},
		{"duplicate-group", `6: client_groups[2].name: group "lab" is already defined by client_groups[0]`},
		{"group-name", `2: client_groups[0].name: "Big Office" is not a valid group name (a label value: [a-z0-9_-]+, at most 64 characters)`},
		{"group-default", `2: client_groups[0].name: "default" is reserved for addresses in no group`},
		{"group-no-name", `2: client_groups[0]: name is missing`},
		{"group-empty", `4: client_groups[1] (empty): no prefixes`},
		{"group-overlap", `5: client_groups[1].prefixes[1]: 10.0.0.0/16 is already in group "lab"`},
		{"asn-zero", `3: providers: AS number 0 is reserved`},
		{"asn-word", `2: providers: "cloud" is not an AS number (write 64500 or AS64500)`},
		{"asn-twice", `3: providers: "64500" and "AS64500" are the same AS`},
		{"provider-reserved", `2: providers.64500: "other" is reserved`},
		{"app-id", `2: apps[0]: app "Intranet": id: must match [a-z0-9][a-z0-9_-]* (at most 64 characters) and not be "unknown" or "other"`},
		{"app-domain", `6: apps[0]: app "intranet": domains[1]: "*.corp.example" is a wildcard: write the suffix alone, it matches every name below it`},
		{"app-no-match", `2: apps[0]: app "intranet": needs domains or asns`},
		{"app-twice", `6: apps[2]: app "a": id: is listed twice`},
		{"app-domain-twice", `5: apps[1]: app "b": domains[1]: "a.example" already belongs to app "a"`},
		{"app-unknown-key", `3: unknown key "domain"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid-"+tc.file+".yml")
			c, err := Load(path)
			if err == nil {
				t.Fatalf("no error; parsed %+v", c)
			}
			if got, want := err.Error(), path+":"+tc.want; got != want {
				t.Errorf("error\n got: %s\nwant: %s", got, want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line == 0 {
				t.Errorf("not an *Error with a line: %#v", err)
			}
		})
	}
	// Every invalid-*.yml file is in the table.
	files, _ := filepath.Glob("testdata/invalid-*.yml")
	if len(files) != 34 {
		t.Errorf("%d invalid-*.yml files, the table has 34", len(files))
	}
}

func TestDefaultAndEmpty(t *testing.T) {
	want := &Config{
		LocalNetworks: prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
			"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"),
		Providers: map[uint32]string{},
		Regions:   BuiltinRegions(),
	}
	if diff := cmp.Diff(want, Default(), prefixComparer); diff != "" {
		t.Errorf("Default (-want +got):\n%s", diff)
	}
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		got, err := Parse([]byte(doc), "empty.yml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if diff := cmp.Diff(want, got, prefixComparer); diff != "" {
			t.Errorf("%q (-want +got):\n%s", doc, diff)
		}
	}
	got, err := Parse([]byte("local_networks_replace_defaults: true\nlocal_networks: [192.0.2.0/24, '::ffff:198.51.100.0/120', 2001:db8::1]\n"), "r.yml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(prefixes("192.0.2.0/24", "198.51.100.0/24", "2001:db8::1/128"), got.LocalNetworks, prefixComparer); diff != "" {
		t.Errorf("replaced local networks (-want +got):\n%s", diff)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestExpandRegion(t *testing.T) {
	user := map[string][]string{"Nordics": {"DK", "FI", "IS", "NO", "SE"}, "north_and_swiss": {"nordics", "ch"}}
	for _, tc := range []struct {
		desc string
		spec []string
		want []string
		err  string
	}{
		{"EU has 27 members", []string{"EU"}, euMembers, ""},
		{"EEA", []string{"eea"}, eeaMembers, ""},
		{"EFTA", []string{"EFTA"}, []string{"CH", "IS", "LI", "NO"}, ""},
		{"FIVE_EYES", []string{"FIVE_EYES"}, []string{"AU", "CA", "GB", "NZ", "US"}, ""},
		{"alias FVEY", []string{"fvey"}, []string{"AU", "CA", "GB", "NZ", "US"}, ""},
		{"alias five-eyes", []string{"Five-Eyes"}, []string{"AU", "CA", "GB", "NZ", "US"}, ""},
		{"CHINA", []string{"China"}, []string{"CN", "HK", "MO"}, ""},
		{"flag style list", []string{"EU,CH"}, sorted(append(slices.Clone(euMembers), "CH")), ""},
		{"spaces and empties", []string{" de , ,fr", ""}, []string{"DE", "FR"}, ""},
		{"overlaps counted once", []string{"EU", "EEA", "DE"}, eeaMembers, ""},
		{"user region of regions", []string{"north_and_swiss"}, []string{"CH", "DK", "FI", "IS", "NO", "SE"}, ""},
		{"Kosovo", []string{"XK"}, []string{"XK"}, ""},
		{"nothing", nil, []string{}, ""},
		{"unknown code", []string{"ZZ"}, nil, `"ZZ" is not an ISO 3166-1 alpha-2 country code`},
		{"Greece as the EU writes it", []string{"EL"}, nil, `"EL" is not an ISO 3166-1 alpha-2 country code (did you mean GR?)`},
		{"unknown name", []string{"EU", "MARS"}, nil, `unknown region "MARS" (built-in regions: CHINA, EEA, EFTA, EU, FIVE_EYES; define others under regions:)`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ExpandRegion(tc.spec, user)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ExpandRegion(%q) (-want +got):\n%s", tc.spec, diff)
			}
		})
	}
	if _, err := ExpandRegion([]string{"loop_a"}, map[string][]string{"LOOP_A": {"loop_b"}, "loop_b": {"Loop_A"}}); err == nil ||
		err.Error() != "region LOOP_A includes itself (LOOP_A -> LOOP_B -> LOOP_A)" {
		t.Errorf("cycle: %v", err)
	}
}

// TestCountryCodes compares the embedded ISO 3166-1 list with the system's
// tz database table (an independent copy of the standard).
func TestCountryCodes(t *testing.T) {
	f, err := os.Open("/usr/share/zoneinfo/iso3166.tab")
	if err != nil {
		t.Skipf("no tz database table to compare with: %v", err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); len(l) > 2 && l[0] != '#' {
			want = append(want, l[:2])
		}
	}
	if !slices.Contains(want, "XK") {
		want = append(want, "XK")
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, CountryCodes()); diff != "" {
		t.Errorf("country codes (-tz database +embedded):\n%s", diff)
	}
	for code, ok := range map[string]bool{"DE": true, "de": false, "UK": false, "GB": true, "XK": true, "": false, "DEU": false, "ZW": true, "AA": false} {
		if IsCountryCode(code) != ok {
			t.Errorf("IsCountryCode(%q) = %v", code, !ok)
		}
	}
	for name, members := range BuiltinRegions() {
		for _, c := range members {
			if !IsCountryCode(c) {
				t.Errorf("%s: %q", name, c)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, "fuzz.yml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, code := range c.HomeRegion {
			if !IsCountryCode(code) {
				t.Fatalf("home region %q", code)
			}
		}
		NewGroupMatcher(c.ClientGroups).Group(netip.MustParseAddr("10.0.0.1"))
	})
}
