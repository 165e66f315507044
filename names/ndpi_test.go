package names

import (
	"bufio"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ndpiFlow is one flow line of an nDPI result file.
type ndpiFlow struct {
	proto          uint8
	client, server netip.AddrPort
	master         string // TLS, QUIC, HTTP, DNS, ...
	name           string // [Hostname/SNI: ...]
	dpiPackets     int    // [DPI packets: N]: packets nDPI dissected
	line           string
}

var (
	ndpiLine = regexp.MustCompile(`^\s*\d+\s+(TCP|UDP) (\S+) <?-> (\S+) \[proto: [0-9.]+/([^\]]+)\]`)
	ndpiHost = regexp.MustCompile(`\[Hostname/SNI: ([^\]]*)\]`)
	ndpiDPI  = regexp.MustCompile(`\[DPI packets: (\d+)\]`)
)

func parseNDPIResult(path string) ([]ndpiFlow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ndpiFlow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := ndpiLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		c, err1 := netip.ParseAddrPort(m[2])
		s, err2 := netip.ParseAddrPort(m[3])
		if err1 != nil || err2 != nil {
			continue
		}
		fl := ndpiFlow{proto: 6, client: c, server: s, line: sc.Text()}
		if m[1] == "UDP" {
			fl.proto = 17
		}
		fl.master, _, _ = strings.Cut(m[4], ".")
		if h := ndpiHost.FindStringSubmatch(sc.Text()); h != nil {
			fl.name = h[1]
		}
		if d := ndpiDPI.FindStringSubmatch(sc.Text()); d != nil {
			fl.dpiPackets, _ = strconv.Atoi(d[1])
		}
		out = append(out, fl)
	}
	return out, sc.Err()
}

// ndpiExceptions reads testdata/ndpi_exceptions.tsv: capture, client,
// server, reason. Each listed flow's disagreement is justified there.
func ndpiExceptions(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ndpi_exceptions.tsv"))
	if err != nil {
		t.Fatalf("read exceptions: %v", err)
	}
	ex := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 4 || f[3] == "" {
			t.Fatalf("exceptions: want capture<TAB>client<TAB>server<TAB>reason, got %q", l)
		}
		ex[f[0]+" "+f[1]+" "+f[2]] = f[3]
	}
	return ex
}

// learnFlow feeds a tracker the packets of one flow (client = nDPI's left
// side) and returns the name found.
func learnFlow(tr *Tracker, id uint64, proto uint8, client netip.AddrPort, pkts []pkt) (string, Source) {
	for _, p := range pkts {
		name, src, done := tr.Feed(id, proto, p.src == client, p.seq, p.payload)
		if name != "" {
			return name, src
		}
		if done {
			break
		}
	}
	tr.Forget(id)
	return "", SourceNone
}

func TestNDPIAccuracy(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "pcaps", "ndpi")
	results, err := filepath.Glob(filepath.Join(dir, "result", "*.out"))
	if err != nil || len(results) == 0 {
		t.Fatalf("no nDPI results in %s: %v", dir, err)
	}
	exceptions := ndpiExceptions(t)
	used := map[string]bool{}
	var (
		total, agree, excused int
		literals              int
		dnsTotal, dnsAgree    int
		dnsExcused            int
		bySource              = map[string][2]int{}
	)
	for _, res := range results {
		capName := strings.TrimSuffix(filepath.Base(res), ".out")
		flows, err := parseNDPIResult(res)
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		var want []ndpiFlow
		for _, f := range flows {
			switch f.master {
			case "TLS", "QUIC", "HTTP", "DNS":
				if f.name != "" {
					want = append(want, f)
				}
			}
		}
		if len(want) == 0 {
			continue
		}
		pkts, err := readCapture(filepath.Join(dir, "pcap", capName))
		if err != nil {
			t.Errorf("%s: %v", capName, err)
			continue
		}
		byFlow := map[flowKey][]pkt{}
		for _, p := range pkts {
			k := keyOf(p.proto, p.src, p.dst)
			byFlow[k] = append(byFlow[k], p)
		}
		tr := NewTracker(DefaultConfig(), nil)
		for i, f := range want {
			fp := byFlow[keyOf(f.proto, f.client, f.server)]
			var got string
			if f.master == "DNS" {
				for i, p := range fp {
					if f.dpiPackets > 0 && i >= f.dpiPackets {
						break
					}
					// nDPI reports the last question among the packets it
					// dissected.
					if n, err := DNSQuestionName(p.payload, f.proto == 6); err == nil {
						got = n
					}
				}
				dnsTotal++
				key := capName + " " + f.client.String() + " " + f.server.String()
				switch reason, ok := exceptions[key]; {
				case got == f.name:
					dnsAgree++
					if ok {
						t.Errorf("exception listed but DNS flow agrees: %s (%s)", key, reason)
					}
				case ok:
					dnsExcused++
					used[key] = true
					t.Logf("excused DNS %s: got %q, nDPI %q: %s", key, got, f.name, reason)
				default:
					t.Errorf("DNS disagreement %s: got %q, nDPI %q", key, got, f.name)
				}
				continue
			}
			got, _ = learnFlow(tr, uint64(i), f.proto, f.client, fp)
			if _, err := netip.ParseAddr(strings.Trim(f.name, "[]")); err == nil {
				// nDPI reports a Host that is an address literal as the
				// name; names does not name a flow by an address.
				literals++
				if got != "" {
					t.Errorf("address literal Host named: %s %s -> %s: %q", capName, f.client, f.server, got)
				}
				continue
			}
			total++
			c := bySource[f.master]
			c[0]++
			key := capName + " " + f.client.String() + " " + f.server.String()
			switch reason, ok := exceptions[key]; {
			case got == f.name:
				agree++
				c[1]++
				if ok {
					t.Errorf("exception listed but flow agrees: %s (%s)", key, reason)
				}
			case ok:
				excused++
				used[key] = true
				t.Logf("excused %s: got %q, nDPI %q: %s", key, got, f.name, reason)
			default:
				t.Errorf("disagreement %s [%s] (%d pkts): got %q, nDPI %q", key, f.master, len(fp), got, f.name)
			}
			bySource[f.master] = c
		}
	}
	var unused []string
	for k := range exceptions {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	for _, k := range unused {
		t.Errorf("exception does not match any disagreeing flow: %s", k)
	}
	for m, c := range bySource {
		t.Logf("%s: %d/%d flows agree", m, c[1], c[0])
	}
	t.Logf("TLS/QUIC/HTTP: %d/%d agree (%.2f%%), %d excused; DNS question names: %d/%d",
		agree, total, 100*float64(agree)/float64(max(total, 1)), excused, dnsAgree, dnsTotal)
	t.Logf("DNS: %d excused; flows whose SNI or Host is an address literal (nDPI names them by it, names does not): %d", dnsExcused, literals)
	if total == 0 || float64(agree) < 0.99*float64(total) {
		t.Errorf("agreement %d/%d below 99%%", agree, total)
	}
	if dnsTotal == 0 || float64(dnsAgree) < 0.95*float64(dnsTotal) {
		t.Errorf("DNS agreement %d/%d below 95%%", dnsAgree, dnsTotal)
	}
}
