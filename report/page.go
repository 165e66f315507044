package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/place"
)

// PageInfo is what the HTML page says about where its numbers come from,
// besides the counts.
type PageInfo struct {
	// Source says what was counted: capture files, or a daemon's live
	// capture and files.
	Source string
	// Live: the counts are a running daemon's, still growing.
	Live bool
	// First and Last bound the capture period (packet times of the
	// flows; zero when unknown). For the daemon, Since is its start.
	First, Last, Since time.Time
	// Generated is when the page was made.
	Generated time.Time
	// HomeSpec says how the home region was given ("--geo.home-region
	// EU", "home_region in bw.yml").
	HomeSpec string
	// Databases are the geo databases in use; Ranges and Geofeed the
	// prefixes of the providers' ranges and of the user's geofeed.
	Databases       []geo.DatabaseInfo
	Ranges, Geofeed int
	// Version is the borderwatch version (version.Info()).
	Version string
	// Settings is the configuration in effect, as name and value.
	Settings [][2]string
	// EndpointsTracked: the pipeline kept per-endpoint totals (read does,
	// the daemon does not).
	EndpointsTracked bool
	// Site is where borderwatch captures (nil when not configured), and
	// SiteSpec how it was given ("--geo.site-location 50.11,8.68",
	// "site_location in bw.yml").
	Site     *place.Site
	SiteSpec string
}

// Limits of the page's tables, so that its size is bounded whatever the
// capture: the page says when a table is cut.
const (
	pageCountries    = 60  // countries in the map's table
	pageMatrixApps   = 15  // apps (rows) of apps x countries
	pageMatrixCtry   = 8   // countries (columns) of apps x countries
	pageOrgs         = 25  // AS organisations
	pageGroupDetails = 6   // apps and countries listed per client group
	pageEndpoints    = 200 // endpoints
	pageProviders    = 40  // providers
)

//go:embed page.html
var pageHTML string

// pageTemplate is parsed when a page is first written, not at every
// start-up (0.7 ms of it).
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"human": human,
		"pct":   pct,
		"u64":   func(v uint64) string { return strconv.FormatUint(v, 10) },
		"f64":   func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
		"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"deref": func(v *float64) float64 { return *v },
		"join":  strings.Join,
		"wire":  wire,
		"ms":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" },
		"deg":   func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	}).Parse(pageHTML))
})

// pct is part of whole in percent, one decimal ("–" for an empty whole).
func pct(part, whole uint64) string {
	if whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", float64(part)/float64(whole)*100)
}

// page is the template's data.
type page struct {
	R             *Report
	I             PageInfo
	Share         string
	Region        regionSplit
	Basis         basisSplit
	RTTBound      string
	Map           *worldMap
	Countries     []countryRow
	CountriesMore int
	Matrix        matrix
	Providers     []providerRow
	ProvidersMore int
	Operators     []Row
	Orgs          []Row
	OrgsMore      int
	Groups        []groupRow
	Endpoints     []Endpoint
	EndpointsMore int
	Naming        []Row
	NamedTotal    uint64
	Skipped       uint64
	Errors        uint64
	Overflow      uint64
}

// regionSplit is egress by region, in bytes and as bar widths (percent).
type regionSplit struct {
	Home, Abroad, Unknown          uint64
	HomeW, AbroadW, UnknownW       string
	HomeCountries, AbroadCountries int
}

// WriteHTML writes the report as one self-contained HTML page: inline
// CSS and SVG, no script, nothing fetched.
func (r *Report) WriteHTML(w io.Writer, info PageInfo) error {
	p, err := r.page(info)
	if err != nil {
		return err
	}
	return pageTemplate().Execute(w, p)
}

func (r *Report) page(info PageInfo) (*page, error) {
	d := r.detail
	if d == nil {
		d = newDetail()
	}
	p := &page{R: r, I: info, Overflow: d.overflow}
	if r.AbroadShare != nil {
		p.Share = fmt.Sprintf("%.1f %%", *r.AbroadShare*100)
	}
	p.Region = splitRegions(d, r.EgressBytes)
	p.Basis, p.RTTBound = splitBases(r), rttBound
	m, err := newWorldMap(d, r.HomeRegion, info.Site)
	if err != nil {
		return nil, err
	}
	p.Map = m
	p.Countries, p.CountriesMore = countryRows(r, d)
	p.Matrix = newMatrix(r, d)
	p.Providers, p.Operators = providerRows(r, d)
	p.Providers, p.ProvidersMore = capped(p.Providers, pageProviders)
	p.Orgs, p.OrgsMore = capped(r.ByOrg, pageOrgs)
	p.Groups = groupRows(d)
	p.Endpoints, p.EndpointsMore = capped(r.Endpoints, pageEndpoints)
	p.Naming, p.NamedTotal = namingRows(r)
	for _, s := range r.Skipped {
		p.Skipped += s.Packets
	}
	for _, s := range r.DecodeErrors {
		p.Errors += s.Packets
	}
	return p, nil
}

// capped returns the first n of s and how many were left out.
func capped[T any](s []T, n int) ([]T, int) {
	if len(s) > n {
		return s[:n], len(s) - n
	}
	return s, 0
}

func splitRegions(d *detail, egress uint64) regionSplit {
	s := regionSplit{}
	for k, c := range d.regionEgress {
		switch k {
		case "home":
			s.Home = c.Bytes
		case abroad:
			s.Abroad = c.Bytes
		default:
			s.Unknown += c.Bytes
		}
	}
	width := func(b uint64) string {
		if egress == 0 {
			return "0"
		}
		return strconv.FormatFloat(math.Round(float64(b)/float64(egress)*1000)/10, 'f', -1, 64)
	}
	s.HomeW, s.AbroadW, s.UnknownW = width(s.Home), width(s.Abroad), width(s.Unknown)
	for c, reg := range d.countryRegion {
		if d.countryEgress[c] == nil {
			continue
		}
		switch reg {
		case "home":
			s.HomeCountries++
		case abroad:
			s.AbroadCountries++
		}
	}
	return s
}

// countryRow is a country's line in the map's table.
type countryRow struct {
	Code, Region  string
	Egress, Total uint64
}

// countryRows lists the countries by egress, then by all traffic.
func countryRows(r *Report, d *detail) ([]countryRow, int) {
	out := make([]countryRow, 0, len(r.ByCountry))
	for _, c := range r.ByCountry {
		row := countryRow{Code: c.Key, Region: d.countryRegion[c.Key], Total: c.Bytes}
		if e := d.countryEgress[c.Key]; e != nil {
			row.Egress = e.Bytes
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b countryRow) int { return cmp.Compare(b.Egress, a.Egress) })
	return capped(out, pageCountries)
}

// providerRow is a provider, where its operator is headquartered, and its
// bytes.
type providerRow struct {
	Name, Operator string
	Egress, Total  uint64
}

// providerRows lists the providers (by all traffic, as the JSON report),
// and egress by operator country.
func providerRows(r *Report, d *detail) ([]providerRow, []Row) {
	var out []providerRow
	ops := tally{}
	for _, pr := range r.ByProvider {
		row := providerRow{Name: pr.Key, Operator: geo.OperatorCountry(pr.Key), Total: pr.Bytes}
		if e := d.providerEgress[pr.Key]; e != nil {
			row.Egress = e.Bytes
			ops.add(row.Operator, e.Bytes, e.Packets)
		}
		out = append(out, row)
	}
	return out, rows(ops)
}

// namingRows is the traffic by name source, every source in order and
// "none" included, and the bytes with a name.
func namingRows(r *Report) ([]Row, uint64) {
	by := map[string]Row{}
	for _, n := range r.ByNameSource {
		by[n.Key] = n
	}
	var out []Row
	var named uint64
	order := []string{"sni", "quic", "http", "dns"}
	for _, name := range metrics.NameSourceNames {
		if !slices.Contains(order, name) && name != "none" {
			order = append(order, name)
		}
	}
	for _, name := range append(order, "none") {
		row := by[name]
		row.Key = name
		out = append(out, row)
		if name != "none" {
			named += row.Bytes
		}
	}
	return out, named
}

// groupRow is a client group: its egress, the share abroad, and the apps
// and countries it reached abroad.
type groupRow struct {
	Name                    string
	Egress, Abroad          uint64
	Apps, Countries         []Row
	AppsMore, CountriesMore int
	AllApps, AllCountries   int
}

func groupRows(d *detail) []groupRow {
	var out []groupRow
	for name, g := range d.groups {
		row := groupRow{Name: name, Egress: g.egress, Abroad: g.abroad, AllApps: len(g.allApps), AllCountries: len(g.allCtry)}
		row.Apps, row.AppsMore = capped(rows(g.apps), pageGroupDetails)
		row.Countries, row.CountriesMore = capped(rows(g.countries), pageGroupDetails)
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b groupRow) int {
		if c := cmp.Compare(b.Egress, a.Egress); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// matrix is egress by app (rows) and country (columns).
type matrix struct {
	Cols              []string
	Rows              []matrixRow
	AppsMore, CtyMore int
}

type matrixRow struct {
	App          string
	Cells        []uint64
	Other, Total uint64 // egress to the other countries; all egress
	AllTraffic   uint64 // all directions, as the JSON's by_app
}

func newMatrix(r *Report, d *detail) matrix {
	var m matrix
	ctry := rows(d.countryEgress)
	for i, c := range ctry {
		if i == pageMatrixCtry {
			m.CtyMore = len(ctry) - i
			break
		}
		m.Cols = append(m.Cols, c.Key)
	}
	appEgress := tally{}
	for k, b := range d.appCountry {
		appEgress.add(k[0], b, 0)
	}
	all := map[string]uint64{}
	for _, a := range r.ByApp {
		all[a.Key] = a.Bytes
	}
	apps := rows(appEgress)
	apps, m.AppsMore = capped(apps, pageMatrixApps)
	for _, a := range apps {
		row := matrixRow{App: a.Key, Total: a.Bytes, Other: a.Bytes, AllTraffic: all[a.Key]}
		for _, c := range m.Cols {
			b := d.appCountry[[2]string{a.Key, c}]
			row.Cells = append(row.Cells, b)
			row.Other -= b
		}
		m.Rows = append(m.Rows, row)
	}
	return m
}

// wireMax is the longest name shown whole; a longer one is cut and says
// by how much.
const wireMax = 120

// wire shows a name from the wire (SNI, Host, DNS, AS organisation) as
// plain text: control, format and bidirectional characters (an RTL
// override would reorder what follows it) are shown as their code point,
// and a very long name is cut. html/template escapes the rest.
func wire(s string) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == wireMax {
			fmt.Fprintf(&b, "… (%d more bytes)", len(s)-i)
			break
		}
		n++
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			fmt.Fprintf(&b, "[U+%04X]", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
