package names

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateHTTP = flag.Bool("update-http", false, "rewrite testdata/http_methods.pcap and, with tshark, testdata/http_tshark.tsv")

// httpRequests are the requests of the generated capture, one flow each:
// the WebDAV methods tshark knows (not MKCALENDAR: see TestParseHTTPHost), other methods, CONNECT with and without Host, and
// Hosts that are address literals.
var httpRequests = []string{
	"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: options.example.com\r\n\r\n",
	"PATCH /r/1 HTTP/1.1\r\nHost: patch.example.com\r\nContent-Length: 0\r\n\r\n",
	"PROPFIND /dav/ HTTP/1.1\r\nHost: dav.example.com\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n",
	"PROPPATCH /dav/a HTTP/1.1\r\nHost: dav.example.com\r\nContent-Length: 0\r\n\r\n",
	"MKCOL /dav/new/ HTTP/1.1\r\nHost: dav.example.com\r\n\r\n",
	"COPY /dav/a HTTP/1.1\r\nHost: dav.example.com\r\nDestination: http://dav.example.com/dav/b\r\n\r\n",
	"MOVE /dav/b HTTP/1.1\r\nHost: dav.example.com\r\nDestination: http://dav.example.com/dav/c\r\n\r\n",
	"LOCK /dav/c HTTP/1.1\r\nHost: dav.example.com\r\nTimeout: Second-60\r\nContent-Length: 0\r\n\r\n",
	"UNLOCK /dav/c HTTP/1.1\r\nHost: dav.example.com\r\nLock-Token: <urn:uuid:1>\r\n\r\n",
	"REPORT /svn/ HTTP/1.1\r\nHost: svn.example.com\r\nContent-Length: 0\r\n\r\n",
	"SEARCH /dav/ HTTP/1.1\r\nHost: search.example.com\r\nContent-Length: 0\r\n\r\n",
	"CHECKOUT /svn/a HTTP/1.1\r\nHost: svn.example.com\r\n\r\n",
	"CONNECT tunnel.example.com:443 HTTP/1.1\r\nHost: tunnel.example.com:443\r\n\r\n",
	"CONNECT bare.example.com:443 HTTP/1.0\r\nUser-Agent: t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: 192.0.2.80\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: 192.0.2.80:8080\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [2001:db8::80]\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [2001:db8::80]:8080\r\n\r\n",
	"CONNECT 192.0.2.81:443 HTTP/1.0\r\n\r\n",
}

var httpServer = netip.MustParseAddrPort("198.51.100.30:80")

func httpClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(40000+i))
}

// tsharkHTTP returns "client<TAB>server<TAB>method<TAB>host<TAB>uri" for
// every request tshark decodes.
func tsharkHTTP(t *testing.T, path string) string {
	out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "http.request",
		"-T", "fields", "-E", "separator=/t", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
		"-e", "http.request.method", "-e", "http.host", "-e", "http.request.uri").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 7 {
			t.Fatalf("tshark line %q", l)
		}
		b.WriteString(f[0] + ":" + f[1] + "\t" + f[2] + ":" + f[3] + "\t" + f[4] + "\t" + f[5] + "\t" + f[6] + "\n")
	}
	return b.String()
}

// wantHTTPName is the name a request tshark decodes should give: its Host
// (or CONNECT's target), lower-cased, without port; none for an address.
func wantHTTPName(method, host, uri string) string {
	if host == "" && method == "CONNECT" {
		host = uri
	}
	if ap, err := netip.ParseAddrPort(host); err == nil && ap.IsValid() {
		return ""
	}
	h := strings.Trim(host, "[]")
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.HasSuffix(host, "]") && strings.Count(host, ":") == 1 {
		h = host[:i]
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	return strings.ToLower(h)
}

// TestHTTPMethodsCapture: the Host of requests of every method in a
// generated capture (testdata/http_methods.pcap), against tshark's HTTP
// decode (testdata/http_tshark.tsv, re-derived from the installed tshark
// when there is one). A Host that is an address literal names nothing.
func TestHTTPMethodsCapture(t *testing.T) {
	pcap := filepath.Join("testdata", "http_methods.pcap")
	truth := filepath.Join("testdata", "http_tshark.tsv")
	const header = "# client\tserver\tmethod\thost\turi: tshark's decode of http_methods.pcap (go test -run TestHTTPMethodsCapture -update-http)\n"
	_, errTshark := exec.LookPath("tshark")
	if *updateHTTP {
		var pkts []pkt
		for i, r := range httpRequests {
			pkts = append(pkts, pkt{proto: 6, src: httpClient(i), dst: httpServer, seq: 1000, payload: []byte(r)})
		}
		writePcap(t, pcap, pkts)
		if errTshark != nil {
			t.Fatal("-update-http needs tshark for the truth file")
		}
		if err := os.WriteFile(truth, []byte(header+tsharkHTTP(t, pcap)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(truth)
	if err != nil {
		t.Fatal(err)
	}
	if errTshark == nil {
		if now := header + tsharkHTTP(t, pcap); now != string(b) {
			t.Errorf("the installed tshark decodes %s differently from %s:\n%s", pcap, truth, now)
		}
	} else {
		t.Logf("tshark not installed: using %s", truth)
	}
	pkts, err := readCapture(pcap)
	if err != nil {
		t.Fatal(err)
	}
	byFlow := map[flowKey][]pkt{}
	for _, p := range pkts {
		k := keyOf(p.proto, p.src, p.dst)
		byFlow[k] = append(byFlow[k], p)
	}
	rows := 0
	stats := new(Stats)
	tr := NewTracker(DefaultConfig(), stats)
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		client, server := netip.MustParseAddrPort(f[0]), netip.MustParseAddrPort(f[1])
		want := wantHTTPName(f[2], f[3], f[4])
		got, src := learnFlow(tr, uint64(i), 6, client, byFlow[keyOf(6, client, server)])
		if got != want || (want != "" && src != SourceHTTP) {
			t.Errorf("%s %s (Host %q, URI %q): got %q (%v), want %q", f[2], client, f[3], f[4], got, src, want)
		}
		rows++
	}
	if rows != len(httpRequests) {
		t.Errorf("tshark decodes %d requests, the capture has %d", rows, len(httpRequests))
	}
	if n := stats.AddressLiterals.Load(); n != 5 {
		t.Errorf("%d requests counted with an address literal, want 5", n)
	}
}
