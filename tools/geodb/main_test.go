package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// writeFlatCountry writes a database in ip-location-db's country schema
// ({country_code}), as the npm packages ship it.
func writeFlatCountry(t *testing.T, path string, m map[string]string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "geo-whois-asn-country", IPVersion: 6, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for p, cc := range m {
		_, ipn, err := net.ParseCIDR(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipn, mmdbtype.Map{"country_code": mmdbtype.String(cc)}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// unpacked lays out a fake npm download: <dir>/<name>/package/...
func unpacked(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	country := filepath.Join(src, "geo-whois-asn-country-mmdb", "package")
	asn := filepath.Join(src, "asn", "package")
	for _, d := range []string{country, asn} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFlatCountry(t, filepath.Join(country, countryFile), map[string]string{"1.0.0.0/24": "AU", "8.8.8.0/24": "US", "2001:4860::/32": "US"})
	if err := os.WriteFile(filepath.Join(country, "package.json"), []byte(`{"name": "@ip-location-db/geo-whois-asn-country-mmdb", "version": "2.3.2026061719"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The real files' format: start,end,asn,org; organisations with
	// commas are quoted.
	files := map[string]string{
		"asn-ipv4.csv": "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n8.8.8.0,8.8.8.255,15169,Google LLC\n71.18.0.0,71.18.3.255,396986,Bytedance Inc.\n",
		"asn-ipv6.csv": "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n",
		"package.json": `{"version": "2.3.2026061719"}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(asn, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestBuild converts the fake packages and reads the results back with
// maxminddb: GeoLite2 schemas, types, the build time from the package
// version.
func TestBuild(t *testing.T) {
	src, out := unpacked(t), t.TempDir()
	if err := run(out, src, "", 0); err != nil {
		t.Fatal(err)
	}
	wantEpoch := uint(time.Date(2026, 6, 17, 19, 0, 0, 0, time.UTC).Unix())
	type rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		ASN uint32 `maxminddb:"autonomous_system_number"`
		Org string `maxminddb:"autonomous_system_organization"`
	}
	open := func(name, typ string) *maxminddb.Reader {
		r, err := maxminddb.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := r.Verify(); err != nil {
			t.Fatal(err)
		}
		if r.Metadata.DatabaseType != typ || r.Metadata.BuildEpoch != wantEpoch {
			t.Errorf("%s: type %q, epoch %d (want %q, %d)", name, r.Metadata.DatabaseType, r.Metadata.BuildEpoch, typ, wantEpoch)
		}
		return r
	}
	country, asn := open("country.mmdb", "borderwatch-Country"), open("asn.mmdb", "borderwatch-ASN")
	for _, c := range []struct {
		addr string
		want rec
	}{
		{"1.0.0.1", rec{ASN: 13335, Org: "Cloudflare, Inc."}},
		{"8.8.8.8", rec{ASN: 15169, Org: "Google LLC"}},
		{"71.18.2.1", rec{ASN: 396986, Org: "Bytedance Inc."}},
		{"2001:4860:4860::8888", rec{ASN: 15169, Org: "Google LLC"}},
		{"9.9.9.9", rec{}},
	} {
		var got rec
		a := netip.MustParseAddr(c.addr)
		if err := country.Lookup(a).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if err := asn.Lookup(a).Decode(&got); err != nil {
			t.Fatal(err)
		}
		c.want.Country.ISOCode = map[string]string{"1.0.0.1": "AU", "8.8.8.8": "US", "2001:4860:4860::8888": "US"}[c.addr]
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.addr, diff)
		}
	}
	// Rebuilding gives the same bytes.
	out2 := t.TempDir()
	if err := run(out2, src, "", 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"country.mmdb", "asn.mmdb"} {
		a, _ := os.ReadFile(filepath.Join(out, name))
		b, _ := os.ReadFile(filepath.Join(out2, name))
		if string(a) != string(b) {
			t.Errorf("%s differs between two builds", name)
		}
	}
}

func TestBuildRejectsBadCSV(t *testing.T) {
	src := unpacked(t)
	if err := os.WriteFile(filepath.Join(src, "asn", "package", "asn-ipv4.csv"), []byte("1.0.0.0,1.0.0.255,notanumber,X\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(t.TempDir(), src, "", 0)
	if err == nil || !strings.Contains(err.Error(), "asn-ipv4.csv: bad row") {
		t.Errorf("error %v", err)
	}
}

// TestCompare: the agreement measurement on a made-up Tor file, where the
// answers are known: candidate "right" agrees everywhere, "half" on the
// first of two equal ranges only, "none" is empty.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	tor := filepath.Join(dir, "geoip")
	// 10.0.0.0/24 -> DE, 10.0.1.0/24 -> FR (as integers).
	if err := os.WriteFile(tor, []byte("# comment\n167772160,167772415,DE\n167772416,167772671,FR\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	right, half, none := filepath.Join(dir, "right.mmdb"), filepath.Join(dir, "half.mmdb"), filepath.Join(dir, "none.mmdb")
	writeFlatCountry(t, right, map[string]string{"10.0.0.0/24": "de", "10.0.1.0/24": "FR"})
	writeFlatCountry(t, half, map[string]string{"10.0.0.0/24": "DE", "10.0.1.0/24": "BE"})
	writeFlatCountry(t, none, map[string]string{"192.0.2.0/24": "DE"})
	got, err := compareCountries(io.Discard, tor, 20000, map[string]string{"right": right, "half": half, "none": none})
	if err != nil {
		t.Fatal(err)
	}
	if got["right"] != 100 || got["none"] != 0 || got["half"] < 48 || got["half"] > 52 {
		t.Errorf("agreement %v", got)
	}
	if _, err := compareCountries(io.Discard, filepath.Join(dir, "missing"), 10, nil); err == nil || !strings.Contains(err.Error(), "tor-geoipdb") {
		t.Errorf("missing Tor file: %v", err)
	}
}

// TestCompareReal repeats the measurement recorded in the notes when the
// npm packages are unpacked in $GEODB_SRC and Tor's file is installed.
func TestCompareReal(t *testing.T) {
	src := os.Getenv("GEODB_SRC")
	if src == "" {
		t.Skip("GEODB_SRC not set (a directory of unpacked npm packages, see README)")
	}
	if _, err := os.Stat("/usr/share/tor/geoip"); err != nil {
		t.Skip("apt-get install tor-geoipdb")
	}
	got, err := compareCountries(os.Stdout, "/usr/share/tor/geoip", 200000, map[string]string{
		countryPkg: filepath.Join(src, "geo-whois-asn-country-mmdb", "package", countryFile),
		altPkg:     filepath.Join(src, "dbip-country-mmdb", "package", altFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[countryPkg] <= got[altPkg] {
		t.Errorf("the embedded source %s (%.2f%%) no longer agrees better with Tor than %s (%.2f%%): reconsider the choice", countryPkg, got[countryPkg], altPkg, got[altPkg])
	}
}
