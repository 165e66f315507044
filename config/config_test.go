package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExample(t *testing.T) {
	c, err := Load("testdata/example.yml")
	if err != nil {
		t.Fatal(err)
	}
	eu, _ := ExpandRegion([]string{"EU"}, nil)
	want := append(slices.Clone(eu), "CH")
	slices.Sort(want)
	if diff := cmp.Diff(want, c.HomeRegion); diff != "" {
		t.Errorf("home region (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[uint32]string{64500: "ExampleCloud", 64501: "OtherCloud"}, c.Providers); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
	if len(c.LocalNetworks) != len(DefaultLocalNetworks())+2 || len(c.ClientGroups) != 3 || len(c.Apps) != 1 {
		t.Errorf("parsed %+v", c)
	}
	m := NewGroupMatcher(c.ClientGroups)
	for addr, want := range map[string]string{"10.20.1.1": "government", "10.20.5.9": "government-lab", "fd00:30::5": "guests", "::ffff:10.30.0.1": "guests", "10.40.0.1": "default"} {
		if got := m.Group(netip.MustParseAddr(addr)); got != want {
			t.Errorf("group of %s: %s, want %s", addr, got, want)
		}
	}
	local := NewPrefixSet(c.LocalNetworks)
	for addr, want := range map[string]bool{"198.19.1.1": true, "10.0.0.1": true, "fe80::1": true, "2001:db8:100::1": true, "8.8.8.8": false, "2001:4860::1": false, "::ffff:192.168.1.1": true} {
		if got := local.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("local %s: %v", addr, got)
		}
	}
}

// TestBadConfigs: every broken configuration gives its file, line and problem.
func TestBadConfigs(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "home_region: [EU]\nhome_regoin: [US]\n", "bad.yml:2: field home_regoin not found in type config.file"},
		{"bad prefix", "client_groups:\n  - name: lab\n    prefixes:\n      - 10.0.0.0/8\n      - 192.168.1.0/33\n", `bad.yml:5: client_groups[0].prefixes[1]: "192.168.1.0/33" is not a valid prefix`},
		{"host bits", "local_networks: [10.1.2.3/8]\n", `bad.yml:1: local_networks[0]: "10.1.2.3/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"unknown region", "home_region: [EU, ATLANTIS]\n", `bad.yml:1: home_region: unknown region "ATLANTIS" (built-in: CHINA, EEA, EFTA, EU, FIVE_EYES; or define it under regions:)`},
		{"bad code", "home_region: [QQ]\n", `bad.yml:1: home_region: "QQ" is not an ISO 3166-1 alpha-2 country code nor a region name`},
		{"duplicate group", "client_groups:\n  - name: a\n    prefixes: [10.0.0.0/8]\n  - name: a\n    prefixes: [10.1.0.0/16]\n", `bad.yml:4: client_groups[1].name: "a" is defined twice`},
		{"bad group name", "client_groups:\n  - name: Big Office\n    prefixes: [10.0.0.0/8]\n", `bad.yml:2: client_groups[0].name: "Big Office" must match [a-z0-9][a-z0-9_-]* and not be "default" or "other"`},
		{"empty group", "client_groups:\n  - name: a\n", `bad.yml:2: client_groups[0] (a): no prefixes`},
		{"bad asn", "providers:\n  cloud: X\n", `bad.yml:2: providers: "cloud" is not an AS number`},
		{"region cycle", "regions:\n  A1: [B1]\n  B1: [A1]\n", `region "A1" includes itself (A1 -> B1 -> A1)`},
		{"bad app", "apps:\n  - id: Intranet\n    domains: [x.example]\n", `bad.yml:2: apps[0]: app id "Intranet": must match [a-z0-9][a-z0-9_-]* and not be "unknown" or "other"`},
		{"app clash", "apps:\n  - id: mytok\n    domains: [tiktok.com]\n", `bad.yml:1: apps: app "mytok": domain "tiktok.com" already belongs to app "tiktok"`},
		{"not yaml", "home_region: [EU\n", "bad.yml:1: did not find expected ',' or ']'"},
		{"wrong type", "home_region: EU\n", "bad.yml:1: cannot unmarshal !!str `EU` into []string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "bad.yml")
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); !strings.Contains(got, c.want) {
				t.Errorf("error\n  %s\nwant\n  %s", got, c.want)
			}
		})
	}
}

func TestExpandRegion(t *testing.T) {
	got, err := ExpandRegion([]string{"fvey", "China", "de"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"AU", "CA", "CN", "DE", "GB", "HK", "MO", "NZ", "US"}, got); diff != "" {
		t.Error(diff)
	}
	eea, _ := ExpandRegion([]string{"EEA"}, nil)
	eu, _ := ExpandRegion([]string{"EU"}, nil)
	if len(eu) != 27 || len(eea) != 30 {
		t.Errorf("EU %d EEA %d", len(eu), len(eea))
	}
}

func TestEmptyAndMissing(t *testing.T) {
	c, err := Parse(nil, "empty.yml")
	if err != nil || len(c.LocalNetworks) == 0 {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yml")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func BenchmarkGroupMatcher(b *testing.B) {
	c, _ := Load("testdata/example.yml")
	m := NewGroupMatcher(c.ClientGroups)
	a := netip.MustParseAddr("10.20.5.9")
	b.ReportAllocs()
	for b.Loop() {
		m.Group(a)
	}
}
