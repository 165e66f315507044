package config

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// iso3166 is the embedded ISO 3166-1 alpha-2 list: "CODE\tname" lines.
//
//go:embed iso3166-1.txt
var iso3166 string

// IsCountryCode reports whether s is an ISO 3166-1 alpha-2 code (upper
// case), or XK (Kosovo), which geolocation databases use.
func IsCountryCode(s string) bool {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return false
	}
	for rest := iso3166; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if len(line) > 2 && line[2] == '\t' && line[:2] == s {
			return true
		}
	}
	return false
}

// CountryCodes returns every code of the embedded list, sorted.
func CountryCodes() []string {
	var out []string
	for line := range strings.Lines(iso3166) {
		if len(line) > 2 && line[2] == '\t' {
			out = append(out, line[:2])
		}
	}
	slices.Sort(out)
	return out
}

// misspelledCodes are codes people write that ISO 3166-1 does not assign.
var misspelledCodes = map[string]string{"UK": "GB", "EL": "GR"}

// BuiltinRegions returns the named region sets every configuration knows,
// by canonical (upper-case) name. Aliases: FVEY and FIVE-EYES for
// FIVE_EYES.
func BuiltinRegions() map[string][]string {
	eu := []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
		"LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
	eea := append(slices.Clone(eu), "IS", "LI", "NO")
	slices.Sort(eea)
	return map[string][]string{
		"EU":        eu,
		"EEA":       eea,
		"EFTA":      {"CH", "IS", "LI", "NO"},
		"FIVE_EYES": {"AU", "CA", "GB", "NZ", "US"},
		"CHINA":     {"CN", "HK", "MO"},
	}
}

// builtinNames is the list printed in "unknown region" errors.
const builtinNames = "CHINA, EEA, EFTA, EU, FIVE_EYES"

// canonicalRegion upper-cases a region name and resolves the aliases.
func canonicalRegion(s string) string {
	n := strings.ToUpper(strings.TrimSpace(s))
	switch n {
	case "FVEY", "FIVE-EYES", "FIVEEYES":
		return "FIVE_EYES"
	}
	return n
}

// ExpandRegion expands ISO codes and region names into a sorted list of
// distinct ISO codes. Elements may themselves be comma-separated lists
// ("EU,CH", as the --geo.home-region flag gives them); names are
// case-insensitive. user holds extra named sets (a Config's Regions, or
// the raw regions: section), whose members may be codes or other names.
func ExpandRegion(spec []string, user map[string][]string) ([]string, error) {
	return expandFrom(spec, user, nil)
}

// expandFrom is ExpandRegion for the members of the regions on stack (the
// outermost first), so that a cycle back to them is found.
func expandFrom(spec []string, user map[string][]string, stack []string) ([]string, error) {
	sets := BuiltinRegions()
	for k, v := range user {
		sets[canonicalRegion(k)] = v
	}
	seen := map[string]bool{}
	var expand func(s string, stack []string) error
	expand = func(s string, stack []string) error {
		n := canonicalRegion(s)
		if n == "" {
			return nil
		}
		if members, ok := sets[n]; ok {
			if i := slices.Index(stack, n); i >= 0 {
				return fmt.Errorf("region %s includes itself (%s)", n, strings.Join(append(slices.Clone(stack[i:]), n), " -> "))
			}
			for _, m := range members {
				if err := expand(m, append(stack, n)); err != nil {
					return err
				}
			}
			return nil
		}
		if IsCountryCode(n) {
			seen[n] = true
			return nil
		}
		in := ""
		if len(stack) > 0 {
			in = " in region " + stack[len(stack)-1]
		}
		if len(n) == 2 {
			if c, ok := misspelledCodes[n]; ok {
				return fmt.Errorf("%q%s is not an ISO 3166-1 alpha-2 country code (did you mean %s?)", s, in, c)
			}
			return fmt.Errorf("%q%s is not an ISO 3166-1 alpha-2 country code", s, in)
		}
		return fmt.Errorf("unknown region %q%s (built-in regions: %s; define others under regions:)", s, in, builtinNames)
	}
	for _, el := range spec {
		for s := range strings.SplitSeq(el, ",") {
			if err := expand(s, stack); err != nil {
				return nil, err
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}
