// Package config reads borderwatch's YAML configuration file: home region
// and named regions, local networks, client groups, and provider and app
// extensions. Unknown keys are errors; every error names the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/borderwatch/borderwatch/apps"
	"go.yaml.in/yaml/v3"
)

// Config is the effective configuration.
type Config struct {
	// HomeRegion is the expanded, sorted list of home countries.
	HomeRegion []string
	// Regions are the named region sets: built-in plus user-defined.
	Regions map[string][]string
	// LocalNetworks are the effective local prefixes (defaults included
	// unless replaced).
	LocalNetworks []netip.Prefix
	ClientGroups  []ClientGroup
	// Providers extends the ASN -> provider table.
	Providers map[uint32]string
	// Apps extends or overrides the app catalog.
	Apps []apps.App
}

// file is the YAML document.
type file struct {
	HomeRegion                   []string            `yaml:"home_region"`
	Regions                      map[string][]string `yaml:"regions"`
	LocalNetworks                []string            `yaml:"local_networks"`
	LocalNetworksReplaceDefaults bool                `yaml:"local_networks_replace_defaults"`
	ClientGroups                 []struct {
		Name     string   `yaml:"name"`
		Prefixes []string `yaml:"prefixes"`
	} `yaml:"client_groups"`
	Providers map[string]string `yaml:"providers"`
	Apps      []apps.App        `yaml:"apps"`
}

// DefaultLocalNetworks are the prefixes local by default: RFC 1918, RFC
// 6598 (carrier-grade NAT), loopback, link-local, IPv6 unique local and
// link-local.
func DefaultLocalNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"::1/128", "fc00::/7", "fe80::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Default is the configuration without a file.
func Default() *Config {
	return &Config{Regions: BuiltinRegions(), LocalNetworks: DefaultLocalNetworks(), Providers: map[uint32]string{}}
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Error is a configuration error at a line of a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

var groupNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Parse validates a configuration document; name is used in errors.
func Parse(b []byte, name string) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{name, line, strings.TrimSpace(m[2])}
		}
		return nil, &Error{name, 0, strings.TrimPrefix(msg, "yaml: ")}
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	at := func(path ...any) int { return lineOf(&root, path...) }

	c := Default()
	for k, v := range f.Regions {
		n := normRegionName(k)
		if _, builtin := BuiltinRegions()[n]; builtin {
			return nil, &Error{name, at("regions", k), fmt.Sprintf("regions: %q redefines a built-in region", k)}
		}
		if len(n) == 2 && IsCountryCode(n) {
			return nil, &Error{name, at("regions", k), fmt.Sprintf("regions: %q is a country code, not a region name", k)}
		}
		c.Regions[n] = v
	}
	for k := range f.Regions {
		if _, err := ExpandRegion([]string{k}, c.Regions); err != nil {
			return nil, &Error{name, at("regions", k), "regions." + k + ": " + err.Error()}
		}
	}
	home, err := ExpandRegion(f.HomeRegion, c.Regions)
	if err != nil {
		return nil, &Error{name, at("home_region"), "home_region: " + err.Error()}
	}
	c.HomeRegion = home

	if f.LocalNetworksReplaceDefaults {
		c.LocalNetworks = nil
	}
	for i, s := range f.LocalNetworks {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, &Error{name, at("local_networks", i), fmt.Sprintf("local_networks[%d]: %v", i, err)}
		}
		c.LocalNetworks = append(c.LocalNetworks, p)
	}
	groups := map[string]bool{}
	for i, g := range f.ClientGroups {
		where := fmt.Sprintf("client_groups[%d]", i)
		if !groupNameRE.MatchString(g.Name) || g.Name == DefaultGroup || g.Name == "other" {
			return nil, &Error{name, at("client_groups", i, "name"), fmt.Sprintf("%s.name: %q must match [a-z0-9][a-z0-9_-]* and not be \"default\" or \"other\"", where, g.Name)}
		}
		if groups[g.Name] {
			return nil, &Error{name, at("client_groups", i, "name"), fmt.Sprintf("%s.name: %q is defined twice", where, g.Name)}
		}
		groups[g.Name] = true
		if len(g.Prefixes) == 0 {
			return nil, &Error{name, at("client_groups", i), fmt.Sprintf("%s (%s): no prefixes", where, g.Name)}
		}
		cg := ClientGroup{Name: g.Name}
		for j, s := range g.Prefixes {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, &Error{name, at("client_groups", i, "prefixes", j), fmt.Sprintf("%s.prefixes[%d]: %v", where, j, err)}
			}
			cg.Prefixes = append(cg.Prefixes, p)
		}
		c.ClientGroups = append(c.ClientGroups, cg)
	}
	for k, v := range f.Providers {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(k), "AS"), 10, 32)
		if err != nil || n == 0 {
			return nil, &Error{name, at("providers", k), fmt.Sprintf("providers: %q is not an AS number", k)}
		}
		if strings.TrimSpace(v) == "" || v == "other" || v == "unknown" {
			return nil, &Error{name, at("providers", k), fmt.Sprintf("providers.%s: %q is not a provider name", k, v)}
		}
		c.Providers[uint32(n)] = v
	}
	for i, a := range f.Apps {
		if err := apps.Validate(a); err != nil {
			return nil, &Error{name, at("apps", i), fmt.Sprintf("apps[%d]: %v", i, err)}
		}
	}
	c.Apps = f.Apps
	if base, err := apps.Default(); err == nil {
		if _, err := apps.New(base.Apps(), c.Apps); err != nil {
			return nil, &Error{name, at("apps"), "apps: " + err.Error()}
		}
	}
	return c, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return p, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a valid prefix", s)
}

// lineOf finds the line of a node by a path of map keys (string) and
// sequence indexes (int); it returns the deepest line found.
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}
