package report

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/place"
)

// The world map is drawn in the Equal Earth projection (Šavrič, Patterson
// and Jenny, 2018): equal-area, so a country's shading is not inflated by
// its latitude. Coordinates are whole units of a mapWidth-wide view box;
// rings are simplified to mapTolerance units (Douglas-Peucker) and rings
// smaller than a unit dropped, so the whole outline stays small (about
// 200 kB) whatever the capture.
const (
	mapWidth     = 2000
	mapTolerance = 1.2
	mapSouth     = -58.0 // latitude of the bottom edge (Antarctica is left out)
)

const (
	eeA1, eeA2, eeA3, eeA4 = 1.340264, -0.081106, 0.000893, 0.003796
	eeMaxX                 = 2.7066297319215575 // x at longitude 180°, latitude 0
)

var eeM = math.Sqrt(3) / 2

// equalEarth projects (lon, lat) in degrees to the unit plane (y up).
func equalEarth(lon, lat float64) (x, y float64) {
	th := math.Asin(eeM * math.Sin(lat*math.Pi/180))
	t2 := th * th
	t6 := t2 * t2 * t2
	x = lon * math.Pi / 180 * math.Cos(th) / (eeM * (eeA1 + 3*eeA2*t2 + t6*(7*eeA3+9*eeA4*t2)))
	y = th * (eeA1 + eeA2*t2 + t6*(eeA3+eeA4*t2))
	return x, y
}

// mapScale and mapTop place the unit plane in the view box.
var (
	mapScale  = mapWidth / (2 * eeMaxX)
	_, topY   = equalEarth(0, 90)
	_, southY = equalEarth(0, mapSouth)
	mapHeight = int(math.Ceil((topY - southY) * mapScale))
)

type point struct{ x, y float64 }

func project(lon, lat float64) point {
	x, y := equalEarth(lon, lat)
	return point{(x + eeMaxX) * mapScale, (topY - y) * mapScale}
}

// mapCountry is a country on the map: its outline as SVG path data
// (empty when every ring is smaller than a unit), and the centre and
// size of its largest ring's bounding box, where a country too small to
// see gets a dot.
type mapCountry struct {
	Path   string
	X, Y   float64
	extent float64
}

// smallCountry is the extent (view box units) under which a country with
// traffic is also marked by a dot.
const smallCountry = 8

// mapCountries is every country of the outlines by ISO code, made once.
var mapCountries = sync.OnceValues(func() (map[string]*mapCountry, error) {
	shapes, err := geo.CountryShapes()
	if err != nil {
		return nil, err
	}
	out := map[string]*mapCountry{}
	for _, s := range shapes {
		if s.Country == "AQ" {
			continue
		}
		c := out[s.Country]
		if c == nil {
			c = &mapCountry{}
			out[s.Country] = c
		}
		var b strings.Builder
		b.WriteString(c.Path)
		for _, ring := range s.Rings {
			for _, piece := range splitAntimeridian(ring) {
				appendRing(&b, c, piece)
			}
		}
		c.Path = b.String()
	}
	return out, nil
})

// appendRing writes one ring as a closed path: an absolute move, then
// relative lines in whole units.
func appendRing(b *strings.Builder, c *mapCountry, ring [][2]float64) {
	pts := make([]point, 0, len(ring))
	for _, p := range ring {
		pts = append(pts, project(p[0], math.Max(p[1], mapSouth)))
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		minX, maxX, minY, maxY = math.Min(minX, p.x), math.Max(maxX, p.x), math.Min(minY, p.y), math.Max(maxY, p.y)
	}
	if e := math.Max(maxX-minX, maxY-minY); e > c.extent {
		c.X, c.Y, c.extent = (minX+maxX)/2, (minY+maxY)/2, e
	}
	pts = simplify(pts, mapTolerance)
	if len(pts) < 3 || (maxX-minX < 1.5 && maxY-minY < 1.5) {
		return
	}
	var px, py int
	for i, p := range pts {
		x, y := int(math.Round(p.x)), int(math.Round(p.y))
		switch {
		case i == 0:
			b.WriteString("M" + strconv.Itoa(x) + " " + strconv.Itoa(y))
		case x == px && y == py:
			continue
		default:
			b.WriteString("l" + strconv.Itoa(x-px) + " " + strconv.Itoa(y-py))
		}
		px, py = x, y
	}
	b.WriteString("z")
}

// simplify is Douglas-Peucker: the points of pts that the polyline needs
// to stay within tol of every dropped point.
func simplify(pts []point, tol float64) []point {
	if len(pts) < 3 {
		return pts
	}
	keep := make([]bool, len(pts))
	keep[0], keep[len(pts)-1] = true, true
	stack := [][2]int{{0, len(pts) - 1}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		best, at := 0.0, -1
		for i := s[0] + 1; i < s[1]; i++ {
			if d := segDistance(pts[i], pts[s[0]], pts[s[1]]); d > best {
				best, at = d, i
			}
		}
		if at >= 0 && best > tol {
			keep[at] = true
			stack = append(stack, [2]int{s[0], at}, [2]int{at, s[1]})
		}
	}
	out := pts[:0:0]
	for i, k := range keep {
		if k {
			out = append(out, pts[i])
		}
	}
	return out
}

// segDistance is the distance from p to the segment a-b.
func segDistance(p, a, b point) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return math.Hypot(p.x-a.x, p.y-a.y)
	}
	t := math.Max(0, math.Min(1, ((p.x-a.x)*dx+(p.y-a.y)*dy)/l2))
	return math.Hypot(p.x-a.x-t*dx, p.y-a.y-t*dy)
}

// mapShades are the fills of the egress classes, light to dark: a
// sequential blue whose lightness falls steadily, so that the classes stay
// apart when printed in grey. mapNoData is a country without egress.
var mapShades = []string{"#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"}

const mapNoData = "#f2f2f2"

// worldMap is the SVG map's data.
type worldMap struct {
	Width, Height int
	Countries     []mapShape
	Dots          []mapShape
	Legend        []legendStep
	Site          *mapSite // nil when no site location is set
}

// mapSite is the site's marker: its place in the view box, where its
// label goes (left of the marker near the right edge), and its
// coordinates.
type mapSite struct {
	X, Y, LabelX, LabelY string
	LabelEnd             bool // the label ends at LabelX (text-anchor end)
	Lat, Lon             float64
	Nearest              string
}

// newMapSite projects the site with the map's projection.
func newMapSite(s *place.Site) *mapSite {
	p := project(s.Lon, math.Max(s.Lat, mapSouth))
	f := func(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }
	m := &mapSite{X: f(p.x), Y: f(p.y), LabelX: f(p.x + 14), LabelY: f(p.y - 12), Lat: s.Lat, Lon: s.Lon, Nearest: s.Nearest}
	if p.x > mapWidth-260 {
		m.LabelX, m.LabelEnd = f(p.x-14), true
	}
	if p.y < 30 {
		m.LabelY = f(p.y + 30)
	}
	return m
}

// mapShape is a country drawn on the map (or its dot).
type mapShape struct {
	Code, Path, Fill string
	Home             bool
	Egress           uint64
	X, Y             string
}

// legendStep is one class: its fill and its lower bound in bytes.
type legendStep struct {
	Fill string
	From uint64
}

// newWorldMap shades every country by its egress bytes, in classes of
// equal width on a log scale from the smallest to the largest, and marks
// the site when one is set.
func newWorldMap(d *detail, home []string, site *place.Site) (*worldMap, error) {
	countries, err := mapCountries()
	if err != nil {
		return nil, err
	}
	m := &worldMap{Width: mapWidth, Height: mapHeight}
	if site != nil {
		m.Site = newMapSite(site)
	}
	lo, hi := math.Inf(1), 0.0
	for c, t := range d.countryEgress {
		if _, ok := countries[c]; ok && t.Bytes > 0 {
			lo, hi = math.Min(lo, float64(t.Bytes)), math.Max(hi, float64(t.Bytes))
		}
	}
	class := func(b uint64) int {
		if hi <= lo {
			return len(mapShades) - 1
		}
		k := int(math.Log(float64(b)/lo) / math.Log(hi/lo) * float64(len(mapShades)))
		return min(k, len(mapShades)-1)
	}
	if hi > 0 {
		for k, fill := range mapShades {
			from := uint64(math.Ceil(lo * math.Pow(hi/lo, float64(k)/float64(len(mapShades)))))
			if hi <= lo && k < len(mapShades)-1 {
				continue
			}
			m.Legend = append(m.Legend, legendStep{Fill: fill, From: from})
		}
	}
	isHome := map[string]bool{}
	for _, c := range home {
		isHome[c] = true
	}
	codes := make([]string, 0, len(countries))
	for c := range countries {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		mc := countries[c]
		s := mapShape{Code: c, Path: mc.Path, Fill: mapNoData, Home: isHome[c]}
		if t := d.countryEgress[c]; t != nil && t.Bytes > 0 {
			s.Egress, s.Fill = t.Bytes, mapShades[class(t.Bytes)]
			if mc.extent < smallCountry {
				s.X, s.Y = strconv.FormatFloat(math.Round(mc.X*10)/10, 'f', -1, 64), strconv.FormatFloat(math.Round(mc.Y*10)/10, 'f', -1, 64)
				m.Dots = append(m.Dots, s)
			}
		}
		if s.Path != "" {
			m.Countries = append(m.Countries, s)
		}
	}
	return m, nil
}

// splitAntimeridian returns the ring as is, or, when it crosses the
// antimeridian (a jump of more than 180° of longitude between two points,
// which would draw a line across the whole map), its parts on either side,
// each clipped at ±180° and moved back into range.
func splitAntimeridian(ring [][2]float64) [][][2]float64 {
	un := make([][2]float64, len(ring))
	shift, lo, hi := 0.0, 0.0, 0.0
	for i, p := range ring {
		if i > 0 {
			switch d := p[0] - ring[i-1][0]; {
			case d > 180:
				shift -= 360
			case d < -180:
				shift += 360
			}
		}
		un[i] = [2]float64{p[0] + shift, p[1]}
		lo, hi = math.Min(lo, un[i][0]), math.Max(hi, un[i][0])
	}
	if lo >= -180 && hi <= 180 {
		return [][][2]float64{ring}
	}
	var out [][][2]float64
	for k := math.Floor((lo + 180) / 360); k <= math.Floor((hi+180)/360); k++ {
		left, right := -180+360*k, 180+360*k
		part := clipLon(clipLon(un, left, true), right, false)
		for i := range part {
			part[i][0] -= 360 * k
		}
		if len(part) >= 3 {
			out = append(out, part)
		}
	}
	return out
}

// clipLon clips a ring to the half-plane lon >= at (keepAbove) or lon <=
// at (Sutherland-Hodgman).
func clipLon(ring [][2]float64, at float64, keepAbove bool) [][2]float64 {
	in := func(p [2]float64) bool { return (p[0] >= at) == keepAbove || p[0] == at }
	var out [][2]float64
	for i, p := range ring {
		q := ring[(i+len(ring)-1)%len(ring)]
		if in(p) != in(q) {
			t := (at - q[0]) / (p[0] - q[0])
			out = append(out, [2]float64{at, q[1] + t*(p[1]-q[1])})
		}
		if in(p) {
			out = append(out, p)
		}
	}
	return out
}
