package geo

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"
)

// The embedded country outlines: Natural Earth 1:50m admin-0 countries
// (public domain) from the npm package world-atlas, converted by
// `make geodb` (tools/geodb -countries) with EncodeCountries.
//
//go:embed data/countries.bin.gz
var embeddedCountries []byte

// FibreKmPerSecond is the speed bound of a round trip: light in fibre
// travels at about 2/3 c, 200,000 km/s, and no path is shorter than the
// great circle, so a server that answers after RTT is at most
// RTT/2 × 200,000 km away. It is an upper bound, never an estimate: a
// high RTT (queues, VPNs, detours) proves nothing about distance.
const FibreKmPerSecond = 200000

// earthRadiusKm is the mean Earth radius.
const earthRadiusKm = 6371.0088

// MaxDistanceKm returns the farthest a server answering after the round
// trip rtt can be: rtt/2 × FibreKmPerSecond.
func MaxDistanceKm(rtt time.Duration) float64 {
	return rtt.Seconds() / 2 * FibreKmPerSecond
}

// Shape is one country's outline: rings of (longitude, latitude) points
// in degrees, outer rings and holes alike (inside is decided even-odd).
type Shape struct {
	Country string // ISO 3166-1 alpha-2
	Rings   [][][2]float64
}

// countriesMagic starts the outline format, gzip-compressed:
//
//	"BWSHAPES1\n", uvarint countries; per country: 2 code bytes, uvarint
//	rings; per ring: uvarint points, then per point the zigzag varint
//	deltas of longitude and latitude in units of 1e-4 degrees.
const countriesMagic = "BWSHAPES1\n"

// EncodeCountries writes outlines in the embedded format.
func EncodeCountries(shapes []Shape) ([]byte, error) {
	var raw bytes.Buffer
	raw.WriteString(countriesMagic)
	raw.Write(binary.AppendUvarint(nil, uint64(len(shapes))))
	q := func(v float64) int64 { return int64(math.Round(v * 1e4)) }
	for _, s := range shapes {
		if !isAlpha2(s.Country) {
			return nil, fmt.Errorf("country %q: not an alpha-2 code", s.Country)
		}
		raw.WriteString(s.Country)
		raw.Write(binary.AppendUvarint(nil, uint64(len(s.Rings))))
		for _, ring := range s.Rings {
			raw.Write(binary.AppendUvarint(nil, uint64(len(ring))))
			var px, py int64
			for _, p := range ring {
				x, y := q(p[0]), q(p[1])
				raw.Write(binary.AppendVarint(nil, x-px))
				raw.Write(binary.AppendVarint(nil, y-py))
				px, py = x, y
			}
		}
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

var errCountries = errors.New("malformed country outlines")

// vec is a point on the unit sphere.
type vec struct{ x, y, z float64 }

func toVec(lat, lon float64) vec {
	la, lo := lat*math.Pi/180, lon*math.Pi/180
	return vec{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
}

func (a vec) dot(b vec) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec) cross(b vec) vec {
	return vec{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}
func (a vec) norm() float64 { return math.Sqrt(a.dot(a)) }

// angle is the angle between unit vectors, in radians.
func angle(a, b vec) float64 { return math.Atan2(a.cross(b).norm(), a.dot(b)) }

// country is one decoded outline: rings in degrees and as unit vectors.
type country struct {
	code  string
	rings [][][2]float64
	vecs  [][]vec
}

// decodeCountries reads the outline format; anything malformed is an
// error, never a crash.
func decodeCountries(gz []byte) ([]country, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCountries, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCountries, err)
	}
	if !bytes.HasPrefix(data, []byte(countriesMagic)) {
		return nil, fmt.Errorf("%w: no header", errCountries)
	}
	p := data[len(countriesMagic):]
	uv := func(max uint64) (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > max {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	nc, ok := uv(1000)
	if !ok {
		return nil, fmt.Errorf("%w: country count", errCountries)
	}
	var out []country
	for i := uint64(0); i < nc; i++ {
		if len(p) < 2 || !isAlpha2(string(p[:2])) {
			return nil, fmt.Errorf("%w: country %d: code", errCountries, i)
		}
		c := country{code: string(p[:2])}
		p = p[2:]
		nr, ok := uv(1 << 16)
		if !ok {
			return nil, fmt.Errorf("%w: %s: ring count", errCountries, c.code)
		}
		for j := uint64(0); j < nr; j++ {
			np, ok := uv(uint64(len(p)))
			if !ok {
				return nil, fmt.Errorf("%w: %s: point count", errCountries, c.code)
			}
			ring := make([][2]float64, 0, np)
			vs := make([]vec, 0, np)
			var x, y int64
			for k := uint64(0); k < np; k++ {
				dx, ok1 := sv()
				dy, ok2 := sv()
				x, y = x+dx, y+dy
				if !ok1 || !ok2 || x < -1800000 || x > 1800000 || y < -900000 || y > 900000 {
					return nil, fmt.Errorf("%w: %s: point %d of ring %d", errCountries, c.code, k, j)
				}
				lon, lat := float64(x)/1e4, float64(y)/1e4
				ring = append(ring, [2]float64{lon, lat})
				vs = append(vs, toVec(lat, lon))
			}
			c.rings = append(c.rings, ring)
			c.vecs = append(c.vecs, vs)
		}
		out = append(out, c)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errCountries)
	}
	return out, nil
}

var embeddedCountryShapes = sync.OnceValues(func() ([]country, error) { return decodeCountries(embeddedCountries) })

// contains reports whether (lon, lat) is inside the country (even-odd
// over all its rings, in the longitude-latitude plane: Natural Earth
// splits rings at the antimeridian).
func (c *country) contains(lon, lat float64) bool {
	in := false
	for _, r := range c.rings {
		for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
			a, b := r[i], r[j]
			if (a[1] > lat) != (b[1] > lat) && lon < (b[0]-a[0])*(lat-a[1])/(b[1]-a[1])+a[0] {
				in = !in
			}
		}
	}
	return in
}

// distance returns the shortest great-circle distance in km from p (at
// lon, lat) to the country: 0 inside, else to the nearest edge.
func (c *country) distance(p vec, lon, lat float64) float64 {
	if c.contains(lon, lat) {
		return 0
	}
	best := math.Pi
	for _, r := range c.vecs {
		for i := range r {
			a, b := r[i], r[(i+1)%len(r)]
			best = math.Min(best, arcDistance(p, a, b))
		}
	}
	return best * earthRadiusKm
}

// arcDistance is the angle from p to the shorter great-circle arc a-b.
func arcDistance(p, a, b vec) float64 {
	n := a.cross(b)
	if l := n.norm(); l > 1e-12 {
		n = vec{n.x / l, n.y / l, n.z / l}
		d := p.dot(n)
		c := vec{p.x - d*n.x, p.y - d*n.y, p.z - d*n.z} // p projected on the circle's plane
		if a.cross(c).dot(n) >= 0 && c.cross(b).dot(n) >= 0 {
			return math.Abs(math.Asin(math.Max(-1, math.Min(1, d))))
		}
	}
	return math.Min(angle(p, a), angle(p, b))
}

// CountryDistance is a country and its shortest great-circle distance
// from a site.
type CountryDistance struct {
	Country string
	Km      float64
}

// CountryDistances returns the shortest great-circle distance from the
// site (latitude, longitude in degrees) to every country of the embedded
// Natural Earth outlines, nearest first. It costs a few milliseconds:
// call it once per site, not per packet.
func CountryDistances(lat, lon float64) ([]CountryDistance, error) {
	if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, fmt.Errorf("site %v,%v: latitude from -90 to 90, longitude from -180 to 180", lat, lon)
	}
	cs, err := embeddedCountryShapes()
	if err != nil {
		return nil, err
	}
	p := toVec(lat, lon)
	byCode := make(map[string]float64, len(cs))
	for i := range cs {
		d := cs[i].distance(p, lon, lat)
		if old, ok := byCode[cs[i].code]; !ok || d < old {
			byCode[cs[i].code] = d
		}
	}
	out := make([]CountryDistance, 0, len(byCode))
	for c, d := range byCode {
		out = append(out, CountryDistance{c, d})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Km != out[j].Km {
			return out[i].Km < out[j].Km
		}
		return out[i].Country < out[j].Country
	})
	return out, nil
}

// Reachable returns the countries a server answering after rtt can be in
// (distance at most MaxDistanceKm(rtt)), from CountryDistances' result.
func Reachable(dists []CountryDistance, rtt time.Duration) map[string]bool {
	max := MaxDistanceKm(rtt)
	m := make(map[string]bool)
	for _, d := range dists {
		if d.Km <= max {
			m[d.Country] = true
		}
	}
	return m
}
