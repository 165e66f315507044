package geo

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sharedRanges is the directory of the providers' official files the
// embedded snapshot is built from; tests that read it skip without it.
const sharedRanges = "../../shared/geodata/cloud"

func needShared(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(sharedRanges, "aws-ip-ranges.json")); err != nil {
		t.Skipf("no %s: %v", sharedRanges, err)
	}
	return sharedRanges
}

// TestEmbeddedRanges: addresses from the providers' own files (values
// read off the JSON and CSV by hand) get the provider's region, its
// country from the verified table, and anycast for the edge networks.
func TestEmbeddedRanges(t *testing.T) {
	r := embedded(t)
	for _, c := range []struct {
		addr     string
		want     Range
		location string
		operator string
	}{
		// Oracle public_ip_ranges.json: eu-frankfurt-1 lists 130.61.0.0/16... and 89.168.64.0/18.
		{"89.168.64.1", Range{Provider: "Oracle", Region: "eu-frankfurt-1", Country: "DE", Source: "oracle"}, "DE", "Oracle"},
		// AWS: 15.220.120.0/21 in us-east-1, network border group us-east-1-bue-1 (Buenos Aires Local Zone).
		{"15.220.120.9", Range{Provider: "Amazon", Region: "us-east-1-bue-1", Country: "AR", Source: "aws"}, "AR", "Amazon"},
		// AWS GLOBAL CLOUDFRONT 23.228.249.0/24.
		{"23.228.249.1", Range{Provider: "Amazon", Region: "GLOBAL", Anycast: true, Source: "aws"}, "", "Amazon"},
		// Google Cloud: 34.8.0.0/16 scope global, 34.40.0.0/17 europe-west3.
		{"34.8.0.1", Range{Provider: "Google", Region: "global", Anycast: true, Source: "gcp"}, "", "Google"},
		{"34.40.0.1", Range{Provider: "Google", Region: "europe-west3", Country: "DE", Source: "gcp"}, "DE", "Google"},
		// Azure AzureCloud.germanywc: 4.182.0.0/16.
		{"4.182.0.1", Range{Provider: "Microsoft", Region: "germanywc", Country: "DE", Source: "azure"}, "DE", "Microsoft"},
		// Geofeeds: DigitalOcean 46.101.68.0/22 DE Frankfurt, Linode 2600:3c12:200::/40 FR Marseille.
		{"46.101.68.1", Range{Provider: "DigitalOcean", Region: "Frankfurt", Country: "DE", Source: "digitalocean"}, "DE", "DigitalOcean"},
		{"2600:3c12:200::1", Range{Provider: "Linode", Region: "Marseille", Country: "FR", Source: "linode"}, "FR", "Linode"},
		// Anycast edges: Cloudflare 104.16.0.0/13 and 2606:4700::/32, Fastly 151.101.0.0/16 and 2a04:4e40::/32.
		{"104.16.1.1", Range{Provider: "Cloudflare", Anycast: true, Source: "cloudflare-v4"}, "", "Cloudflare"},
		{"2606:4700:10::1", Range{Provider: "Cloudflare", Anycast: true, Source: "cloudflare-v6"}, "", "Cloudflare"},
		{"151.101.1.1", Range{Provider: "Fastly", Anycast: true, Source: "fastly"}, "", "Fastly"},
		{"2a04:4e40::1", Range{Provider: "Fastly", Anycast: true, Source: "fastly"}, "", "Fastly"},
	} {
		t.Run(c.addr, func(t *testing.T) {
			info := r.Lookup(netip.MustParseAddr(c.addr))
			if info.Range == nil {
				t.Fatalf("no range: %+v", info)
			}
			if diff := cmp.Diff(c.want, *info.Range); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got := info.Location(); got != c.location {
				t.Errorf("Location %q, want %q (database %q)", got, c.location, info.Country)
			}
			if got := info.Operator(); got != c.operator {
				t.Errorf("Operator %q, want %q", got, c.operator)
			}
			if info.OperatorCountry != "US" {
				t.Errorf("OperatorCountry %q, want US", info.OperatorCountry)
			}
			if info.Anycast() != c.want.Anycast || info.CloudRegion() != c.want.Region {
				t.Errorf("Anycast %v CloudRegion %q", info.Anycast(), info.CloudRegion())
			}
		})
	}
	// Outside every range: the database alone.
	info := r.Lookup(netip.MustParseAddr("192.0.2.1"))
	if info.Range != nil || info.Location() != "" || info.Anycast() {
		t.Errorf("192.0.2.1: %+v", info)
	}
}

// TestRangesFillMissingProviders: the examples of ranges the ASN
// data has no provider for (Fastly's 2a04:4e40::/32) get one from the
// published files, and the anycast database country is not a location.
func TestRangesFillMissingProviders(t *testing.T) {
	r := embedded(t)
	info := r.Lookup(netip.MustParseAddr("2a04:4e40::1"))
	if info.Provider == "Fastly" {
		t.Logf("the ASN data now knows Fastly's 2a04:4e40::/32 (%+v)", info)
	}
	if info.Operator() != "Fastly" || info.Location() != "" {
		t.Errorf("%+v: Operator %q Location %q", info, info.Operator(), info.Location())
	}
}

// TestSnapshotMatchesSharedFiles: the embedded snapshot is exactly what
// `make geodb` builds from the official files, and decodes to the same
// prefixes and ranges as parsing them.
func TestSnapshotMatchesSharedFiles(t *testing.T) {
	dir := needShared(t)
	b, n, err := EncodeRangeSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, embeddedRanges) {
		t.Errorf("geo/data/ranges.bin.gz is stale: run make geodb (%d bytes built, %d embedded)", len(b), len(embeddedRanges))
	}
	parsed, err := ReadRangeDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeSnapshot(embeddedRanges)
	if err != nil {
		t.Fatal(err)
	}
	var decoded []RangePrefix
	for _, src := range rangeSources {
		for _, e := range dec[src.name] {
			decoded = append(decoded, RangePrefix{e.prefix, e.r})
		}
	}
	if len(parsed) != n || len(decoded) != n {
		t.Fatalf("%d parsed, %d decoded, %d encoded", len(parsed), len(decoded), n)
	}
	if diff := cmp.Diff(parsed, decoded, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-parsed +decoded):\n%s", diff)
	}
	if len(embeddedRanges) > 200<<10 {
		t.Errorf("snapshot %d bytes: keep it under 200 KiB", len(embeddedRanges))
	}
}

// TestRegionTableCoversRanges: every regional range of the snapshot has a
// country from the verified table, except the rows dropped as
// undocumented; anycast ranges have none.
func TestRegionTableCoversRanges(t *testing.T) {
	dec, err := decodeSnapshot(embeddedRanges)
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]bool{"aws/me-west-1": true, "aws/sa-west-1": true, "azure/northeurope2": true}
	seen := map[string]bool{}
	for _, es := range dec {
		for _, e := range es {
			k := e.r.Source + "/" + e.r.Region
			if seen[k] {
				continue
			}
			seen[k] = true
			switch {
			case e.r.Anycast && e.r.Country != "":
				t.Errorf("%s: anycast with country %s", k, e.r.Country)
			case !e.r.Anycast && e.r.Country == "" && !dropped[k]:
				t.Errorf("%s: no country in the region table", k)
			case dropped[k] && e.r.Country != "":
				t.Errorf("%s: dropped but has country %s", k, e.r.Country)
			}
		}
	}
	if len(seen) < 250 {
		t.Errorf("only %d regions", len(seen))
	}
}

func writeFile(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCloudRangesDir: a provider's file in --geo.cloud-ranges replaces its
// part of the snapshot; the others stay.
func TestCloudRangesDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "public_ip_ranges.json", `{"regions":[{"region":"eu-frankfurt-1","cidrs":[{"cidr":"198.51.100.0/24","tags":["OCI"]}]},
{"region":"xx-nowhere-1","cidrs":[{"cidr":"203.0.113.0/25","tags":["OCI"]}]}]}`)
	writeFile(t, dir, "README.txt", "not a range file")
	r, err := Open(Config{CloudRanges: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check := func(addr string, want *Range) {
		t.Helper()
		got := r.Lookup(netip.MustParseAddr(addr)).Range
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", addr, diff)
		}
	}
	check("198.51.100.7", &Range{Provider: "Oracle", Region: "eu-frankfurt-1", Country: "DE", Source: "oracle"})
	// A region the table does not know: the region shows, the database decides the country.
	check("203.0.113.1", &Range{Provider: "Oracle", Region: "xx-nowhere-1", Source: "oracle"})
	// The embedded Oracle ranges are replaced...
	check("89.168.64.1", nil)
	// ...the other providers' stay.
	check("104.16.1.1", &Range{Provider: "Cloudflare", Anycast: true, Source: "cloudflare-v4"})
	if n, _ := r.RangeStats(); n < 30000 {
		t.Errorf("RangeStats %d", n)
	}
}

// TestGeofeed: the user's geofeed takes precedence over the published
// ranges and the database, and reloads with them.
func TestGeofeed(t *testing.T) {
	dir := t.TempDir()
	feed := writeFile(t, dir, "feed.csv", "# my network\n104.16.1.0/24,de,DE-HE,Frankfurt,\n2001:db8::/32,NL,,,\n")
	r, err := Open(Config{Geofeed: feed})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := r.NewCache()
	info := c.Lookup(netip.MustParseAddr("104.16.1.1"))
	if diff := cmp.Diff(&Range{Region: "Frankfurt", Country: "DE", Source: "geofeed"}, info.Range); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if info.Location() != "DE" || info.Operator() != "Cloudflare" {
		t.Errorf("Location %q Operator %q", info.Location(), info.Operator())
	}
	if got := c.Lookup(netip.MustParseAddr("2001:db8::1")).Location(); got != "NL" {
		t.Errorf("2001:db8::1: %q", got)
	}
	if _, n := r.RangeStats(); n != 2 {
		t.Errorf("geofeed prefixes %d", n)
	}
	writeFile(t, dir, "feed.csv", "104.16.1.0/24,CH,,Zurich\n")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(netip.MustParseAddr("104.16.1.1")).Range; got == nil || got.Country != "CH" || got.Region != "Zurich" {
		t.Errorf("after Reload: %+v", got)
	}
	// A broken geofeed: Reload fails naming file and line, the old one stays.
	writeFile(t, dir, "feed.csv", "104.16.1.0/24,CH\nbogus,DE\n")
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), feed+":2: field 1 (ip_prefix)") {
		t.Errorf("Reload: %v", err)
	}
	if got := c.Lookup(netip.MustParseAddr("104.16.1.1")).Location(); got != "CH" {
		t.Errorf("after a failed Reload: %q", got)
	}
}

// TestHostileRangeFiles: every malformed file is refused with an error
// naming the file and the line or field.
func TestHostileRangeFiles(t *testing.T) {
	for _, c := range []struct {
		name, file, body, want string
	}{
		{"aws syntax", "ip-ranges.json", "{\n\"prefixes\": [\n{\"ip_prefix\": 3}\n]}", "ip-ranges.json:3: json: cannot unmarshal number"},
		{"aws prefix", "ip-ranges.json", `{"prefixes":[{"ip_prefix":"3.4.12.4/32","region":"eu-west-1"},{"ip_prefix":"3.4.12.400/32","region":"x"}]}`, `ip-ranges.json: prefixes[1].ip_prefix "3.4.12.400/32": not an address prefix`},
		{"aws v6 in v4", "ip-ranges.json", `{"prefixes":[{"ip_prefix":"2001:db8::/32","region":"x"}]}`, `prefixes[0].ip_prefix "2001:db8::/32": not IPv4`},
		{"aws region", "ip-ranges.json", `{"ipv6_prefixes":[{"ipv6_prefix":"2001:db8::/32"}]}`, `ip-ranges.json: ipv6_prefixes[0].region: empty`},
		{"aws empty", "ip-ranges.json", `{}`, "ip-ranges.json: no prefixes or ipv6_prefixes: not an AWS ip-ranges.json"},
		{"aws truncated", "ip-ranges.json", "{\"prefixes\": [", "ip-ranges.json:1: unexpected end of JSON input"},
		{"gcp neither", "cloud.json", `{"prefixes":[{"scope":"x"}]}`, "cloud.json: prefixes[0]: neither ipv4Prefix nor ipv6Prefix"},
		{"gcp scope", "cloud.json", `{"prefixes":[{"ipv4Prefix":"34.8.0.0/16"}]}`, "cloud.json: prefixes[0].scope: empty"},
		{"azure prefix", "ServiceTags_Public_20250707.json", `{"values":[{"name":"AzureCloud.westeurope","properties":{"region":"westeurope","addressPrefixes":["1.2.3.0/24","nope"]}}]}`,
			`ServiceTags_Public_20250707.json: values[0] (AzureCloud.westeurope).properties.addressPrefixes[1] "nope": not an address prefix`},
		{"azure none", "ServiceTags_Public_20250707.json", `{"values":[]}`, "no AzureCloud.<region> values"},
		{"oracle cidr", "public_ip_ranges.json", `{"regions":[{"region":"eu-frankfurt-1","cidrs":[{"cidr":"130.61.0.0/33"}]}]}`, `regions[0] (eu-frankfurt-1).cidrs[0].cidr "130.61.0.0/33": not an address prefix`},
		{"oracle region", "public_ip_ranges.json", `{"regions":[{"cidrs":[]}]}`, "public_ip_ranges.json: regions[0].region: empty"},
		{"fastly", "public-ip-list.json", `{"addresses":["151.101.0.0/16"],"ipv6_addresses":["x"]}`, `public-ip-list.json: ipv6_addresses[0] "x": not an address prefix`},
		{"cloudflare", "ips-v4", "173.245.48.0/20\n\n103.21.244.0/22x\n", `ips-v4:3: "103.21.244.0/22x": not an address prefix`},
		{"cloudflare empty", "ips-v6", "\n# nothing\n", "ips-v6: no prefixes"},
		{"geofeed prefix", "digitalocean-geofeed.csv", "5.101.96.0/21,NL,NL-NH,Amsterdam,1098 XH\n5.101.104.0/33,NL\n", `digitalocean-geofeed.csv:2: field 1 (ip_prefix) "5.101.104.0/33": not an address prefix`},
		{"geofeed country", "linode-geofeed.csv", "# c\n2600:3c00::/32,USA,US-TX,Richardson,\n", `linode-geofeed.csv:2: field 2 (alpha2code) "USA": not an ISO 3166-1 alpha-2 code`},
		{"geofeed region", "linode-geofeed.csv", "2600:3c00::/32,US,Texas,Richardson,\n", `linode-geofeed.csv:1: field 3 (region) "Texas": not an ISO 3166-2 code`},
		{"geofeed fields", "linode-geofeed.csv", "2600:3c00::/32,US,US-TX,Richardson,,extra\n", "linode-geofeed.csv:1: 6 fields; a geofeed line has at most 5"},
		{"geofeed quote", "linode-geofeed.csv", "2600:3c00::/32,\"US\n", `linode-geofeed.csv:1: extraneous or missing " in quoted-field`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, c.file, c.body)
			_, err := Open(Config{CloudRanges: dir})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, c.file)) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	t.Run("empty dir", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Open(Config{CloudRanges: dir}); err == nil || !strings.Contains(err.Error(), dir+": none of the providers' range files") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("missing geofeed", func(t *testing.T) {
		if _, err := Open(Config{Geofeed: "/nonexistent/feed.csv"}); err == nil || !strings.Contains(err.Error(), "geofeed: open /nonexistent/feed.csv") {
			t.Errorf("error %v", err)
		}
	})
}

// TestRangeLookupAllocs: a lookup through the ranges and a cache hit
// allocate nothing.
func TestRangeLookupAllocs(t *testing.T) {
	r := embedded(t)
	c := r.NewCache()
	a := netip.MustParseAddr("89.168.64.1")
	c.Lookup(a)
	if n := testing.AllocsPerRun(100, func() { c.Lookup(a) }); n != 0 {
		t.Errorf("cache hit: %v allocs", n)
	}
	d := r.cur.Load()
	if n := testing.AllocsPerRun(100, func() { d.ranges.lookup(a) }); n != 0 {
		t.Errorf("range lookup: %v allocs", n)
	}
}

func BenchmarkRangeLookup(b *testing.B) {
	set, err := embeddedRangeSet()
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("89.168.64.1"), netip.MustParseAddr("2a04:4e40::1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("4.182.0.1")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		set.lookup(addrs[i&3])
	}
}

func BenchmarkLoadRanges(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadRanges(""); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRangeFiles: no file crashes a parser; what one accepts, it accepts
// again with the same prefixes.
func FuzzRangeFiles(f *testing.F) {
	f.Add(uint8(0), []byte(`{"prefixes":[{"ip_prefix":"3.4.12.4/32","region":"eu-west-1","network_border_group":"eu-west-1"}],"ipv6_prefixes":[{"ipv6_prefix":"2001:db8::/32","region":"GLOBAL"}]}`))
	f.Add(uint8(1), []byte(`{"prefixes":[{"ipv4Prefix":"34.8.0.0/16","scope":"global"},{"ipv6Prefix":"2600:1900::/28","scope":"us-east1"}]}`))
	f.Add(uint8(2), []byte(`{"values":[{"name":"AzureCloud.westeurope","properties":{"region":"westeurope","addressPrefixes":["1.2.3.0/24"]}}]}`))
	f.Add(uint8(3), []byte(`{"regions":[{"region":"eu-frankfurt-1","cidrs":[{"cidr":"130.61.0.0/16"}]}]}`))
	f.Add(uint8(4), []byte("5.101.96.0/21,NL,NL-NH,Amsterdam,1098 XH\n# c\n2600:3c00::/32,US,US-TX,Richardson,\n"))
	f.Add(uint8(6), []byte("173.245.48.0/20\n2400:cb00::/32\n"))
	f.Add(uint8(8), []byte(`{"addresses":["151.101.0.0/16"],"ipv6_addresses":["2a04:4e40::/32"]}`))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		src := &rangeSources[int(kind)%len(rangeSources)]
		es, err := parseSource(src, "f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		again, err := parseSource(src, "f", data)
		if err != nil || len(again) != len(es) {
			t.Fatalf("second parse: %v, %d vs %d", err, len(again), len(es))
		}
		var b rangeBuilder
		for _, e := range es {
			if !e.prefix.IsValid() {
				t.Fatalf("invalid prefix from %q", data)
			}
			b.add(e.prefix, e.r)
		}
		if s := b.build(); s != nil {
			s.lookup(es[0].prefix.Addr())
		}
	})
}

// FuzzSnapshot: a corrupted snapshot is refused, never a crash.
func FuzzSnapshot(f *testing.F) {
	zr, err := gzip.NewReader(bytes.NewReader(embeddedRanges))
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	f.Add(raw[:min(len(raw), 2048)])
	f.Add([]byte("BWRANGES1\n\x00\x00"))
	f.Add([]byte("BWRANGES1\n\x01\x03aws\x06Amazon\x02eu\x02IE\x00\x01\x00\x89\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Both the raw bytes and their gzip: the decoder's checks are
		// behind the gzip layer.
		decodeSnapshot(data)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		out, err := decodeSnapshot(buf.Bytes())
		if err == nil {
			for _, es := range out {
				for _, e := range es {
					if !e.prefix.IsValid() {
						t.Fatalf("invalid prefix")
					}
				}
			}
		}
	})
}
