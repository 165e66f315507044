package names

import (
	"github.com/borderwatch/borderwatch/internal/testenv"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDNSCaptures compares the answers ParseDNS reports for real DNS
// responses (mobile traffic, CNAME chains, EDNS, mDNS, huge TTLs) with
// tshark's decode (testdata/dns_tshark.tsv, made by dns_tshark.sh): per
// response, the question name and the set of A/AAAA addresses.
func TestDNSCaptures(t *testing.T) {
	pcaps := filepath.Join(testenv.SharedDir(t), "pcaps")
	b, err := os.ReadFile(filepath.Join("testdata", "dns_tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("bad line %q", l)
		}
		if f[1] == "" || f[1] == "<root>" {
			continue // no question (mDNS announcements): nothing to learn
		}
		want[f[0]] = append(want[f[0]], f[1]+"\t"+f[2])
	}
	cfg := DefaultConfig()
	cfg.DNSPorts = []uint16{53, 5353}
	for capture, w := range want {
		t.Run(capture, func(t *testing.T) {
			pkts, err := readCapture(filepath.Join(pcaps, capture))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var st Stats
			for _, p := range pkts {
				if !cfg.IsDNSPort(p.src.Port()) {
					continue
				}
				var name string
				var addrs []string
				err := ParseDNS(p.payload, p.proto == 6, &st, func(n string, a netip.Addr, ttl uint32) {
					name = n
					addrs = append(addrs, a.String())
				})
				if err != nil {
					t.Logf("%s -> %s: %v", p.src, p.dst, err)
				}
				if len(addrs) > 0 {
					slices.Sort(addrs)
					got = append(got, name+"\t"+strings.Join(addrs, ","))
				}
			}
			slices.Sort(got)
			slices.Sort(w)
			if diff := cmp.Diff(got, w); diff != "" {
				t.Errorf("answers (-got +tshark):\n%s", diff)
			}
		})
	}
}
