// Package report summarises a finished pipeline for `borderwatch read`:
// totals, bytes by direction, country, provider, AS organisation and app,
// the share of egress leaving the home region, and the top remote
// endpoints with their names.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/borderwatch/borderwatch/place"
)

// Label values of the placement unit that the report sums by.
var (
	egress = place.Egress.String()
	abroad = place.Abroad.String()
)

// orgUnknown is the AS organisation row of addresses whose AS is unknown.
const orgUnknown = "unknown"

// Counts are bytes and packets.
type Counts struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

// Row is one line of a breakdown.
type Row struct {
	Key string `json:"key"`
	Counts
}

// Endpoint is a remote address's totals.
type Endpoint struct {
	Address  string `json:"address"`
	Name     string `json:"name,omitempty"`
	App      string `json:"app"`
	Country  string `json:"country"`
	ASN      uint32 `json:"asn"`
	Org      string `json:"org"`
	Provider string `json:"provider"`
	// Basis says how Country was decided; DBCountry is the database's.
	Basis     string   `json:"basis"`
	DBCountry string   `json:"database_country"`
	MinRTTMs  *float64 `json:"min_rtt_ms,omitempty"` // shortest handshake round trip
	Egress    Counts   `json:"egress"`
	Ingress   Counts   `json:"ingress"`
	Transit   Counts   `json:"transit"`
}

// Report is the summary of a read.
type Report struct {
	Files        []string `json:"files"`
	PacketsRead  uint64   `json:"packets_read"`
	Placed       Counts   `json:"placed"`
	Internal     Counts   `json:"internal"`
	Skipped      []Row    `json:"skipped"`       // packets by reason
	DecodeErrors []Row    `json:"decode_errors"` // packets by reason
	ByDirection  []Row    `json:"by_direction"`
	ByCountry    []Row    `json:"by_country"`
	ByProvider   []Row    `json:"by_provider"`
	ByOrg        []Row    `json:"by_org"`
	ByApp        []Row    `json:"by_app"`
	ByNameSource []Row    `json:"by_name_source"`
	HomeRegion   []string `json:"home_region"`
	EgressBytes  uint64   `json:"egress_bytes"`
	EgressAbroad uint64   `json:"egress_abroad_bytes"`
	AbroadShare  *float64 `json:"egress_abroad_share"` // null without a home region
	// EgressByBasis and AbroadByBasis split the egress and the egress
	// abroad by how their place was decided (database, rtt, contradicted,
	// anycast).
	EgressByBasis  []Row      `json:"egress_by_basis"`
	AbroadByBasis  []Row      `json:"egress_abroad_by_basis"`
	Endpoints      []Endpoint `json:"endpoints"`
	OtherEndpoints *Endpoint  `json:"other_endpoints,omitempty"`
	FlowsEvicted   []Row      `json:"flows_evicted"`

	detail *detail // for the HTML page (not in the JSON)
}

// Build summarises p, which must be finished (pipeline.Finish). top limits
// the endpoints listed (0: all).
func Build(p *pipeline.Pipeline, files []string, home []string, top int) *Report {
	r := &Report{Files: files, HomeRegion: home}
	labels := p.Series().Labels()
	t := metrics.SumShards(p.Shards(), len(labels))
	r.addPlaced(labels, t)
	if len(home) > 0 && r.EgressBytes > 0 {
		s := float64(r.EgressAbroad) / float64(r.EgressBytes)
		r.AbroadShare = &s
	}
	r.addAccounting(t)
	r.addEndpoints(p, top)
	return r
}

// tally sums bytes and packets by key.
type tally map[string]*Counts

func (m tally) add(k string, b, n uint64) {
	c := m[k]
	if c == nil {
		c = &Counts{}
		m[k] = c
	}
	c.Bytes += b
	c.Packets += n
}

// addPlaced sums the placed series by direction, country, provider and app,
// and the egress that left the home region.
func (r *Report) addPlaced(labels []metrics.Labels, t *metrics.Totals) {
	byDir, byCountry, byProvider, byApp, byBasis, abroadByBasis := tally{}, tally{}, tally{}, tally{}, tally{}, tally{}
	r.detail = newDetail()
	r.detail.overflow = t.Overflow
	for id := 1; id < len(labels); id++ {
		b, n := t.Bytes[id], t.Packets[id]
		if n == 0 {
			continue
		}
		l := labels[id]
		r.Placed.Bytes += b
		r.Placed.Packets += n
		byDir.add(l.Direction, b, n)
		byCountry.add(l.Country, b, n)
		byProvider.add(l.Provider, b, n)
		byApp.add(l.App, b, n)
		r.detail.add(&l, b, n)
		if l.Direction == egress {
			r.EgressBytes += b
			byBasis.add(l.Basis, b, n)
			if l.Region == abroad {
				r.EgressAbroad += b
				abroadByBasis.add(l.Basis, b, n)
			}
		}
	}
	r.ByDirection, r.ByCountry, r.ByProvider, r.ByApp = rows(byDir), rows(byCountry), rows(byProvider), rows(byApp)
	r.EgressByBasis, r.AbroadByBasis = rows(byBasis), rows(abroadByBasis)
}

// addAccounting fills what was read and not placed: internal traffic,
// skipped frames and decode errors by reason, naming sources, evictions.
func (r *Report) addAccounting(t *metrics.Totals) {
	skipped, errs, named, evicted := tally{}, tally{}, tally{}, tally{}
	r.PacketsRead = t.PacketsRead
	r.Internal = Counts{Bytes: t.InternalBytes, Packets: t.InternalPackets}
	for _, reason := range captureSkipReasons() {
		if v := t.Skipped[reason.id]; v > 0 {
			if reason.err {
				errs.add(reason.name, 0, v)
			} else {
				skipped.add(reason.name, 0, v)
			}
		}
	}
	for i, name := range metrics.NameSourceNames {
		if v := t.NamedBytes[i]; v > 0 {
			named.add(name, v, t.NamedFlows[i])
		}
	}
	for i, name := range evictNames() {
		if v := t.Evicted[i]; v > 0 {
			evicted.add(name, 0, v)
		}
	}
	r.Skipped, r.DecodeErrors, r.ByNameSource, r.FlowsEvicted = rows(skipped), rows(errs), rows(named), rows(evicted)
}

// addEndpoints fills the organisations and the top endpoints by bytes.
func (r *Report) addEndpoints(p *pipeline.Pipeline, top int) {
	eps, other := p.Endpoints()
	byOrg := tally{}
	for _, ep := range eps {
		org := ep.Org
		if org == "" {
			org = orgUnknown
		}
		byOrg.add(org, ep.EgressBytes+ep.IngressBytes+ep.TransitBytes, ep.EgressPackets+ep.IngressPackets+ep.TransitPackets)
	}
	r.ByOrg = rows(byOrg)
	slices.SortFunc(eps, func(a, b *pipeline.Endpoint) int {
		ta, tb := a.EgressBytes+a.IngressBytes+a.TransitBytes, b.EgressBytes+b.IngressBytes+b.TransitBytes
		if c := cmp.Compare(tb, ta); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	if top > 0 && len(eps) > top {
		eps = eps[:top]
	}
	for _, ep := range eps {
		r.Endpoints = append(r.Endpoints, endpoint(ep))
	}
	if other.EgressPackets+other.IngressPackets+other.TransitPackets > 0 {
		o := endpoint(&other)
		o.Address = metrics.Other
		r.OtherEndpoints = &o
	}
}

func endpoint(ep *pipeline.Endpoint) Endpoint {
	country := ep.Country
	if country == "" {
		country = place.CountryUnknown
	}
	app := ep.App
	if app == "" {
		app = apps.Unknown
	}
	addr := ""
	if ep.Addr.IsValid() {
		addr = ep.Addr.String()
	}
	dbCountry := cmp.Or(ep.DBCountry, place.CountryUnknown)
	var rtt *float64
	if ep.MinRTT > 0 {
		ms := float64(ep.MinRTT) / 1e6
		rtt = &ms
	}
	return Endpoint{Address: addr, Name: ep.Name, App: app, Country: country, ASN: ep.ASN, Org: ep.Org, Provider: ep.Provider,
		Basis: ep.Basis.String(), DBCountry: dbCountry, MinRTTMs: rtt,
		Egress: Counts{ep.EgressBytes, ep.EgressPackets}, Ingress: Counts{ep.IngressBytes, ep.IngressPackets},
		Transit: Counts{ep.TransitBytes, ep.TransitPackets}}
}

func rows(m map[string]*Counts) []Row {
	out := make([]Row, 0, len(m))
	for k, c := range m {
		out = append(out, Row{Key: k, Counts: *c})
	}
	slices.SortFunc(out, func(a, b Row) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Packets, a.Packets); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer, rowsPerTable int) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "borderwatch read: %s\n\n", strings.Join(r.Files, ", "))
	fmt.Fprintf(tw, "packets read\t%d\t\n", r.PacketsRead)
	fmt.Fprintf(tw, "placed\t%d packets\t%s\t\n", r.Placed.Packets, human(r.Placed.Bytes))
	fmt.Fprintf(tw, "internal (local to local)\t%d packets\t%s\t\n", r.Internal.Packets, human(r.Internal.Bytes))
	var sk, de uint64
	for _, s := range r.Skipped {
		sk += s.Packets
	}
	for _, s := range r.DecodeErrors {
		de += s.Packets
	}
	fmt.Fprintf(tw, "skipped (no IP, unsupported)\t%d packets\t\t\n", sk)
	fmt.Fprintf(tw, "decode errors\t%d packets\t\t\n", de)
	tw.Flush()
	if len(r.HomeRegion) > 0 {
		share := "n/a (no egress)"
		if r.AbroadShare != nil {
			share = fmt.Sprintf("%.1f%%", *r.AbroadShare*100)
		}
		fmt.Fprintf(w, "\negress leaving the home region (%s): %s of %s egress (%s)\n", strings.Join(r.HomeRegion, ","), human(r.EgressAbroad), human(r.EgressBytes), share)
		writeBasis(w, "egress abroad", r.AbroadByBasis)
		writeBasis(w, "all egress", r.EgressByBasis)
	} else {
		fmt.Fprintf(w, "\nno home region set (--geo.home-region): every region label is \"unknown\"\n")
	}
	for _, t := range []struct {
		title string
		rows  []Row
	}{{"direction", r.ByDirection}, {"country", r.ByCountry}, {"provider", r.ByProvider}, {"AS organisation", r.ByOrg},
		{"app", r.ByApp}, {"name source", r.ByNameSource}, {"skipped", r.Skipped}, {"decode errors", r.DecodeErrors}} {
		if len(t.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nby %s\n", t.title)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		unit := "packets"
		if t.title == "name source" {
			unit = "flows"
		}
		for i, row := range t.rows {
			if rowsPerTable > 0 && i == rowsPerTable {
				fmt.Fprintf(tw, "  ... %d more\t\t\t\n", len(t.rows)-rowsPerTable)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d %s\t\n", row.Key, human(row.Bytes), row.Packets, unit)
		}
		tw.Flush()
	}
	if len(r.Endpoints) > 0 {
		fmt.Fprintf(w, "\ntop remote endpoints\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  address\tname\tapp\tcountry\tbasis\tmin rtt\tprovider\torg\tegress\tingress\t\n")
		for i, ep := range r.Endpoints {
			if rowsPerTable > 0 && i == rowsPerTable {
				break
			}
			name := ep.Name
			if name == "" {
				name = "-"
			}
			rtt := "-"
			if ep.MinRTTMs != nil {
				rtt = fmt.Sprintf("%.1f ms", *ep.MinRTTMs)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", ep.Address, name, ep.App, ep.Country, ep.Basis, rtt, ep.Provider, ep.Org, human(ep.Egress.Bytes), human(ep.Ingress.Bytes))
		}
		tw.Flush()
	}
	return nil
}

// writeBasis writes one line splitting bytes by the basis of their
// placement.
func writeBasis(w io.Writer, what string, rows []Row) {
	if len(rows) == 0 {
		return
	}
	parts := make([]string, len(rows))
	for i, row := range rows {
		parts[i] = row.Key + " " + human(row.Bytes)
	}
	fmt.Fprintf(w, "  %s by basis: %s\n", what, strings.Join(parts, ", "))
}

func human(b uint64) string {
	const unit = 1000
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(b)/float64(div), "kMGTPE"[exp])
}
