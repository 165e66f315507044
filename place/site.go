package place

import (
	"math"
	"time"

	"github.com/borderwatch/borderwatch/geo"
)

// Basis says how a placement's country and region were decided.
type Basis uint8

// Bases. The zero value is BasisDatabase.
const (
	// BasisDatabase: the country database (or a published range's
	// region); no round trip was measured, no site is configured, or the
	// round trip is too long to decide anything.
	BasisDatabase Basis = iota
	// BasisRTT: the measured round trip decides the region: every country
	// within reach of the site is in the same region as the reported one
	// (it confirms the database's country, or places an anycast edge).
	BasisRTT
	// BasisContradicted: the database's country is farther from the site
	// than the round trip allows. It is never reported: the country is the
	// nearest one to the site (an inference), the region the one of every
	// country within reach, else unknown.
	BasisContradicted
	// BasisAnycast: a published anycast or CDN edge range, and no round
	// trip short enough to place it: country and region unknown (the
	// database's country is never used as an anycast edge's location).
	BasisAnycast
	// NumBases is the number of bases.
	NumBases
)

var basisNames = [...]string{"database", "rtt", "contradicted", "anycast"}

// String returns the basis' label value.
func (b Basis) String() string {
	if int(b) < len(basisNames) {
		return basisNames[b]
	}
	return basisNames[0]
}

// OutlineSlackKm is added to every reach before a country is ruled out:
// it covers the simplification of the 1:50m outlines (a border drawn a few
// kilometres off) and a site location given to a city's precision.
const OutlineSlackKm = 25

// Site is where borderwatch captures, with the distance from it to every
// country. Build it with NewSite; it is immutable.
type Site struct {
	Lat, Lon float64
	// Nearest is the country nearest the site (its own, on land).
	Nearest string
	dists   []geo.CountryDistance // nearest first
	km      map[string]float64
	// firstHome and firstAbroad are the distances to the nearest home and
	// the nearest foreign country (+Inf when there is none).
	firstHome, firstAbroad float64
}

// NewSite computes the distances from (lat, lon) to every country and
// the nearest home and foreign ones for the home set (which may be
// empty). It costs a few milliseconds: once per policy, not per flow.
func NewSite(lat, lon float64, home map[string]bool) (*Site, error) {
	d, err := geo.CountryDistances(lat, lon)
	if err != nil {
		return nil, err
	}
	s := &Site{Lat: lat, Lon: lon, dists: d, km: make(map[string]float64, len(d)),
		firstHome: math.Inf(1), firstAbroad: math.Inf(1)}
	if len(d) > 0 {
		s.Nearest = d[0].Country
	}
	for _, c := range d {
		s.km[c.Country] = c.Km
		if home[c.Country] {
			s.firstHome = math.Min(s.firstHome, c.Km)
		} else {
			s.firstAbroad = math.Min(s.firstAbroad, c.Km)
		}
	}
	return s, nil
}

// DistanceKm returns the shortest great-circle distance from the site to
// country, and false when the outlines do not have it.
func (s *Site) DistanceKm(country string) (float64, bool) {
	km, ok := s.km[country]
	return km, ok
}

// Reach is the farthest a server answering after rtt can be from the
// site, slack included.
func Reach(rtt time.Duration) float64 { return geo.MaxDistanceKm(rtt) + OutlineSlackKm }

// ruledOut reports whether a server answering within reach km cannot be
// in country. A country the outlines lack is never ruled out.
func (s *Site) ruledOut(country string, reach float64) bool {
	km, ok := s.km[country]
	return ok && km > reach
}

// regionWithin returns Home when every country within reach is in the
// home region, Abroad when none is, else RegionUnknown (also when no
// country is within reach, or no home region is set).
func (s *Site) regionWithin(reach float64, home map[string]bool) Region {
	if len(home) == 0 || len(s.dists) == 0 || s.dists[0].Km > reach {
		return RegionUnknown
	}
	switch {
	case reach < s.firstAbroad:
		return Home
	case reach < s.firstHome:
		return Abroad
	}
	return RegionUnknown
}

// locate decides the country, region and basis of a remote address from
// its geo facts and, when measured, its round trip.
func (p *Policy) locate(g *geo.Info, rtt time.Duration) (country string, region Region, basis Basis) {
	loc := g.Location()
	if g.Anycast() {
		loc, basis = "", BasisAnycast
	}
	region = p.RegionOf(loc)
	country = loc
	if rtt > 0 && p.Site != nil {
		reach := Reach(rtt)
		disc := p.Site.regionWithin(reach, p.Home)
		switch {
		case loc != "" && p.Site.ruledOut(loc, reach):
			country, region, basis = p.Site.Nearest, disc, BasisContradicted
		case disc != RegionUnknown:
			region, basis = disc, BasisRTT
			if loc == "" && g.Anycast() {
				country = p.Site.Nearest
			}
		}
	}
	if country == "" {
		country = CountryUnknown
	}
	return country, region, basis
}
