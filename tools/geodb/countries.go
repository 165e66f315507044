package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/borderwatch/borderwatch/geo"
)

const countriesFile = "countries.bin.gz"

// topology is the part of a TopoJSON file (world-atlas's
// countries-50m.json) that the outlines need.
type topology struct {
	Transform struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64 `json:"arcs"`
	Objects struct {
		Countries struct {
			Geometries []struct {
				Type       string          `json:"type"`
				ID         string          `json:"id"`
				Arcs       json.RawMessage `json:"arcs"`
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
			} `json:"geometries"`
		} `json:"countries"`
	} `json:"objects"`
}

// buildCountries converts world-atlas's TopoJSON countries into the
// outlines geo embeds.
func buildCountries(file, out string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var t topology
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	// Decode the delta-encoded, quantized arcs.
	arcs := make([][][2]float64, len(t.Arcs))
	for i, a := range t.Arcs {
		var x, y float64
		for _, p := range a {
			x, y = x+p[0], y+p[1]
			arcs[i] = append(arcs[i], [2]float64{x*t.Transform.Scale[0] + t.Transform.Translate[0], y*t.Transform.Scale[1] + t.Transform.Translate[1]})
		}
	}
	ring := func(idx []int) ([][2]float64, error) {
		var r [][2]float64
		for k, i := range idx {
			rev := i < 0
			if rev {
				i = ^i
			}
			if i >= len(arcs) {
				return nil, fmt.Errorf("arc %d of %d", i, len(arcs))
			}
			a := arcs[i]
			pts := make([][2]float64, len(a))
			copy(pts, a)
			if rev {
				for l, m := 0, len(pts)-1; l < m; l, m = l+1, m-1 {
					pts[l], pts[m] = pts[m], pts[l]
				}
			}
			if k > 0 {
				pts = pts[1:]
			}
			r = append(r, pts...)
		}
		return r, nil
	}
	byCode := map[string]*geo.Shape{}
	var skipped []string
	for _, g := range t.Objects.Countries.Geometries {
		code := isoNumeric[g.ID]
		if g.ID == "" {
			code = unnumbered[g.Properties.Name]
		}
		if code == "" {
			skipped = append(skipped, g.Properties.Name)
			continue
		}
		var polys [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			if err := json.Unmarshal(g.Arcs, &p); err != nil {
				return err
			}
			polys = [][][]int{p}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polys); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: geometry type %q", g.Properties.Name, g.Type)
		}
		s := byCode[code]
		if s == nil {
			s = &geo.Shape{Country: code}
			byCode[code] = s
		}
		for _, p := range polys {
			for _, idx := range p {
				r, err := ring(idx)
				if err != nil {
					return fmt.Errorf("%s: %w", g.Properties.Name, err)
				}
				s.Rings = append(s.Rings, r)
			}
		}
	}
	codes := make([]string, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	shapes := make([]geo.Shape, 0, len(codes))
	for _, c := range codes {
		shapes = append(shapes, *byCode[c])
	}
	enc, err := geo.EncodeCountries(shapes)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, countriesFile), enc, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d countries, %d bytes (left out, no ISO code: %v)\n", filepath.Join(out, countriesFile), len(shapes), len(enc), skipped)
	return nil
}
