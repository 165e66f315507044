package geo

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// TestV4Index: the IPv4 index finds the record maxminddb's Lookup finds,
// for random addresses and the edges of every /16, on the embedded
// databases and on written IPv4 and IPv6 databases of each record size.
func TestV4Index(t *testing.T) {
	dbs := map[string][]byte{"embedded country": embeddedCountry, "embedded asn": embeddedASN}
	for _, size := range []int{24, 28, 32} {
		for _, ipv := range []int{4, 6} {
			dbs["written "+string(rune('0'+ipv))+"/"+string(rune('0'+size/10))+string(rune('0'+size%10))] = writeRandomDB(t, ipv, size)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for name, data := range dbs {
		t.Run(name, func(t *testing.T) {
			r, err := maxminddb.OpenBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			x := newV4Index(r, data)
			if x == nil {
				t.Fatalf("no index (record size %d, %d nodes)", r.Metadata.RecordSize, r.Metadata.NodeCount)
			}
			var seen [2]int
			check := func(a netip.Addr) {
				res := r.Lookup(a)
				seen[b2i(res.Found())]++
				off, found := x.offset(a)
				if found != res.Found() || (found && off != res.Offset()) {
					t.Fatalf("%s: index %d %v, maxminddb %d %v (%v)", a, off, found, res.Offset(), res.Found(), res.Err())
				}
			}
			for range 200000 {
				check(netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())}))
			}
			for hi := range 1 << 16 {
				check(netip.AddrFrom4([4]byte{byte(hi >> 8), byte(hi), 0, 0}))
				check(netip.AddrFrom4([4]byte{byte(hi >> 8), byte(hi), 255, 255}))
			}
			if seen[0] == 0 || seen[1] < 10000 {
				t.Fatalf("addresses without a record %d, with one %d: the comparison proves little", seen[0], seen[1])
			}
		})
	}
}

// writeRandomDB writes a database of 6,000 random IPv4 networks (/8 to
// /32, some nested) of ASN records.
func writeRandomDB(t *testing.T, ipVersion, recordSize int) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IPVersion: ipVersion, RecordSize: recordSize, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(uint64(ipVersion), uint64(recordSize)))
	for i := range 6000 {
		bits := 8 + rnd.IntN(25)
		ip := net.IPv4(byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())).To4()
		n := &net.IPNet{IP: ip.Mask(net.CIDRMask(bits, 32)), Mask: net.CIDRMask(bits, 32)}
		rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(i + 1), "autonomous_system_organization": mmdbtype.String("org")}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCacheGrows: a cache starts small and doubles as it takes new
// addresses, up to its size, keeping what it holds and answering as the
// resolver does throughout.
func TestCacheGrows(t *testing.T) {
	r := embedded(t)
	c := r.NewCache()
	if c.Len() != initialSets*cacheWays {
		t.Fatalf("starts at %d slots", c.Len())
	}
	addrs := benchAddrs(1 << 17)
	for i, a := range addrs {
		// Each address twice: new addresses, but a cache that hits (one
		// that never does is bypassed, TestCacheBypass).
		for range 2 {
			if got, want := c.Lookup(a), r.Lookup(a); got != want {
				t.Fatalf("lookup %d, %s: %+v, resolver %+v", i, a, got, want)
			}
		}
	}
	if c.Len() != 65536 {
		t.Errorf("%d slots after %d addresses, want 65536", c.Len(), len(addrs))
	}
	hits0 := c.hits.Load()
	for _, a := range addrs[len(addrs)-1000:] {
		c.Lookup(a)
	}
	if c.hits.Load()-hits0 < 900 {
		t.Errorf("%d hits of the last 1000 addresses again", c.hits.Load()-hits0)
	}
}

// TestPrebuiltV4Index: the embedded databases' prebuilt indexes are the
// indexes built from them, and are used for them only.
func TestPrebuiltV4Index(t *testing.T) {
	for _, c := range []struct {
		file      string
		db, index []byte
	}{{"data/country.v4index", embeddedCountry, embeddedCountryV4}, {"data/asn.v4index", embeddedASN, embeddedASNV4}} {
		r, err := maxminddb.OpenBytes(c.db)
		if err != nil {
			t.Fatal(err)
		}
		x := newV4Index(r, c.db)
		built := x.build()
		want := encodeV4Index(built, len(c.db), x.nodeCount)
		if os.Getenv("BORDERWATCH_UPDATE_PREBUILT") == "1" {
			if err := os.WriteFile(c.file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", c.file, len(want))
			continue
		}
		if !bytes.Equal(c.index, want) {
			t.Fatalf("%s is not the index built from its database: run BORDERWATCH_UPDATE_PREBUILT=1 go test ./geo -run TestPrebuilt", c.file)
		}
		got := prebuiltV4Index(c.db, x.nodeCount)
		if got == nil || !slices.Equal(got, built) {
			t.Fatalf("%s: not used for its database, or decoded wrong", c.file)
		}
		// A copy of the same bytes is not the embedded database: its
		// index is built.
		if prebuiltV4Index(bytes.Clone(c.db), x.nodeCount) != nil {
			t.Fatalf("%s: used for a database that is not the embedded one", c.file)
		}
		if _, ok := decodeV4Index(c.index, len(c.db)+1, x.nodeCount); ok {
			t.Fatalf("%s: accepted for a database of another size", c.file)
		}
		if _, ok := decodeV4Index(c.index[:len(c.index)-1], len(c.db), x.nodeCount); ok {
			t.Fatalf("%s: accepted truncated", c.file)
		}
	}
}

// TestCacheBypass: a cache that does not hit (every address new, as in a
// flood) is bypassed from the next window on and stops growing, with the
// same answers; once addresses recur it is used again.
func TestCacheBypass(t *testing.T) {
	r := embedded(t)
	c := r.NewCache()
	addrs := benchAddrs(4 * bypassWindow)
	for i, a := range addrs {
		if got, want := c.Lookup(a), r.Lookup(a); got != want {
			t.Fatalf("lookup %d, %s: %+v, resolver %+v", i, a, got, want)
		}
	}
	if !c.bypass {
		t.Fatalf("not bypassed after %d new addresses (%d hits)", len(addrs), c.hits.Load())
	}
	if c.Len() > 2*initialSets*cacheWays {
		t.Errorf("grew to %d slots while bypassed", c.Len())
	}
	recurring := addrs[:100]
	hits0 := c.hits.Load()
	for i := range 3 * bypassWindow {
		a := recurring[i%len(recurring)]
		if got, want := c.Lookup(a), r.Lookup(a); got != want {
			t.Fatalf("recurring %s: %+v, resolver %+v", a, got, want)
		}
	}
	if c.bypass {
		t.Fatal("still bypassed while 100 addresses recur")
	}
	if hits := c.hits.Load() - hits0; hits < bypassWindow {
		t.Errorf("%d hits of %d lookups of 100 recurring addresses", hits, 3*bypassWindow)
	}
}

// TestWalk2: walking two trees in one loop finds what walking each finds,
// for pairs of trees of different depths and record sizes (the embedded
// databases, written ones), the same tree twice included.
func TestWalk2(t *testing.T) {
	index := func(data []byte) *v4Index {
		r, err := maxminddb.OpenBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		x := newV4Index(r, data)
		if x == nil {
			t.Fatal("no index")
		}
		return x
	}
	country, asn := index(embeddedCountry), index(embeddedASN)
	w24, w28 := index(writeRandomDB(t, 6, 24)), index(writeRandomDB(t, 4, 28))
	pairs := [][2]*v4Index{{country, asn}, {asn, country}, {country, country}, {country, w28}, {w24, asn}, {w24, w28}}
	rnd := rand.New(rand.NewPCG(5, 6))
	found := 0
	for range 100000 {
		a := netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		for _, p := range pairs {
			xo, xf, yo, yf := walk2(p[0], p[1], a)
			wxo, wxf := p[0].offset(a)
			wyo, wyf := p[1].offset(a)
			if xo != wxo || xf != wxf || yo != wyo || yf != wyf {
				t.Fatalf("%s: walk2 %d %v, %d %v; offset %d %v, %d %v", a, xo, xf, yo, yf, wxo, wxf, wyo, wyf)
			}
			found += b2i(xf) + b2i(yf)
		}
	}
	if found < 100000 {
		t.Fatalf("%d records found: the comparison proves little", found)
	}
}
