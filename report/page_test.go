package report

import (
	"bytes"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/borderwatch/borderwatch/place"
	"golang.org/x/net/html"
)

// parsePage parses the page with an HTML5 parser and fails on anything
// that does not look like one well-formed page.
func parsePage(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.HasSuffix(bytes.TrimSpace(page), []byte("</html>")) {
		t.Errorf("page is not one whole HTML document")
	}
	return doc
}

// walk calls f on every element.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return b.String()
}

// dataValue is the value of the <data> element with the id, or in the
// table row of the table id whose data-key is key, the col-th <data>.
func dataValue(doc *html.Node, id, key string, col int) (string, bool) {
	var out string
	found := false
	walk(doc, func(n *html.Node) {
		if found || attr(n, "id") != id {
			return
		}
		if key == "" {
			out, found = attr(n, "value"), true
			return
		}
		walk(n, func(tr *html.Node) {
			if found || tr.Data != "tr" || attr(tr, "data-key") != key {
				return
			}
			i := 0
			walk(tr, func(d *html.Node) {
				if d.Data == "data" {
					if i == col {
						out, found = attr(d, "value"), true
					}
					i++
				}
			})
		})
	})
	return out, found
}

// checkSelfContained: nothing in the page makes a browser fetch: no
// script, no external stylesheet, image, frame or font, no URL in CSS,
// no link but to a fragment.
func checkSelfContained(t *testing.T, doc *html.Node, page []byte) {
	t.Helper()
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use", "video", "audio", "source", "base", "foreignObject":
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			if k == "src" || k == "href" || k == "xlink:href" || k == "srcset" || k == "action" || k == "poster" {
				if !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q>: a reference outside the page", n.Data, a.Key, a.Val)
				}
			}
			if strings.HasPrefix(k, "on") {
				t.Errorf("<%s %s>: an event handler", n.Data, a.Key)
			}
		}
	})
	for _, bad := range []string{"url(", "@import", "http://", "https://", "//cdn", "@font-face"} {
		if bytes.Contains(bytes.ToLower(page), []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func testInfo() PageInfo {
	return PageInfo{Source: "capture files a.pcap", Generated: time.Unix(1_700_000_100, 0), Version: "test",
		First: time.Unix(1_700_000_000, 0), Last: time.Unix(1_700_000_001, 0), EndpointsTracked: true}
}

// TestWriteHTML: the page's numbers are the report's, it is well formed,
// self-contained and small.
func TestWriteHTML(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t, "DE"), c, 1<<10)
	r := Build(p, []string{"a.pcap"}, []string{"DE"}, 0)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, testInfo()); err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, buf.Bytes())
	checkSelfContained(t, doc, buf.Bytes())
	egress := c.egressUS.Bytes + c.egressDE.Bytes
	for _, w := range []struct {
		id, key string
		col     int
		want    string
	}{
		{"egress-total", "", 0, strconv.FormatUint(egress, 10)},
		{"egress-abroad", "", 0, strconv.FormatUint(c.egressUS.Bytes, 10)},
		{"abroad-share", "", 0, strconv.FormatFloat(float64(c.egressUS.Bytes)/float64(egress), 'g', -1, 64)},
		{"packets-read", "", 0, strconv.Itoa(len(c.frames))},
		{"countries", "US", 0, strconv.FormatUint(c.egressUS.Bytes, 10)},
		{"countries", "US", 1, strconv.FormatUint(c.egressUS.Bytes+c.ingressUS.Bytes, 10)},
		{"countries", "DE", 0, strconv.FormatUint(c.egressDE.Bytes, 10)},
		{"app-country", "tiktok", 0, strconv.FormatUint(c.egressUS.Bytes, 10)},
		{"group-table", "default", 1, strconv.FormatUint(c.egressUS.Bytes, 10)},
		{"endpoint-table", "203.0.113.5", 0, "database"},
		{"endpoint-table", "203.0.113.5", 1, "US"},
		{"endpoint-table", "203.0.113.5", 2, ""}, // no handshake: no round trip
		{"endpoint-table", "203.0.113.5", 4, strconv.FormatUint(c.ingressUS.Bytes, 10)},
		{"basis-table", "database", 0, strconv.FormatUint(c.egressUS.Bytes, 10)},
		{"basis-table", "database", 1, strconv.FormatUint(egress, 10)},
		{"basis-table", "rtt", 1, "0"},
		{"basis-table", "anycast", 1, "0"},
		{"org-table", "Example US", 0, strconv.FormatUint(c.egressUS.Bytes+c.ingressUS.Bytes, 10)},
	} {
		got, ok := dataValue(doc, w.id, w.key, w.col)
		if !ok || got != w.want {
			t.Errorf("%s %s [%d] = %q (found %v), want %q", w.id, w.key, w.col, got, ok, w.want)
		}
	}
	if buf.Len() > 400<<10 {
		t.Errorf("page of %d bytes", buf.Len())
	}
	if _, ok := elementByID(doc, "site-marker"); ok {
		t.Errorf("a site marker without a site location")
	}
	if _, ok := dataValue(doc, "egress-corrected", "", 0); ok {
		t.Errorf("bytes corrected by the round trip without a site location")
	}
	if n, _ := elementByID(doc, "site-location"); n == nil || !strings.Contains(text(n), "not set") {
		t.Errorf("the provenance does not say that no site is set")
	}
}

// elementByID is the element with the id.
func elementByID(doc *html.Node, id string) (*html.Node, bool) {
	var out *html.Node
	walk(doc, func(n *html.Node) {
		if out == nil && attr(n, "id") == id {
			out = n
		}
	})
	return out, out != nil
}

// TestWriteHTMLSite: with a site location, the headline splits the egress
// abroad by basis (rtt and contradicted together) and says how much the
// round trip corrected; the map marks the site where the projection puts
// it; the provenance gives its coordinates and the bound; an endpoint
// shows its basis, the database's country and its round trip.
func TestWriteHTMLSite(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t, "DE"), c, 1<<10)
	r := Build(p, []string{"a.pcap"}, []string{"DE"}, 0)
	r.EgressByBasis = []Row{{Key: "contradicted", Counts: Counts{Bytes: 700}}, {Key: "database", Counts: Counts{Bytes: 500}},
		{Key: "rtt", Counts: Counts{Bytes: 300}}, {Key: "anycast", Counts: Counts{Bytes: 20}}}
	r.AbroadByBasis = []Row{{Key: "database", Counts: Counts{Bytes: 400}}, {Key: "contradicted", Counts: Counts{Bytes: 60}}, {Key: "rtt", Counts: Counts{Bytes: 5}}}
	rtt := 3.25
	r.Endpoints[0].Basis, r.Endpoints[0].DBCountry, r.Endpoints[0].Country, r.Endpoints[0].MinRTTMs = "contradicted", "US", "DE", &rtt
	site, err := place.NewSite(50.11, 8.68, map[string]bool{"DE": true})
	if err != nil {
		t.Fatal(err)
	}
	info := testInfo()
	info.Site, info.SiteSpec = site, "--geo.site-location 50.11,8.68"
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, info); err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, buf.Bytes())
	checkSelfContained(t, doc, buf.Bytes())
	addr := r.Endpoints[0].Address
	for _, w := range [][4]string{
		{"basis-table", "rtt", "0", "65"}, {"basis-table", "rtt", "1", "1000"},
		{"basis-table", "database", "0", "400"}, {"basis-table", "database", "1", "500"},
		{"basis-table", "anycast", "0", "0"}, {"basis-table", "anycast", "1", "20"},
		{"egress-corrected", "", "0", "700"}, {"abroad-corrected", "", "0", "60"},
		{"endpoint-table", addr, "0", "contradicted"}, {"endpoint-table", addr, "1", "US"}, {"endpoint-table", addr, "2", "3.25"},
	} {
		col, _ := strconv.Atoi(w[2])
		if got, ok := dataValue(doc, w[0], w[1], col); !ok || got != w[3] {
			t.Errorf("%s %s [%d] = %q (found %v), want %q", w[0], w[1], col, got, ok, w[3])
		}
	}
	marker, ok := elementByID(doc, "site-marker")
	if !ok {
		t.Fatal("no site marker")
	}
	at := project(8.68, 50.11)
	walk(marker, func(n *html.Node) {
		if n.Data != "circle" {
			return
		}
		x, _ := strconv.ParseFloat(attr(n, "cx"), 64)
		y, _ := strconv.ParseFloat(attr(n, "cy"), 64)
		if math.Abs(x-at.x) > 0.06 || math.Abs(y-at.y) > 0.06 {
			t.Errorf("site marked at %v,%v, projected at %v", x, y, at)
		}
	})
	if n, _ := elementByID(doc, "site-location"); n == nil || !strings.Contains(text(n), "50.11, 8.68") || !strings.Contains(text(n), "--geo.site-location 50.11,8.68") {
		t.Errorf("provenance lacks the site's coordinates")
	}
	if !bytes.Contains(buf.Bytes(), []byte("RTT/2 × 200,000 km/s &#43; 25 km")) {
		t.Errorf("page lacks the round trip's bound")
	}
}

// TestWriteHTMLHostileNames: names from the wire that attack markup
// (script, quotes closing an attribute, an RTL override, a huge label)
// are shown as text: no element or attribute is injected.
func TestWriteHTMLHostileNames(t *testing.T) {
	c := buildCapture(t)
	p := run(t, policy(t, "DE"), c, 1<<10)
	r := Build(p, []string{"<b>x.pcap</b>"}, []string{"DE"}, 0)
	hostile := []string{
		`<script>alert(1)</script>.example`,
		`"><img src=x onerror=alert(1)>`,
		"evil\u202Egnp.exe",
		strings.Repeat("a", 5000) + ".example",
	}
	for i, h := range hostile {
		r.Endpoints = append(r.Endpoints, Endpoint{Address: "192.0.2." + strconv.Itoa(i), Name: h, Org: h, App: h, Country: h, Provider: h, Basis: h, DBCountry: h + "x"})
	}
	r.ByOrg = append(r.ByOrg, Row{Key: hostile[0], Counts: Counts{Bytes: 1}})
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, testInfo()); err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, buf.Bytes())
	checkSelfContained(t, doc, buf.Bytes())
	names := map[string]string{}
	walk(doc, func(n *html.Node) {
		if n.Data == "tr" && strings.HasPrefix(attr(n, "data-key"), "192.0.2.") {
			var cells []string
			walk(n, func(td *html.Node) {
				if td.Data == "td" {
					cells = append(cells, text(td))
				}
			})
			names[attr(n, "data-key")] = cells[1]
		}
	})
	for i, want := range []string{hostile[0], hostile[1], "evil[U+202E]gnp.exe", strings.Repeat("a", wireMax) + "… (4888 more bytes)"} {
		if got := names["192.0.2."+strconv.Itoa(i)]; got != want {
			t.Errorf("name %d shown as %.200q, want %.200q", i, got, want)
		}
	}
	for i, want := range []string{hostile[0] + "x", hostile[1] + "x"} {
		if got, _ := dataValue(doc, "endpoint-table", "192.0.2."+strconv.Itoa(i), 1); got != want {
			t.Errorf("database country %d kept as %.200q, want %.200q", i, got, want)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("\u202E")) {
		t.Errorf("an RTL override reached the page")
	}
}

func TestWire(t *testing.T) {
	for in, want := range map[string]string{"www.example.org": "www.example.org", "a\x00b": "a[U+0000]b", "a\u200fb\u2066": "a[U+200F]b[U+2066]", "\xff": "[U+FFFD]"} {
		if got := wire(in); got != want {
			t.Errorf("wire(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHTMLHostileCapture: end to end, a capture whose HTTP Host attacks
// markup (the name parser refuses it: the flow has no name) and an AS
// database whose organisation does (a user's database is input too):
// the page shows the organisation as text and has no script.
func TestHTMLHostileCapture(t *testing.T) {
	const org = "<script>alert(1)</script> \"Evil\" Corp\u202Egnp.exe"
	pol := policy(t, "DE")
	dir := t.TempDir()
	country, asn := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{netip.MustParsePrefix("203.0.113.0/24"): "US"}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{netip.MustParsePrefix("203.0.113.0/24"): {Number: 64500, Org: org}}); err != nil {
		t.Fatal(err)
	}
	res, err := geo.Open(geo.Config{CountryDB: country, ASNDB: asn, CacheSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	pol.Geo = res
	c := &sentCapture{}
	req := "GET / HTTP/1.1\r\nHost: <script>alert(1)</script>\r\n\r\n"
	c.frames = append(c.frames, ipFrame(t, client, usServer, false, []byte(req)), ipFrame(t, usServer, client, false, make([]byte, 500)))
	c.ts = []int64{1_700_000_000_000_000_000, 1_700_000_000_001_000_000}
	p := run(t, pol, c, 1<<10)
	r := Build(p, []string{"hostile.pcap"}, []string{"DE"}, 0)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, testInfo()); err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, buf.Bytes())
	checkSelfContained(t, doc, buf.Bytes())
	found := false
	walk(doc, func(n *html.Node) {
		if n.Data == "td" && text(n) == wire(org) {
			found = true
		}
	})
	if !found || len(r.Endpoints) != 1 || r.Endpoints[0].Org != org {
		t.Errorf("organisation %q not shown as text (endpoints %+v)", org, r.Endpoints)
	}
}
