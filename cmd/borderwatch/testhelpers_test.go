package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"testing"

	"github.com/borderwatch/borderwatch/geo/geotest"
)

func mustGunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeASNDB(t *testing.T, path string) {
	t.Helper()
	if err := geotest.WriteASN(path, map[netip.Prefix]geotest.AS{netip.MustParsePrefix("192.0.2.0/24"): {Number: 64500, Org: "Example"}}); err != nil {
		t.Fatal(err)
	}
}
