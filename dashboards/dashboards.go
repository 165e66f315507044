package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// panel is a Grafana panel, reduced to what the dashboards use.
type panel struct {
	Title       string
	Type        string // stat, timeseries, geomap, bargauge, table
	Description string
	Unit        string
	W, H        int
	Targets     []target
	Options     map[string]any
}

type target struct {
	Expr    string
	Legend  string
	Instant bool
	Format  string // table
}

const sel = `instance=~"$instance",client_group=~"$client_group",app=~"$app"`

// overview is the "where traffic goes" dashboard.
var overview = []panel{
	{Title: "Egress leaving the home region", Type: "stat", Unit: "percentunit", W: 6, H: 5,
		Description: "Share of egress bytes whose remote end is outside the home region (recording rule borderwatch:egress_abroad:ratio_rate5m). With --geo.site-location, a measured handshake round trip overrides a database country it rules out (README: How borderwatch decides where a server is).",
		Targets:     []target{{Expr: `avg(borderwatch:egress_abroad:ratio_rate5m{instance=~"$instance"})`}}},
	{Title: "Egress", Type: "stat", Unit: "Bps", W: 6, H: 5, Description: "Egress rate for the selected client groups and apps.",
		Targets: []target{{Expr: `sum(borderwatch:egress_bytes:rate5m{` + sel + `})`}}},
	{Title: "Ingress", Type: "stat", Unit: "Bps", W: 6, H: 5, Description: "Ingress rate for the selected client groups and apps.",
		Targets: []target{{Expr: `sum(borderwatch:ingress_bytes:rate5m{` + sel + `})`}}},
	{Title: "Traffic with a name", Type: "stat", Unit: "percentunit", W: 6, H: 5,
		Description: "Share of bytes whose flow had a name (SNI, QUIC, Host or DNS); the rest is the blind spot.",
		Targets:     []target{{Expr: `sum(rate(borderwatch_named_bytes_total{instance=~"$instance",source!="none"}[$__rate_interval])) / sum(rate(borderwatch_named_bytes_total{instance=~"$instance"}[$__rate_interval]))`}}},
	{Title: "Egress by country", Type: "geomap", Unit: "Bps", W: 12, H: 10,
		Description: "Egress rate per remote country (ISO 3166-1 alpha-2 lookup).",
		Targets:     []target{{Expr: `sum by (country) (borderwatch:egress_bytes:rate5m{` + sel + `,country!~"unknown|other"})`, Legend: "{{country}}", Instant: true, Format: "table"}}},
	{Title: "Egress leaving the home region over time", Type: "timeseries", Unit: "Bps", W: 12, H: 10,
		Description: "Egress to countries outside the home region, by country (stacked).",
		Targets:     []target{{Expr: `sum by (country) (borderwatch:egress_bytes:rate5m{` + sel + `,region="abroad"})`, Legend: "{{country}}"}}},
	{Title: "Share of egress abroad over time, by basis", Type: "timeseries", Unit: "percentunit", W: 12, H: 8,
		Description: "The abroad share split by how the place was decided: rtt (a measured round trip confirms it), contradicted (the round trip ruled out the database's country), database (no round trip, or too long to decide), anycast. The bases add up to the share.",
		Targets:     []target{{Expr: `sum by (basis) (borderwatch:egress_abroad_by_basis:ratio_rate5m{instance=~"$instance"})`, Legend: "{{basis}}"}}},
	{Title: "Egress by region", Type: "timeseries", Unit: "Bps", W: 12, H: 8,
		Targets: []target{{Expr: `sum by (region) (borderwatch:egress_bytes:rate5m{` + sel + `})`, Legend: "{{region}}"}}},
	{Title: "Top providers", Type: "bargauge", Unit: "Bps", W: 8, H: 10,
		Targets: []target{{Expr: `topk(10, sum by (provider) (rate(borderwatch_traffic_bytes_total{` + sel + `}[$__rate_interval])))`, Legend: "{{provider}}", Instant: true}}},
	{Title: "Top apps", Type: "bargauge", Unit: "Bps", W: 8, H: 10,
		Targets: []target{{Expr: `topk(10, sum by (app) (rate(borderwatch_traffic_bytes_total{` + sel + `}[$__rate_interval])))`, Legend: "{{app}}", Instant: true}}},
	{Title: "Traffic by name source", Type: "bargauge", Unit: "Bps", W: 8, H: 10,
		Targets: []target{{Expr: `sum by (source) (rate(borderwatch_named_bytes_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{source}}", Instant: true}}},
	{Title: "App × country (egress, selected range)", Type: "table", Unit: "bytes", W: 12, H: 10,
		Targets: []target{{Expr: `sum by (app, country) (increase(borderwatch_traffic_bytes_total{` + sel + `,direction="egress"}[$__range]))`, Instant: true, Format: "table"}}},
	{Title: "Client groups: egress by group", Type: "timeseries", Unit: "Bps", W: 12, H: 10,
		Targets: []target{{Expr: `sum by (client_group) (borderwatch:egress_bytes:rate5m{` + sel + `})`, Legend: "{{client_group}}"}}},
	{Title: "Client groups: apps and countries abroad", Type: "table", Unit: "bytes", W: 24, H: 9,
		Targets: []target{{Expr: `sum by (client_group, app, country) (increase(borderwatch_traffic_bytes_total{` + sel + `,direction="egress",region="abroad"}[$__range]))`, Instant: true, Format: "table"}}},
}

// health is the capture-health dashboard.
var health = []panel{
	{Title: "Packets read", Type: "timeseries", Unit: "pps", W: 12, H: 8,
		Targets: []target{{Expr: `sum by (instance) (rate(borderwatch_packets_read_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{instance}}"}}},
	{Title: "Drops (kernel and queue)", Type: "timeseries", Unit: "pps", W: 12, H: 8,
		Description: "Frames lost before counting; 0 when capturing from files.",
		Targets:     []target{{Expr: `sum by (instance, interface) (borderwatch:capture_drops:rate5m{instance=~"$instance"}) or sum by (instance) (rate(borderwatch_packets_read_total{instance=~"$instance"}[$__rate_interval])) * 0`, Legend: "{{instance}} {{interface}}"}}},
	{Title: "Decode errors by reason", Type: "timeseries", Unit: "pps", W: 12, H: 8,
		Targets: []target{{Expr: `sum by (reason) (rate(borderwatch_decode_errors_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{reason}}"}}},
	{Title: "Skipped frames by reason", Type: "timeseries", Unit: "pps", W: 12, H: 8,
		Targets: []target{{Expr: `sum by (reason) (rate(borderwatch_packets_skipped_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{reason}}"}}},
	{Title: "Geo database age", Type: "stat", Unit: "d", W: 6, H: 6,
		Targets: []target{{Expr: `max by (database) ((time() - borderwatch_geo_database_build_timestamp_seconds{instance=~"$instance"}) / 86400)`, Legend: "{{database}}"}}},
	{Title: "Series budget", Type: "stat", Unit: "short", W: 6, H: 6,
		Description: "Traffic label sets in use, and placements folded into \"other\" over the selected range.",
		Targets: []target{{Expr: `max(borderwatch_series_active{instance=~"$instance"})`, Legend: "in use"},
			{Expr: `sum(increase(borderwatch_series_overflow_total{instance=~"$instance"}[$__range]))`, Legend: "folded"}}},
	{Title: "Flows", Type: "timeseries", Unit: "short", W: 6, H: 6,
		Targets: []target{{Expr: `sum by (instance) (borderwatch_flows_active{instance=~"$instance"})`, Legend: "active {{instance}}"}}},
	{Title: "Flows evicted", Type: "timeseries", Unit: "ops", W: 6, H: 6,
		Targets: []target{{Expr: `sum by (reason) (rate(borderwatch_flows_evicted_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{reason}}"}}},
	{Title: "Geo cache hit ratio", Type: "stat", Unit: "percentunit", W: 6, H: 6,
		Targets: []target{{Expr: `sum(rate(borderwatch_geo_cache_hits_total{instance=~"$instance"}[$__rate_interval])) / sum(rate(borderwatch_geo_lookups_total{instance=~"$instance"}[$__rate_interval]))`}}},
	{Title: "Names learned", Type: "timeseries", Unit: "ops", W: 9, H: 6,
		Targets: []target{{Expr: `sum by (source) (rate(borderwatch_names_learned_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{source}}"}}},
	{Title: "Malformed handshakes and DNS", Type: "timeseries", Unit: "ops", W: 9, H: 6,
		Targets: []target{{Expr: `sum by (protocol) (rate(borderwatch_names_parse_errors_total{instance=~"$instance"}[$__rate_interval]))`, Legend: "{{protocol}}"}}},
	{Title: "Round-trip coverage", Type: "stat", Unit: "percentunit", W: 6, H: 6,
		Description: "Share of placed bytes whose flow had a measured handshake round trip (its own, or an earlier one to the same address). Without --geo.site-location round trips decide nothing.",
		Targets:     []target{{Expr: `sum(rate(borderwatch_rtt_placed_bytes_total{instance=~"$instance"}[$__rate_interval])) / sum(rate(borderwatch_traffic_bytes_total{instance=~"$instance"}[$__rate_interval]))`}}},
	{Title: "Bytes whose database country the round trip ruled out", Type: "timeseries", Unit: "Bps", W: 9, H: 6,
		Description: "Traffic placed with basis contradicted, by region: the database's country is farther than the round trip allows (a CDN or cloud edge registered elsewhere).",
		Targets:     []target{{Expr: `sum by (region) (rate(borderwatch_traffic_bytes_total{instance=~"$instance",basis="contradicted"}[$__rate_interval]))`, Legend: "{{region}}"}}},
	{Title: "Median handshake round trip", Type: "timeseries", Unit: "s", W: 9, H: 6,
		Targets: []target{{Expr: `histogram_quantile(0.5, sum by (le, region) (rate(borderwatch_handshake_rtt_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`, Legend: "{{region}}"}}},
	{Title: "Configuration reload", Type: "stat", Unit: "bool", W: 6, H: 6,
		Targets: []target{{Expr: `min(borderwatch_config_last_reload_successful{instance=~"$instance"})`}}},
}

// build renders a dashboard as normalised JSON: ${datasource} everywhere,
// stable uid, no id/version/iteration, sorted keys, stable panel ids.
func build(uid, title string, panels []panel, withFilters bool) ([]byte, error) {
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	var out []any
	x, y, rowH := 0, 0, 0
	for i, p := range panels {
		if x+p.W > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		var targets []any
		for j, tg := range p.Targets {
			t := map[string]any{"datasource": ds, "expr": tg.Expr, "refId": string(rune('A' + j)), "legendFormat": tg.Legend, "range": !tg.Instant, "instant": tg.Instant}
			if tg.Legend == "" {
				t["legendFormat"] = "__auto"
			}
			if tg.Format != "" {
				t["format"] = tg.Format
			}
			targets = append(targets, t)
		}
		fc := map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}}
		pm := map[string]any{"id": i + 1, "type": p.Type, "title": p.Title, "datasource": ds, "targets": targets,
			"gridPos": map[string]any{"x": x, "y": y, "w": p.W, "h": p.H}, "fieldConfig": fc}
		if p.Description != "" {
			pm["description"] = p.Description
		}
		if p.Type == "geomap" {
			// Markers sized and coloured by the "Value" column of the
			// instant table query, placed by looking the "country" column
			// (ISO 3166-1 alpha-2) up in Grafana's built-in gazetteer.
			pm["options"] = map[string]any{
				"view":     map[string]any{"id": "zero", "lat": 25, "lon": 10, "zoom": 1, "allLayers": true},
				"controls": map[string]any{"showZoom": true, "mouseWheelZoom": false, "showAttribution": true},
				"basemap":  map[string]any{"type": "default", "name": "Basemap", "config": map[string]any{}},
				"tooltip":  map[string]any{"mode": "details"},
				"layers": []any{map[string]any{
					"type": "markers", "name": "Egress", "tooltip": true,
					"location": map[string]any{"mode": "lookup", "lookup": "country", "gazetteer": "public/gazetteer/countries.json"},
					"config": map[string]any{"showLegend": true, "style": map[string]any{
						"size":    map[string]any{"field": "Value", "fixed": 5, "min": 3, "max": 30},
						"color":   map[string]any{"field": "Value"},
						"opacity": 0.6,
						"symbol":  map[string]any{"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
						"text":    map[string]any{"mode": "field", "field": "country"},
					}},
				}},
			}
			fc["defaults"] = map[string]any{"unit": p.Unit, "color": map[string]any{"mode": "continuous-BlPu"}}
		}
		out = append(out, pm)
		x += p.W
		rowH = max(rowH, p.H)
	}
	vars := []any{
		map[string]any{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
		map[string]any{"name": "instance", "label": "Instance", "type": "query", "datasource": ds, "query": map[string]any{"query": "label_values(borderwatch_build_info, instance)", "refId": "instance"},
			"definition": "label_values(borderwatch_build_info, instance)", "includeAll": true, "multi": true, "allValue": ".*", "refresh": 2},
	}
	if withFilters {
		for _, l := range []string{"client_group", "app"} {
			q := `label_values(borderwatch_traffic_bytes_total{instance=~"$instance"}, ` + l + `)`
			vars = append(vars, map[string]any{"name": l, "label": l, "type": "query", "datasource": ds, "query": map[string]any{"query": q, "refId": l},
				"definition": q, "includeAll": true, "multi": true, "allValue": ".*", "refresh": 2})
		}
	}
	d := map[string]any{
		"uid": uid, "title": title, "tags": []string{"borderwatch"}, "schemaVersion": 39, "editable": true, "timezone": "",
		"time": map[string]any{"from": "now-6h", "to": "now"}, "refresh": "1m", "panels": out,
		"templating": map[string]any{"list": vars}, "annotations": map[string]any{"list": []any{}},
		"links": []any{}, "graphTooltip": 1,
	}
	return normalJSON(d)
}

// normalJSON is the one JSON form of the dashboards: keys sorted (encoding/json
// sorts map keys), two-space indent, no HTML escaping (PromQL's < and > stay
// readable), a final newline.
func normalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode dashboard: %w", err)
	}
	return b.Bytes(), nil
}

// Dashboards returns the dashboards by file name.
func Dashboards() (map[string][]byte, error) {
	o, err := build("borderwatch-overview", "borderwatch: where traffic goes", overview, true)
	if err != nil {
		return nil, err
	}
	h, err := build("borderwatch-health", "borderwatch: capture health", health, false)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"borderwatch-overview.json": o, "borderwatch-health.json": h}, nil
}
