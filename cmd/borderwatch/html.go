package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/borderwatch/borderwatch/report"
	"github.com/prometheus/common/version"
)

// pageInfo is what the HTML report says about the run besides the
// counts: the source, the home region's origin, the databases, the
// version and the settings in effect.
func pageInfo(o *options, st *settings, source string) report.PageInfo {
	ranges, feed := st.policy.Geo.RangeStats()
	info := report.PageInfo{
		Source:    source,
		Generated: time.Now(),
		HomeSpec:  homeSpec(o),
		Databases: st.policy.Geo.Databases(),
		Ranges:    ranges,
		Geofeed:   feed,
		Version:   versionLine(),
		Site:      st.policy.Site,
	}
	if st.policy.Site != nil {
		info.SiteSpec = siteSpec(o)
	}
	cfgFile := "none (defaults)"
	if o.configFile != "" {
		cfgFile = o.configFile
	}
	groups := make([]string, 0, len(st.cfg.ClientGroups))
	for _, g := range st.cfg.ClientGroups {
		groups = append(groups, g.Name)
	}
	local := make([]string, 0, len(st.cfg.LocalNetworks))
	for _, p := range st.cfg.LocalNetworks {
		local = append(local, p.String())
	}
	local = append(local, o.localNets...)
	info.Settings = [][2]string{
		{"configuration file", cfgFile},
		{"local networks", strings.Join(local, ", ")},
		{"client groups", orNone(strings.Join(groups, ", "))},
		{"workers", strconv.Itoa(o.workerCount())},
		{"flow timeouts", fmt.Sprintf("idle %s, active %s", o.idle, o.active)},
		{"flow table", fmt.Sprintf("at most %d flows", o.maxFlows)},
		{"series budget", fmt.Sprintf("%d label sets (--metrics.series-limit)", o.seriesLimit)},
		{"DNS ports", fmt.Sprint(o.dnsPorts)},
	}
	return info
}

// versionLine is the version, revision, build date and Go version.
func versionLine() string {
	v := version.Version
	if v == "" {
		v = "(devel)"
	}
	var extra []string
	if r := version.GetRevision(); r != "" && r != "unknown" {
		extra = append(extra, "revision "+r)
	}
	if version.BuildDate != "" {
		extra = append(extra, "built "+version.BuildDate)
	}
	extra = append(extra, version.GoVersion)
	return v + " (" + strings.Join(extra, ", ") + ")"
}

// homeSpec says where the home region was given.
func homeSpec(o *options) string {
	switch {
	case o.homeRegion != "":
		return "--geo.home-region " + o.homeRegion
	case o.configFile != "":
		return "home_region in " + o.configFile
	}
	return ""
}

// siteSpec says where the site location was given.
func siteSpec(o *options) string {
	switch {
	case o.siteLoc != "":
		return "--geo.site-location " + o.siteLoc
	case o.configFile != "":
		return "site_location in " + o.configFile
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// daemonReportTop bounds the rows of the daemon's report tables that are
// cut by --top in read.
const daemonReportTop = 50

// daemonReport writes the HTML report of the daemon's current counts, with
// the settings in effect (after any reload). The daemon keeps no
// per-endpoint totals: the page says that those sections are unavailable.
func daemonReport(o *options, p *pipeline.Pipeline, rl *reloader, since time.Time) func(io.Writer) error {
	var src []string
	if len(o.interfaces) > 0 {
		src = append(src, "live capture on "+strings.Join(o.interfaces, ", "))
	}
	if len(o.files) > 0 {
		src = append(src, "capture files "+strings.Join(o.files, ", "))
	}
	source := "the running daemon's " + strings.Join(src, " and ")
	return func(w io.Writer) error {
		st := rl.settings()
		r := report.Build(p, o.files, st.home, daemonReportTop)
		info := pageInfo(o, st, source)
		info.Live, info.Since = true, since
		return r.WriteHTML(w, info)
	}
}
