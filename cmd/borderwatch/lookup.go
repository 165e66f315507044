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
	fmt.Fprintln(tw, "ADDRESS\tCOUNTRY\tASN\tORGANISATION\tPROVIDER\tCLOUD_REGION\tOPERATOR_COUNTRY\tREGION\tLOCAL")
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
		country, provider, region, cloud := pl.Country, pl.Provider, pl.Region.String(), "-"
		if r := info.Range; r != nil {
			// A published range or geofeed: its country over the
			// database's, none for anycast; its provider.
			country, region = info.Location(), pp.RegionOf(info.Location()).String()
			switch {
			case r.Anycast:
				country = "anycast"
			case country == "":
				country = "unknown"
			}
			if r.Provider != "" {
				provider = r.Provider
			}
			if r.Region != "" {
				cloud = r.Region
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%v\n", a, country, info.ASN, org, provider, cloud, info.OperatorCountry, region, st.policy.Local.Contains(a))
	}
	tw.Flush()
	return status
}
