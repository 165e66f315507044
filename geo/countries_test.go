package geo

import (
	"bytes"
	"compress/gzip"
	"math"
	"testing"
	"time"
)

// haversine is an independent great-circle distance for the tests.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	r := math.Pi / 180
	dlat, dlon := (lat2-lat1)*r, (lon2-lon1)*r
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*r)*math.Cos(lat2*r)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
}

// TestFrankfurtReach: the acceptance on the real embedded
// geometry, from Frankfurt (50.11, 8.68) with the bound RTT/2 × 200,000
// km/s: 5 ms rules out the US and allows DE, FR and NL; 40 ms still rules
// out the US; 70 ms allows the US east coast.
func TestFrankfurtReach(t *testing.T) {
	dists, err := CountryDistances(50.11, 8.68)
	if err != nil {
		t.Fatal(err)
	}
	km := map[string]float64{}
	for _, d := range dists {
		km[d.Country] = d.Km
	}
	t.Logf("DE %.0f FR %.0f NL %.0f CH %.0f US %.0f km", km["DE"], km["FR"], km["NL"], km["CH"], km["US"])
	if km["DE"] != 0 || dists[0].Country != "DE" {
		t.Errorf("Frankfurt is not in DE: %v", dists[:3])
	}
	if len(dists) < 200 {
		t.Errorf("%d countries", len(dists))
	}
	for _, c := range []struct {
		rtt     time.Duration
		in, out []string
	}{
		{5 * time.Millisecond, []string{"DE", "FR", "NL", "BE", "LU"}, []string{"US", "GB", "ES", "JP"}},
		{40 * time.Millisecond, []string{"DE", "GB", "ES", "IS"}, []string{"US", "CN", "JP", "BR"}},
		{70 * time.Millisecond, []string{"US", "CA"}, []string{"JP", "AU"}},
	} {
		r := Reachable(dists, c.rtt)
		for _, cc := range c.in {
			if !r[cc] {
				t.Errorf("%v: %s (%.0f km) not reachable within %.0f km", c.rtt, cc, km[cc], MaxDistanceKm(c.rtt))
			}
		}
		for _, cc := range c.out {
			if r[cc] {
				t.Errorf("%v: %s (%.0f km) reachable within %.0f km", c.rtt, cc, km[cc], MaxDistanceKm(c.rtt))
			}
		}
	}
	// Independent checks: the US is at most as far as Boston, and not
	// nearer than Maine's easternmost point (West Quoddy Head, 44.82 N
	// 66.95 W) by more than the outline's resolution; FR not farther than
	// Strasbourg (48.58, 7.75), NL not farther than Venlo (51.37, 6.17).
	if b := haversine(50.11, 8.68, 42.36, -71.06); km["US"] > b || km["US"] > 7000 {
		t.Errorf("US %.0f km, Boston %.0f km", km["US"], b)
	}
	if q := haversine(50.11, 8.68, 44.82, -66.95); km["US"] < q-100 {
		t.Errorf("US %.0f km, West Quoddy Head %.0f km", km["US"], q)
	}
	if s := haversine(50.11, 8.68, 48.58, 7.75); km["FR"] > s || km["FR"] < 50 {
		t.Errorf("FR %.0f km, Strasbourg %.0f km", km["FR"], s)
	}
	if v := haversine(50.11, 8.68, 51.37, 6.17); km["NL"] > v || km["NL"] < 100 {
		t.Errorf("NL %.0f km, Venlo %.0f km", km["NL"], v)
	}
}

func TestMaxDistance(t *testing.T) {
	if got := MaxDistanceKm(10 * time.Millisecond); got != 1000 {
		t.Errorf("10 ms: %v km, want 1000", got)
	}
	if _, err := CountryDistances(91, 0); err == nil {
		t.Error("latitude 91 accepted")
	}
}

// TestArcDistance against haversine: a point off the middle of an arc
// along the equator, and one beyond its end.
func TestArcDistance(t *testing.T) {
	a, b := toVec(0, 0), toVec(0, 10)
	if got, want := arcDistance(toVec(1, 5), a, b)*earthRadiusKm, haversine(1, 5, 0, 5); math.Abs(got-want) > 0.5 {
		t.Errorf("middle: %v, want %v", got, want)
	}
	if got, want := arcDistance(toVec(0, 12), a, b)*earthRadiusKm, haversine(0, 12, 0, 10); math.Abs(got-want) > 0.5 {
		t.Errorf("beyond: %v, want %v", got, want)
	}
}

// FuzzCountries: corrupted outlines are refused, never a crash.
func FuzzCountries(f *testing.F) {
	f.Add([]byte(countriesMagic + "\x01DE\x01\x03\x00\x00\x02\x00\x00\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc, err := gzipBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		decodeCountries(enc)
	})
}

func BenchmarkCountryDistances(b *testing.B) {
	for b.Loop() {
		if _, err := CountryDistances(50.11, 8.68); err != nil {
			b.Fatal(err)
		}
	}
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	err := zw.Close()
	return buf.Bytes(), err
}
