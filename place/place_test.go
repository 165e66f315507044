package place

import (
	"net/netip"
	"testing"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/google/go-cmp/cmp"
)

var (
	client   = netip.MustParseAddr("192.168.1.10")  // in group "staff"
	official = netip.MustParseAddr("192.168.9.1")   // in group "government"
	other    = netip.MustParseAddr("10.0.0.1")      // no group
	server   = netip.MustParseAddr("203.0.113.5")   // remote
	server6  = netip.MustParseAddr("2001:db8::443") // remote
	peer     = netip.MustParseAddr("198.51.100.7")  // remote
)

func testPolicy(t testing.TB, home ...string) *Policy {
	t.Helper()
	cat, err := apps.Default()
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Apps: cat, Home: map[string]bool{}, Groups: config.NewGroupMatcher([]config.ClientGroup{
		{Name: "staff", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}},
		{Name: "government", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.9.0/24")}},
	})}
	for _, c := range home {
		p.Home[c] = true
	}
	return p
}

var (
	usGoogle  = geo.Info{Country: "US", ASN: 15169, Org: "Google LLC", Provider: "Google"}
	deHetzner = geo.Info{Country: "DE", ASN: 24940, Org: "Hetzner Online GmbH", Provider: "Hetzner"}
	nowhere   = geo.Info{Provider: geo.ProviderUnknown}
)

func TestPlace(t *testing.T) {
	eu := testPolicy(t, "DE", "FR", "NL")
	none := testPolicy(t)
	for _, tc := range []struct {
		name string
		pol  *Policy
		flow Flow
		geo  geo.Info
		want Placement
	}{{
		name: "local A opens to remote B: B is remote, A's packets are egress",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}, Initiator: 0, Name: "www.tiktok.com"},
		geo:  usGoogle,
		want: Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: "US", Provider: "Google", OperatorCountry: "US", App: "tiktok", Region: Abroad, Group: "staff", ASN: 15169},
	}, {
		name: "remote A opens to local B (inbound): A is remote, B's packets are egress",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{server, client}, Local: [2]bool{false, true}, Initiator: 0},
		geo:  deHetzner,
		want: Placement{Remote: 0, Dir: [2]Direction{Ingress, Egress}, Country: "DE", Provider: "Hetzner", OperatorCountry: "DE", App: apps.Unknown, Region: Home, Group: "staff", ASN: 24940},
	}, {
		name: "the local side decides, not the initiator: local B answers, A is still remote",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{server6, official}, Local: [2]bool{false, true}, Initiator: 1},
		geo:  usGoogle,
		want: Placement{Remote: 0, Dir: [2]Direction{Ingress, Egress}, Country: "US", Provider: "Google", OperatorCountry: "US", App: "google", Region: Abroad, Group: "government", ASN: 15169},
	}, {
		name: "transit: the responder is remote, both sides transit, default group",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{server, peer}, Initiator: 1, Name: "www.tiktok.com"},
		geo:  deHetzner,
		want: Placement{Remote: 0, Dir: [2]Direction{Transit, Transit}, Country: "DE", Provider: "Hetzner", OperatorCountry: "DE", App: "tiktok", Region: Home, Group: config.DefaultGroup, ASN: 24940},
	}, {
		name: "transit opened by A: B is remote",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{server, peer}, Initiator: 0},
		geo:  usGoogle,
		want: Placement{Remote: 1, Dir: [2]Direction{Transit, Transit}, Country: "US", Provider: "Google", OperatorCountry: "US", App: "google", Region: Abroad, Group: config.DefaultGroup, ASN: 15169},
	}, {
		name: "internal: directions only",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{other, client}, Local: [2]bool{true, true}, Initiator: 0, Name: "www.tiktok.com"},
		geo:  deHetzner,
		want: Placement{Remote: 1, Dir: [2]Direction{Internal, Internal}},
	}, {
		name: "unknown country: region unknown, provider unknown, app unknown",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{other, server}, Local: [2]bool{true, false}},
		geo:  nowhere,
		want: Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: CountryUnknown, Provider: geo.ProviderUnknown, OperatorCountry: "unknown", App: apps.Unknown, Region: RegionUnknown, Group: config.DefaultGroup},
	}, {
		name: "empty provider from a bare database record is unknown",
		pol:  eu,
		flow: Flow{Addr: [2]netip.Addr{other, server}, Local: [2]bool{true, false}},
		geo:  geo.Info{Country: "FR"},
		want: Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: "FR", Provider: geo.ProviderUnknown, OperatorCountry: "unknown", App: apps.Unknown, Region: Home, Group: config.DefaultGroup},
	}, {
		name: "no home region: every region unknown",
		pol:  none,
		flow: Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}},
		geo:  usGoogle,
		want: Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: "US", Provider: "Google", OperatorCountry: "US", App: "google", Region: RegionUnknown, Group: "staff", ASN: 15169},
	}, {
		name: "no group matcher: default group",
		pol:  &Policy{Apps: eu.Apps, Home: eu.Home},
		flow: Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}},
		geo:  deHetzner,
		want: Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: "DE", Provider: "Hetzner", OperatorCountry: "DE", App: apps.Unknown, Region: Home, Group: config.DefaultGroup, ASN: 24940},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := Place(tc.pol, &tc.flow, &tc.geo)
			if d := cmp.Diff(got, tc.want); d != "" {
				t.Errorf("(-got +want)\n%s", d)
			}
		})
	}
}

// TestPlaceReload: the same facts placed under a reloaded policy (another
// home region, other client groups, an app added) give the new policy's
// labels; the old policy is untouched.
func TestPlaceReload(t *testing.T) {
	old := testPolicy(t, "DE")
	base, err := apps.DefaultApps()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := apps.New(base, []apps.App{{ID: "example", Name: "Example", Domains: []string{"example.net"}}})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := &Policy{Apps: cat, Home: map[string]bool{"US": true}, Groups: config.NewGroupMatcher([]config.ClientGroup{
		{Name: "lab", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/28")}},
	})}
	f := Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}, Name: "cdn.example.net"}
	g := usGoogle
	before := Place(old, &f, &g)
	after := Place(reloaded, &f, &g)
	again := Place(old, &f, &g)
	want := func(region Region, group, app string) Placement {
		return Placement{Remote: 1, Dir: [2]Direction{Egress, Ingress}, Country: "US", Provider: "Google", OperatorCountry: "US", App: app, Region: region, Group: group, ASN: 15169}
	}
	if d := cmp.Diff(before, want(Abroad, "staff", apps.Unknown)); d != "" {
		t.Errorf("old policy (-got +want)\n%s", d)
	}
	if d := cmp.Diff(after, want(Home, "lab", "example")); d != "" {
		t.Errorf("reloaded policy (-got +want)\n%s", d)
	}
	if d := cmp.Diff(again, before); d != "" {
		t.Errorf("old policy after the reload (-got +want)\n%s", d)
	}
}

func TestRegionOf(t *testing.T) {
	p := testPolicy(t, "DE", "CH")
	for country, want := range map[string]Region{"DE": Home, "CH": Home, "US": Abroad, "": RegionUnknown, CountryUnknown: RegionUnknown} {
		if got := p.RegionOf(country); got != want {
			t.Errorf("RegionOf(%q) = %v, want %v", country, got, want)
		}
	}
	if got := testPolicy(t).RegionOf("DE"); got != RegionUnknown {
		t.Errorf("without a home region: %v", got)
	}
}

func TestLabelValues(t *testing.T) {
	for d, want := range map[Direction]string{DirectionUnknown: "unknown", Egress: "egress", Ingress: "ingress", Transit: "transit", Internal: "internal", 99: "unknown"} {
		if d.String() != want {
			t.Errorf("Direction(%d) = %q, want %q", d, d.String(), want)
		}
	}
	for r, want := range map[Region]string{RegionUnknown: "unknown", Home: "home", Abroad: "abroad", 99: "unknown"} {
		if r.String() != want {
			t.Errorf("Region(%d) = %q, want %q", r, r.String(), want)
		}
	}
}

func TestPlaceDoesNotAllocate(t *testing.T) {
	p := testPolicy(t, "DE")
	f := Flow{Addr: [2]netip.Addr{client, server6}, Local: [2]bool{true, false}, Name: "www.TikTok.com"}
	g := usGoogle
	if n := testing.AllocsPerRun(1000, func() { _ = Place(p, &f, &g) }); n != 0 {
		t.Errorf("Place allocates %.1f times", n)
	}
}

// BenchmarkPlace: one placement of a named egress flow (a client group
// lookup, a catalog match, the region rule).
func BenchmarkPlace(b *testing.B) {
	p := testPolicy(b, "DE", "FR", "NL")
	f := Flow{Addr: [2]netip.Addr{client, server}, Local: [2]bool{true, false}, Name: "v16-webapp.tiktok.com"}
	g := usGoogle
	b.ReportAllocs()
	for b.Loop() {
		_ = Place(p, &f, &g)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/placement")
}
