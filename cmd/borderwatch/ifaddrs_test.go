package main

import (
	"net/netip"
	"slices"
	"testing"
)

func TestInterfaceAddrs(t *testing.T) {
	got := interfaceAddrs([]string{"lo"})
	if !slices.Contains(got, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("lo's addresses: %v", got)
	}
	if len(interfaceAddrs([]string{"no-such-interface0"})) != 0 {
		t.Error("addresses for a missing interface")
	}
}
