package config

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/borderwatch/borderwatch/lpm"
)

func TestLocalSetDefaults(t *testing.T) {
	s := lpm.NewSet(DefaultLocalNetworks())
	for addr, want := range map[string]bool{
		"10.0.0.1": true, "10.255.255.255": true, "11.0.0.0": false, "172.16.0.1": true, "172.31.255.255": true,
		"172.32.0.0": false, "192.168.1.1": true, "192.169.0.0": false, "100.64.0.1": true, "100.127.255.255": true,
		"100.128.0.0": false, "127.0.0.1": true, "169.254.10.1": true, "8.8.8.8": false,
		"::1": true, "::2": false, "fd00::1": true, "fc00::1": true, "fe80::1": true, "fe80::1%eth0": true,
		"febf::1": true, "fec0::1": false, "2001:4860::8888": false,
		"::ffff:192.168.1.1": true, "::ffff:8.8.8.8": false, "64:ff9b::808:808": false,
	} {
		if got := s.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the zero Addr is local")
	}
	if lpm.NewSet(nil).Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Error("empty set contains 10.0.0.1")
	}
	// An IPv4-mapped prefix is an IPv4 prefix.
	if !lpm.NewSet(prefixes("::ffff:10.0.0.0/104")).Contains(netip.MustParseAddr("10.1.2.3")) {
		t.Error("::ffff:10.0.0.0/104 does not contain 10.1.2.3")
	}
}

func TestGroupMatcher(t *testing.T) {
	m := NewGroupMatcher([]ClientGroup{
		{Name: "government", Prefixes: prefixes("10.20.0.0/16", "2001:db8:20::/48")},
		{Name: "guests", Prefixes: prefixes("10.30.0.0/16", "fd00:30::/64")},
		{Name: "government-lab", Prefixes: prefixes("10.20.5.0/24", "2001:db8:20:5::/64")},
		{Name: "printer", Prefixes: prefixes("10.20.5.7/32")},
		{Name: "site", Prefixes: prefixes("10.0.0.0/8")},
	})
	for addr, want := range map[string]string{
		"10.20.1.1": "government", "10.20.5.9": "government-lab", "10.20.5.7": "printer", "10.20.6.0": "government",
		"10.30.0.1": "guests", "10.40.0.1": "site", "192.168.1.1": "default",
		"2001:db8:20::1": "government", "2001:db8:20:5::1": "government-lab", "2001:db8:21::1": "default",
		"fd00:30::5": "guests", "fd00:31::5": "default",
		"::ffff:10.30.0.1": "guests", "::ffff:10.20.5.7": "printer", "::a14:507": "default",
	} {
		if got := m.Group(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Group(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := m.Group(netip.Addr{}); got != DefaultGroup {
		t.Errorf("zero Addr: %q", got)
	}
	if got := NewGroupMatcher(nil).Group(netip.MustParseAddr("10.0.0.1")); got != DefaultGroup {
		t.Errorf("no groups: %q", got)
	}
	want := []string{"default", "government", "government-lab", "guests", "printer", "site"}
	if got := m.Groups(); len(got) != len(want) || got[0] != want[0] || got[5] != want[5] {
		t.Errorf("Groups() = %v", got)
	}
}

// randomGroups makes n groups of random prefixes of mixed lengths inside
// 10.0.0.0/8 and 2001:db8::/32.
func randomGroups(r *rand.Rand, n int) []ClientGroup {
	var gs []ClientGroup
	for i := range n {
		g := ClientGroup{Name: string(rune('a'+i%26)) + string(rune('a'+i/26))}
		for range 3 {
			a4 := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			p4, _ := a4.Prefix(8 + r.IntN(25))
			var b [16]byte
			b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256))
			p6, _ := netip.AddrFrom16(b).Prefix(32 + r.IntN(33))
			g.Prefixes = append(g.Prefixes, p4, p6)
		}
		gs = append(gs, g)
	}
	return gs
}

// TestMatchersAgainstScan: on random prefix sets large enough to use the
// hashed tables, both matchers agree with a plain scan for the most
// specific prefix (first group wins a tie, as NewGroupMatcher documents).
func TestMatchersAgainstScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 40} {
		groups := randomGroups(r, n)
		m := NewGroupMatcher(groups)
		var all []netip.Prefix
		for _, g := range groups {
			all = append(all, g.Prefixes...)
		}
		s := lpm.NewSet(all)
		for range 20000 {
			var a netip.Addr
			if r.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[2], b[3], b[4], b[5], b[15] = 0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))
				a = netip.AddrFrom16(b)
			}
			want, bits, in := DefaultGroup, -1, false
			for _, g := range groups {
				for _, p := range g.Prefixes {
					if p.Contains(a) {
						in = true
						if p.Bits() > bits {
							want, bits = g.Name, p.Bits()
						}
					}
				}
			}
			if got := m.Group(a); got != want {
				t.Fatalf("%d groups: Group(%s) = %q, scan says %q", n, a, got, want)
			}
			if got := s.Contains(a); got != in {
				t.Fatalf("%d prefixes: Contains(%s) = %v, scan says %v", len(all), a, got, in)
			}
		}
	}
}

func TestMatchersDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	groups := randomGroups(r, 40)
	m := NewGroupMatcher(groups)
	s := lpm.NewSet(DefaultLocalNetworks())
	for _, a := range []string{"10.1.2.3", "2001:db8:1::1", "::ffff:10.1.2.3", "fe80::1%eth0", "8.8.8.8"} {
		addr := netip.MustParseAddr(a)
		if n := testing.AllocsPerRun(100, func() { m.Group(addr); s.Contains(addr) }); n != 0 {
			t.Errorf("%s: %v allocations", a, n)
		}
	}
}

func BenchmarkContains(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	var many []netip.Prefix
	for _, g := range randomGroups(r, 40) {
		many = append(many, g.Prefixes...)
	}
	for _, bc := range []struct {
		desc string
		set  *lpm.Set
		addr string
	}{
		{"defaults-v4-remote", lpm.NewSet(DefaultLocalNetworks()), "8.8.8.8"},
		{"defaults-v4-local", lpm.NewSet(DefaultLocalNetworks()), "192.168.1.10"},
		{"defaults-v6-remote", lpm.NewSet(DefaultLocalNetworks()), "2001:4860::8888"},
		{"240-prefixes-v4", lpm.NewSet(many), "10.2.3.4"},
		{"240-prefixes-v6", lpm.NewSet(many), "2001:db8:2::1"},
	} {
		a := netip.MustParseAddr(bc.addr)
		b.Run(bc.desc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.set.Contains(a)
			}
		})
	}
}

func BenchmarkGroup(b *testing.B) {
	c, err := Load("testdata/example.yml")
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, bc := range []struct {
		desc string
		m    *GroupMatcher
		addr string
	}{
		{"example-most-specific", NewGroupMatcher(c.ClientGroups), "10.20.5.9"},
		{"example-default", NewGroupMatcher(c.ClientGroups), "192.168.1.1"},
		{"120-groups-v4", NewGroupMatcher(randomGroups(r, 40)), "10.2.3.4"},
		{"120-groups-v6", NewGroupMatcher(randomGroups(r, 40)), "2001:db8:2::1"},
	} {
		a := netip.MustParseAddr(bc.addr)
		b.Run(bc.desc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.m.Group(a)
			}
		})
	}
}

// TestMatcherEdges: whole-space and last-address prefixes.
func TestMatcherEdges(t *testing.T) {
	m := NewGroupMatcher([]ClientGroup{
		{Name: "all", Prefixes: prefixes("0.0.0.0/0", "::/0")},
		{Name: "top", Prefixes: prefixes("255.255.255.255/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff::/16")},
		{Name: "zero", Prefixes: prefixes("0.0.0.0/32", "::/128")},
	})
	for addr, want := range map[string]string{
		"0.0.0.0": "zero", "0.0.0.1": "all", "1.2.3.4": "all", "255.255.255.254": "all", "255.255.255.255": "top",
		"::": "zero", "::1": "all", "fffe::1": "all", "ffff::1": "top", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "top",
	} {
		if got := m.Group(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Group(%s) = %q, want %q", addr, got, want)
		}
	}
}
