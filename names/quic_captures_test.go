package names

import (
	"github.com/borderwatch/borderwatch/internal/testenv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQUICCaptures checks every QUIC client Initial that tshark decodes
// in the shared QUIC captures (nDPI, retina, illustrated-quic, Zeek, ja4;
// v1, v2, drafts 23-29, mvfst, gQUIC; Kyber-sized hellos over several
// packets, retry, out-of-order CRYPTO frames) against tshark's SNI
// (testdata/quic_tshark.tsv, made by testdata/quic_tshark.sh).
func TestQUICCaptures(t *testing.T) {
	pcaps := filepath.Join(testenv.SharedDir(t), "pcaps")
	b, err := os.ReadFile(filepath.Join("testdata", "quic_tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		capture        string
		client, server netip.AddrPort
		sni            string
	}
	var rows []row
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			t.Fatalf("bad line %q", l)
		}
		rows = append(rows, row{f[0], netip.MustParseAddrPort(f[1]), netip.MustParseAddrPort(f[2]), f[3]})
	}
	if len(rows) < 100 {
		t.Fatalf("only %d rows", len(rows))
	}
	flows := map[string]map[flowKey][]pkt{}
	captures := map[string]bool{}
	agree := 0
	for i, r := range rows {
		byFlow, ok := flows[r.capture]
		if !ok {
			pkts, err := readCapture(filepath.Join(pcaps, r.capture))
			if err != nil {
				t.Fatalf("%s: %v", r.capture, err)
			}
			byFlow = map[flowKey][]pkt{}
			for _, p := range pkts {
				k := keyOf(p.proto, p.src, p.dst)
				byFlow[k] = append(byFlow[k], p)
			}
			flows[r.capture] = byFlow
		}
		captures[r.capture] = true
		tr := NewTracker(DefaultConfig(), nil)
		got, src := learnFlow(tr, uint64(i), 17, r.client, byFlow[keyOf(17, r.client, r.server)])
		// Names are lower-cased, without a ":port" suffix (quic-go's
		// interop client sends "server4:443").
		want := strings.ToLower(r.sni)
		if h, port, ok := strings.Cut(want, ":"); ok && strings.Trim(port, "0123456789") == "" {
			want = h
		}
		literal := false
		if _, err := netip.ParseAddr(want); err == nil {
			// An SNI that is an address literal names nothing.
			want, literal = "", true
		}
		if got != want || (!literal && src != SourceQUIC) {
			t.Errorf("%s %s -> %s: got %q (%v), tshark %q", r.capture, r.client, r.server, got, src, r.sni)
			continue
		}
		agree++
	}
	t.Logf("%d/%d QUIC flows in %d captures agree with tshark", agree, len(rows), len(captures))
}
