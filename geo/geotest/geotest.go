// Package geotest writes small MaxMind-format databases for tests, with the
// same schemas as GeoLite2 Country, City and ASN and IPinfo Lite. Reserved
// ranges (the documentation prefixes tests use) are allowed.
package geotest

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// AS is an autonomous system.
type AS struct {
	Number uint32
	Org    string
}

func newTree(typ string) (*mmdbwriter.Tree, error) {
	return mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 24, IPVersion: 6, IncludeReservedNetworks: true, DisableIPv4Aliasing: true, BuildEpoch: 1_700_000_000})
}

func insert(t *mmdbwriter.Tree, p netip.Prefix, v mmdbtype.DataType) error {
	p = p.Masked()
	ipn := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	if err := t.Insert(ipn, v); err != nil {
		return fmt.Errorf("insert %s: %w", p, err)
	}
	return nil
}

func write(t *mmdbwriter.Tree, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := t.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteCountry writes a GeoLite2-Country database mapping prefixes to ISO codes.
func WriteCountry(path string, m map[netip.Prefix]string) error {
	return writeCountryType(path, "GeoLite2-Country", m)
}

// WriteCity writes a GeoLite2-City database (country part only).
func WriteCity(path string, m map[netip.Prefix]string) error {
	return writeCountryType(path, "GeoLite2-City", m)
}

func writeCountryType(path, typ string, m map[netip.Prefix]string) error {
	t, err := newTree(typ)
	if err != nil {
		return err
	}
	for p, cc := range m {
		if err := insert(t, p, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}); err != nil {
			return err
		}
	}
	return write(t, path)
}

// WriteASN writes a GeoLite2-ASN database.
func WriteASN(path string, m map[netip.Prefix]AS) error {
	t, err := newTree("GeoLite2-ASN")
	if err != nil {
		return err
	}
	for p, as := range m {
		if err := insert(t, p, mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(as.Number), "autonomous_system_organization": mmdbtype.String(as.Org)}); err != nil {
			return err
		}
	}
	return write(t, path)
}

// IPinfo is an IPinfo Lite record.
type IPinfo struct {
	Country string
	AS
}

// WriteIPinfoLite writes an IPinfo Lite database (country and ASN in one).
func WriteIPinfoLite(path string, m map[netip.Prefix]IPinfo) error {
	t, err := newTree("ipinfo lite.mmdb")
	if err != nil {
		return err
	}
	for p, r := range m {
		v := mmdbtype.Map{"country_code": mmdbtype.String(r.Country), "asn": mmdbtype.String(fmt.Sprintf("AS%d", r.Number)), "as_name": mmdbtype.String(r.Org)}
		if err := insert(t, p, v); err != nil {
			return err
		}
	}
	return write(t, path)
}
