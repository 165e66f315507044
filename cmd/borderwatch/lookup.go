package main

import (
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"

	"github.com/borderwatch/borderwatch/place"
)

// lookup implements `borderwatch lookup`.
func lookup(o *options, addrs []string, stdout, stderr io.Writer) int {
	st, err := o.settings()
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	defer st.policy.Geo.Close()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tCOUNTRY\tASN\tORGANISATION\tPROVIDER\tREGION\tLOCAL")
	pp := st.policy.Placement()
	status := 0
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			fmt.Fprintf(stderr, "borderwatch: %q is not an IP address\n", s)
			status = 1
			continue
		}
		a = a.Unmap()
		info := st.policy.Geo.Lookup(a)
		// Placed as the remote end of a flow from a local client.
		pl := place.Place(&pp, &place.Flow{Addr: [2]netip.Addr{{}, a}, Local: [2]bool{true, false}}, &info)
		org := info.Org
		if org == "" {
			org = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%v\n", a, pl.Country, info.ASN, org, pl.Provider, pl.Region, st.policy.Local.Contains(a))
	}
	tw.Flush()
	return status
}
