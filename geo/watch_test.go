package geo

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo/geotest"
)

func TestWatch(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 10)
	done := make(chan struct{})
	go func() {
		r.Watch(ctx, 10*time.Millisecond, func(err error) { results <- err })
		close(done)
	}()
	next := func() error {
		t.Helper()
		select {
		case err := <-results:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("no reload within 5 s")
			return nil
		}
	}
	a := netip.MustParseAddr("192.0.2.1")
	c := r.NewCache()
	if got := c.Lookup(a).Country; got != "DE" {
		t.Fatalf("before: %q", got)
	}
	// An updater renames a new file over the old one.
	tmp := country + ".tmp"
	if err := geotest.WriteCountry(tmp, map[netip.Prefix]string{mustPrefix("192.0.2.0/24"): "FR"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, country); err != nil {
		t.Fatal(err)
	}
	if err := next(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := c.Lookup(a).Country; got != "FR" {
		t.Errorf("after the swap: %q", got)
	}
	// A broken file is reported and the loaded data stays.
	if err := os.WriteFile(asn, []byte("not a database at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := next(); err == nil || !strings.Contains(err.Error(), asn) {
		t.Errorf("broken file: %v", err)
	}
	if got := c.Lookup(a); got.ASN != 31898 || got.Country != "FR" {
		t.Errorf("after a failed reload: %+v", got)
	}
	// Nothing changes: no more reloads.
	select {
	case err := <-results:
		t.Errorf("reload without a change: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	if ok, failed := r.ReloadStats(); ok != 1 || failed != 1 {
		t.Errorf("reloads %d ok, %d failed", ok, failed)
	}
}

// TestWatchChangeBeforeWatch: a file replaced after Open and before Watch
// starts (or before its goroutine is scheduled) is a change: Watch
// compares with what was loaded, not with what it finds when it starts.
func TestWatchChangeBeforeWatch(t *testing.T) {
	country, asn := docDBs(t)
	r, err := Open(Config{CountryDB: country, ASNDB: asn})
	if err != nil {
		t.Fatal(err)
	}
	tmp := country + ".tmp"
	if err := geotest.WriteCountry(tmp, map[netip.Prefix]string{mustPrefix("192.0.2.0/24"): "FR"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, country); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, 1)
	go r.Watch(ctx, 10*time.Millisecond, func(err error) {
		select {
		case results <- err:
		default:
		}
	})
	select {
	case err := <-results:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the file replaced before Watch started was never reloaded")
	}
	if got := r.NewCache().Lookup(netip.MustParseAddr("192.0.2.1")).Country; got != "FR" {
		t.Errorf("after the reload: %q", got)
	}
}
