package geo

// CountryShapes returns the embedded Natural Earth country outlines (the
// geometry of CountryDistances), e.g. to draw a map. The rings are shared
// with the distance computation: don't modify them.
func CountryShapes() ([]Shape, error) {
	cs, err := embeddedCountryShapes()
	if err != nil {
		return nil, err
	}
	out := make([]Shape, len(cs))
	for i := range cs {
		out[i] = Shape{Country: cs[i].code, Rings: cs[i].rings}
	}
	return out, nil
}
