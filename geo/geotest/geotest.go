// Package geotest writes small MaxMind-format (.mmdb) databases for tests,
// with the record layouts of GeoLite2 Country, City and ASN and of IPinfo
// Lite, so that tests place their addresses (typically the documentation
// ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15 and
// 2001:db8::/32, which real databases leave empty) in the countries and
// autonomous systems they need:
//
//	geotest.WriteCountry(country, map[netip.Prefix]string{netip.MustParsePrefix("192.0.2.0/24"): "SG"})
//	geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{netip.MustParsePrefix("192.0.2.0/24"): {Number: 396986, Org: "Bytedance Inc."}})
//	geo.Open(geo.Config{CountryDB: country, ASNDB: asn})
//
// Reserved and documentation networks are allowed. Where prefixes overlap
// the more specific one wins, whatever the map order. IPv4 prefixes are
// also reachable as IPv4-mapped IPv6 addresses. Every file has build time
// BuildEpoch.
package geotest

import (
	"bufio"
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// BuildEpoch is the build time (unix seconds) written into every database.
const BuildEpoch = 1_700_000_000

// AS is an autonomous system.
type AS struct {
	Number uint32
	Org    string
}

// IPinfo is an IPinfo Lite record.
type IPinfo struct {
	Country string // country_code
	AS             // asn as "AS<Number>", as_name
	Domain  string // as_domain
}

// Write writes a database of type dbType holding the records of m. It is
// what the other writers use; tests of unusual schemas call it directly.
func Write(path, dbType string, m map[netip.Prefix]mmdbtype.DataType) error {
	t, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "borderwatch test database"},
		RecordSize:              24,
		IPVersion:               6,
		IncludeReservedNetworks: true,
		BuildEpoch:              BuildEpoch,
	})
	if err != nil {
		return fmt.Errorf("geotest: %w", err)
	}
	// Less specific first, so that more specific prefixes overwrite them.
	prefixes := slices.SortedFunc(maps.Keys(m), func(a, b netip.Prefix) int {
		if c := cmp.Compare(a.Bits()-a.Addr().BitLen(), b.Bits()-b.Addr().BitLen()); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("geotest: invalid prefix %v", p)
		}
		q := p.Masked()
		ipn := &net.IPNet{IP: q.Addr().AsSlice(), Mask: net.CIDRMask(q.Bits(), q.Addr().BitLen())}
		if err := t.Insert(ipn, m[p]); err != nil {
			return fmt.Errorf("geotest: insert %s: %w", p, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("geotest: %w", err)
	}
	bw := bufio.NewWriter(f)
	if _, err := t.WriteTo(bw); err != nil {
		f.Close()
		return fmt.Errorf("geotest: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("geotest: write %s: %w", path, err)
	}
	return f.Close()
}

// WriteCountry writes a "GeoLite2-Country" database mapping prefixes to
// ISO country codes (country.iso_code).
func WriteCountry(path string, m map[netip.Prefix]string) error {
	return writeCountry(path, "GeoLite2-Country", m)
}

// WriteCity writes a "GeoLite2-City" database; records carry the country
// and a city name derived from it.
func WriteCity(path string, m map[netip.Prefix]string) error {
	return writeCountry(path, "GeoLite2-City", m)
}

func writeCountry(path, typ string, m map[netip.Prefix]string) error {
	recs := make(map[netip.Prefix]mmdbtype.DataType, len(m))
	for p, cc := range m {
		rec := mmdbtype.Map{
			"country":            mmdbtype.Map{"iso_code": mmdbtype.String(cc), "names": mmdbtype.Map{"en": mmdbtype.String("Country " + cc)}},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)},
		}
		if typ == "GeoLite2-City" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Capital of " + cc)}}
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(1.5), "longitude": mmdbtype.Float64(103.8)}
		}
		recs[p] = rec
	}
	return Write(path, typ, recs)
}

// WriteASN writes a "GeoLite2-ASN" database (autonomous_system_number,
// autonomous_system_organization).
func WriteASN(path string, m map[netip.Prefix]AS) error {
	recs := make(map[netip.Prefix]mmdbtype.DataType, len(m))
	for p, as := range m {
		recs[p] = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(as.Number), "autonomous_system_organization": mmdbtype.String(as.Org)}
	}
	return Write(path, "GeoLite2-ASN", recs)
}

// WriteIPinfoLite writes an "ipinfo lite.mmdb" database: country_code,
// asn ("AS15169"), as_name, as_domain in one record. Give the same file
// as both the country and the ASN database.
func WriteIPinfoLite(path string, m map[netip.Prefix]IPinfo) error {
	recs := make(map[netip.Prefix]mmdbtype.DataType, len(m))
	for p, r := range m {
		recs[p] = mmdbtype.Map{
			"country_code": mmdbtype.String(r.Country),
			"country":      mmdbtype.String("Country " + r.Country),
			"asn":          mmdbtype.String(fmt.Sprintf("AS%d", r.Number)),
			"as_name":      mmdbtype.String(r.Org),
			"as_domain":    mmdbtype.String(r.Domain),
		}
	}
	return Write(path, "ipinfo lite.mmdb", recs)
}
