package config

import (
	"fmt"
	"slices"
	"strings"
)

// iso3166 lists the ISO 3166-1 alpha-2 codes (officially assigned), plus XK
// (Kosovo, user-assigned but used by every geo database).
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"

var isoCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(iso3166) {
		m[c] = true
	}
	return m
}()

// IsCountryCode reports whether s is an ISO 3166-1 alpha-2 code (upper case).
func IsCountryCode(s string) bool { return isoCodes[s] }

var euMembers = []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}

// BuiltinRegions are the named region sets every configuration knows.
// Names are case-insensitive; aliases map to the same set.
func BuiltinRegions() map[string][]string {
	eea := append(slices.Clone(euMembers), "IS", "LI", "NO")
	return map[string][]string{
		"EU":        slices.Clone(euMembers),
		"EEA":       eea,
		"EFTA":      {"CH", "IS", "LI", "NO"},
		"FIVE_EYES": {"AU", "CA", "GB", "NZ", "US"},
		"CHINA":     {"CN", "HK", "MO"},
	}
}

var regionAliases = map[string]string{"FVEY": "FIVE_EYES", "FIVE-EYES": "FIVE_EYES", "FIVEEYES": "FIVE_EYES"}

func normRegionName(s string) string {
	n := strings.ToUpper(strings.TrimSpace(s))
	if a, ok := regionAliases[n]; ok {
		return a
	}
	return n
}

// ExpandRegion expands a list of ISO codes and region names (built-in, or
// from user) into a sorted, de-duplicated list of ISO codes.
func ExpandRegion(spec []string, user map[string][]string) ([]string, error) {
	sets := BuiltinRegions()
	for k, v := range user {
		sets[normRegionName(k)] = v
	}
	seen := map[string]bool{}
	var expand func(s string, stack []string) error
	expand = func(s string, stack []string) error {
		u := strings.ToUpper(strings.TrimSpace(s))
		if u == "" {
			return nil
		}
		if len(u) == 2 && isoCodes[u] {
			if _, isSet := sets[u]; !isSet {
				seen[u] = true
				return nil
			}
		}
		n := normRegionName(u)
		members, ok := sets[n]
		if !ok {
			if len(u) == 2 {
				return fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code nor a region name", s)
			}
			return fmt.Errorf("unknown region %q (built-in: CHINA, EEA, EFTA, EU, FIVE_EYES; or define it under regions:)", s)
		}
		if slices.Contains(stack, n) {
			return fmt.Errorf("region %q includes itself (%s)", s, strings.Join(append(stack, n), " -> "))
		}
		for _, m := range members {
			if err := expand(m, append(stack, n)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range spec {
		if err := expand(s, nil); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}
