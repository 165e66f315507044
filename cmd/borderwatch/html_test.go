package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// jsonReport is what the HTML page is compared with.
type jsonReport struct {
	PacketsRead  uint64   `json:"packets_read"`
	EgressBytes  uint64   `json:"egress_bytes"`
	EgressAbroad uint64   `json:"egress_abroad_bytes"`
	AbroadShare  *float64 `json:"egress_abroad_share"`
	ByCountry    []row    `json:"by_country"`
	ByProvider   []row    `json:"by_provider"`
	ByOrg        []row    `json:"by_org"`
	ByApp        []row    `json:"by_app"`
	ByBasis      []row    `json:"egress_by_basis"`
	AbroadBasis  []row    `json:"egress_abroad_by_basis"`
	Endpoints    []struct {
		Address   string
		Name      string
		Basis     string
		DBCountry string   `json:"database_country"`
		MinRTTMs  *float64 `json:"min_rtt_ms"`
		Egress    struct{ Bytes uint64 }
		Ingress   struct{ Bytes uint64 }
	} `json:"endpoints"`
}

type row struct {
	Key   string `json:"key"`
	Bytes uint64 `json:"bytes"`
}

// htmlPage is a parsed page: its <data> values by element id, and by
// table id, row key and column.
type htmlPage struct {
	ids  map[string]string
	rows map[string]map[string][]string
	text string
	// elems are the ids of every element.
	elems map[string]bool
}

func parseHTMLPage(t *testing.T, page []byte) *htmlPage {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	p := &htmlPage{ids: map[string]string{}, rows: map[string]map[string][]string{}, elems: map[string]bool{}}
	var walk func(n *html.Node, table string, tr *[]string)
	walk = func(n *html.Node, table string, tr *[]string) {
		if n.Type == html.TextNode {
			p.text += n.Data
		}
		if n.Type == html.ElementNode {
			at := map[string]string{}
			for _, a := range n.Attr {
				at[a.Key] = a.Val
			}
			switch {
			case n.Data == "table":
				table = at["id"]
				p.rows[table] = map[string][]string{}
			case n.Data == "tr" && at["data-key"] != "":
				cells := []string{}
				p.rows[table][at["data-key"]] = cells
				tr = &cells
				defer func(k string) { p.rows[table][k] = cells }(at["data-key"])
			case n.Data == "data" && tr != nil:
				*tr = append(*tr, at["value"])
			}
			if n.Data == "data" && at["id"] != "" {
				p.ids[at["id"]] = at["value"]
			}
			if at["id"] != "" {
				p.elems[at["id"]] = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, table, tr)
		}
	}
	walk(doc, "", nil)
	return p
}

func (p *htmlPage) cell(table, key string, col int) string {
	if c := p.rows[table][key]; col < len(c) {
		return c[col]
	}
	return "missing"
}

// compareWithJSON: the page shows the JSON report's totals, abroad share,
// countries, providers, organisations, apps and endpoints.
func compareWithJSON(t *testing.T, p *htmlPage, j *jsonReport) {
	t.Helper()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	n := 0
	defer func() { t.Logf("%d numbers compared", n) }()
	eq := func(what, got, want string) {
		n++
		if got != want {
			t.Errorf("%s: page %s, json %s", what, got, want)
		}
	}
	eq("packets read", p.ids["packets-read"], u(j.PacketsRead))
	eq("egress", p.ids["egress-total"], u(j.EgressBytes))
	eq("egress abroad", p.ids["egress-abroad"], u(j.EgressAbroad))
	if j.AbroadShare == nil {
		t.Fatal("json has no abroad share")
	}
	eq("abroad share", p.ids["abroad-share"], strconv.FormatFloat(*j.AbroadShare, 'g', -1, 64))
	for _, c := range j.ByCountry {
		eq("country "+c.Key, p.cell("countries", c.Key, 1), u(c.Bytes))
	}
	for _, c := range j.ByProvider {
		eq("provider "+c.Key, p.cell("provider-table", c.Key, 1), u(c.Bytes))
	}
	for _, c := range j.ByOrg {
		eq("org "+c.Key, p.cell("org-table", c.Key, 0), u(c.Bytes))
	}
	for i, c := range j.ByApp {
		if got := p.cell("app-country", c.Key, 1); got != "missing" || i == 0 {
			eq("app "+c.Key, got, u(c.Bytes)) // apps that sent nothing are not rows
		}
	}
	compareBasis(p, j, eq)
	for _, e := range j.Endpoints {
		rtt := ""
		if e.MinRTTMs != nil {
			rtt = strconv.FormatFloat(*e.MinRTTMs, 'g', -1, 64)
		}
		eq("endpoint "+e.Address+" basis", p.cell("endpoint-table", e.Address, 0), e.Basis)
		eq("endpoint "+e.Address+" database country", p.cell("endpoint-table", e.Address, 1), e.DBCountry)
		eq("endpoint "+e.Address+" min rtt", p.cell("endpoint-table", e.Address, 2), rtt)
		eq("endpoint "+e.Address+" egress", p.cell("endpoint-table", e.Address, 3), u(e.Egress.Bytes))
		eq("endpoint "+e.Address+" ingress", p.cell("endpoint-table", e.Address, 4), u(e.Ingress.Bytes))
		if e.Name != "" && !strings.Contains(p.text, e.Name) {
			t.Errorf("page lacks the name %s", e.Name)
		}
	}
}

// compareBasis: the headline's split by basis is the JSON's, rtt and
// contradicted summed as confirmed by round-trip time, and the bytes
// corrected are the egress with basis contradicted.
func compareBasis(p *htmlPage, j *jsonReport, eq func(what, got, want string)) {
	group := map[string]string{"rtt": "rtt", "contradicted": "rtt", "database": "database"}
	egress, abroad := map[string]uint64{}, map[string]uint64{}
	for _, r := range j.ByBasis {
		egress[cmp.Or(group[r.Key], "anycast")] += r.Bytes
	}
	for _, r := range j.AbroadBasis {
		abroad[cmp.Or(group[r.Key], "anycast")] += r.Bytes
	}
	for _, k := range []string{"rtt", "database", "anycast"} {
		eq("egress abroad by basis "+k, p.cell("basis-table", k, 0), strconv.FormatUint(abroad[k], 10))
		eq("egress by basis "+k, p.cell("basis-table", k, 1), strconv.FormatUint(egress[k], 10))
	}
	if p.elems["site-marker"] {
		eq("egress corrected", p.ids["egress-corrected"], strconv.FormatUint(basisBytes(j.ByBasis, "contradicted"), 10))
		eq("egress abroad corrected", p.ids["abroad-corrected"], strconv.FormatUint(basisBytes(j.AbroadBasis, "contradicted"), 10))
	}
}

func basisBytes(rows []row, key string) uint64 {
	for _, r := range rows {
		if r.Key == key {
			return r.Bytes
		}
	}
	return 0
}

func readJSONAndHTML(t *testing.T, args ...string) (*jsonReport, []byte) {
	t.Helper()
	out, stderr, code := borderwatch(t, append([]string{"read", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, stderr)
	}
	var j jsonReport
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	page, stderr, code := borderwatch(t, append([]string{"read", "--format", "html"}, args...)...)
	if code != 0 {
		t.Fatalf("html: exit %d: %s", code, stderr)
	}
	return &j, []byte(page)
}

// TestReadHTML: `read --format html` on the sample capture shows the same
// numbers as `--format json`, fetches nothing and says where its numbers
// come from.
func TestReadHTML(t *testing.T) {
	j, page := readJSONAndHTML(t, "--geo.home-region", "EU", "../../testdata/sample.pcap.gz")
	p := parseHTMLPage(t, page)
	compareWithJSON(t, p, j)
	for _, bad := range []string{"http://", "https://", "<script", "<link", "url(", "@import"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, w := range []string{"--geo.home-region EU", "capture period", "country database", "asn database", "Natural Earth"} {
		if !strings.Contains(p.text, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if len(page) > 1<<20 {
		t.Errorf("page of %d bytes for a small capture", len(page))
	}
	if p.elems["site-marker"] || p.elems["egress-corrected"] {
		t.Errorf("a site marker or bytes corrected by a round trip without a site location")
	}
}

// TestReadHTMLSite: with a site location, on a real capture whose
// handshakes with public servers a few milliseconds away contradict the
// database: the page's split by basis, the bytes the round trip corrected
// and every endpoint's basis, database country and round trip are the
// JSON's; the map marks the site and the provenance gives its
// coordinates and the round trip's bound.
func TestReadHTMLSite(t *testing.T) {
	path := filepath.Join(sharedDir(), "pcaps/mobile/KBKlic1.pcapng")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared capture missing: %v", err)
	}
	j, page := readJSONAndHTML(t, "--geo.site-location", "50.11,8.68", "--geo.home-region", "EU", path)
	p := parseHTMLPage(t, page)
	if !p.elems["site-marker"] {
		t.Fatal("no site marker with a site location")
	}
	compareWithJSON(t, p, j)
	if basisBytes(j.ByBasis, "contradicted") == 0 || p.ids["egress-corrected"] == "0" {
		t.Errorf("no bytes corrected by the round trip (json %v, page %s)", j.ByBasis, p.ids["egress-corrected"])
	}
	for _, w := range []string{"50.11, 8.68", "--geo.site-location 50.11,8.68", "RTT/2 × 200,000 km/s + 25 km", "confirmed by round-trip time"} {
		if !strings.Contains(p.text, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(p.text, "No site location is set") {
		t.Errorf("page says no site is set")
	}
}

// TestReadHTMLRealMix: the same on the shared real capture of many sites,
// when present.
func TestReadHTMLRealMix(t *testing.T) {
	path := filepath.Join(sharedDir(), "pcaps/ndpi/pcap/sites.pcapng")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared capture missing: %v", err)
	}
	j, page := readJSONAndHTML(t, "--geo.home-region", "EU", "--top", "50", path)
	compareWithJSON(t, parseHTMLPage(t, page), j)
}

func sharedDir() string {
	if d := os.Getenv("BORDERWATCH_SHARED"); d != "" {
		return d
	}
	return "../../../shared"
}

// TestReportInChromium: headless Chromium loads the page from a file URL
// with the network disabled; its DOM shows the JSON's numbers. The
// screenshot goes to $BORDERWATCH_ARTIFACTS (else the test's temporary
// directory).
func TestReportInChromium(t *testing.T) {
	browser := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no Chromium installed (apt-get install chromium)")
	}
	j, page := readJSONAndHTML(t, "--geo.home-region", "EU", "../../testdata/sample.pcap.gz")
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("BORDERWATCH_ARTIFACTS")
	if shots == "" {
		shots = dir
	}
	shot, _ := filepath.Abs(filepath.Join(shots, "report.png"))
	run := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + filepath.Join(dir, "profile"),
			"--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1100,2400"}, args...)
		out, err := exec.CommandContext(ctx, browser, append(args, "file://"+file)...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", browser, args, err)
		}
		return out
	}
	dom := run("--dump-dom")
	compareWithJSON(t, parseHTMLPage(t, dom), j)
	run("--screenshot=" + shot)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Errorf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}

// TestReportEndpoint: /report serves the page (GET and HEAD only), and
// the landing page links it.
func TestReportEndpoint(t *testing.T) {
	c := testWebConfig("/metrics", nil)
	fail := false
	c.report = func(w io.Writer) error {
		if fail {
			return os.ErrInvalid
		}
		_, err := io.WriteString(w, "<!DOCTYPE html><p>page</p>")
		return err
	}
	ws, err := newWebServer(c)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + serve(t, ws.srv)
	do := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("GET", "/report")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || body != "<!DOCTYPE html><p>page</p>" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET /report: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if resp, body := do("HEAD", "/report"); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD /report: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do("POST", "/report"); resp.StatusCode != 405 {
		t.Errorf("POST /report: %d", resp.StatusCode)
	}
	if _, body := do("GET", "/"); !strings.Contains(body, `href="/report"`) {
		t.Errorf("landing page does not link /report")
	}
	fail = true
	if resp, body := do("GET", "/report"); resp.StatusCode != 500 || strings.Contains(body, "invalid") {
		t.Errorf("failing report: %d %q", resp.StatusCode, body)
	}
	if err := checkTelemetryPath("/report"); err == nil {
		t.Errorf("the telemetry path may take /report")
	}
}

// TestDaemonReport: the daemon's /report is the page of its current
// counts, behind the web config's basic auth like every other path.
func TestDaemonReport(t *testing.T) {
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  health: "+healthHash+"\n"), 0o600)
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"run", "--capture.file", "../../testdata/sample.pcap.gz", "--geo.home-region", "EU",
			"--web.listen-address", addr, "--web.config.file", webCfg}, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	get := func(user, pass string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/report", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, body = get("health", healthPassword)
		if resp != nil && resp.StatusCode == 200 && strings.Contains(body, "abroad-share") && strings.Contains(body, `<data id="egress-abroad"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report with counts: %v %.300s %s", resp, body, stderr.String())
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	p := parseHTMLPage(t, []byte(body))
	for _, w := range []string{"live counts", "Not available", "counting since", "Where the traffic went"} {
		if !strings.Contains(p.text, w) {
			t.Errorf("daemon's page lacks %q", w)
		}
	}
	if p.ids["egress-total"] == "" || p.ids["egress-total"] == "0" {
		t.Errorf("daemon's page shows no egress")
	}
	if p.elems["site-marker"] || !p.elems["basis-table"] {
		t.Errorf("daemon's page without a site: site marker %v, basis table %v", p.elems["site-marker"], p.elems["basis-table"])
	}
	for _, c := range [][2]string{{"", ""}, {"health", "wrong"}} {
		if resp, _ := get(c[0], c[1]); resp == nil || resp.StatusCode != 401 {
			t.Errorf("/report with credentials %q: %v, want 401", c, resp)
		}
	}
}
