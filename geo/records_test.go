package geo

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// The same records without their decoders: maxminddb decodes these by
// reflection.
type (
	asnReflect     asnRecord
	ipinfoReflect  ipinfoRecord
	countryReflect countryRecord
)

// decodeBoth decodes res with a record's own decoder and by reflection,
// and reports a difference in values or in failing.
func decodeBoth(res maxminddb.Result) error {
	var a asnRecord
	var ar asnReflect
	var i ipinfoRecord
	var ir ipinfoReflect
	var c countryRecord
	var cr countryReflect
	for _, d := range []struct {
		own, refl any
	}{{&a, &ar}, {&i, &ir}, {&c, &cr}} {
		e1, e2 := res.Decode(d.own), res.Decode(d.refl)
		if (e1 == nil) != (e2 == nil) {
			return fmt.Errorf("%T: own decoder error %v, reflection's %v", d.own, e1, e2)
		}
	}
	if asnReflect(a) != ar || ipinfoReflect(i) != ir || countryReflect(c) != cr {
		return fmt.Errorf("own %+v %+v %+v, reflection %+v %+v %+v", a, i, c, ar, ir, cr)
	}
	return nil
}

// TestRecordDecoders: the records' own decoders give what maxminddb's
// reflection gives, values and failures, on every network of the embedded
// databases and on written records of each schema, of unusual shapes
// (extra fields, nested maps where strings belong, integers out of range,
// strings where numbers belong).
func TestRecordDecoders(t *testing.T) {
	r, err := Open(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := r.cur.Load()
	for _, db := range []*database{d.country, d.asn} {
		n := 0
		for res := range db.r.Networks() {
			if err := decodeBoth(res); err != nil {
				t.Fatalf("embedded %s, %v: %v", db.r.Metadata.DatabaseType, res.Prefix(), err)
			}
			n++
		}
		if n < 100000 {
			t.Errorf("embedded %s: %d networks decoded, want the whole database", db.r.Metadata.DatabaseType, n)
		}
	}
	s := func(v string) mmdbtype.String { return mmdbtype.String(v) }
	records := []mmdbtype.DataType{
		mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(16509), "autonomous_system_organization": s("Amazon.com, Inc.")},
		mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint64(1 << 33), "autonomous_system_organization": s("too large")},
		mmdbtype.Map{"autonomous_system_number": s("16509")},
		mmdbtype.Map{"autonomous_system_organization": mmdbtype.Uint32(7)},
		mmdbtype.Map{"autonomous_system_number": mmdbtype.Int32(-1)},
		mmdbtype.Map{"country_code": s("NL"), "asn": s("AS1136"), "as_name": s("KPN"), "as_domain": s("kpn.com")},
		mmdbtype.Map{"country_code": mmdbtype.Map{"iso_code": s("NL")}},
		mmdbtype.Map{"country": mmdbtype.Map{"iso_code": s("FR"), "names": mmdbtype.Map{"en": s("France")}}, "registered_country": mmdbtype.Map{"iso_code": s("FR")}},
		mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": s("US")}, "continent": mmdbtype.Map{"code": s("NA")}},
		mmdbtype.Map{"country": s("FR")},
		mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.Uint16(250)}},
		mmdbtype.Slice{s("not"), s("a map")},
		s("a string record"),
		mmdbtype.Map{},
	}
	m := map[netip.Prefix]mmdbtype.DataType{}
	for i, rec := range records {
		m[netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 0}), 24)] = rec
	}
	path := filepath.Join(t.TempDir(), "records.mmdb")
	if err := geotest.Write(path, "borderwatch-test", m); err != nil {
		t.Fatal(err)
	}
	db, err := maxminddb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, rec := range records {
		res := db.Lookup(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}))
		if !res.Found() {
			t.Fatalf("record %d not found", i)
		}
		if err := decodeBoth(res); err != nil {
			t.Errorf("record %v: %v", rec, err)
		}
	}
}
