package geo

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/borderwatch/borderwatch/lpm"
)

// Range is what a provider's published address ranges, or a geofeed (RFC
// 8805), say of the addresses in a prefix. Ranges are immutable and shared
// by every lookup that lands in them.
type Range struct {
	// Provider is the provider that publishes the range ("Amazon",
	// "Google", "Microsoft", "Oracle", "DigitalOcean", "Linode",
	// "Cloudflare", "Fastly"), the names of the provider table; "" for
	// the user's own geofeed.
	Provider string
	// Region is the provider's region ("eu-frankfurt-1", "europe-west3",
	// "GLOBAL"), or for a geofeed its city, else its subdivision.
	Region string
	// Country is the region's ISO 3166-1 code; "" for anycast ranges and
	// for a region whose country borderwatch does not know (the database's
	// country then stands).
	Country string
	// Anycast marks an anycast or CDN edge range (Cloudflare, Fastly, AWS
	// GLOBAL, Google Cloud global): the edge that answers is near the
	// client, so no country is its location.
	Anycast bool
	// Source is the file it came from: a RangeSource name, or "geofeed"
	// for --geo.geofeed.
	Source string
}

// A rangeSource is one provider's published file: its kind, the names it
// is recognised by in a --geo.cloud-ranges directory (the snapshot's name
// first, then the provider's download name), and its parser.
type rangeSource struct {
	name     string
	provider string // provider table name
	table    string // provider key in region-country.tsv
	geofeed  bool   // an RFC 8805 geofeed: it names the country itself
	files    []string
	parse    func(file string, data []byte, add func(netip.Prefix, string)) error
	anycast  func(region string) bool
}

// rangeSources lists the files in precedence order: for the same prefix
// in two files, the earlier one's range stays (the most specific prefix
// wins first).
var rangeSources = []rangeSource{
	{name: "aws", provider: "Amazon", table: "aws", files: []string{"aws-ip-ranges.json", "ip-ranges.json"}, parse: parseAWS,
		anycast: func(r string) bool { return r == "GLOBAL" }},
	{name: "gcp", provider: "Google", table: "googlecloud", files: []string{"gcp-cloud.json", "cloud.json"}, parse: parseGCP,
		anycast: func(r string) bool { return r == "global" }},
	{name: "azure", provider: "Microsoft", table: "azure", files: []string{"azure-service-tags.json", "ServiceTags_Public*.json"}, parse: parseAzure},
	{name: "oracle", provider: "Oracle", table: "oracle", files: []string{"oracle-public-ip-ranges.json", "public_ip_ranges.json"}, parse: parseOracle},
	{name: "digitalocean", provider: "DigitalOcean", table: "digitalocean", geofeed: true, files: []string{"digitalocean-geofeed.csv"}, parse: parseGeofeedRegions},
	{name: "linode", provider: "Linode", table: "linode", geofeed: true, files: []string{"linode-geofeed.csv"}, parse: parseGeofeedRegions},
	{name: "cloudflare-v4", provider: "Cloudflare", files: []string{"cloudflare-v4-ip-ranges.txt", "ips-v4"}, parse: parsePrefixList,
		anycast: func(string) bool { return true }},
	{name: "cloudflare-v6", provider: "Cloudflare", files: []string{"cloudflare-v6-ip-ranges.txt", "ips-v6"}, parse: parsePrefixList,
		anycast: func(string) bool { return true }},
	{name: "fastly", provider: "Fastly", files: []string{"fastly-public-ip-list.json", "public-ip-list.json"}, parse: parseFastly,
		anycast: func(string) bool { return true }},
}

// RangeSources returns the names of the published files borderwatch
// reads, in precedence order, each with the file names it recognises.
func RangeSources() map[string][]string {
	m := make(map[string][]string, len(rangeSources))
	for _, s := range rangeSources {
		m[s.name] = s.files
	}
	return m
}

// Limits on untrusted range files.
const (
	maxRangeFile    = 64 << 20 // bytes per file
	maxRangeEntries = 4 << 20  // prefixes in all files together
)

// rangeSet is a longest-prefix table over ranges.
type rangeSet struct {
	table  *lpm.Table
	ranges []Range // the table's values index it
	n      int     // prefixes
}

// lookup returns the range of the most specific prefix containing a, or
// nil. It does not allocate.
func (s *rangeSet) lookup(a netip.Addr) *Range {
	if s == nil {
		return nil
	}
	v, ok := s.table.Lookup(a)
	if !ok {
		return nil
	}
	return &s.ranges[v]
}

// rangeEntry is one prefix of one range.
type rangeEntry struct {
	prefix netip.Prefix
	r      Range
}

// rangeBuilder collects entries and interns their ranges.
type rangeBuilder struct {
	index   map[Range]int32
	ranges  []Range
	entries []lpm.Entry
}

func (b *rangeBuilder) add(p netip.Prefix, r Range) error {
	if len(b.entries) >= maxRangeEntries {
		return fmt.Errorf("more than %d prefixes", maxRangeEntries)
	}
	if b.index == nil {
		b.index = make(map[Range]int32)
	}
	i, ok := b.index[r]
	if !ok {
		i = int32(len(b.ranges))
		b.ranges = append(b.ranges, r)
		b.index[r] = i
	}
	b.entries = append(b.entries, lpm.Entry{Prefix: p, Value: i})
	return nil
}

func (b *rangeBuilder) build() *rangeSet {
	if len(b.entries) == 0 {
		return nil
	}
	return &rangeSet{table: lpm.New(b.entries), ranges: b.ranges, n: len(b.entries)}
}

// parseSource reads one provider's file into entries, resolving each
// region's country with the region table. Anycast regions get no country.
func parseSource(src *rangeSource, file string, data []byte) ([]rangeEntry, error) {
	var out []rangeEntry
	var err error
	perr := src.parse(file, data, func(p netip.Prefix, region string) {
		if err != nil {
			return
		}
		if len(out) >= maxRangeEntries {
			err = fmt.Errorf("%s: more than %d prefixes", file, maxRangeEntries)
			return
		}
		r := Range{Provider: src.provider, Region: region, Source: src.name}
		if src.anycast != nil && src.anycast(region) {
			r.Anycast = true
		} else if src.table != "" && !src.geofeed {
			r.Country = regionCountry(src.table, region)
		}
		if src.geofeed {
			// A provider's geofeed names the country itself: region is
			// "CC|place".
			r.Country, r.Region, _ = strings.Cut(region, "|")
		}
		out = append(out, rangeEntry{lpm.Canonical(p), r})
	})
	if perr != nil {
		return nil, perr
	}
	return out, err
}

// readLimited reads a whole file of at most maxRangeFile bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRangeFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxRangeFile {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxRangeFile>>20)
	}
	return data, nil
}

// readRangeDir reads the published files found in dir, by source name.
// A directory without any of them is an error (a typo would otherwise
// silently leave the embedded snapshot in place).
func readRangeDir(dir string) (map[string][]rangeEntry, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	got := make(map[string][]rangeEntry)
	for i := range rangeSources {
		src := &rangeSources[i]
		var path string
		for _, pat := range src.files {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			if len(m) > 0 {
				sort.Strings(m)
				path = m[len(m)-1] // the newest dated Azure file
				break
			}
		}
		if path == "" {
			continue
		}
		data, err := readLimited(path)
		if err != nil {
			return nil, err
		}
		es, err := parseSource(src, path, data)
		if err != nil {
			return nil, err
		}
		got[src.name] = es
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("%s: none of the providers' range files (aws-ip-ranges.json or ip-ranges.json, gcp-cloud.json or cloud.json, ...; see the README)", dir)
	}
	return got, nil
}

// embeddedRangeSet is the embedded snapshot's table, read once from its
// prebuilt form: every resolver without --geo.cloud-ranges shares it.
var embeddedRangeSet = sync.OnceValues(func() (*rangeSet, error) {
	if s, err := decodePrebuilt(embeddedPrebuilt); err == nil {
		return s, nil
	}
	return loadRanges("") // a build whose prebuilt table is broken (TestPrebuiltRanges fails)
})

// loadRanges builds the published ranges: the embedded snapshot, with
// each provider whose file is in dir (if dir is not "") replaced by it.
func loadRanges(dir string) (*rangeSet, error) {
	emb, err := decodeSnapshot(embeddedRanges)
	if err != nil {
		return nil, fmt.Errorf("embedded ranges: %w", err)
	}
	if dir != "" {
		fresh, err := readRangeDir(dir)
		if err != nil {
			return nil, err
		}
		for k, v := range fresh {
			emb[k] = v
		}
	}
	var b rangeBuilder
	n := 0
	for _, es := range emb {
		n += len(es)
	}
	b.entries = make([]lpm.Entry, 0, n)
	for _, src := range rangeSources {
		es := emb[src.name]
		// Within a file, regional prefixes before anycast ones: when AWS
		// lists a prefix both in a region and in GLOBAL, the region stays.
		for pass := 0; pass < 2; pass++ {
			for _, e := range es {
				if e.r.Anycast == (pass == 1) {
					if err := b.add(e.prefix, e.r); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return b.build(), nil
}

// loadGeofeed reads a user's RFC 8805 geofeed.
func loadGeofeed(path string) (*rangeSet, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	var b rangeBuilder
	var aerr error
	err = parseGeofeed(path, data, func(p netip.Prefix, country, sub, city string) {
		if aerr != nil {
			return
		}
		place := city
		if place == "" {
			place = sub
		}
		aerr = b.add(p, Range{Region: place, Country: country, Source: "geofeed"})
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	if len(b.entries) == 0 {
		return nil, fmt.Errorf("%s: no prefixes", path)
	}
	return b.build(), nil
}

// jsonError names the line of a JSON syntax or type error.
func jsonError(file string, data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 && off <= int64(len(data)) {
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		return fmt.Errorf("%s:%d: %w", file, line, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// parsePrefix parses a prefix field of a JSON file, naming where it is.
func parsePrefix(file, field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %s %q: not an address prefix", file, field, s)
	}
	return p, nil
}

func parseAWS(file string, data []byte, add func(netip.Prefix, string)) error {
	var doc struct {
		Prefixes []struct {
			Prefix string `json:"ip_prefix"`
			Region string `json:"region"`
			Group  string `json:"network_border_group"`
		} `json:"prefixes"`
		IPv6 []struct {
			Prefix string `json:"ipv6_prefix"`
			Region string `json:"region"`
			Group  string `json:"network_border_group"`
		} `json:"ipv6_prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(file, data, err)
	}
	if len(doc.Prefixes)+len(doc.IPv6) == 0 {
		return fmt.Errorf("%s: no prefixes or ipv6_prefixes: not an AWS ip-ranges.json", file)
	}
	for i, e := range doc.Prefixes {
		p, err := parsePrefix(file, fmt.Sprintf("prefixes[%d].ip_prefix", i), e.Prefix)
		if err != nil {
			return err
		}
		if !p.Addr().Is4() {
			return fmt.Errorf("%s: prefixes[%d].ip_prefix %q: not IPv4", file, i, e.Prefix)
		}
		if e.Region == "" {
			return fmt.Errorf("%s: prefixes[%d].region: empty", file, i)
		}
		add(p, awsPlace(e.Region, e.Group))
	}
	for i, e := range doc.IPv6 {
		p, err := parsePrefix(file, fmt.Sprintf("ipv6_prefixes[%d].ipv6_prefix", i), e.Prefix)
		if err != nil {
			return err
		}
		if e.Region == "" {
			return fmt.Errorf("%s: ipv6_prefixes[%d].region: empty", file, i)
		}
		add(p, awsPlace(e.Region, e.Group))
	}
	return nil
}

// awsPlace is the network border group when there is one: a Local Zone
// or Wavelength Zone (us-east-1-bue-1, Buenos Aires) is listed under its
// parent region (us-east-1), which can be in another country.
func awsPlace(region, group string) string {
	if group != "" {
		return group
	}
	return region
}

func parseGCP(file string, data []byte, add func(netip.Prefix, string)) error {
	var doc struct {
		Prefixes []struct {
			V4    string `json:"ipv4Prefix"`
			V6    string `json:"ipv6Prefix"`
			Scope string `json:"scope"`
		} `json:"prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(file, data, err)
	}
	if len(doc.Prefixes) == 0 {
		return fmt.Errorf("%s: no prefixes: not a Google Cloud cloud.json", file)
	}
	for i, e := range doc.Prefixes {
		s, field := e.V4, "ipv4Prefix"
		if s == "" {
			s, field = e.V6, "ipv6Prefix"
		}
		if s == "" {
			return fmt.Errorf("%s: prefixes[%d]: neither ipv4Prefix nor ipv6Prefix", file, i)
		}
		p, err := parsePrefix(file, fmt.Sprintf("prefixes[%d].%s", i, field), s)
		if err != nil {
			return err
		}
		if e.Scope == "" {
			return fmt.Errorf("%s: prefixes[%d].scope: empty", file, i)
		}
		add(p, e.Scope)
	}
	return nil
}

// parseAzure reads the AzureCloud.<region> service tags, which hold every
// prefix of a region; the other tags are services, some of them global.
func parseAzure(file string, data []byte, add func(netip.Prefix, string)) error {
	var doc struct {
		Values []struct {
			Name       string `json:"name"`
			Properties struct {
				Region   string   `json:"region"`
				Prefixes []string `json:"addressPrefixes"`
			} `json:"properties"`
		} `json:"values"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(file, data, err)
	}
	n := 0
	for i, v := range doc.Values {
		if !strings.HasPrefix(v.Name, "AzureCloud.") {
			continue
		}
		region := v.Properties.Region
		if region == "" {
			region = strings.TrimPrefix(v.Name, "AzureCloud.")
		}
		for j, s := range v.Properties.Prefixes {
			p, err := parsePrefix(file, fmt.Sprintf("values[%d] (%s).properties.addressPrefixes[%d]", i, v.Name, j), s)
			if err != nil {
				return err
			}
			add(p, region)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no AzureCloud.<region> values: not an Azure ServiceTags_Public file", file)
	}
	return nil
}

func parseOracle(file string, data []byte, add func(netip.Prefix, string)) error {
	var doc struct {
		Regions []struct {
			Region string `json:"region"`
			CIDRs  []struct {
				CIDR string `json:"cidr"`
			} `json:"cidrs"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(file, data, err)
	}
	if len(doc.Regions) == 0 {
		return fmt.Errorf("%s: no regions: not an Oracle public_ip_ranges.json", file)
	}
	for i, r := range doc.Regions {
		if r.Region == "" {
			return fmt.Errorf("%s: regions[%d].region: empty", file, i)
		}
		for j, c := range r.CIDRs {
			p, err := parsePrefix(file, fmt.Sprintf("regions[%d] (%s).cidrs[%d].cidr", i, r.Region, j), c.CIDR)
			if err != nil {
				return err
			}
			add(p, r.Region)
		}
	}
	return nil
}

func parseFastly(file string, data []byte, add func(netip.Prefix, string)) error {
	var doc struct {
		V4 []string `json:"addresses"`
		V6 []string `json:"ipv6_addresses"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(file, data, err)
	}
	if len(doc.V4)+len(doc.V6) == 0 {
		return fmt.Errorf("%s: no addresses or ipv6_addresses: not a Fastly public-ip-list", file)
	}
	for i, s := range doc.V4 {
		p, err := parsePrefix(file, fmt.Sprintf("addresses[%d]", i), s)
		if err != nil {
			return err
		}
		add(p, "")
	}
	for i, s := range doc.V6 {
		p, err := parsePrefix(file, fmt.Sprintf("ipv6_addresses[%d]", i), s)
		if err != nil {
			return err
		}
		add(p, "")
	}
	return nil
}

// parsePrefixList reads one prefix a line (Cloudflare's ips-v4, ips-v6);
// blank lines and # comments are skipped.
func parsePrefixList(file string, data []byte, add func(netip.Prefix, string)) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<16)
	line, n := 0, 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%s:%d: %q: not an address prefix", file, line, s)
		}
		add(p, "")
		n++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: no prefixes", file)
	}
	return nil
}

// parseGeofeedRegions reads a provider's geofeed, giving "CC|place" as
// the region (see parseSource).
func parseGeofeedRegions(file string, data []byte, add func(netip.Prefix, string)) error {
	return parseGeofeed(file, data, func(p netip.Prefix, country, sub, city string) {
		place := city
		if place == "" {
			place = sub
		}
		add(p, country+"|"+place)
	})
}

// parseGeofeed reads an RFC 8805 geofeed: CSV lines of ip_prefix,
// alpha2code, region, city, postal_code (all but the prefix may be empty
// or left out), # comments. The country must be an ISO 3166-1 alpha-2
// code (any case), the region an ISO 3166-2 code.
func parseGeofeed(file string, data []byte, add func(p netip.Prefix, country, subdivision, city string)) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("%s:%d: %v", file, pe.Line, pe.Err)
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		line, _ := r.FieldPos(0) // only valid for a record Read returned

		if len(rec) > 5 {
			return fmt.Errorf("%s:%d: %d fields; a geofeed line has at most 5 (ip_prefix,alpha2code,region,city,postal_code)", file, line, len(rec))
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(rec[0]))
		if err != nil {
			return fmt.Errorf("%s:%d: field 1 (ip_prefix) %q: not an address prefix", file, line, rec[0])
		}
		var country, sub, city string
		if len(rec) > 1 {
			country = strings.ToUpper(strings.TrimSpace(rec[1]))
			if country != "" && !isAlpha2(country) {
				return fmt.Errorf("%s:%d: field 2 (alpha2code) %q: not an ISO 3166-1 alpha-2 code", file, line, rec[1])
			}
		}
		if len(rec) > 2 {
			sub = strings.TrimSpace(rec[2])
			if sub != "" && !isSubdivision(sub) {
				return fmt.Errorf("%s:%d: field 3 (region) %q: not an ISO 3166-2 code", file, line, rec[2])
			}
		}
		if len(rec) > 3 {
			city = strings.TrimSpace(rec[3])
			if len(city) > 100 {
				return fmt.Errorf("%s:%d: field 4 (city): longer than 100 bytes", file, line)
			}
		}
		add(p, country, sub, city)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no prefixes", file)
	}
	return nil
}

func isAlpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// isSubdivision accepts an ISO 3166-2 code: CC-XXX (1 to 3 letters or
// digits after the dash).
func isSubdivision(s string) bool {
	cc, sub, ok := strings.Cut(s, "-")
	if !ok || !isAlpha2(strings.ToUpper(cc)) || len(sub) < 1 || len(sub) > 3 {
		return false
	}
	for _, c := range sub {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

//go:embed data/region-country.tsv
var regionTableTSV string

// regionTable maps provider key and region to the region's country, from
// the verified table in data/region-country.tsv (see its header).
// It is parsed when first used: only reading the providers' own files
// needs it (the embedded table is prebuilt).
var regionTable = sync.OnceValue(func() map[[2]string]string { return parseRegionTable(regionTableTSV) })

func parseRegionTable(s string) map[[2]string]string {
	m := make(map[[2]string]string)
	for _, line := range strings.Split(s, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 || f[0] == "provider" {
			continue
		}
		if isAlpha2(f[2]) {
			m[[2]string{f[0], f[1]}] = f[2]
		}
	}
	return m
}

// regionCountry returns the country of a provider's region, or "" if the
// table does not know it (or it was dropped as unverifiable).
func regionCountry(provider, region string) string {
	return regionTable()[[2]string{provider, region}]
}

// RangePrefix is one prefix of a published range.
type RangePrefix struct {
	Prefix netip.Prefix
	Range  Range
}

// ReadRangeDir parses the providers' files found in dir (see
// RangeSources), for tools and tests.
func ReadRangeDir(dir string) ([]RangePrefix, error) {
	got, err := readRangeDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RangePrefix
	for _, src := range rangeSources {
		for _, e := range got[src.name] {
			out = append(out, RangePrefix{e.prefix, e.r})
		}
	}
	return out, nil
}
