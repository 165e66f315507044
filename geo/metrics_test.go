package geo

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Two workers: 7 lookups of which 4 hit, and 3 lookups of which 1 hits.
	c1, c2 := r.NewCache(), r.NewCache()
	for _, a := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.1", "2001:db8::1", "2001:db8::1", "192.0.2.2"} {
		c1.Lookup(netip.MustParseAddr(a))
	}
	for _, a := range []string{"203.0.113.5", "198.51.100.5", "203.0.113.5"} {
		c2.Lookup(netip.MustParseAddr(a))
	}
	r.Lookup(netip.MustParseAddr("192.0.2.1")) // uncached: not counted
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(asn, []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	want := fmt.Sprintf(`
# HELP borderwatch_geo_cache_hits_total Geo lookups answered by a per-worker cache.
# TYPE borderwatch_geo_cache_hits_total counter
borderwatch_geo_cache_hits_total 5
# HELP borderwatch_geo_database_build_timestamp_seconds Build time of each geo database in use, from its metadata, in unix seconds.
# TYPE borderwatch_geo_database_build_timestamp_seconds gauge
borderwatch_geo_database_build_timestamp_seconds{database="asn"} 1.7e+09
borderwatch_geo_database_build_timestamp_seconds{database="country"} 1.7e+09
# HELP borderwatch_geo_database_info The geo databases in use: role, metadata database_type and file ("embedded" for the built-in ones).
# TYPE borderwatch_geo_database_info gauge
borderwatch_geo_database_info{database="asn",path=%q,type="GeoLite2-ASN"} 1
borderwatch_geo_database_info{database="country",path=%q,type="GeoLite2-Country"} 1
# HELP borderwatch_geo_database_reloads_total Geo database reloads by result (success: swapped in; failure: the old databases stay).
# TYPE borderwatch_geo_database_reloads_total counter
borderwatch_geo_database_reloads_total{result="failure"} 1
borderwatch_geo_database_reloads_total{result="success"} 1
# HELP borderwatch_geo_lookups_total Geo lookups of remote addresses (through the per-worker caches).
# TYPE borderwatch_geo_lookups_total counter
borderwatch_geo_lookups_total 10
`, asn, country)
	col := NewCollector(r)
	if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(col)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
	// Registered next to others on one registry, as main does.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(embedded(t))); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("promlint (embedded): %v %v", err, problems)
	}
	if n, err := testutil.GatherAndCount(reg, "borderwatch_geo_database_info"); err != nil || n != 2 {
		t.Errorf("%d database_info series, %v", n, err)
	}
}
