package pipeline

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// breakdown is what a finished pipeline placed: bytes and flows per label
// set, and bytes and flows per naming source.
type breakdown struct {
	Series map[metrics.Labels][3]uint64
	Named  map[string][2]uint64
}

func breakdownOf(p *Pipeline) breakdown {
	labels := p.Series().Labels()
	t := metrics.SumShards(p.Shards(), len(labels))
	b := breakdown{Series: map[metrics.Labels][3]uint64{}, Named: map[string][2]uint64{}}
	for id := 1; id < len(labels); id++ {
		if t.Packets[id] > 0 || t.Flows[id] > 0 {
			b.Series[labels[id]] = [3]uint64{t.Bytes[id], t.Packets[id], t.Flows[id]}
		}
	}
	for i, name := range metrics.NameSourceNames {
		b.Named[name] = [2]uint64{t.NamedBytes[i], t.NamedFlows[i]}
	}
	return b
}

// runCapture reads files through a pipeline of the daemon's kind (no
// endpoint report) or of read's (endpoints), while scrape, if set, is
// called in a loop by another goroutine; it returns the breakdown once all
// flows ended.
func runCapture(t *testing.T, workers int, endpoints bool, scrape bool, files ...string) (breakdown, int) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Workers = workers
	cfg.Endpoints = endpoints
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(p))
	var stop atomic.Bool
	var wg sync.WaitGroup
	scrapes := 0
	if scrape {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
				scrapes++
			}
		}()
	}
	d := p.NewDispatcher(-1)
	for _, f := range files {
		src, err := capture.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			data, lt, ts, err := src.Next()
			if err != nil {
				break
			}
			d.Frame(data, lt, ts)
			if i%64 == 0 {
				d.Send() // small batches: scrapes fall between them
			}
		}
		src.Close()
	}
	d.Send()
	stop.Store(true)
	wg.Wait()
	p.Finish()
	return breakdownOf(p), scrapes
}

// TestBreakdownIndependentOfScrapes: the daemon scraped continuously
// places the same capture exactly as read does, label set by label set and
// naming source by naming source (bytes of a flow scraped before its name
// was known used to stay under the unnamed labels).
func TestBreakdownIndependentOfScrapes(t *testing.T) {
	root := testenv.SharedDir(t)
	gen, _ := genpcap(t, 100000)
	files := []string{filepath.Join("..", "testdata", "sample.pcap.gz"), filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng"), gen}
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			read, _ := runCapture(t, workers, true, false, files...)
			daemon, n := runCapture(t, workers, false, true, files...)
			if d := cmp.Diff(daemon, read); d != "" {
				t.Errorf("daemon scraped %d times vs read (-daemon +read):\n%s", n, d)
			}
			if n < 10 {
				t.Errorf("only %d scrapes during the read", n)
			}
			if read.Named["none"][0] == 0 || read.Named["sni"][0] == 0 || read.Named["dns"][0] == 0 {
				t.Errorf("the sample has no unnamed or no SNI-named traffic: %v", read.Named)
			}
		})
	}
}

// TestDNSAnswerFromAnotherWorker: a flow whose first packets are counted
// (and scraped) on one worker before the client's DNS answer, handled by
// another worker, reaches the shared cache, is still named by it: every
// byte of the flow is counted as DNS-named.
func TestDNSAnswerFromAnotherWorker(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := metrics.NewCollector(p)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	resolver, client, server := "192.168.1.1", "192.168.1.10", "203.0.113.50"
	dns := &layers.DNS{ID: 7, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte("video.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte("video.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: netip.MustParseAddr(server).AsSlice()}}}
	buf := gopacket.NewSerializeBuffer()
	if err := dns.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	answer := udpFrame(t, resolver, client, 53, 5300, buf.Bytes())
	data := make([]byte, 100) // not a handshake: the flow carries no name
	out := udpFrame(t, client, server, 40000, 9000, data)
	in := udpFrame(t, server, client, 9000, 40000, data)
	const t0 = int64(1_700_000_000e9)
	dA, dB := p.NewDispatcher(0), p.NewDispatcher(1)
	feed := func(d *Dispatcher, frame []byte, ts int64) {
		d.Frame(frame, layers.LinkTypeEthernet, ts)
		d.Send()
		barrier(p)
	}
	feed(dB, out, t0)
	feed(dB, in, t0+1e6)
	if _, err := reg.Gather(); err != nil { // a scrape
		t.Fatal(err)
	}
	feed(dA, answer, t0-1e6) // answered before the flow, handled after
	feed(dB, out, t0+100e6)
	feed(dB, in, t0+101e6)
	p.Finish()
	b := breakdownOf(p)
	ipLen := uint64(20 + 8 + len(data))
	if got, want := b.Named["dns"], [2]uint64{4 * ipLen, 1}; got != want {
		t.Errorf("dns-named bytes and flows %v, want %v (all: %v)", got, want, b.Named)
	}
}

// TestDispatcherLearnsDNS: a dispatcher over all workers learns a DNS
// answer before it queues it, so the name is known while every worker is
// still busy, and the worker that handles the answer does not parse it
// again. The flow it names is named.
func TestDispatcherLearnsDNS(t *testing.T) {
	p := testPipeline(t, 2)
	resolver, client, server := "192.168.1.1", "192.168.1.10", "203.0.113.50"
	answer := dnsAnswer(t, "video.example", netip.MustParseAddr(server))
	const t0 = int64(1_700_000_000e9)
	release := make(chan struct{})
	for i := range p.in {
		p.in[i] <- &batch{op: opHold, done: release}
	}
	d := p.NewDispatcher(-1)
	d.Frame(udpFrame(t, resolver, client, 53, 5300, answer), layers.LinkTypeEthernet, t0)
	at := time.Unix(0, t0)
	if name, _ := p.nameCache.Lookup(netip.MustParseAddr(client), netip.MustParseAddr(server), at); name != "video.example" {
		t.Errorf("with every worker busy, the cache has %q, want video.example", name)
	}
	if name, ok := p.nameCache.Lookup(netip.MustParseAddr(client), netip.MustParseAddr(server), at.Add(-time.Millisecond)); ok {
		t.Errorf("before the answer's time, the cache has %q", name)
	}
	data := make([]byte, 100) // not a handshake: the flow carries no name
	d.Frame(udpFrame(t, client, server, 40000, 9000, data), layers.LinkTypeEthernet, t0+1e6)
	d.Frame(udpFrame(t, server, client, 9000, 40000, data), layers.LinkTypeEthernet, t0+2e6)
	d.Send()
	close(release)
	p.Finish()
	if got := p.nameStats.DNSMessages.Load(); got != 1 {
		t.Errorf("DNS messages parsed: %d, want 1 (the dispatcher's)", got)
	}
	b := breakdownOf(p)
	ipLen := uint64(20 + 8 + len(data))
	if got, want := b.Named["dns"], [2]uint64{2 * ipLen, 1}; got != want {
		t.Errorf("dns-named bytes and flows %v, want %v (all: %v)", got, want, b.Named)
	}
}

// TestScrapeDoesNotWaitForBusyWorkers: while a worker is stuck, a scrape
// still answers at once, and a live sweep that times out is counted.
func TestScrapeDoesNotWaitForBusyWorkers(t *testing.T) {
	defer func(d time.Duration) { sweepTimeout = d }(sweepTimeout)
	sweepTimeout = 50 * time.Millisecond
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reg := prometheus.NewPedanticRegistry()
	c := metrics.NewCollector(p)
	reg.MustRegister(c)
	g := metrics.NewGatherer(reg, c)
	release := make(chan struct{})
	p.in[1] <- &batch{op: opHold, done: release}
	t0 := time.Now()
	if _, err := g.Gather(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("a scrape with a stuck worker took %v", d)
	}
	p.Expire(time.Now())
	close(release)
	p.Expire(time.Now())
	want := `
# HELP borderwatch_flow_sweep_timeouts_total Idle-flow sweeps (live capture, once a second) that the workers did not finish within 5 s; scrapes never wait for the workers.
# TYPE borderwatch_flow_sweep_timeouts_total counter
borderwatch_flow_sweep_timeouts_total 1
`
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), "borderwatch_flow_sweep_timeouts_total"); err != nil {
		t.Error(err)
	}
}
