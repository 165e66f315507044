// Package apps classifies flows into applications (TikTok, WeChat, ...).
//
// The catalog is an embedded, documented YAML file (catalog.yaml): each app
// has an id (the value of the Prometheus "app" label), a display name, the
// domain suffixes its traffic is named by, and optionally AS numbers that
// carry nothing but that app. The configuration file may extend it or
// replace entries (see New).
//
// Matching rules:
//   - a name matches a domain suffix on label boundaries: "tiktok.com"
//     matches "tiktok.com" and "www.tiktok.com", never "nottiktok.com";
//   - when several suffixes match, the longest wins ("youtubei.googleapis.com"
//     is youtube although "googleapis.com" is google);
//   - names are compared case-insensitively, a trailing dot and an HTTP
//     Host ":port" are ignored;
//   - an AS rule applies only to flows with no name (an IP literal counts as
//     no name): a name that matches no suffix is "unknown" even when the
//     address is in an AS the catalog lists, because a name is the stronger
//     evidence (a third-party site on a shared network must not become the
//     network owner's app).
//
// A Catalog is immutable after New; Classify takes no lock and does not
// allocate.
package apps

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/borderwatch/borderwatch/internal/asnset"
	"go.yaml.in/yaml/v3"
)

// Unknown is the app of a flow the catalog does not know.
const Unknown = "unknown"

// maxName is the longest DNS name (RFC 1035) Classify looks at.
const maxName = 253

// App is one catalog entry.
type App struct {
	// ID is the label value: lower case, [a-z0-9][a-z0-9_-]*.
	ID string `yaml:"id"`
	// Name is the display name (defaults to ID).
	Name string `yaml:"name"`
	// Domains are the DNS suffixes of the app's traffic.
	Domains []string `yaml:"domains"`
	// ASNs are autonomous systems dedicated to the app; they classify
	// flows that have no name.
	ASNs []uint32 `yaml:"asns"`
}

//go:embed catalog.yaml
var catalogYAML []byte

// Catalog maps names and AS numbers to app ids. It is immutable after
// construction and safe for concurrent use.
type Catalog struct {
	apps    []App
	domains map[string]string // normalised suffix -> app id
	longest int               // length of the longest suffix: longer ones are not looked up
	asns    map[uint32]string
	asnSet  asnset.Filter // the keys of asns: most AS numbers are no app's
	ids     []string      // sorted, Unknown included
}

// FieldError is a problem with one field of one entry; Field is "id",
// "name", "domains" or "asns", Index the position in a list field (-1 for
// the entry or a scalar field). Config files use it to point at the line.
type FieldError struct {
	App   string
	Field string
	Index int
	Msg   string
}

func (e *FieldError) Error() string {
	where := e.Field
	if e.Index >= 0 {
		where = fmt.Sprintf("%s[%d]", e.Field, e.Index)
	}
	if where == "" {
		return fmt.Sprintf("app %q: %s", e.App, e.Msg)
	}
	return fmt.Sprintf("app %q: %s: %s", e.App, where, e.Msg)
}

// validID reports whether id matches ^[a-z0-9][a-z0-9_-]{0,63}$ (by hand:
// a regexp compiled at every start cost more than all the checks).
func validID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '-' || id[0] == '_' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// reservedIDs may not be used as app ids: they are label values with a
// meaning of their own.
var reservedIDs = []string{Unknown, "other"}

// Validate checks one entry on its own: the id, every domain suffix and AS
// number. Errors are *FieldError.
func Validate(a App) error {
	if !validID(a.ID) || slices.Contains(reservedIDs, a.ID) {
		return &FieldError{a.ID, "id", -1, `must match [a-z0-9][a-z0-9_-]* (at most 64 characters) and not be "unknown" or "other"`}
	}
	if len(a.Domains) == 0 && len(a.ASNs) == 0 {
		return &FieldError{a.ID, "", -1, "needs domains or asns"}
	}
	for i, d := range a.Domains {
		if msg := checkDomain(d); msg != "" {
			return &FieldError{a.ID, "domains", i, fmt.Sprintf("%q %s", d, msg)}
		}
	}
	for i, n := range a.ASNs {
		if n == 0 {
			return &FieldError{a.ID, "asns", i, "AS number 0 is reserved"}
		}
	}
	return nil
}

// checkDomain returns what is wrong with a domain suffix, or "".
func checkDomain(d string) string {
	n := normalize(d)
	switch {
	case n == "":
		return "is empty"
	case strings.HasPrefix(n, "*."):
		return "is a wildcard: write the suffix alone, it matches every name below it"
	case len(n) > maxName:
		return "is longer than 253 characters"
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "is not a domain suffix (empty or over-long label)"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "is not a domain suffix (letters, digits, '-' and '_' between dots)"
			}
		}
	}
	return ""
}

// normalize lower-cases a suffix and drops a trailing dot.
func normalize(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Parse decodes a catalog document: a YAML list of entries with the keys
// id, name, domains and asns. Unknown keys are errors; errors carry the
// line ("line 7: ...").
func Parse(b []byte) ([]App, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var list []App
	if err := dec.Decode(&list); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	for i, a := range list {
		if err := Validate(a); err != nil {
			// The lines are in the document's nodes, parsed again only
			// now: a good catalog is parsed once.
			var root yaml.Node
			if err := yaml.Unmarshal(b, &root); err != nil {
				return nil, yamlError(err)
			}
			var fe *FieldError
			line := 0
			if errors.As(err, &fe) {
				line = EntryLine(&root, i, fe.Field, fe.Index)
			}
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	return list, nil
}

// yamlError turns yaml.v3's "yaml: unmarshal errors:\n  line 2: ..." into
// "line 2: ...".
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return errors.New(strings.TrimSpace(te.Errors[0]))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// EntryLine returns the line of entry i of a catalog list (root is the
// document or the list node), of its field when field is not "", and of
// element index of that field when index >= 0. It returns the deepest line
// it finds, 0 when root holds no list.
func EntryLine(root *yaml.Node, i int, field string, index int) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return n.Line
	}
	n = n.Content[i]
	line := n.Line
	if field == "" || n.Kind != yaml.MappingNode {
		return line
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value != field {
			continue
		}
		v := n.Content[k+1]
		line = v.Line
		if index >= 0 && v.Kind == yaml.SequenceNode && index < len(v.Content) {
			line = v.Content[index].Line
		}
		break
	}
	return line
}

// Default returns the embedded catalog.
func Default() (*Catalog, error) { return embeddedCatalog() }

// embeddedCatalog builds the embedded catalog once: a Catalog is immutable,
// so every caller shares it (a configuration parse, a reload or a fuzz
// execution builds it no more).
var embeddedCatalog = sync.OnceValues(func() (*Catalog, error) {
	c, err := New(prebuiltApps, nil) // catalog.yaml, parsed at build time (TestPrebuiltCatalog)
	if err != nil {
		return nil, fmt.Errorf("embedded app catalog: %w", err)
	}
	return c, nil
})

// DefaultApps returns the entries of the embedded catalog.
func DefaultApps() ([]App, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.Apps(), nil
}

// New builds a catalog from base extended by extra. An extra entry with
// the id of a base entry replaces that entry whole; a domain suffix or AS
// number listed by an extra entry is taken from any base entry that also
// lists it (the configuration overrides the built-in catalog). Within base,
// and within extra, an id, suffix or AS number may appear only once.
// Errors name the app and the offending domain or AS number.
func New(base, extra []App) (*Catalog, error) {
	nd, na := 0, 0
	for _, list := range [2][]App{base, extra} {
		for _, a := range list {
			nd, na = nd+len(a.Domains), na+len(a.ASNs)
		}
	}
	c := &Catalog{domains: make(map[string]string, nd), asns: make(map[uint32]string, na)}
	replaced := map[string]bool{}
	for _, e := range extra {
		replaced[e.ID] = true
	}
	type owner struct {
		id    string
		extra bool
	}
	domains := make(map[string]owner, nd) // sized once: growing them was a twentieth of a short read's start-up
	asns := make(map[uint32]owner, na)
	add := func(list []App, isExtra bool) error {
		seen := map[string]bool{}
		for _, a := range list {
			if !isExtra && replaced[a.ID] {
				continue
			}
			if err := Validate(a); err != nil {
				return err
			}
			if seen[a.ID] {
				return &FieldError{a.ID, "id", -1, "is listed twice"}
			}
			seen[a.ID] = true
			if a.Name == "" {
				a.Name = a.ID
			}
			a.Domains = slices.Clone(a.Domains)
			for i, d := range a.Domains {
				d = normalize(d)
				a.Domains[i] = d
				if o, ok := domains[d]; ok && (o.extra == isExtra) {
					return &FieldError{a.ID, "domains", i, fmt.Sprintf("%q already belongs to app %q", d, o.id)}
				}
				domains[d] = owner{a.ID, isExtra}
			}
			a.ASNs = slices.Clone(a.ASNs)
			for i, n := range a.ASNs {
				if o, ok := asns[n]; ok && (o.extra == isExtra) {
					return &FieldError{a.ID, "asns", i, fmt.Sprintf("AS%d already belongs to app %q", n, o.id)}
				}
				asns[n] = owner{a.ID, isExtra}
			}
			c.apps = append(c.apps, a)
		}
		return nil
	}
	if err := add(base, false); err != nil {
		return nil, err
	}
	if err := add(extra, true); err != nil {
		return nil, err
	}
	// A base app whose every suffix and AS was taken over still exists (its
	// label value stays valid) but matches nothing; drop the taken ones.
	for i := range c.apps {
		a := &c.apps[i]
		a.Domains = slices.DeleteFunc(a.Domains, func(d string) bool { return domains[d].id != a.ID })
		a.ASNs = slices.DeleteFunc(a.ASNs, func(n uint32) bool { return asns[n].id != a.ID })
	}
	for d, o := range domains {
		c.domains[d] = o.id
		c.longest = max(c.longest, len(d))
	}
	for n, o := range asns {
		c.asns[n] = o.id
		c.asnSet.Add(n)
	}
	for _, a := range c.apps {
		c.ids = append(c.ids, a.ID)
	}
	c.ids = append(c.ids, Unknown)
	slices.Sort(c.ids)
	return c, nil
}

// Classify returns the app id of a flow named name (a DNS name, TLS/QUIC
// SNI or HTTP Host; "" for none) to an address in AS asn (0 if unknown),
// or Unknown. It does not allocate.
func (c *Catalog) Classify(name string, asn uint32) string {
	name = trimHost(name)
	if name == "" || isIPLiteral(name) {
		if asn != 0 && c.asnSet.MayContain(asn) {
			if id, ok := c.asns[asn]; ok {
				return id
			}
		}
		return Unknown
	}
	if len(name) > maxName {
		return Unknown
	}
	if !hasUpper(name) {
		return c.lookup(name)
	}
	var buf [maxName]byte
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return c.lookupBytes(buf[:len(name)])
}

// lookup walks the suffixes of name from the longest (the name itself) to
// the shortest (its last label); the first one in the table wins. Suffixes
// longer than the catalog's longest are not hashed.
func (c *Catalog) lookup(name string) string {
	for s := name; ; {
		if len(s) <= c.longest {
			if id, ok := c.domains[s]; ok {
				return id
			}
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return Unknown
		}
		s = s[i+1:]
	}
}

// lookupBytes is lookup on a lower-cased copy; m[string(b)] does not
// allocate.
func (c *Catalog) lookupBytes(b []byte) string {
	for s := b; ; {
		if len(s) <= c.longest {
			if id, ok := c.domains[string(s)]; ok {
				return id
			}
		}
		i := bytes.IndexByte(s, '.')
		if i < 0 {
			return Unknown
		}
		s = s[i+1:]
	}
}

// trimHost drops a trailing dot and an HTTP Host port ("host:8080");
// IPv6 literals ("[::1]:80", "::1") are left for isIPLiteral.
func trimHost(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s, ':') == i && i+1 < len(s) {
		if _, err := strconv.ParseUint(s[i+1:], 10, 16); err == nil {
			s = s[:i]
		}
	}
	return strings.TrimSuffix(s, ".")
}

// isIPLiteral reports whether s is an address rather than a name: all
// digits and dots, or containing ':' or '['.
func isIPLiteral(s string) bool {
	if strings.ContainsAny(s, ":[") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// IDs returns every app id plus Unknown, sorted: the closed value set of
// the app label.
func (c *Catalog) IDs() []string { return slices.Clone(c.ids) }

// Apps returns the entries (normalised, names defaulted), in catalog order.
func (c *Catalog) Apps() []App {
	out := make([]App, len(c.apps))
	for i, a := range c.apps {
		out[i] = App{ID: a.ID, Name: a.Name, Domains: slices.Clone(a.Domains), ASNs: slices.Clone(a.ASNs)}
	}
	return out
}

// Name returns the display name of an app id ("Unknown" for Unknown, the
// id itself for an id the catalog does not have).
func (c *Catalog) Name(id string) string {
	for _, a := range c.apps {
		if a.ID == id {
			return a.Name
		}
	}
	if id == Unknown {
		return "Unknown"
	}
	return id
}
