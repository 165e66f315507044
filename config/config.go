// Package config reads borderwatch's YAML configuration file
// (--config.file): the home region and named regions, local networks,
// client groups, and extensions of the provider table and the app catalog.
//
// Decoding rejects unknown keys; defaults and validation live next to
// decoding; every error starts with FILE:LINE and names the key, as in
//
//	config.yml:7: client_groups[1].prefixes[0]: "10.0.0.0/33" is not a valid prefix
//
// The package also holds GroupMatcher, the lock-free client-group lookup
// the flow path uses, built on package lpm's longest-prefix tables (which
// also answer "is this address local?").
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/lpm"
	"go.yaml.in/yaml/v3"
)

// Config is the effective configuration.
type Config struct {
	// HomeRegion is the expanded, sorted list of home country codes
	// (empty: no home region configured).
	HomeRegion []string
	// LocalNetworks are the effective local prefixes: the defaults
	// (unless replaced) followed by the configured ones.
	LocalNetworks []netip.Prefix
	// ClientGroups name sets of local prefixes; an address belongs to the
	// group of its most specific prefix, else to DefaultGroup.
	ClientGroups []ClientGroup
	// Providers extends and overrides the built-in ASN -> provider table.
	Providers map[uint32]string
	// Apps extends or overrides the app catalog (see apps.New).
	Apps []apps.App
	// Regions are the effective named region sets, built-in and
	// user-defined, by upper-case name, each expanded to sorted ISO codes.
	Regions map[string][]string
	// Site is where borderwatch captures (site_location), nil if not set.
	Site *SiteLocation
}

// file is the YAML document.
type file struct {
	HomeRegion                   []string            `yaml:"home_region"`
	Regions                      map[string][]string `yaml:"regions"`
	LocalNetworks                []string            `yaml:"local_networks"`
	LocalNetworksReplaceDefaults bool                `yaml:"local_networks_replace_defaults"`
	ClientGroups                 []fileGroup         `yaml:"client_groups"`
	Providers                    map[string]string   `yaml:"providers"`
	Apps                         []apps.App          `yaml:"apps"`
	SiteLocation                 string              `yaml:"site_location"`
}

type fileGroup struct {
	Name     string   `yaml:"name"`
	Prefixes []string `yaml:"prefixes"`
}

// DefaultLocalNetworks returns the prefixes that are local without
// configuration: RFC 1918, RFC 6598 (carrier-grade NAT 100.64.0.0/10),
// loopback, IPv4 link-local, IPv6 loopback, unique local and link-local.
func DefaultLocalNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
	}
}

// Default returns the configuration used without a file: the default
// local networks, the built-in regions, no home region, no client groups,
// no provider or app extensions.
func Default() *Config {
	return &Config{
		LocalNetworks: DefaultLocalNetworks(),
		Providers:     map[uint32]string{},
		Regions:       BuiltinRegions(),
	}
}

// Error is a problem at a line of a configuration file.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and validates the configuration file at path. Every error,
// including a missing file, starts with the path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(b, path)
}

var (
	// Compiled when first used: most runs read no configuration file.
	groupNameRE  = lazyRE(`^[a-z0-9_-]+$`)
	regionNameRE = lazyRE(`^[A-Za-z][A-Za-z0-9_-]{2,}$`)
	yamlLineRE   = lazyRE(`^line (\d+): (.*)$`)
	unknownKeyRE = lazyRE(`^field (\S+) not found in type \S+$`)
	typeErrorRE  = lazyRE("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// Parse decodes and validates a configuration document; name (the file's
// path) starts every error. An empty document is the default
// configuration.
func Parse(data []byte, name string) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, decodeError(name, err, nil)
	}
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(name, err, &root)
	}
	p := parser{name: name, root: &root}
	return p.config(&f)
}

// decodeError turns yaml.v3's errors into FILE:LINE: messages; root (may
// be nil) names the key of a type error.
func decodeError(name string, err error, root *yaml.Node) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimSpace(te.Errors[0])
	}
	line := 0
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if m := unknownKeyRE().FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown key %q", m[1])
	}
	if m := typeErrorRE().FindStringSubmatch(msg); m != nil {
		got := map[string]string{"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean",
			"map": "a mapping", "seq": "a list", "null": "nothing"}[m[1]]
		if got == "" {
			got = "!!" + m[1]
		}
		if m[2] != "" {
			got += " (" + m[2] + ")"
		}
		want := m[3]
		switch {
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map["):
			want = "a mapping"
		case strings.HasPrefix(want, "uint") || strings.HasPrefix(want, "int"):
			want = "a number"
		case want == "bool":
			want = "true or false"
		case want == "string":
			want = "a string"
		default:
			want = "a mapping"
		}
		msg = fmt.Sprintf("expected %s, got %s", want, got)
		if path := pathAt(root, line, "!!"+m[1]); path != "" {
			msg = path + ": " + msg
		}
	}
	return &Error{name, line, msg}
}

// pathAt returns the key path ("client_groups[0].prefixes") of the first
// value node on line with the tag (!!str, !!seq, ...), or "".
func pathAt(root *yaml.Node, line int, tag string) string {
	if root == nil {
		return ""
	}
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				if v := n.Content[i+1]; v.Line == line && v.ShortTag() == tag {
					return p
				} else if r := walk(v, p); r != "" {
					return r
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Line == line && c.ShortTag() == tag {
					return p
				}
				if r := walk(c, p); r != "" {
					return r
				}
			}
		}
		return ""
	}
	return walk(root, "")
}

// parser validates a decoded file, with the node tree for line numbers.
type parser struct {
	name string
	root *yaml.Node
}

func (p *parser) errorf(path []any, format string, args ...any) error {
	return &Error{p.name, lineOf(p.root, path...), fmt.Sprintf(format, args...)}
}

func (p *parser) config(f *file) (*Config, error) {
	c := Default()
	if err := p.regions(f, c); err != nil {
		return nil, err
	}
	for i, s := range f.HomeRegion {
		if _, err := ExpandRegion([]string{s}, f.Regions); err != nil {
			return nil, p.errorf([]any{"home_region", i}, "home_region[%d]: %v", i, err)
		}
	}
	if len(f.HomeRegion) > 0 {
		c.HomeRegion, _ = ExpandRegion(f.HomeRegion, f.Regions)
	}

	if f.LocalNetworksReplaceDefaults {
		if len(f.LocalNetworks) == 0 {
			return nil, p.errorf([]any{"local_networks_replace_defaults"},
				"local_networks_replace_defaults: true, but local_networks lists nothing (no address would be local)")
		}
		c.LocalNetworks = nil
	}
	for i, s := range f.LocalNetworks {
		pfx, err := parsePrefix(s)
		if err != nil {
			return nil, p.errorf([]any{"local_networks", i}, "local_networks[%d]: %v", i, err)
		}
		c.LocalNetworks = append(c.LocalNetworks, pfx)
	}
	if err := p.groups(f, c); err != nil {
		return nil, err
	}
	if err := p.providers(f, c); err != nil {
		return nil, err
	}
	if err := p.apps(f, c); err != nil {
		return nil, err
	}
	if f.SiteLocation != "" {
		lat, lon, err := ParseSiteLocation(f.SiteLocation)
		if err != nil {
			return nil, p.errorf([]any{"site_location"}, "site_location: %v", err)
		}
		c.Site = &SiteLocation{lat, lon}
	}
	return c, nil
}

// sortedKeys returns a map's keys in file order (so that the first problem
// in the file is the one reported).
func (p *parser) sortedKeys(section string, m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := lineOf(p.root, section, a) - lineOf(p.root, section, b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return keys
}

func (p *parser) regions(f *file, c *Config) error {
	builtin := BuiltinRegions()
	seen := map[string]string{}
	keys := p.sortedKeys("regions", f.Regions)
	for _, k := range keys {
		n := canonicalRegion(k)
		at := []any{"regions", k}
		switch {
		case !regionNameRE().MatchString(k):
			return p.errorf(at, "regions: %q is not a region name (a letter, then letters, digits, '_' or '-'; at least 3 characters, so that it is not taken for a country code)", k)
		case builtin[n] != nil:
			return p.errorf(at, "regions: %q redefines the built-in region %s", k, n)
		case seen[n] != "":
			return p.errorf(at, "regions: %q is defined twice (as %q too; names are case-insensitive)", k, seen[n])
		case len(f.Regions[k]) == 0:
			return p.errorf(at, "regions.%s: empty region", k)
		}
		seen[n] = k
	}
	for _, k := range keys {
		for i, m := range f.Regions[k] {
			if _, err := expandFrom([]string{m}, f.Regions, []string{canonicalRegion(k)}); err != nil {
				return p.errorf([]any{"regions", k, i}, "regions.%s[%d]: %v", k, i, err)
			}
		}
		c.Regions[canonicalRegion(k)], _ = ExpandRegion([]string{k}, f.Regions)
	}
	return nil
}

func (p *parser) groups(f *file, c *Config) error {
	names := map[string]int{}
	owner := map[netip.Prefix]string{}
	for i, g := range f.ClientGroups {
		where := fmt.Sprintf("client_groups[%d]", i)
		switch {
		case g.Name == "":
			return p.errorf([]any{"client_groups", i}, "%s: name is missing", where)
		case !groupNameRE().MatchString(g.Name) || len(g.Name) > 64:
			return p.errorf([]any{"client_groups", i, "name"}, "%s.name: %q is not a valid group name (a label value: [a-z0-9_-]+, at most 64 characters)", where, g.Name)
		case g.Name == DefaultGroup:
			return p.errorf([]any{"client_groups", i, "name"}, "%s.name: %q is reserved for addresses in no group", where, g.Name)
		}
		if j, dup := names[g.Name]; dup {
			return p.errorf([]any{"client_groups", i, "name"}, "%s.name: group %q is already defined by client_groups[%d]", where, g.Name, j)
		}
		names[g.Name] = i
		if len(g.Prefixes) == 0 {
			return p.errorf([]any{"client_groups", i}, "%s (%s): no prefixes", where, g.Name)
		}
		cg := ClientGroup{Name: g.Name}
		for j, s := range g.Prefixes {
			at := []any{"client_groups", i, "prefixes", j}
			pfx, err := parsePrefix(s)
			if err != nil {
				return p.errorf(at, "%s.prefixes[%d]: %v", where, j, err)
			}
			if o, dup := owner[pfx]; dup {
				return p.errorf(at, "%s.prefixes[%d]: %s is already in group %q", where, j, pfx, o)
			}
			owner[pfx] = g.Name
			cg.Prefixes = append(cg.Prefixes, pfx)
		}
		c.ClientGroups = append(c.ClientGroups, cg)
	}
	return nil
}

func (p *parser) providers(f *file, c *Config) error {
	keys := make([]string, 0, len(f.Providers))
	for k := range f.Providers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return lineOf(p.root, "providers", a) - lineOf(p.root, "providers", b) })
	asKey := map[uint32]string{}
	for _, k := range keys {
		v := f.Providers[k]
		at := []any{"providers", k}
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(k)), "AS"), 10, 32)
		if err != nil {
			return p.errorf(at, "providers: %q is not an AS number (write 64500 or AS64500)", k)
		}
		if n == 0 {
			return p.errorf(at, "providers: AS number 0 is reserved")
		}
		if o, dup := asKey[uint32(n)]; dup {
			return p.errorf(at, "providers: %q and %q are the same AS", o, k)
		}
		asKey[uint32(n)] = k
		if msg := checkProvider(v); msg != "" {
			return p.errorf(at, "providers.%s: %q %s", k, v, msg)
		}
		c.Providers[uint32(n)] = strings.TrimSpace(v)
	}
	return nil
}

// checkProvider returns what is wrong with a provider name (a label value).
func checkProvider(v string) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "is empty"
	case v == "other" || v == "unknown":
		return "is reserved"
	case len(v) > 64 || !utf8.ValidString(v):
		return "is not a provider name (valid UTF-8, at most 64 bytes)"
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}

func (p *parser) apps(f *file, c *Config) error {
	appsNode := childOf(p.root, "apps")
	for i, a := range f.Apps {
		if err := apps.Validate(a); err != nil {
			return p.appError(appsNode, i, err)
		}
	}
	c.Apps = f.Apps
	if len(f.Apps) == 0 {
		return nil // the embedded catalog alone is checked by its own tests
	}
	base, err := apps.DefaultApps()
	if err != nil {
		return &Error{p.name, 0, err.Error()}
	}
	if _, err := apps.New(base, f.Apps); err != nil {
		var fe *apps.FieldError
		if errors.As(err, &fe) {
			// The last entry with that id is the one New stopped at.
			for i := len(f.Apps) - 1; i >= 0; i-- {
				if f.Apps[i].ID == fe.App {
					return p.appError(appsNode, i, err)
				}
			}
		}
		return p.errorf([]any{"apps"}, "apps: %v", err)
	}
	return nil
}

func (p *parser) appError(appsNode *yaml.Node, i int, err error) error {
	line := 0
	var fe *apps.FieldError
	if errors.As(err, &fe) && appsNode != nil {
		line = apps.EntryLine(appsNode, i, fe.Field, fe.Index)
	}
	return &Error{p.name, line, fmt.Sprintf("apps[%d]: %v", i, err)}
}

// parsePrefix reads a prefix or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		if pfx != pfx.Masked() {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, pfx.Masked())
		}
		return lpm.Canonical(pfx), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a valid prefix", s)
}

// childOf returns the value of key in the top-level mapping, or nil.
func childOf(root *yaml.Node, key string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf returns the line of the node at path (map keys as strings,
// sequence indexes as ints), or of the deepest node found on the way. A
// map entry's line is its key's.
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		switch k := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
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

// lazyRE returns a function that compiles expr on its first call.
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
