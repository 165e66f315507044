package pipeline

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/internal/testenv"
)

// ndpiServer returns the server side of an nDPI flow line: the right side
// (the destination of the flow's first packet), unless only the left side
// uses a well-known port (nDPI saw the server speak first).
func ndpiServer(fl ndpiFlow) (netip.Addr, bool) {
	a, err1 := netip.ParseAddrPort(fl.a)
	b, err2 := netip.ParseAddrPort(fl.b)
	if err1 != nil || err2 != nil {
		return netip.Addr{}, false
	}
	if a.Port() < 1024 && b.Port() >= 1024 {
		return a.Addr().Unmap(), true
	}
	return b.Addr().Unmap(), true
}

// TestEndpointNamesMatchNDPI compares, per remote unicast server address
// that ndpiReader names (TLS/QUIC SNI, HTTP Host but an address literal) in its result files for
// the nDPI test captures, the name borderwatch's endpoint report gives the
// address with the names nDPI gives its flows. An address agrees when the
// report's name is one of them. Disagreements are logged; the test fails
// when agreement drops below the measured floor.
func TestEndpointNamesMatchNDPI(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every nDPI capture")
	}
	dir := filepath.Join(testenv.SharedDir(t), "pcaps", "ndpi")
	results, err := filepath.Glob(filepath.Join(dir, "result", "*.out"))
	if err != nil || len(results) == 0 {
		t.Fatalf("no nDPI results in %s: %v", dir, err)
	}
	pol := testPolicy(t)
	var total, agree, literals int
	var misses []string
	for _, res := range results {
		capName := strings.TrimSuffix(filepath.Base(res), ".out")
		want := map[netip.Addr]map[string]bool{}
		for _, fl := range readNDPI(t, res) {
			master, _, _ := strings.Cut(fl.proto, ".")
			if fl.hostname == "" || (master != "TLS" && master != "QUIC" && master != "HTTP") {
				continue
			}
			srv, ok := ndpiServer(fl)
			if !ok || !srv.IsGlobalUnicast() || pol.isLocal(srv) {
				continue
			}
			if _, err := netip.ParseAddr(strings.Trim(fl.hostname, "[]")); err == nil {
				literals++ // an address literal Host: not a name (see names)
				continue
			}
			if want[srv] == nil {
				want[srv] = map[string]bool{}
			}
			want[srv][strings.ToLower(fl.hostname)] = true
		}
		if len(want) == 0 {
			continue
		}
		pcap := filepath.Join(dir, "pcap", capName)
		if _, err := os.Stat(pcap); err != nil {
			continue
		}
		p := readAll(t, pol, 1, pcap)
		eps, _ := p.Endpoints()
		p.Close()
		got := map[netip.Addr]string{}
		for _, ep := range eps {
			got[ep.Addr] = ep.Name
		}
		for addr, names := range want {
			total++
			if names[got[addr]] {
				agree++
				continue
			}
			var ns []string
			for n := range names {
				ns = append(ns, n)
			}
			sort.Strings(ns)
			misses = append(misses, capName+" "+addr.String()+": got "+quote(got[addr])+", nDPI "+strings.Join(ns, ","))
		}
	}
	sort.Strings(misses)
	for _, m := range misses {
		t.Log("miss:", m)
	}
	t.Logf("named remote unicast server addresses: %d/%d agree with nDPI (%d flows named by an address literal Host left out)", agree, total, literals)
	if total == 0 || agree < total*95/100 {
		t.Errorf("agreement %d/%d below 95%%", agree, total)
	}
}

func quote(s string) string { return "\"" + s + "\"" }
