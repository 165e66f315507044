// Package readerbench measures the two ways of reading the geo databases
// that the issue offered, on the embedded data (geo/data) relabelled as
// GeoLite2 files, so that both libraries accept them:
//
//   - geoip2-golang/v2: Reader.Country + Reader.ASN, full GeoIP2 records;
//   - maxminddb-golang/v2: Lookup + Decode into the small structs package
//     geo uses, reused between lookups.
//
// It is a module of its own so that geoip2-golang stays out of
// borderwatch's go.mod. Run from this directory:
//
//	go test -bench . -benchmem
package readerbench

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

var (
	once                sync.Once
	countryPath, asPath string
	setupErr            error
)

// relabel rewrites a database with a GeoLite2 database_type.
func relabel(src, dst, typ string) error {
	tree, err := mmdbwriter.Load(src, mmdbwriter.Options{DatabaseType: typ, IncludeReservedNetworks: true, DisableIPv4Aliasing: true})
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func setup(tb testing.TB) (country, as string) {
	once.Do(func() {
		dir, err := os.MkdirTemp("", "readerbench")
		if err != nil {
			setupErr = err
			return
		}
		countryPath, asPath = filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
		if setupErr = relabel("../../../geo/data/country.mmdb", countryPath, "GeoLite2-Country"); setupErr != nil {
			return
		}
		setupErr = relabel("../../../geo/data/asn.mmdb", asPath, "GeoLite2-ASN")
	})
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
	return countryPath, asPath
}

func addrs() []netip.Addr {
	rnd := rand.New(rand.NewPCG(7, 8))
	a := make([]netip.Addr, 1<<16)
	for i := range a {
		a[i] = netip.AddrFrom4([4]byte{byte(1 + rnd.IntN(223)), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
	}
	return a
}

var sinkCC, sinkOrg string
var sinkASN uint32

func BenchmarkGeoIP2(b *testing.B) {
	cp, ap := setup(b)
	c, err := geoip2.Open(cp)
	if err != nil {
		b.Fatal(err)
	}
	a, err := geoip2.Open(ap)
	if err != nil {
		b.Fatal(err)
	}
	as := addrs()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		addr := as[i&(1<<16-1)]
		i++
		cr, err := c.Country(addr)
		if err != nil {
			b.Fatal(err)
		}
		ar, err := a.ASN(addr)
		if err != nil {
			b.Fatal(err)
		}
		sinkCC, sinkASN, sinkOrg = cr.Country.ISOCode, uint32(ar.AutonomousSystemNumber), ar.AutonomousSystemOrganization
	}
}

type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

type asnRecord struct {
	ASN uint32 `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

func BenchmarkMaxMindDBSmallStructs(b *testing.B) {
	cp, ap := setup(b)
	c, err := maxminddb.Open(cp)
	if err != nil {
		b.Fatal(err)
	}
	a, err := maxminddb.Open(ap)
	if err != nil {
		b.Fatal(err)
	}
	as := addrs()
	var cr countryRecord
	var ar asnRecord
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		addr := as[i&(1<<16-1)]
		i++
		cr, ar = countryRecord{}, asnRecord{}
		if err := c.Lookup(addr).Decode(&cr); err != nil {
			b.Fatal(err)
		}
		if err := a.Lookup(addr).Decode(&ar); err != nil {
			b.Fatal(err)
		}
		sinkCC, sinkASN, sinkOrg = cr.Country.ISOCode, ar.ASN, ar.Org
	}
}

// TestSameAnswers: both readers agree on every sampled address.
func TestSameAnswers(t *testing.T) {
	cp, ap := setup(t)
	gc, err := geoip2.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	ga, err := geoip2.Open(ap)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := maxminddb.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	ma, err := maxminddb.Open(ap)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs()[:5000] {
		cr, _ := gc.Country(addr)
		ar, _ := ga.ASN(addr)
		var c countryRecord
		var a asnRecord
		mc.Lookup(addr).Decode(&c)
		ma.Lookup(addr).Decode(&a)
		if cr.Country.ISOCode != c.Country.ISOCode || uint32(ar.AutonomousSystemNumber) != a.ASN || ar.AutonomousSystemOrganization != a.Org {
			t.Fatalf("%s: geoip2 %s AS%d %q, maxminddb %s AS%d %q", addr, cr.Country.ISOCode, ar.AutonomousSystemNumber, ar.AutonomousSystemOrganization, c.Country.ISOCode, a.ASN, a.Org)
		}
	}
}
