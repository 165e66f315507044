package pipeline

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/apps"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/place"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// collectSink keeps the ended flows it is given.
type collectSink struct {
	mu    sync.Mutex
	flows []EndedFlow
	hold  chan struct{} // if set, Flow waits for it
}

func (c *collectSink) Flow(f *EndedFlow) {
	if c.hold != nil {
		<-c.hold
	}
	c.mu.Lock()
	c.flows = append(c.flows, *f)
	c.mu.Unlock()
}

// sinkPipeline returns a pipeline with one worker feeding s; the test
// calls the worker directly (its goroutine is idle between batches).
func sinkPipeline(t *testing.T, s Sink, maxFlows, queue int) (*Pipeline, *Worker) {
	return sinkPipelineWith(t, docPolicy(t, "DE"), s, maxFlows, queue, false)
}

// sinkPipelineWith is sinkPipeline with a policy, and a sink queue that
// waits rather than drops when wait is set.
func sinkPipelineWith(t *testing.T, pol *Policy, s Sink, maxFlows, queue int, wait bool) (*Pipeline, *Worker) {
	cfg := DefaultConfig()
	cfg.Flow = flow.Config{MaxFlows: maxFlows, IdleTimeout: 10 * time.Second, ActiveTimeout: 60 * time.Second}
	cfg.Sink, cfg.SinkQueue, cfg.SinkWait = s, queue, wait
	p, err := New(cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w := p.workers[0]
	w.refreshPolicy()
	return p, w
}

const sec = int64(time.Second)

// TestSinkEndedFlows: every flow that ends reaches the sink once, with its
// reason (idle, active, capacity, end: a scrape ends nothing), its whole
// life's bytes and packets per endpoint, and its placement.
func TestSinkEndedFlows(t *testing.T) {
	s := &collectSink{}
	p, w := sinkPipeline(t, s, 16, 64)
	send := func(src, dst string, sport, dport uint16, n uint32, ts int64) {
		pk := testPacket(src, dst, sport, dport, n, ts)
		w.Handle(&pk)
	}
	// idle: two packets, then quiet past the idle timeout.
	send("192.168.1.10", "203.0.113.5", 40000, 443, 100, 1*sec)
	send("203.0.113.5", "192.168.1.10", 443, 40000, 1500, 2*sec)
	// active: busy (a packet every 8 s) past the active timeout.
	for ts := 1 * sec; ts <= 57*sec; ts += 8 * sec {
		send("192.168.1.10", "198.51.100.9", 40001, 443, 60, ts)
		if ts == 9*sec {
			w.ExpireIdle(15 * sec) // ends the first flow only
		}
	}
	w.ExpireIdle(62 * sec)
	// end: still open at the end of input.
	send("192.168.1.10", "192.168.1.20", 40002, 22, 80, 62*sec) // internal
	p.Finish()

	s.mu.Lock()
	defer s.mu.Unlock()
	type got struct {
		Reason    string
		Addr      [2]string
		Bytes     [2]uint64
		Packets   [2]uint64
		Dir       [2]place.Direction
		Country   string
		Region    place.Region
		FirstLast [2]int64
	}
	var gots []got
	for _, f := range s.flows {
		gots = append(gots, got{f.Reason.String(), [2]string{f.Addr[0].String(), f.Addr[1].String()}, f.Bytes, f.Packets, f.Placement.Dir, f.Placement.Country, f.Placement.Region, [2]int64{f.First, f.Last}})
	}
	// The key's endpoint A is the lower address: the client here.
	c := "192.168.1.10"
	eg := [2]place.Direction{place.Egress, place.Ingress}
	want := []got{
		{"idle", [2]string{c, "203.0.113.5"}, [2]uint64{100, 1500}, [2]uint64{1, 1}, eg, "US", place.Abroad, [2]int64{1 * sec, 2 * sec}},
		{"active", [2]string{c, "198.51.100.9"}, [2]uint64{8 * 60, 0}, [2]uint64{8, 0}, eg, "DE", place.Home, [2]int64{1 * sec, 57 * sec}},
		{"end", [2]string{c, "192.168.1.20"}, [2]uint64{80, 0}, [2]uint64{1, 0}, [2]place.Direction{place.Internal, place.Internal}, "", place.RegionUnknown, [2]int64{62 * sec, 62 * sec}},
	}
	if d := cmp.Diff(gots, want); d != "" {
		t.Errorf("ended flows (-got +want)\n%s", d)
	}
}

// TestSinkCapacity: a flow evicted for a new one ends with reason
// capacity; the others end at the end of input.
func TestSinkCapacity(t *testing.T) {
	s := &collectSink{}
	p, w := sinkPipeline(t, s, 16, 64)
	for i := 0; i < 17; i++ {
		pk := testPacket("192.168.1.10", "203.0.113.5", uint16(40000+i), 443, 100, int64(i+1)*sec/10)
		w.Handle(&pk)
	}
	p.Finish()
	n := map[string]int{}
	var bytes uint64
	for _, f := range s.flows {
		n[f.Reason.String()]++
		bytes += f.Bytes[0] + f.Bytes[1]
	}
	if n["capacity"] != 1 || n["end"] != 16 || len(n) != 2 || bytes != 1700 {
		t.Errorf("reasons %v, %d bytes; want 1 capacity, 16 end, 1700 bytes", n, bytes)
	}
}

// TestSinkQueueDrops: when the sink falls behind, ended flows past the
// queue are dropped and counted, never waited for.
func TestSinkQueueDrops(t *testing.T) {
	s := &collectSink{hold: make(chan struct{})}
	p, w := sinkPipeline(t, s, 64, 1)
	for i := 0; i < 5; i++ {
		pk := testPacket("192.168.1.10", "203.0.113.5", uint16(40000+i), 443, 100, sec)
		w.Handle(&pk)
	}
	w.Drain() // returns although the sink takes nothing
	close(s.hold)
	p.Finish()
	queued, dropped := p.sink.flows.Load(), p.sink.dropped.Load()
	if queued+dropped != 5 || dropped < 3 || uint64(len(s.flows)) != queued {
		t.Errorf("queued %d, dropped %d, handled %d; want 5 in all, at least 3 dropped", queued, dropped, len(s.flows))
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(p))
	want := "# HELP borderwatch_flow_sink_dropped_total Ended flows dropped because the flow sink's queue was full.\n# TYPE borderwatch_flow_sink_dropped_total counter\nborderwatch_flow_sink_dropped_total " + itoa(dropped) + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "borderwatch_flow_sink_dropped_total"); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
}

// TestEndpointTotalsOrder: the endpoint report does not depend on the
// order in which flows end (workers end them concurrently): the earliest
// flow's name and app win, a flow's own name beats a DNS name.
func TestEndpointTotalsOrder(t *testing.T) {
	c, s := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("203.0.113.5")
	flowOf := func(first int64, name string, src names.Source, app string, bytes uint64) EndedFlow {
		return EndedFlow{Addr: [2]netip.Addr{c, s}, First: first, Bytes: [2]uint64{bytes, 0}, Packets: [2]uint64{1, 0}, Name: name, NameSource: src,
			Placement: place.Placement{Remote: 1, Dir: [2]place.Direction{place.Egress, place.Ingress}, App: app, Country: "US"}, Geo: geo.Info{Country: "US"}}
	}
	flows := []EndedFlow{
		flowOf(3, "late.example", names.SourceDNS, "late", 10),
		flowOf(2, "b.example", names.SourceDNS, apps.Unknown, 20),
		flowOf(1, "a.example", names.SourceDNS, apps.Unknown, 30),
		flowOf(4, "", names.SourceNone, "first-known", 40),
	}
	want := Endpoint{Addr: s, Name: "a.example", App: "late", Country: "US", DBCountry: "US", EgressBytes: 100, EgressPackets: 4, Flows: 4}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}} {
		tot := NewEndpointTotals(10)
		for _, i := range order {
			tot.Flow(&flows[i])
		}
		eps, _ := tot.Endpoints()
		if len(eps) != 1 {
			t.Fatalf("order %v: %d endpoints", order, len(eps))
		}
		got := *eps[0]
		got.nameSource, got.nameFirst, got.appFirst = 0, 0, 0
		if got != want {
			t.Errorf("order %v: %+v, want %+v", order, got, want)
		}
	}
	// A flow's own name beats DNS names, even from a later flow.
	tot := NewEndpointTotals(10)
	own := flowOf(9, "own.example", names.SourceSNI, "x", 1)
	tot.Flow(&flows[2])
	tot.Flow(&own)
	tot.Flow(&flows[1])
	if eps, _ := tot.Endpoints(); eps[0].Name != "own.example" {
		t.Errorf("name %q, want the SNI own.example", eps[0].Name)
	}
}
