package collect

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/geo/geotest"
	"github.com/borderwatch/borderwatch/lpm"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/google/go-cmp/cmp"
)

// testPolicy places 203.0.113.0/24 and 2001:db8:1::/48 in the US and
// 198.51.100.0/24 in DE, with generated databases; home is DE.
func testPolicy(t testing.TB) *pipeline.Policy {
	t.Helper()
	dir := t.TempDir()
	country, asn := filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCountry(country, map[netip.Prefix]string{
		netip.MustParsePrefix("203.0.113.0/24"):  "US",
		netip.MustParsePrefix("2001:db8:1::/48"): "US",
		netip.MustParsePrefix("198.51.100.0/24"): "DE",
	}); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, map[netip.Prefix]geotest.AS{
		netip.MustParsePrefix("203.0.113.0/24"):  {Number: 64500, Org: "Example US"},
		netip.MustParsePrefix("198.51.100.0/24"): {Number: 64501, Org: "Example DE"},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := geo.Open(geo.Config{CountryDB: country, ASNDB: asn, CacheSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cat, err := apps.Default()
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Policy{Geo: res, Apps: cat, Local: lpm.NewSet(config.Default().LocalNetworks), Groups: config.NewGroupMatcher(nil), Home: map[string]bool{"DE": true}}
}

// harness is a pipeline with a collector listening on 127.0.0.1 for
// NetFlow/IPFIX and for sFlow, each listener in its own feeding loop.
type harness struct {
	t      *testing.T
	p      *pipeline.Pipeline
	c      *Collector
	nf, sf *Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
	conn   *net.UDPConn // the exporter's socket
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	pc := pipeline.DefaultConfig()
	pc.Workers = 2
	p, err := pipeline.New(pc, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	cfg.PollTimeout = 10 * time.Millisecond
	h := &harness{t: t, p: p, c: New(cfg)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for _, k := range []Kind{NetFlow, SFlow} {
		l, err := h.c.Listen(k, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if k == NetFlow {
			h.nf = l
		} else {
			h.sf = l
		}
		d := p.NewInputDispatcher(2, -1)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := l.Run(ctx, d); err != nil {
				t.Error(err)
			}
		}()
	}
	h.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.conn.Close() })
	return h
}

func (h *harness) exporter() *exporter {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.exporters[netip.MustParseAddr("127.0.0.1")]
}

// send sends datagrams to l and waits until the collector has seen them.
func (h *harness) send(l *Listener, dgs ...[]byte) {
	h.t.Helper()
	before := uint64(0)
	if e := h.exporter(); e != nil {
		before = e.datagramsSeen()
	}
	for _, b := range dgs {
		if _, err := h.conn.WriteToUDPAddrPort(b, l.Addr()); err != nil {
			h.t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e := h.exporter(); e != nil && e.datagramsSeen() >= before+uint64(len(dgs)) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatalf("the collector did not receive %d datagrams", len(dgs))
}

func (e *exporter) datagramsSeen() uint64 {
	var n uint64
	for i := range e.st.datagrams {
		n += e.st.datagrams[i].Load()
	}
	return n
}

// finish stops the listeners and ends every flow.
func (h *harness) finish() {
	h.cancel()
	h.wg.Wait()
	h.p.Finish()
}

// counted is bytes and packets.
type counted struct{ Bytes, Packets uint64 }

// traffic returns the placed traffic by label set.
func traffic(p *pipeline.Pipeline) map[metrics.Labels]counted {
	out := map[metrics.Labels]counted{}
	labels := p.Series().Labels()
	for id := 1; id < len(labels); id++ {
		for _, sh := range p.Shards() {
			if id >= len(sh.Bytes) {
				continue // the pipeline's own shard counts no traffic
			}
			if b := sh.Bytes[id].Load(); b > 0 {
				c := out[labels[id]]
				c.Bytes += b
				c.Packets += sh.Packets[id].Load()
				out[labels[id]] = c
			}
		}
	}
	return out
}

func lab(dir, country, app string) metrics.Labels {
	region := "abroad"
	if country == "DE" {
		region = "home"
	}
	return metrics.Labels{Direction: dir, Country: country, Provider: "other", App: app, Region: region, ClientGroup: "default", Basis: "database", OperatorCountry: "unknown"}
}

func checkTraffic(t *testing.T, p *pipeline.Pipeline, want map[metrics.Labels]counted) {
	t.Helper()
	if d := cmp.Diff(want, traffic(p)); d != "" {
		t.Errorf("traffic (-want +got)\n%s", d)
	}
}

var (
	cli  = netip.MustParseAddr("192.168.1.10")
	us   = netip.MustParseAddr("203.0.113.5")
	us2  = netip.MustParseAddr("203.0.113.6")
	de   = netip.MustParseAddr("198.51.100.9")
	cli6 = netip.MustParseAddr("fd00::10")
	us6  = netip.MustParseAddr("2001:db8:1::5")
)

func nowSecs() uint32 { return uint32(time.Now().Unix()) }
