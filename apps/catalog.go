// Package apps classifies flows into applications: an embedded catalog of
// domain suffixes (and AS numbers for unnamed flows), extendable from the
// configuration, matched by longest suffix without locks or allocation.
package apps

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unknown is the app of a flow the catalog does not know.
const Unknown = "unknown"

// App is one catalog entry.
type App struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	Domains []string `yaml:"domains"`
	ASNs    []uint32 `yaml:"asns"`
}

//go:embed catalog.yaml
var catalogYAML []byte

// Catalog is immutable after construction; Classify is safe for concurrent
// use and does not allocate.
type Catalog struct {
	apps    []App
	domains map[string]string // suffix -> app id
	asns    map[uint32]string
	ids     []string
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Parse reads a catalog (or the `apps:` list of a configuration file):
// unknown keys are errors, reported with their line.
func Parse(b []byte) ([]App, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var list []App
	if err := dec.Decode(&list); err != nil {
		return nil, err
	}
	return list, nil
}

// Default returns the embedded catalog.
func Default() (*Catalog, error) {
	list, err := Parse(catalogYAML)
	if err != nil {
		return nil, fmt.Errorf("embedded app catalog: %w", err)
	}
	return New(list, nil)
}

// New builds a catalog from base, with extra entries extending it (an extra
// entry whose id exists replaces that entry).
func New(base, extra []App) (*Catalog, error) {
	var all []App
	for _, a := range base {
		if i := slices.IndexFunc(extra, func(e App) bool { return e.ID == a.ID }); i >= 0 {
			continue
		}
		all = append(all, a)
	}
	all = append(all, extra...)
	c := &Catalog{domains: map[string]string{}, asns: map[uint32]string{}}
	seen := map[string]bool{}
	for _, a := range all {
		if err := Validate(a); err != nil {
			return nil, err
		}
		if seen[a.ID] {
			return nil, fmt.Errorf("app %q is listed twice", a.ID)
		}
		seen[a.ID] = true
		for _, d := range a.Domains {
			d = normalize(d)
			if other, ok := c.domains[d]; ok && other != a.ID {
				return nil, fmt.Errorf("app %q: domain %q already belongs to app %q", a.ID, d, other)
			}
			c.domains[d] = a.ID
		}
		for _, n := range a.ASNs {
			if other, ok := c.asns[n]; ok && other != a.ID {
				return nil, fmt.Errorf("app %q: AS%d already belongs to app %q", a.ID, n, other)
			}
			c.asns[n] = a.ID
		}
		c.apps = append(c.apps, a)
		c.ids = append(c.ids, a.ID)
	}
	c.ids = append(c.ids, Unknown)
	slices.Sort(c.ids)
	return c, nil
}

// Validate checks one entry.
func Validate(a App) error {
	if !idRE.MatchString(a.ID) || a.ID == Unknown || a.ID == "other" {
		return fmt.Errorf("app id %q: must match [a-z0-9][a-z0-9_-]* and not be \"unknown\" or \"other\"", a.ID)
	}
	if len(a.Domains) == 0 && len(a.ASNs) == 0 {
		return fmt.Errorf("app %q: needs domains or asns", a.ID)
	}
	for _, d := range a.Domains {
		n := normalize(d)
		if n == "" || strings.ContainsAny(n, " /:*") || strings.Contains(n, "..") || n[0] == '.' {
			return fmt.Errorf("app %q: %q is not a domain suffix", a.ID, d)
		}
	}
	for _, n := range a.ASNs {
		if n == 0 {
			return fmt.Errorf("app %q: AS number 0 is not valid", a.ID)
		}
	}
	return nil
}

func normalize(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Classify returns the app of a flow named name (lower case, no trailing
// dot, "" for none) to an address in AS asn. The longest matching domain
// suffix wins; a flow with no name may be classified by an AS that the
// catalog dedicates to one app; a name that matches nothing is "unknown".
func (c *Catalog) Classify(name string, asn uint32) string {
	if name == "" {
		if id, ok := c.asns[asn]; ok {
			return id
		}
		return Unknown
	}
	for s := name; ; {
		if id, ok := c.domains[s]; ok {
			return id
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return Unknown
		}
		s = s[i+1:]
	}
}

// IDs returns the app ids, "unknown" included: the closed set of the app label.
func (c *Catalog) IDs() []string { return slices.Clone(c.ids) }

// Apps returns the entries.
func (c *Catalog) Apps() []App { return slices.Clone(c.apps) }
