package geo

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/google/go-cmp/cmp"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	embeddedOnce sync.Once
	embeddedRes  *Resolver
	embeddedErr  error
)

func embedded(t testing.TB) *Resolver {
	t.Helper()
	embeddedOnce.Do(func() { embeddedRes, embeddedErr = Open(DefaultConfig()) })
	if embeddedErr != nil {
		t.Fatal(embeddedErr)
	}
	return embeddedRes
}

// TestEmbeddedAcceptance: the embedded databases answer without network.
func TestEmbeddedAcceptance(t *testing.T) {
	r := embedded(t)
	for _, c := range []struct {
		addr, country, provider string
	}{
		{"8.8.8.8", "US", "Google"},
		{"2001:4860:4860::8888", "US", "Google"},
		{"71.18.0.1", "", "ByteDance"},
		{"1.1.1.1", "", "Cloudflare"},
		{"10.1.2.3", "", "unknown"},
	} {
		got := r.Lookup(netip.MustParseAddr(c.addr))
		if (c.country != "" && got.Country != c.country) || got.Provider != c.provider {
			t.Errorf("%s: got %+v, want country %q provider %q", c.addr, got, c.country, c.provider)
		}
	}
	for _, d := range r.Databases() {
		if d.Path != "embedded" || d.BuildTime.Year() < 2025 {
			t.Errorf("database %+v", d)
		}
	}
}

// TestProvidersMatchOrganisations: every AS in the provider table belongs,
// according to the embedded ASN database, to an organisation whose name
// fits the provider.
func TestProvidersMatchOrganisations(t *testing.T) {
	r := embedded(t)
	orgs := map[uint32]string{}
	for res := range r.asn.r.Networks() {
		var rec record
		if err := res.Decode(&rec); err == nil && rec.ASN != 0 {
			orgs[rec.ASN] = rec.ASOrg
		}
	}
	patterns := map[string]string{
		"Amazon": "amazon", "Google": "google", "Microsoft": "microsoft", "Oracle": "oracle", "Akamai": "akamai",
		"Cloudflare": "cloudflare", "Fastly": "fastly", "ByteDance": "bytedance|tiktok|byteplus", "Alibaba": "alibaba|taobao",
		"Tencent": "tencent", "Huawei": "huawei", "Baidu": "baidu", "Meta": "facebook|meta", "Apple": "apple",
		"Hetzner": "hetzner", "OVH": "ovh", "DigitalOcean": "digitalocean", "Linode": "linode|akamai", "Vultr": "constant company|vultr",
		"Yandex": "yandex",
	}
	for asn, p := range DefaultProviders() {
		org, ok := orgs[asn]
		if !ok {
			t.Errorf("AS%d (%s) announces nothing in the embedded database", asn, p)
			continue
		}
		if !regexp.MustCompile("(?i)" + patterns[p]).MatchString(org) {
			t.Errorf("AS%d is %q in the database, listed as %s", asn, org, p)
		}
	}
	seen := map[string]bool{}
	for _, p := range DefaultProviders() {
		seen[p] = true
	}
	for p := range patterns {
		if !seen[p] {
			t.Errorf("provider %s has no AS", p)
		}
	}
}

func testDBs(t *testing.T) (country, asn string) {
	dir := t.TempDir()
	country, asn = filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{
		netip.MustParsePrefix("192.0.2.0/24"): "DE", netip.MustParsePrefix("2001:db8::/32"): "SG"}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{
		netip.MustParsePrefix("192.0.2.0/25"):  {Number: 31898, Org: "Oracle Corporation"},
		netip.MustParsePrefix("2001:db8::/32"): {Number: 64500, Org: "Example Cloud"}}); err != nil {
		t.Fatal(err)
	}
	return country, asn
}

func TestFilesAndProviderExtension(t *testing.T) {
	country, asn := testDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, Providers: map[uint32]string{64500: "ExampleCloud"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for addr, want := range map[string]Info{
		"192.0.2.1":   {Country: "DE", ASN: 31898, Org: "Oracle Corporation", Provider: "Oracle"},
		"192.0.2.200": {Country: "DE", Provider: "unknown"},
		"2001:db8::1": {Country: "SG", ASN: 64500, Org: "Example Cloud", Provider: "ExampleCloud"},
		"203.0.113.9": {Provider: "unknown"},
	} {
		if diff := cmp.Diff(want, r.Lookup(netip.MustParseAddr(addr))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", addr, diff)
		}
	}
}

func TestIPinfoAndCity(t *testing.T) {
	dir := t.TempDir()
	ipinfo, city := filepath.Join(dir, "ipinfo.mmdb"), filepath.Join(dir, "city.mmdb")
	if err := geotest.WriteIPinfoLite(ipinfo, map[netip.Prefix]geotest.IPinfo{netip.MustParsePrefix("198.51.100.0/24"): {Country: "sg", AS: geotest.AS{Number: 396986, Org: "Bytedance Inc."}}}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteCity(city, map[netip.Prefix]string{netip.MustParsePrefix("198.51.100.0/24"): "AU"}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Config{CountryDB: ipinfo, ASNDB: ipinfo})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Lookup(netip.MustParseAddr("198.51.100.1")), (Info{Country: "SG", ASN: 396986, Org: "Bytedance Inc.", Provider: "ByteDance"}); got != want {
		t.Errorf("ipinfo: got %+v want %+v", got, want)
	}
	r2, err := Open(Config{CountryDB: city, ASNDB: ipinfo})
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Lookup(netip.MustParseAddr("198.51.100.1")); got.Country != "AU" {
		t.Errorf("city: got %+v", got)
	}
}

func TestBadDatabases(t *testing.T) {
	country, asn := testDBs(t)
	dir := t.TempDir()
	good, _ := os.ReadFile(country)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"asn as country", Config{CountryDB: asn}, `database type "GeoLite2-ASN" given as the country database`},
		{"country as asn", Config{ASNDB: country}, `database type "GeoLite2-Country" given as the asn database`},
		{"missing", Config{CountryDB: filepath.Join(dir, "nope.mmdb")}, "no such file"},
		{"text", Config{ASNDB: write("text.mmdb", []byte("hello"))}, "not a valid MaxMind DB"},
		{"truncated", Config{CountryDB: write("trunc.mmdb", good[:len(good)/2])}, "country"},
	} {
		_, err := Open(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	// Cut or corrupt the file at many offsets: Open and Lookup may fail,
	// never panic.
	for i := 0; i < len(good); i += max(1, len(good)/300) {
		for _, b := range [][]byte{good[:i], flip(good, i)} {
			p := write("fuzz.mmdb", b)
			if r, err := Open(Config{CountryDB: p, ASNDB: asn}); err == nil {
				r.Lookup(netip.MustParseAddr("192.0.2.1"))
				r.Lookup(netip.MustParseAddr("2001:db8::5"))
				r.Close()
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xa5
	return c
}

func TestCacheAndCollector(t *testing.T) {
	country, asn := testDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewCache()
	for i := 0; i < 100; i++ {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)})
		if got, want := c.Lookup(a), r.Lookup(a); got != want {
			t.Fatalf("%s: cache %+v, resolver %+v", a, got, want)
		}
	}
	l, h := r.Stats()
	if l != 100 || h == 0 || h >= 100 {
		t.Errorf("lookups %d hits %d", l, h)
	}
	problems, err := testutil.CollectAndLint(NewCollector(r))
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	if n := testutil.CollectAndCount(NewCollector(r)); n != 2+2*2 {
		t.Errorf("%d metrics", n)
	}
}

// TestEmbeddedFilesAreValid checks the embedded files' schemas directly.
func TestEmbeddedFilesAreValid(t *testing.T) {
	for name, gz := range map[string][]byte{"country": embeddedCountry, "asn": embeddedASN} {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		r, err := maxminddb.OpenBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.ToLower(r.Metadata.DatabaseType), name) {
			t.Errorf("%s: type %q", name, r.Metadata.DatabaseType)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	r := embedded(b)
	c := r.NewCache()
	a := netip.MustParseAddr("8.8.8.8")
	c.Lookup(a)
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(a)
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	r := embedded(b)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i += 7919
		r.Lookup(netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}))
	}
}
