package main

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo/geotest"
)

// TestDaemonWatchesDatabases: with database files, the daemon reloads
// them when an updater renames a new file over one (here a City database
// over a Country one), keeps them when the new file is broken, and logs
// and counts both.
func TestDaemonWatchesDatabases(t *testing.T) {
	dir := t.TempDir()
	country, asn := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	nets := map[netip.Prefix]string{netip.MustParsePrefix("192.0.2.0/24"): "DE"}
	if err := geotest.WriteCountry(country, nets); err != nil {
		t.Fatal(err)
	}
	writeASNDB(t, asn)
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	var stderr syncBuffer
	go func() {
		done <- runContext(ctx, []string{"run", "--capture.file", "../../testdata/sample.pcap.gz", "--web.listen-address", addr,
			"--geo.country-db", country, "--geo.asn-db", asn, "--geo.watch-interval", "50ms"}, io.Discard, &stderr)
	}()
	metrics := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			m := metrics()
			if ok(m) {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never; metrics:\n%s\nlog:\n%s", what, grepLines(m, "borderwatch_geo_database"), stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	has := func(s ...string) func(string) bool {
		return func(m string) bool {
			for _, w := range s {
				if !strings.Contains(m, w) {
					return false
				}
			}
			return true
		}
	}
	waitFor("started", has(`database="country",path="`+country+`",type="GeoLite2-Country"`))
	tmp := country + ".tmp"
	if err := geotest.WriteCity(tmp, nets); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, country); err != nil {
		t.Fatal(err)
	}
	waitFor("reload after the rename", has(`type="GeoLite2-City"`, `borderwatch_geo_database_reloads_total{result="success"} 1`))
	if !strings.Contains(stderr.String(), "geo databases reloaded after a change on disk") {
		t.Errorf("reload not logged: %s", stderr.String())
	}
	if err := os.WriteFile(asn, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := waitFor("failed reload counted", has(`borderwatch_geo_database_reloads_total{result="failure"} 1`))
	if !strings.Contains(m, `type="GeoLite2-City"`) || !strings.Contains(m, `type="GeoLite2-ASN"`) {
		t.Errorf("the running databases did not stay: %s", grepLines(m, "database_info"))
	}
	if !strings.Contains(stderr.String(), "could not be loaded; the running databases stay") || !strings.Contains(stderr.String(), asn) {
		t.Errorf("failed reload not logged: %s", stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

func TestLifecycleStopsInReverseOnce(t *testing.T) {
	var got []int
	var lc lifecycle
	for i := range 3 {
		lc.push(func() { got = append(got, i) })
	}
	lc.stop()
	lc.stop() // a deferred stop after an explicit one does nothing
	if len(got) != 3 || got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Errorf("stopped %v, want [2 1 0]", got)
	}
}
