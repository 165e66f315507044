package pipeline

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/place"
	"github.com/google/go-cmp/cmp"
)

func regionOf(p *Policy, country string) place.Region {
	pp := p.Placement()
	return pp.RegionOf(country)
}

func TestNewPolicy(t *testing.T) {
	file, err := config.Parse([]byte(`home_region: [CH]
regions:
  nordics: [SE, NO, FI, DK, IS]
local_networks: [198.51.100.0/24]
client_groups:
  - name: lab
    prefixes: [192.168.1.0/24]
providers:
  "15169": Example Cloud
apps:
  - id: intranet
    domains: [intranet.example]
`), "bw.yml")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr
	for _, c := range []struct {
		name     string
		cfg      *config.Config
		ov       PolicyOverrides
		home     []string
		local    []string // addresses that must be local
		notLocal []string
	}{
		{name: "defaults", cfg: config.Default(), home: nil,
			local: []string{"10.1.2.3", "192.168.7.7", "fe80::1"}, notLocal: []string{"8.8.8.8", "198.51.100.1"}},
		{name: "file", cfg: file, home: []string{"CH"},
			local: []string{"10.1.2.3", "198.51.100.77"}, notLocal: []string{"203.0.113.1"}},
		{name: "home override replaces the file's", cfg: file, ov: PolicyOverrides{HomeRegion: []string{"US", "ca"}}, home: []string{"CA", "US"}},
		{name: "home override with the file's region", cfg: file, ov: PolicyOverrides{HomeRegion: []string{"Nordics,CH"}}, home: []string{"CH", "DK", "FI", "IS", "NO", "SE"}},
		{name: "local override adds, masked", cfg: file, ov: PolicyOverrides{LocalNetworks: []netip.Prefix{netip.MustParsePrefix("203.0.113.9/24"), netip.MustParsePrefix("2001:db8::1/128")}},
			home: []string{"CH"}, local: []string{"198.51.100.1", "203.0.113.200", "2001:db8::1"}, notLocal: []string{"2001:db8::2", "192.0.2.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pol, err := NewPolicy(c.cfg, c.ov, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pol.Geo.Close()
			if diff := cmp.Diff(c.home, pol.HomeRegion); diff != "" {
				t.Errorf("home region (-want +got):\n%s", diff)
			}
			if len(pol.Home) != len(c.home) {
				t.Errorf("home set %v, list %v", pol.Home, c.home)
			}
			for _, h := range c.home {
				if !pol.Home[h] || regionOf(pol, h) != place.Home {
					t.Errorf("%s: not home (%v)", h, pol.Home)
				}
			}
			for _, a := range c.local {
				if !pol.isLocal(addr(a)) {
					t.Errorf("%s: not local", a)
				}
			}
			for _, a := range c.notLocal {
				if pol.isLocal(addr(a)) {
					t.Errorf("%s: local", a)
				}
			}
		})
	}

	t.Run("groups, providers and apps of the file", func(t *testing.T) {
		pol, err := NewPolicy(file, PolicyOverrides{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer pol.Geo.Close()
		if g := pol.Groups.Group(addr("192.168.1.20")); g != "lab" {
			t.Errorf("group %q", g)
		}
		if g := pol.Groups.Group(addr("192.168.2.20")); g != config.DefaultGroup {
			t.Errorf("group %q", g)
		}
		if p := pol.Geo.Lookup(addr("8.8.8.8")).Provider; p != "Example Cloud" {
			t.Errorf("provider of AS15169: %q", p)
		}
		if a := pol.Apps.Classify("www.intranet.example", 0); a != "intranet" {
			t.Errorf("app %q", a)
		}
		if a := pol.Apps.Classify("www.tiktok.com", 0); a != "tiktok" {
			t.Errorf("built-in app %q", a)
		}
	})

	t.Run("a given resolver is kept, not reopened", func(t *testing.T) {
		res, err := geo.Open(geo.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		ov := PolicyOverrides{Geo: geo.Config{CountryDB: filepath.Join(t.TempDir(), "missing.mmdb")}}
		pol, err := NewPolicy(file, ov, res)
		if err != nil {
			t.Fatal(err)
		}
		if pol.Geo != res {
			t.Error("resolver replaced")
		}
	})

	for _, c := range []struct {
		name string
		cfg  *config.Config
		ov   PolicyOverrides
		want string
	}{
		{"unknown home region", file, PolicyOverrides{HomeRegion: []string{"EU,ATLANTIS"}}, `unknown region "ATLANTIS"`},
		{"not a country", file, PolicyOverrides{HomeRegion: []string{"UK"}}, `"UK" is not an ISO 3166-1 alpha-2 country code (did you mean GB?)`},
		{"missing database", file, PolicyOverrides{Geo: geo.Config{CountryDB: "/nonexistent/country.mmdb"}}, "/nonexistent/country.mmdb"},
		{"cache too large", file, PolicyOverrides{Geo: geo.Config{CacheSize: geo.MaxCacheSize + 1}}, "geo cache size"},
		{"bad app", &config.Config{Apps: []apps.App{{ID: "Bad ID", Domains: []string{"x.example"}}}}, PolicyOverrides{}, "Bad ID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pol, err := NewPolicy(c.cfg, c.ov, nil)
			if err == nil {
				pol.Geo.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}
