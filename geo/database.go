package geo

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// schema is the record layout a database uses.
type schema uint8

const (
	schemaCountry schema = iota // GeoLite2/GeoIP2 Country or City, DB-IP country/city
	schemaASN                   // GeoLite2 ASN, DB-IP ASN
	schemaIPinfo                // IPinfo Lite: country_code, asn "AS15169", as_name
)

// DatabaseInfo describes a loaded database.
type DatabaseInfo struct {
	Name      string    // "country" or "asn"
	Type      string    // the file's database_type
	Path      string    // the file, or "embedded"
	BuildTime time.Time // the file's build_epoch
}

type database struct {
	r      *maxminddb.Reader
	schema schema
	info   DatabaseInfo
}

// record decodes every schema borderwatch reads; maxminddb fills only the
// fields a record has.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	ASN         uint32 `maxminddb:"autonomous_system_number"`
	ASOrg       string `maxminddb:"autonomous_system_organization"`
	CountryCode string `maxminddb:"country_code"` // IPinfo Lite, ip-location-db
	IPinfoASN   string `maxminddb:"asn"`          // IPinfo Lite: "AS15169"
	ASName      string `maxminddb:"as_name"`      // IPinfo Lite
}

// openDatabase opens a database for role ("country" or "asn") from path,
// or from the embedded gzip bytes when path is "".
func openDatabase(role, path string, embedded []byte) (*database, error) {
	var data []byte
	name := path
	if path == "" {
		name = "embedded " + role + " database"
		zr, err := gzip.NewReader(bytes.NewReader(embedded))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	} else {
		name = role + " database " + path
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s database: %w", role, err)
		}
		if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	r, err := openReader(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid MaxMind DB (.mmdb) file: %w", name, err)
	}
	typ := r.Metadata.DatabaseType
	s, ok := schemaOf(typ)
	if !ok || (role == "country" && s == schemaASN) || (role == "asn" && s == schemaCountry) {
		r.Close()
		want := "a Country or City database (GeoLite2/GeoIP2 Country or City, DB-IP country, IPinfo Lite)"
		if role == "asn" {
			want = "an ASN database (GeoLite2/GeoIP2 ASN, DB-IP ASN, IPinfo Lite)"
		}
		return nil, fmt.Errorf("%s: database type %q given as the %s database; expected %s", name, typ, role, want)
	}
	if err := probe(r); err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: corrupt database: %w", name, err)
	}
	where := path
	if where == "" {
		where = "embedded"
	}
	return &database{r: r, schema: s, info: DatabaseInfo{Name: role, Type: typ, Path: where, BuildTime: r.Metadata.BuildTime().UTC()}}, nil
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

// probe looks a few addresses up so that a file whose search tree or data
// section is corrupt is refused at start, not at the first packet.
func probe(r *maxminddb.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "203.0.113.1", "100.64.0.1"} {
		var rec record
		if err := r.Lookup(netip.MustParseAddr(a)).Decode(&rec); err != nil {
			return err
		}
	}
	return nil
}

// schemaOf tells the record layout from database_type.
func schemaOf(typ string) (schema, bool) {
	t := strings.ToLower(typ)
	switch {
	case strings.Contains(t, "ipinfo"):
		return schemaIPinfo, true
	case strings.Contains(t, "asn") || strings.Contains(t, "isp"):
		return schemaASN, true
	case strings.Contains(t, "country") || strings.Contains(t, "city") || strings.Contains(t, "location"):
		return schemaCountry, true
	}
	return 0, false
}

var errNotFound = errors.New("not found")

// lookup decodes addr's record; it never panics.
func (d *database) lookup(addr netip.Addr, rec *record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	res := d.r.Lookup(addr)
	if !res.Found() {
		return errNotFound
	}
	return res.Decode(rec)
}
