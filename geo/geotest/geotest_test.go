package geotest

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oschwald/maxminddb-golang/v2"
)

// The documentation ranges other packages' tests use.
var docRanges = []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32"}

func open(t *testing.T, path string) *maxminddb.Reader {
	t.Helper()
	r, err := maxminddb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Verify(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestWritersRoundTrip reads every writer's output with maxminddb itself
// (not with package geo): types, build time, records for every
// documentation range, more specific prefixes winning, nothing elsewhere.
func TestWritersRoundTrip(t *testing.T) {
	dir := t.TempDir()
	countries := map[netip.Prefix]string{}
	ases := map[netip.Prefix]AS{}
	ipinfo := map[netip.Prefix]IPinfo{}
	for i, s := range docRanges {
		p := netip.MustParsePrefix(s)
		countries[p] = []string{"SG", "US", "DE", "CN", "JP"}[i]
		ases[p] = AS{Number: 64496 + uint32(i), Org: "Org " + s}
		ipinfo[p] = IPinfo{Country: countries[p], AS: ases[p], Domain: "example.com"}
	}
	// A more specific prefix inside 192.0.2.0/24.
	countries[netip.MustParsePrefix("192.0.2.128/25")] = "FR"
	ases[netip.MustParsePrefix("192.0.2.128/25")] = AS{Number: 396986, Org: "Bytedance Inc."}

	type country struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	type asn struct {
		Number uint32 `maxminddb:"autonomous_system_number"`
		Org    string `maxminddb:"autonomous_system_organization"`
	}
	type lite struct {
		CC     string `maxminddb:"country_code"`
		ASN    string `maxminddb:"asn"`
		Name   string `maxminddb:"as_name"`
		Domain string `maxminddb:"as_domain"`
	}
	paths := map[string]string{}
	for name, write := range map[string]func(string) error{
		"country": func(p string) error { return WriteCountry(p, countries) },
		"city":    func(p string) error { return WriteCity(p, countries) },
		"asn":     func(p string) error { return WriteASN(p, ases) },
		"ipinfo":  func(p string) error { return WriteIPinfoLite(p, ipinfo) },
	} {
		paths[name] = filepath.Join(dir, name+".mmdb")
		if err := write(paths[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	wantType := map[string]string{"country": "GeoLite2-Country", "city": "GeoLite2-City", "asn": "GeoLite2-ASN", "ipinfo": "ipinfo lite.mmdb"}
	for name, path := range paths {
		r := open(t, path)
		if r.Metadata.DatabaseType != wantType[name] || r.Metadata.BuildEpoch != BuildEpoch {
			t.Errorf("%s: type %q epoch %d", name, r.Metadata.DatabaseType, r.Metadata.BuildEpoch)
		}
	}
	for _, c := range []struct {
		addr    string
		country string
		as      AS
	}{
		{"192.0.2.1", "SG", AS{64496, "Org 192.0.2.0/24"}},
		{"192.0.2.200", "FR", AS{396986, "Bytedance Inc."}},
		{"::ffff:192.0.2.200", "FR", AS{396986, "Bytedance Inc."}},
		{"198.51.100.7", "US", AS{64497, "Org 198.51.100.0/24"}},
		{"203.0.113.255", "DE", AS{64498, "Org 203.0.113.0/24"}},
		{"198.19.255.1", "CN", AS{64499, "Org 198.18.0.0/15"}},
		{"2001:db8:1::1", "JP", AS{64500, "Org 2001:db8::/32"}},
		{"192.0.3.1", "", AS{}},
		{"2001:db9::1", "", AS{}},
	} {
		addr := netip.MustParseAddr(c.addr)
		for _, name := range []string{"country", "city"} {
			var got country
			if err := open(t, paths[name]).Lookup(addr).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Country.ISOCode != c.country {
				t.Errorf("%s %s: country %q, want %q", name, c.addr, got.Country.ISOCode, c.country)
			}
		}
		var a asn
		if err := open(t, paths["asn"]).Lookup(addr).Decode(&a); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.as, AS(a)); diff != "" {
			t.Errorf("asn %s (-want +got):\n%s", c.addr, diff)
		}
		var l lite
		if err := open(t, paths["ipinfo"]).Lookup(addr).Decode(&l); err != nil {
			t.Fatal(err)
		}
		want := lite{}
		if c.country != "" && c.as.Number != 396986 { // ipinfo has no /25
			want = lite{CC: c.country, ASN: "AS" + strconv.FormatUint(uint64(c.as.Number), 10), Name: c.as.Org, Domain: "example.com"}
		}
		if c.as.Number == 396986 {
			want = lite{CC: "SG", ASN: "AS64496", Name: "Org 192.0.2.0/24", Domain: "example.com"}
		}
		if diff := cmp.Diff(want, l); diff != "" {
			t.Errorf("ipinfo %s (-want +got):\n%s", c.addr, diff)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	if err := WriteCountry(filepath.Join(t.TempDir(), "no", "such", "dir.mmdb"), map[netip.Prefix]string{netip.MustParsePrefix("192.0.2.0/24"): "SG"}); err == nil {
		t.Error("write into a missing directory: no error")
	}
	if err := WriteCountry(filepath.Join(t.TempDir(), "x.mmdb"), map[netip.Prefix]string{{}: "SG"}); err == nil {
		t.Error("invalid prefix: no error")
	}
}
