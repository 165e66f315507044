package lpm

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// mostSpecific is the definition Lookup implements, by a scan: the value of
// the longest prefix containing a (the first listed among equal ones).
func mostSpecific(entries []Entry, a netip.Addr) (int32, bool) {
	a = a.Unmap()
	best, v := -1, int32(0)
	for _, e := range entries {
		p := Canonical(e.Prefix)
		if p.Contains(a) && p.Bits() > best {
			best, v = p.Bits(), e.Value
		}
	}
	return v, best >= 0
}

func TestLookupAgainstScan(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 200 {
		var entries []Entry
		for i := range 1 + r.IntN(60) {
			var p netip.Prefix
			switch r.IntN(8) {
			case 0: // anywhere in IPv4, the whole space included
				a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				p = netip.PrefixFrom(a, r.IntN(33)).Masked()
			case 1, 2, 3:
				a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
				p = netip.PrefixFrom(a, 8+r.IntN(25)).Masked()
			default:
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
				p = netip.PrefixFrom(a, 32+r.IntN(97)).Masked()
			}
			entries = append(entries, Entry{p, int32(i)})
		}
		tab := New(entries)
		for range 500 {
			var a netip.Addr
			switch r.IntN(8) {
			case 0: // the ends of the IPv4 space, and anywhere in it
				a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				if r.IntN(4) == 0 {
					a = netip.AddrFrom4([4]byte{})
				} else if r.IntN(4) == 0 {
					a = netip.AddrFrom4([4]byte{255, 255, 255, 255})
				}
			case 1, 2, 3:
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			default:
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
			}
			wv, wok := mostSpecific(entries, a)
			gv, gok := tab.Lookup(a)
			if gok != wok || (gok && gv != wv) {
				t.Fatalf("round %d: Lookup(%s) = %d %v, scan says %d %v", round, a, gv, gok, wv, wok)
			}
		}
	}
}

func TestLookupForms(t *testing.T) {
	tab := New([]Entry{
		{netip.MustParsePrefix("::ffff:192.0.2.0/120"), 1}, // an IPv4-mapped prefix is IPv4
		{netip.MustParsePrefix("198.51.100.77/24"), 2},     // host bits are masked
		{netip.MustParsePrefix("2001:db8::/32"), 3},
		{netip.MustParsePrefix("2001:db8::/32"), 4},   // the first value stays
		{netip.MustParsePrefix("203.0.113.0/24"), -1}, // negative values are ignored
		{netip.Prefix{}, 5},
	})
	for addr, want := range map[string]int32{
		"192.0.2.9": 1, "::ffff:192.0.2.9": 1, "198.51.100.1": 2, "2001:db8::1%eth0": 3, "203.0.113.1": -1, "8.8.8.8": -1,
	} {
		v, ok := tab.Lookup(netip.MustParseAddr(addr))
		if !ok {
			v = -1
		}
		if v != want {
			t.Errorf("Lookup(%s) = %d, want %d", addr, v, want)
		}
	}
	if _, ok := tab.Lookup(netip.Addr{}); ok {
		t.Error("the zero Addr matched")
	}
	a := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { tab.Lookup(a) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// TestIPv4Index: a table large enough for the /16 index answers as the
// plain binary search does, at random addresses, at every range's start
// and the address before it, and at the ends of the IPv4 space (a prefix
// at each end, so that the bound past 255.255.255.255 exists).
func TestIPv4Index(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	entries := []Entry{{netip.MustParsePrefix("0.0.0.0/8"), 0}, {netip.MustParsePrefix("255.255.255.0/24"), 1}}
	for i := range 20000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		entries = append(entries, Entry{netip.PrefixFrom(a, 8+r.IntN(25)).Masked(), int32(i + 2)})
	}
	tab := New(entries)
	if tab.v4.jump == nil {
		t.Fatalf("no index for %d ranges", len(tab.v4.ranges))
	}
	check := func(a netip.Addr) {
		b := a.As4()
		gv, gok := tab.v4.lookup4(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		wv, wok := tab.v4.lookup(a)
		if gv != wv || gok != wok {
			t.Fatalf("%s: index %d %v, search %d %v", a, gv, gok, wv, wok)
		}
	}
	for range 200000 {
		check(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}))
	}
	for _, s := range tab.v4.starts4 {
		check(netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}))
		s--
		check(netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}))
	}
	check(netip.MustParseAddr("0.0.0.0"))
	check(netip.MustParseAddr("255.255.255.255"))
	if v, ok := tab.Lookup(netip.MustParseAddr("255.255.255.255")); !ok || v != 1 {
		t.Errorf("255.255.255.255: %d %v, want 1", v, ok)
	}
	for i := range 2000 { // and the scan's definition, through Lookup
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(i)})
		gv, gok := tab.Lookup(a)
		wv, wok := mostSpecific(entries, a)
		if gv != wv || gok != wok {
			t.Fatalf("%s: %d %v, want %d %v", a, gv, gok, wv, wok)
		}
	}
}

// TestBinary: a table read back from its binary form answers as the
// table built, and broken forms are refused.
func TestBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	var entries []Entry
	for i := range 6000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
		entries = append(entries, Entry{netip.PrefixFrom(a, 8+r.IntN(17)).Masked(), int32(i)})
		a6 := netip.AddrFrom16([16]byte{0x20, 0x01, byte(r.IntN(256)), byte(r.IntN(256))})
		entries = append(entries, Entry{netip.PrefixFrom(a6, 16+r.IntN(17)).Masked(), int32(i)})
	}
	built := New(entries)
	b := built.AppendBinary([]byte("x"))[1:]
	got, rest, err := TableFromBinary(append(b, 7), 6000)
	if err != nil || len(rest) != 1 || rest[0] != 7 {
		t.Fatalf("%v, rest %v", err, rest)
	}
	if string(got.AppendBinary(nil)) != string(b) || got.v4.jump == nil {
		t.Fatal("the table read back differs, or has no IPv4 index")
	}
	for range 50000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		a6 := netip.AddrFrom16([16]byte{0x20, 0x01, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		for _, x := range []netip.Addr{a, a6} {
			gv, gok := got.Lookup(x)
			wv, wok := built.Lookup(x)
			if gv != wv || gok != wok {
				t.Fatalf("%s: %d %v, built %d %v", x, gv, gok, wv, wok)
			}
		}
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("lpm2"), b[4:]...),
		"truncated": b[:len(b)-3],
		"value":     b,
	} {
		if _, _, err := TableFromBinary(bad, 100); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	unsorted := append([]byte(nil), b...)
	copy(unsorted[8:28], b[28:48]) // the first range's start repeats the second's
	if _, _, err := TableFromBinary(unsorted, 6000); err == nil {
		t.Error("unsorted starts accepted")
	}
}
