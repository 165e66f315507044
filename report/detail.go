package report

import "github.com/borderwatch/borderwatch/metrics"

// detail is what the HTML page shows beyond the JSON report, summed from
// the same series in the same pass: egress by app and country, by client
// group, by provider and by region.
type detail struct {
	appCountry     map[[2]string]uint64 // egress bytes by (app, country)
	countryEgress  tally
	countryRegion  map[string]string // the region of each country seen
	providerEgress tally
	regionEgress   tally
	groups         map[string]*groupTally
	overflow       uint64 // placements folded into "other" by the series budget
}

// groupTally is one client group's egress, and what it reached abroad.
type groupTally struct {
	egress, abroad   uint64
	apps, countries  tally // egress bytes abroad
	allApps, allCtry tally // all egress bytes
}

func newDetail() *detail {
	return &detail{appCountry: map[[2]string]uint64{}, countryEgress: tally{}, countryRegion: map[string]string{},
		providerEgress: tally{}, regionEgress: tally{}, groups: map[string]*groupTally{}}
}

// add counts one series' bytes and packets.
func (d *detail) add(l *metrics.Labels, b, n uint64) {
	if l.Country != "" {
		d.countryRegion[l.Country] = l.Region
	}
	if l.Direction != egress {
		return
	}
	d.appCountry[[2]string{l.App, l.Country}] += b
	d.countryEgress.add(l.Country, b, n)
	d.providerEgress.add(l.Provider, b, n)
	d.regionEgress.add(l.Region, b, n)
	g := d.groups[l.ClientGroup]
	if g == nil {
		g = &groupTally{apps: tally{}, countries: tally{}, allApps: tally{}, allCtry: tally{}}
		d.groups[l.ClientGroup] = g
	}
	g.egress += b
	g.allApps.add(l.App, b, n)
	g.allCtry.add(l.Country, b, n)
	if l.Region == abroad {
		g.abroad += b
		g.apps.add(l.App, b, n)
		g.countries.add(l.Country, b, n)
	}
}
