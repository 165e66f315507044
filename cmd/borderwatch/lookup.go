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
	if o.lookupRTT < 0 {
		fmt.Fprintln(stderr, "borderwatch: --rtt must not be negative")
		return 2
	}
	st, err := o.settings()
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	if o.lookupRTT > 0 && st.policy.Site == nil {
		fmt.Fprintln(stderr, "borderwatch: --rtt needs the site: set --geo.site-location LAT,LON (or site_location in the config file)")
		return 2
	}
	defer st.policy.Geo.Close()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tCOUNTRY\tASN\tORGANISATION\tPROVIDER\tCLOUD_REGION\tOPERATOR_COUNTRY\tREGION\tBASIS\tSITE_KM\tLOCAL")
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
		pl := place.Place(&pp, &place.Flow{Addr: [2]netip.Addr{{}, a}, Local: [2]bool{true, false}, RTT: o.lookupRTT}, &info)
		org := info.Org
		if org == "" {
			org = "-"
		}
		country, provider, cloud := pl.Country, pl.Provider, "-"
		if r := info.Range; r != nil {
			if r.Anycast && pl.Basis == place.BasisAnycast {
				country = "anycast"
			}
			if r.Region != "" {
				cloud = r.Region
			}
		}
		// The distance from the site to the country the data gives (the
		// database's, or the published range's).
		km := "-"
		if st.policy.Site != nil && info.Location() != "" {
			if d, ok := st.policy.Site.DistanceKm(info.Location()); ok {
				km = fmt.Sprintf("%.0f", d)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", a, country, info.ASN, org, provider, cloud, info.OperatorCountry, pl.Region, pl.Basis, km, st.policy.Local.Contains(a))
	}
	tw.Flush()
	return status
}
