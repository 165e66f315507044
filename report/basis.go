package report

import (
	"fmt"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/place"
)

// Label values of the placement bases.
var (
	basisDatabase     = place.BasisDatabase.String()
	basisRTT          = place.BasisRTT.String()
	basisContradicted = place.BasisContradicted.String()
)

// rttBound is the distance bound of a round trip as the page states it,
// from the constants the placement uses.
var rttBound = fmt.Sprintf("RTT/2 × %s km/s + %d km", thousands(geo.FibreKmPerSecond), place.OutlineSlackKm)

// thousands writes n with a comma every three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// basisGroup is one way egress was placed, as the headline shows it: its
// bytes abroad and in all, and what it means.
type basisGroup struct {
	Key, Title, Explain string
	Abroad, Egress      uint64
}

// basisSplit is the egress (and the egress abroad) by how its place was
// decided: confirmed by a round trip (rtt and contradicted), from the
// databases only, or anycast and unknown (any other basis); and how much
// of it the round trip corrected (contradicted).
type basisSplit struct {
	Groups                     []basisGroup
	Corrected, CorrectedAbroad uint64
}

// basisGroupOf is the headline group of a basis label.
func basisGroupOf(basis string) int {
	switch basis {
	case basisRTT, basisContradicted:
		return 0
	case basisDatabase:
		return 1
	}
	return 2
}

func splitBases(r *Report) basisSplit {
	s := basisSplit{Groups: []basisGroup{
		{Key: "rtt", Title: "confirmed by round-trip time",
			Explain: "a handshake's shortest round trip from the site bounds how far the server can be (" + rttBound + "): every country within reach is in the region counted (rtt), or the database's country was out of reach (contradicted): the country nearest the site replaces it, and the region is the one every country within reach shares, else unknown"},
		{Key: "database", Title: "database only",
			Explain: "your geofeed, the provider's published range or the country database, unconfirmed: no round trip was measured, none was short enough to decide, or no site location is set"},
		{Key: "anycast", Title: "anycast or unknown",
			Explain: "a published anycast or CDN edge range with no round trip short enough to place it: one address answers from many places, so its country and region stay unknown"},
	}}
	for _, row := range r.EgressByBasis {
		s.Groups[basisGroupOf(row.Key)].Egress += row.Bytes
		if row.Key == basisContradicted {
			s.Corrected += row.Bytes
		}
	}
	for _, row := range r.AbroadByBasis {
		s.Groups[basisGroupOf(row.Key)].Abroad += row.Bytes
		if row.Key == basisContradicted {
			s.CorrectedAbroad += row.Bytes
		}
	}
	return s
}
