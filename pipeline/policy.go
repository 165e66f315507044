package pipeline

import (
	"cmp"
	"net/netip"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/lpm"
	"github.com/borderwatch/borderwatch/place"
)

// PolicyOverrides are the settings given beside the configuration file
// (on the command line) that a Policy is built from.
type PolicyOverrides struct {
	// HomeRegion, when not empty, replaces the file's home_region: ISO
	// country codes and region names (config.ExpandRegion with the
	// file's regions).
	HomeRegion []string
	// LocalNetworks are local prefixes in addition to the file's.
	LocalNetworks []netip.Prefix
	// Geo selects the databases and the cache size when NewPolicy opens
	// them; its Providers are replaced by the file's.
	Geo geo.Config
	// Site, when not nil, replaces the file's site_location.
	Site *config.SiteLocation
}

// NewPolicy resolves a configuration and its overrides into a placement
// policy. res, when not nil, is reused instead of opening the databases
// (a configuration reload keeps the running ones). The policy's
// HomeRegion lists the expanded home country codes in order.
func NewPolicy(cfg *config.Config, ov PolicyOverrides, res *geo.Resolver) (*Policy, error) {
	home := cfg.HomeRegion
	if len(ov.HomeRegion) > 0 {
		var err error
		home, err = config.ExpandRegion(ov.HomeRegion, cfg.Regions)
		if err != nil {
			return nil, err
		}
	}
	local := append([]netip.Prefix(nil), cfg.LocalNetworks...)
	for _, p := range ov.LocalNetworks {
		local = append(local, p.Masked())
	}
	base, err := apps.Default()
	if err != nil {
		return nil, err
	}
	cat, err := apps.New(base.Apps(), cfg.Apps)
	if err != nil {
		return nil, err
	}
	if res == nil {
		gc := ov.Geo
		gc.Providers = cfg.Providers
		if res, err = geo.Open(gc); err != nil {
			return nil, err
		}
	}
	homeSet := make(map[string]bool, len(home))
	for _, c := range home {
		homeSet[c] = true
	}
	var site *place.Site
	if loc := cmp.Or(ov.Site, cfg.Site); loc != nil {
		if site, err = place.NewSite(loc.Lat, loc.Lon, homeSet); err != nil {
			return nil, err
		}
	}
	return &Policy{
		Site:       site,
		Geo:        res,
		Apps:       cat,
		Local:      lpm.NewSet(local),
		Groups:     config.NewGroupMatcher(cfg.ClientGroups),
		Home:       homeSet,
		HomeRegion: home,
	}, nil
}
