package pipeline

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/lpm"
)

var (
	geoOnce sync.Once
	geoRes  *geo.Resolver
	geoErr  error
)

// testPolicy uses the embedded databases and the default local networks.
func testPolicy(t testing.TB) *Policy {
	t.Helper()
	geoOnce.Do(func() { geoRes, geoErr = geo.Open(geo.Config{CacheSize: 4096}) })
	if geoErr != nil {
		t.Fatal(geoErr)
	}
	cat, err := apps.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	return &Policy{Geo: geoRes, Apps: cat, Local: lpm.NewSet(cfg.LocalNetworks), Groups: config.NewGroupMatcher(nil), Home: map[string]bool{}}
}

// readAll runs a pipeline over files and returns it finished.
// The caller closes it.
func readAll(t testing.TB, pol *Policy, workers int, files ...string) *Pipeline {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Workers = workers
	cfg.Endpoints = true
	cfg.Flow.MaxFlows = 1 << 14
	p, err := New(cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	d := p.NewDispatcher(-1)
	for _, f := range files {
		src, err := capture.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, lt, ts, err := src.Next()
			if err != nil {
				if err != io.EOF {
					t.Logf("%s: %v (counted up to there)", f, err)
				}
				break
			}
			d.Frame(data, lt, ts)
		}
		src.Close()
	}
	d.Send()
	p.Finish()
	return p
}

type dirCounts struct {
	EgressBytes, IngressBytes, EgressPackets, IngressPackets uint64
}

func endpointCounts(p *Pipeline) map[netip.Addr]dirCounts {
	eps, _ := p.Endpoints()
	got := map[netip.Addr]dirCounts{}
	for _, ep := range eps {
		if ep.EgressPackets+ep.IngressPackets == 0 {
			continue
		}
		got[ep.Addr] = dirCounts{ep.EgressBytes, ep.IngressBytes, ep.EgressPackets, ep.IngressPackets}
	}
	return got
}

func genpcap(t testing.TB, packets int) (pcap, truth string) {
	t.Helper()
	root := testenv.SharedDir(t)
	dir := t.TempDir()
	pcap, truth = filepath.Join(dir, "gen.pcap"), filepath.Join(dir, "gen.truth.json")
	cmd := exec.Command("go", "run", ".", "-o", pcap, "-packets", strconv.Itoa(packets), "-ranges", "../server-prefixes.txt", "-truth", truth)
	cmd.Dir = filepath.Join(root, "bench", "genpcap")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genpcap: %v\n%s", err, out)
	}
	return pcap, truth
}

// TestGenpcapTruth: per remote address, egress and ingress IP bytes and
// packets equal the generator's truth file exactly, with 1 and 3 workers.
func TestGenpcapTruth(t *testing.T) {
	pcap, truthPath := genpcap(t, 200000)
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var truth []struct {
		Remote                                                   string
		EgressBytes, IngressBytes, EgressPackets, IngressPackets uint64 `json:",omitempty"`
	}
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]dirCounts{}
	for _, r := range raw {
		c := dirCounts{uint64(r["egress_bytes"].(float64)), uint64(r["ingress_bytes"].(float64)), uint64(r["egress_packets"].(float64)), uint64(r["ingress_packets"].(float64))}
		if c.EgressPackets+c.IngressPackets > 0 {
			want[netip.MustParseAddr(r["remote"].(string))] = c
		}
	}
	_ = truth
	if len(want) < 1000 {
		t.Fatalf("truth has only %d remote addresses", len(want))
	}
	for _, workers := range []int{1, 3} {
		p := readAll(t, testPolicy(t), workers, pcap)
		got := endpointCounts(p)
		p.Close()
		compareCounts(t, "workers="+strconv.Itoa(workers), got, want)
	}
}

func compareCounts(t *testing.T, what string, got, want map[netip.Addr]dirCounts) {
	t.Helper()
	bad := 0
	for a, w := range want {
		if g := got[a]; g != w {
			if bad < 10 {
				t.Errorf("%s: %s: got %+v, want %+v", what, a, g, w)
			}
			bad++
		}
	}
	for a, g := range got {
		if _, ok := want[a]; !ok {
			if bad < 10 {
				t.Errorf("%s: %s: got %+v, not in the truth", what, a, g)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d remote addresses differ", what, bad, len(want))
	}
}

// TestSharedCapturesTshark: for every shared capture, per remote address
// egress and ingress IP bytes and packets equal tshark's (the truth file of
// the capture package, made by tshark), with directions from the default
// local networks; transit and internal totals match too.
func TestSharedCapturesTshark(t *testing.T) {
	root := testenv.SharedDir(t)
	f, err := os.Open("../capture/testdata/tshark-truth.tsv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	exceptions := map[string]bool{}
	if b, err := os.ReadFile("../capture/testdata/tshark-exceptions.tsv"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(l, "\t"); ok && !strings.HasPrefix(l, "#") {
				exceptions[name] = true
			}
		}
	}
	pol := testPolicy(t)
	type fileWant struct {
		eps               map[netip.Addr]dirCounts
		transit, internal uint64 // bytes
	}
	wants := map[string]*fileWant{}
	var order []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if strings.HasPrefix(c[0], "#") || c[1] == "-" || exceptions[c[0]] {
			continue
		}
		w := wants[c[0]]
		if w == nil {
			w = &fileWant{eps: map[netip.Addr]dirCounts{}}
			wants[c[0]] = w
			order = append(order, c[0])
		}
		src, dst := netip.MustParseAddr(c[1]), netip.MustParseAddr(c[2])
		bytes, _ := strconv.ParseUint(c[3], 10, 64)
		pkts, _ := strconv.ParseUint(c[4], 10, 64)
		sl, dl := pol.isLocal(src), pol.isLocal(dst)
		switch {
		case sl && dl:
			w.internal += bytes
		case !sl && !dl:
			w.transit += bytes
		case sl:
			e := w.eps[dst]
			e.EgressBytes += bytes
			e.EgressPackets += pkts
			w.eps[dst] = e
		default:
			e := w.eps[src]
			e.IngressBytes += bytes
			e.IngressPackets += pkts
			w.eps[src] = e
		}
	}
	checked := 0
	for _, name := range order {
		w := wants[name]
		p := readAll(t, pol, 2, filepath.Join(root, name))
		compareCounts(t, name, endpointCounts(p), w.eps)
		var transit, internal uint64
		eps, _ := p.Endpoints()
		for _, ep := range eps {
			transit += ep.TransitBytes
		}
		for _, sh := range p.Shards() {
			internal += sh.InternalBytes.Load()
		}
		if transit != w.transit || internal != w.internal {
			t.Errorf("%s: transit %d internal %d bytes, tshark %d and %d", name, transit, internal, w.transit, w.internal)
		}
		p.Close()
		checked++
	}
	t.Logf("%d captures checked against tshark", checked)
}
