package place

import (
	"net/netip"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
)

// frankfurt is the site of the acceptance tests: 50.11 N, 8.68 E.
const frankfurtLat, frankfurtLon = 50.11, 8.68

func euPolicy(t testing.TB, site bool) *Policy {
	t.Helper()
	eu, err := config.ExpandRegion([]string{"EU"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, eu...)
	if site {
		if p.Site, err = NewSite(frankfurtLat, frankfurtLon, p.Home); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestPlaceRTT places a remote server from the embedded country outlines,
// the EU as home region and the site in Frankfurt: every row says which
// country, region and basis a round trip leaves.
func TestPlaceRTT(t *testing.T) {
	withSite, noSite := euPolicy(t, true), euPolicy(t, false)
	cloudflare := geo.Info{Country: "US", ASN: 13335, Provider: "Cloudflare", Range: &geo.Range{Provider: "Cloudflare", Anycast: true}}
	oracleFra := geo.Info{Country: "US", ASN: 31898, Provider: "Oracle", Range: &geo.Range{Provider: "Oracle", Region: "eu-frankfurt-1", Country: "DE"}}
	jp := geo.Info{Country: "JP", ASN: 2497, Provider: geo.ProviderOther}
	ch := geo.Info{Country: "CH", ASN: 3303, Provider: geo.ProviderOther}
	for _, tc := range []struct {
		name    string
		pol     *Policy
		geo     geo.Info
		rtt     time.Duration
		country string
		region  Region
		basis   Basis
	}{
		{"no RTT: the database", withSite, usGoogle, 0, "US", Abroad, BasisDatabase},
		{"no site: an RTT decides nothing", noSite, usGoogle, time.Millisecond, "US", Abroad, BasisDatabase},
		{"1 ms from Frankfurt rules out the US: the nearest country, home by the disc", withSite, usGoogle, time.Millisecond, "DE", Home, BasisContradicted},
		{"5 ms rules out JP; CH is within reach, so the region is unknown", withSite, jp, 5 * time.Millisecond, "DE", RegionUnknown, BasisContradicted},
		{"2 ms confirms DE and proves home (reach 225 km: no non-EU country)", withSite, deHetzner, 2 * time.Millisecond, "DE", Home, BasisRTT},
		{"5 ms: DE allowed, but CH is within reach: region from the database", withSite, deHetzner, 5 * time.Millisecond, "DE", Home, BasisDatabase},
		{"40 ms still rules out the US, the disc is mixed: region unknown", withSite, usGoogle, 40 * time.Millisecond, "DE", RegionUnknown, BasisContradicted},
		{"40 ms: CH allowed, the database stands", withSite, ch, 40 * time.Millisecond, "CH", Abroad, BasisDatabase},
		{"80 ms allows the US: the database stands", withSite, usGoogle, 80 * time.Millisecond, "US", Abroad, BasisDatabase},
		{"300 ms allows JP", withSite, jp, 300 * time.Millisecond, "JP", Abroad, BasisDatabase},
		{"anycast without RTT: no country", withSite, cloudflare, 0, CountryUnknown, RegionUnknown, BasisAnycast},
		{"anycast 1 ms away: home by RTT, the site's country", withSite, cloudflare, time.Millisecond, "DE", Home, BasisRTT},
		{"anycast 80 ms away: nothing decided", withSite, cloudflare, 80 * time.Millisecond, CountryUnknown, RegionUnknown, BasisAnycast},
		{"a published cloud region beats the database", withSite, oracleFra, 0, "DE", Home, BasisDatabase},
		{"a published cloud region confirmed by 1 ms", withSite, oracleFra, time.Millisecond, "DE", Home, BasisRTT},
		{"unknown country, 1 ms: home by RTT", withSite, nowhere, time.Millisecond, CountryUnknown, Home, BasisRTT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}, RTT: tc.rtt}
			pl := Place(tc.pol, &f, &tc.geo)
			if pl.Country != tc.country || pl.Region != tc.region || pl.Basis != tc.basis {
				t.Errorf("got %s %s %s, want %s %s %s", pl.Country, pl.Region, pl.Basis, tc.country, tc.region, tc.basis)
			}
		})
	}
}

func TestSiteReachFromFrankfurt(t *testing.T) {
	s := euPolicy(t, true).Site
	if s.Nearest != "DE" {
		t.Errorf("nearest country %s, want DE", s.Nearest)
	}
	for _, tc := range []struct {
		rtt     time.Duration
		country string
		out     bool
	}{
		{5 * time.Millisecond, "US", true}, {5 * time.Millisecond, "DE", false}, {5 * time.Millisecond, "FR", false}, {5 * time.Millisecond, "NL", false},
		{40 * time.Millisecond, "US", true}, {70 * time.Millisecond, "US", false},
	} {
		if got := s.ruledOut(tc.country, Reach(tc.rtt)); got != tc.out {
			t.Errorf("%v: %s ruled out %v, want %v", tc.rtt, tc.country, got, tc.out)
		}
	}
	if s.ruledOut("XX", 0) {
		t.Error("a country the outlines lack was ruled out")
	}
}

func BenchmarkPlaceRTT(b *testing.B) {
	p := euPolicy(b, true)
	f := Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}, RTT: 3 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		Place(p, &f, &usGoogle)
	}
}
