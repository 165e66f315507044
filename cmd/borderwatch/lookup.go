package main

import (
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
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
		country, org := info.Country, info.Org
		if country == "" {
			country = "unknown"
		}
		if org == "" {
			org = "-"
		}
		region := "unknown"
		if len(st.policy.Home) > 0 && info.Country != "" {
			region = "abroad"
			if st.policy.Home[info.Country] {
				region = "home"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%v\n", a, country, info.ASN, org, info.Provider, region, st.policy.Local.Contains(a))
	}
	tw.Flush()
	return status
}
