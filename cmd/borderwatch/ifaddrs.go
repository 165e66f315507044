package main

import (
	"net"
	"net/netip"
)

// interfaceAddrs returns the addresses of the captured interfaces: they are
// local even when they are public (a server's or a router's own address).
func interfaceAddrs(names []string) []netip.Addr {
	var out []netip.Addr
	for _, name := range names {
		var addrs []net.Addr
		if name == "any" {
			addrs, _ = net.InterfaceAddrs()
		} else if ifi, err := net.InterfaceByName(name); err == nil {
			addrs, _ = ifi.Addrs()
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().Unmap())
			}
		}
	}
	return out
}
