package geo

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/borderwatch/borderwatch/internal/mem"
	"github.com/oschwald/maxminddb-golang/v2"
)

// schema is the record layout of a database.
type schema uint8

const (
	schemaUnknown     schema = iota
	schemaCountry            // GeoLite2/GeoIP2 Country or City, DB-IP country/city: country.iso_code
	schemaASN                // GeoLite2/GeoIP2 ASN, DB-IP ASN: autonomous_system_number
	schemaIPinfo             // IPinfo Lite: country_code, asn "AS15169", as_name
	schemaFlatCountry        // ip-location-db's and IPinfo's country files: country_code
)

func (s schema) String() string {
	switch s {
	case schemaCountry:
		return "country"
	case schemaASN:
		return "ASN"
	case schemaIPinfo:
		return "IPinfo Lite"
	case schemaFlatCountry:
		return "country_code"
	}
	return "unknown"
}

// DatabaseInfo describes a loaded database.
type DatabaseInfo struct {
	Name      string    // "country" or "asn"
	Type      string    // the file's metadata database_type
	Path      string    // the file, or "embedded"
	BuildTime time.Time // the file's metadata build_epoch, UTC
}

// database is one opened MaxMind DB. Its reader works on bytes in memory
// (the embedded data, or a file read whole), never on a memory map, so a
// file truncated or replaced on disk can't fault a running lookup and a
// reader that was swapped out by Reload needs no closing: the garbage
// collector frees it once the last lookup using it has returned.
type database struct {
	r      *maxminddb.Reader
	v4     *v4Index // nil: IPv4 addresses go through r.Lookup too
	schema schema
	info   DatabaseInfo
}

// record returns the data-section offset of addr's record, and whether
// there is one.
func (d *database) record(addr netip.Addr) (uintptr, bool) {
	if d.v4 != nil && addr.Is4() {
		return d.v4.offset(addr)
	}
	res := d.r.Lookup(addr)
	if !res.Found() {
		return 0, false
	}
	return res.Offset(), true
}

// The records decoded per lookup: small structs holding only what
// borderwatch reports, so a lookup decodes a handful of fields (see
// tools/geodb/readerbench for the comparison with geoip2-golang).
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

type asnRecord struct {
	ASN uint32 `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

type ipinfoRecord struct {
	CountryCode string `maxminddb:"country_code"`
	ASN         string `maxminddb:"asn"` // "AS15169"
	ASName      string `maxminddb:"as_name"`
}

// loadBytes returns the database bytes of path; a gzip-compressed file is
// decompressed.
func loadBytes(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	return data, nil
}

// metadataMarker starts the metadata section at the end of every MaxMind
// DB file, within its last 128 KiB.
var metadataMarker = []byte("\xab\xcd\xefMaxMind.com")

const metadataMaxSize = 128 << 10

// openDatabase opens the database at path, or the embedded bytes when
// path is "". A file is verified in full (search tree and every record,
// maxminddb's Verify); the embedded data is verified by the tests.
func openDatabase(path string, embedded []byte) (*database, error) {
	if path == "" {
		return fromBytes("embedded database", "embedded", embedded, false)
	}
	data, err := loadBytes(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fromBytes(path, path, data, true)
}

// fromBytes opens a database held in data; name is what errors call it,
// where what DatabaseInfo.Path says.
func fromBytes(name, where string, data []byte, full bool) (*database, error) {
	if !bytes.Contains(data[max(0, len(data)-metadataMaxSize):], metadataMarker) {
		return nil, fmt.Errorf("%s: not a valid MaxMind DB (.mmdb) file: no metadata section (truncated, or another format)", name)
	}
	r, err := openReader(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid MaxMind DB (.mmdb) file: %w", name, err)
	}
	if full {
		if err := verify(r); err != nil {
			return nil, fmt.Errorf("%s: corrupt MaxMind DB file: %w", name, err)
		}
	}
	typ := r.Metadata.DatabaseType
	byType := schemaOfType(typ)
	votes, err := schemaVotes(r, data)
	if err != nil {
		return nil, fmt.Errorf("%s (database type %q): corrupt MaxMind DB file: %w", name, typ, err)
	}
	var s schema
	switch byData := votes.winner(); {
	case byType != schemaUnknown && votes[byType] > 0:
		s = byType // records confirm the type
	case byData == schemaUnknown && byType == schemaUnknown:
		return nil, fmt.Errorf("%s: database type %q and its records match no schema borderwatch reads; expected a country (country.iso_code or country_code), ASN (autonomous_system_number) or IPinfo Lite (country_code, asn \"AS...\") database", name, typ)
	case byData == schemaUnknown:
		s = byType // no record says otherwise (empty, or only empty records)
	case byType == schemaUnknown, byData == schemaFlatCountry && (byType == schemaCountry || byType == schemaIPinfo):
		// An unnamed type; ip-location-db's or IPinfo's country-only file.
		s = byData
	default:
		return nil, fmt.Errorf("%s: database type %q says %s, but its records have the %s schema", name, typ, byType, byData)
	}
	return &database{r: r, v4: newV4Index(r, data), schema: s, info: DatabaseInfo{Type: typ, Path: where, BuildTime: r.Metadata.BuildTime().UTC()}}, nil
}

// checkRole refuses a database that can't answer role ("country" or
// "asn"), naming the file, its type and what was expected.
func (d *database) checkRole(role string) error {
	ok := d.schema == schemaIPinfo || (role == "country" && (d.schema == schemaCountry || d.schema == schemaFlatCountry)) || (role == "asn" && d.schema == schemaASN)
	if ok {
		return nil
	}
	want := "a country database (GeoLite2/GeoIP2 Country or City, DB-IP country or city, IPinfo Lite)"
	if role == "asn" {
		want = "an ASN database (GeoLite2/GeoIP2 ASN, DB-IP ASN, IPinfo Lite)"
	}
	return fmt.Errorf("%s: database type %q (%s records) given as the %s database; expected %s", d.info.Path, d.info.Type, d.schema, role, want)
}

// openReader opens a database from bytes, turning a panic in the reader
// (a hostile file) into an error.
func openReader(data []byte) (r *maxminddb.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("unreadable: %v", p)
		}
	}()
	return maxminddb.OpenBytes(data)
}

func verify(r *maxminddb.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	// The format makes the description optional, and ip-location-db's
	// files (GeoLite2 and DB-IP country, from npm) carry an empty one, but
	// maxminddb's Verify insists on a non-empty map. Verify everything
	// else, with a stand-in description that is removed again.
	if len(r.Metadata.Description) == 0 {
		saved := r.Metadata.Description
		r.Metadata.Description = map[string]string{"en": "(none)"}
		defer func() { r.Metadata.Description = saved }()
	}
	return r.Verify()
}

// schemaOfType tells the record layout from the metadata database_type.
func schemaOfType(typ string) schema {
	t := strings.ToLower(typ)
	switch {
	case strings.Contains(t, "ipinfo"):
		return schemaIPinfo
	case strings.Contains(t, "country") || strings.Contains(t, "city") || strings.Contains(t, "location"):
		return schemaCountry // before "asn": geo-whois-asn-country
	case strings.Contains(t, "asn") || strings.Contains(t, "-isp"):
		return schemaASN
	}
	return schemaUnknown
}

// sampledRecords is how many records schemaOfData decodes.
const sampledRecords = 64

// votes counts sampled records by schema.
type votes [schemaFlatCountry + 1]int

// winner returns the schema most records have, schemaUnknown if none has
// a known one.
func (v *votes) winner() schema {
	best := schemaUnknown
	for i := schemaCountry; i < schema(len(v)); i++ {
		if v[i] > 0 && (best == schemaUnknown || v[i] > v[best]) {
			best = i
		}
	}
	return best
}

// schemaVotes classifies the first records of the search tree. It walks
// the tree itself, visiting each node at most once, so a hostile tree
// (cycles, shared subtrees, empty leaves) costs at most one pass.
func schemaVotes(r *maxminddb.Reader, data []byte) (v votes, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	md := r.Metadata
	nodes := md.NodeCount
	var nodeBytes uint
	switch md.RecordSize {
	case 24, 28, 32:
		nodeBytes = md.RecordSize / 4
	default:
		return v, fmt.Errorf("unsupported record size %d", md.RecordSize)
	}
	if nodes == 0 || nodes > uint(len(data))/nodeBytes {
		return v, fmt.Errorf("node count %d does not fit the file", nodes)
	}
	visited := make([]uint64, (nodes+63)/64)
	stack := []uint{0}
	for seen := 0; len(stack) > 0 && seen < sampledRecords; {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[n/64]&(1<<(n%64)) != 0 {
			continue
		}
		visited[n/64] |= 1 << (n % 64)
		left, right := readNode(data, n*nodeBytes, md.RecordSize)
		for _, p := range []uint{right, left} { // left is popped first
			switch {
			case p < nodes:
				stack = append(stack, p)
			case p >= nodes+16:
				seen++
				v[schemaOfRecord(r.LookupOffset(uintptr(p-nodes-16)))]++
			}
		}
	}
	return v, nil
}

func readNode(b []byte, off, size uint) (left, right uint) {
	switch size {
	case 24:
		return uint(b[off])<<16 | uint(b[off+1])<<8 | uint(b[off+2]), uint(b[off+3])<<16 | uint(b[off+4])<<8 | uint(b[off+5])
	case 28:
		mid := uint(b[off+3])
		left = (mid&0xf0)<<20 | uint(b[off])<<16 | uint(b[off+1])<<8 | uint(b[off+2])
		right = (mid&0x0f)<<24 | uint(b[off+4])<<16 | uint(b[off+5])<<8 | uint(b[off+6])
		return left, right
	}
	return uint(binary.BigEndian.Uint32(b[off:])), uint(binary.BigEndian.Uint32(b[off+4:]))
}

// schemaOfRecord classifies one record by the fields it has.
func schemaOfRecord(res maxminddb.Result) schema {
	var rec map[string]any
	if res.Decode(&rec) != nil {
		return schemaUnknown
	}
	str := func(v any) bool { s, ok := v.(string); return ok && s != "" }
	iso := func(v any) bool { m, ok := v.(map[string]any); return ok && str(m["iso_code"]) }
	switch {
	case str(rec["asn"]):
		return schemaIPinfo
	case rec["autonomous_system_number"] != nil:
		return schemaASN
	case iso(rec["country"]) || iso(rec["registered_country"]):
		return schemaCountry
	case str(rec["country_code"]):
		return schemaFlatCountry
	}
	return schemaUnknown
}

// scratch holds the records a lookup decodes into. Decode takes them as
// interface values, so records on the stack would escape to the heap (one
// allocation per lookup); each Cache owns a scratch, uncached lookups take
// one from a pool. Decoded strings come from maxminddb's string cache.
type scratch struct {
	country countryRecord
	asn     asnRecord
	ipinfo  ipinfoRecord
	// Decoded records by their offset in the data section: most addresses
	// of a flood share a few thousand records, and decoding one costs more
	// than finding it. Direct-mapped, per database (the offsets of another
	// file mean nothing). A country database has a few hundred records; an
	// ASN database tens of thousands, of which random addresses reach
	// about 44,000 (the embedded one): 16,384 slots hold 91% of a flood's
	// lookups, 4,096 hold 82%. A cache starts at 4,096 and grows to its
	// largest once it has missed twice as often as it has slots (a flood),
	// so that a short read does not pay for memory it will not use.
	countries recordCache[string]
	ases      recordCache[asRecord]
}

// init makes the record caches and maps their pages by writes (see
// mem.Prefault: a lookup reads a slot before it fills it).
func (s *scratch) init() {
	s.countries.make(1<<12, 1<<12)
	s.ases.make(1<<12, 1<<14)
}

// asRecord is a decoded ASN record.
type asRecord struct {
	asn uint32
	org string
}

// recordCache maps record offsets of one database to decoded values.
type recordCache[T any] struct {
	db     *database
	shift  uint      // 64 - log2(len(offs))
	offs   []uintptr // offset + 1; 0: empty
	vals   []T
	max    int // slots it may grow to
	misses int // since it was made
}

// make sizes the cache to n slots, growing to max (powers of two).
func (c *recordCache[T]) make(n, max int) {
	c.max, c.misses = max, 0
	c.offs, c.vals = make([]uintptr, n), make([]T, n)
	c.shift = uint(64 - bits.TrailingZeros(uint(n)))
	mem.Prefault(c.offs)
	mem.Prefault(c.vals)
}

// get returns the value of the record at off in d, if cached.
func (c *recordCache[T]) get(d *database, off uintptr) (v T, ok bool) {
	if len(c.offs) == 0 {
		return v, false // not made: caches nothing
	}
	if c.db != d {
		c.db = d
		clear(c.offs)
		return v, false
	}
	i := c.slot(off)
	if c.offs[i] != off+1 {
		return v, false
	}
	return c.vals[i], true
}

func (c *recordCache[T]) put(off uintptr, v T) {
	if len(c.offs) == 0 {
		return
	}
	if c.misses++; c.misses > 2*len(c.offs) && len(c.offs) < c.max {
		c.make(c.max, c.max) // empty: it refills as it misses
	}
	i := c.slot(off)
	c.offs[i], c.vals[i] = off+1, v
}

// slot is the slot of a record offset.
func (c *recordCache[T]) slot(off uintptr) uintptr {
	return uintptr(uint64(off)*0x9E3779B97F4A7C15>>c.shift) & uintptr(len(c.offs)-1)
}

// country returns addr's ISO country code, "" if unknown. It never
// panics.
func (d *database) country(addr netip.Addr, s *scratch) (cc string) {
	defer func() {
		if recover() != nil {
			cc = ""
		}
	}()
	off, found := d.record(addr)
	return d.countryAt(off, found, s)
}

// countryAt is country for the record at off (none: !found).
func (d *database) countryAt(off uintptr, found bool, s *scratch) (cc string) {
	defer func() {
		if recover() != nil {
			cc = ""
		}
	}()
	if !found {
		return ""
	}
	if v, ok := s.countries.get(d, off); ok {
		return v
	}
	defer func() { s.countries.put(off, cc) }()
	res := d.r.LookupOffset(off)
	if d.schema == schemaIPinfo || d.schema == schemaFlatCountry {
		// The IPinfo record type holds country_code; decoding stops at the
		// fields the struct has.
		s.ipinfo = ipinfoRecord{}
		if res.Decode(&s.ipinfo) != nil {
			return ""
		}
		return normCountry(s.ipinfo.CountryCode)
	}
	rec := &s.country
	*rec = countryRecord{}
	if res.Decode(rec) != nil {
		return ""
	}
	if rec.Country.ISOCode != "" {
		return normCountry(rec.Country.ISOCode)
	}
	// Anycast and satellite ranges of MaxMind databases carry only the
	// registered country.
	return normCountry(rec.RegisteredCountry.ISOCode)
}

// as returns addr's AS number and organisation, 0 and "" if unknown. It
// never panics.
func (d *database) as(addr netip.Addr, s *scratch) (asn uint32, org string) {
	defer func() {
		if recover() != nil {
			asn, org = 0, ""
		}
	}()
	off, found := d.record(addr)
	return d.asAt(off, found, s)
}

// asAt is as for the record at off (none: !found).
func (d *database) asAt(off uintptr, found bool, s *scratch) (asn uint32, org string) {
	defer func() {
		if recover() != nil {
			asn, org = 0, ""
		}
	}()
	if !found {
		return 0, ""
	}
	if v, ok := s.ases.get(d, off); ok {
		return v.asn, v.org
	}
	defer func() { s.ases.put(off, asRecord{asn, org}) }()
	res := d.r.LookupOffset(off)
	if d.schema == schemaIPinfo {
		rec := &s.ipinfo
		*rec = ipinfoRecord{}
		if res.Decode(rec) != nil {
			return 0, ""
		}
		return parseASN(rec.ASN), rec.ASName
	}
	rec := &s.asn
	*rec = asnRecord{}
	if res.Decode(rec) != nil || rec.ASN == 0 {
		return 0, ""
	}
	return rec.ASN, rec.Org
}

// parseASN reads IPinfo's "AS15169" (or "15169"); 0 if it is neither.
func parseASN(s string) uint32 {
	if len(s) > 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's') {
		s = s[2:]
	}
	if len(s) == 0 || len(s) > 10 {
		return 0
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if n > 1<<32-1 {
		return 0
	}
	return uint32(n)
}

// normCountry upper-cases an ISO 3166-1 alpha-2 code without allocating
// for codes already in upper case; anything else is "".
func normCountry(cc string) string {
	if len(cc) != 2 {
		return ""
	}
	a, b := cc[0]&^0x20, cc[1]&^0x20 // ASCII upper case
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return ""
	}
	if a == cc[0] && b == cc[1] {
		return cc
	}
	return string([]byte{a, b})
}
