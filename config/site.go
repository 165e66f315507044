package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SiteLocation is where borderwatch captures, in decimal degrees.
type SiteLocation struct {
	Lat, Lon float64
}

// ParseSiteLocation parses "LAT,LON" in decimal degrees (site_location,
// --geo.site-location).
func ParseSiteLocation(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("site location %q: want LAT,LON in decimal degrees, e.g. 50.11,8.68", s)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, fmt.Errorf("site location %q: want LAT,LON in decimal degrees, latitude from -90 to 90, longitude from -180 to 180", s)
	}
	return lat, lon, nil
}
