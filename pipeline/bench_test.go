package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/metrics"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

type frame struct {
	data []byte
	lt   layers.LinkType
	ts   int64
}

// loadFrames reads a genpcap capture into memory (made once per run, in
// the temporary directory).
func loadFrames(b *testing.B, packets int) []frame {
	b.Helper()
	path := filepath.Join(os.TempDir(), "borderwatch-bench-200k.pcap")
	if _, err := os.Stat(path); err != nil {
		pcap, _ := genpcap(b, packets)
		data, err := os.ReadFile(pcap)
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(path, data, 0o644)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var frames []frame
	for {
		data, lt, ts, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, frame{append([]byte(nil), data...), lt, ts})
	}
	return frames
}

// barrier waits until every worker has handled all that was dispatched.
func barrier(p *Pipeline) {
	for i := range p.workers {
		done := make(chan struct{})
		p.in[i] <- &batch{op: opBarrier, done: done}
		<-done
	}
}

// BenchmarkWorker: the real path (dispatcher: decode and batch; one
// worker: flow + names + enrichment + aggregation) over a realistic mix
// (new flows with DNS answers, TLS and QUIC handshakes, bulk data), on two
// goroutines. Timestamps advance across laps so flows expire and start
// again, as in a long capture.
func BenchmarkWorker(b *testing.B) {
	frames := loadFrames(b, 200000)
	cfg := DefaultConfig()
	p, err := New(cfg, testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := p.NewDispatcher(-1)
	span := frames[len(frames)-1].ts - frames[0].ts + 1
	// warm up: one lap
	for _, f := range frames {
		d.Frame(f.data, f.lt, f.ts)
	}
	d.Send()
	barrier(p)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	feedLaps(d, frames, b.N, 1, span+int64(120e9))
	d.Send()
	barrier(p)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/packet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

// BenchmarkWorkerEstablished: the same path for packets of flows that are
// already placed and named (no handshake): the common case, which must
// not allocate at all.
func BenchmarkWorkerEstablished(b *testing.B) {
	frames := loadFrames(b, 200000)
	p, err := New(DefaultConfig(), testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := p.NewDispatcher(-1)
	last := frames[len(frames)-1].ts
	for _, f := range frames {
		d.Frame(f.data, f.lt, f.ts)
	}
	// Every flow is placed: its naming window has passed.
	for _, f := range frames {
		d.Frame(f.data, f.lt, last+namingWindow)
	}
	d.Send()
	barrier(p)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := &frames[i%len(frames)]
		d.Frame(f.data, f.lt, last+namingWindow) // same time: no flow expires
	}
	d.Send()
	barrier(p)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/packet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

// BenchmarkDispatch: the dispatcher alone (decode, flow hash, copy into
// the batch, hand-off) over genpcap's mix, hashing over two workers whose
// queues are drained without handling the packets: the reader's share of
// the per-packet work for frames it must copy (live capture).
func BenchmarkDispatch(b *testing.B) {
	frames := loadFrames(b, 200000)
	p := drainedPipeline(b)
	d := p.NewDispatcher(-1)
	span := frames[len(frames)-1].ts - frames[0].ts + 1
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	feedLaps(d, frames, b.N, 0, span)
	d.Send()
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/packet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

// BenchmarkDispatchFile: the reader goroutine's whole work on a capture
// file (genpcap's mix, in the page cache): reading, record framing,
// decoding, hashing and batching, the payloads kept in the file's chunks
// rather than copied; the workers' queues are drained unhandled.
func BenchmarkDispatchFile(b *testing.B) {
	loadFrames(b, 200000) // writes the file
	path := filepath.Join(os.TempDir(), "borderwatch-bench-200k.pcap")
	p := drainedPipeline(b)
	d := p.NewDispatcher(-1)
	b.ReportAllocs()
	b.ResetTimer()
	total := uint64(0)
	for total < uint64(b.N) {
		src, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		n, err := capture.Feed(context.Background(), src, d, capture.FeedConfig{})
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/packet")
}

// drainedPipeline returns a pipeline of two workers whose queues only hand
// the batches back (and answer barriers); the workers get theirs back
// before Close.
func drainedPipeline(b testing.TB) *Pipeline {
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	queues := p.in
	p.in = make([]chan *batch, len(queues))
	var wg sync.WaitGroup
	for i := range p.in {
		c := make(chan *batch, queueBatches)
		p.in[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bt := range c {
				if bt.op == opPackets {
					p.putBatch(bt)
				} else if bt.done != nil {
					close(bt.done)
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, c := range p.in {
			close(c)
		}
		wg.Wait()
		p.in = queues
		p.Close()
	})
	return p
}

// BenchmarkNewFlow: every packet a new flow (a TCP SYN from a local client
// to a random public address, as in a flow flood), through the real path:
// dispatcher and one worker (flow entry, geo lookup, placement, series,
// and the evictions of a full table). Reports the cost and the
// allocations per new flow.
func BenchmarkNewFlow(b *testing.B) {
	p, err := New(DefaultConfig(), testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := p.NewDispatcher(-1)
	rng := rand.New(rand.NewPCG(1, 2))
	dsts := make([]uint32, 1<<16)
	for i := range dsts {
		dsts[i] = publicIPv4(rng)
	}
	// Ethernet, IPv4 (10.x.y.z -> public), TCP SYN to port 443.
	frame := make([]byte, 54)
	copy(frame, []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00})
	ip := frame[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	tcp := frame[34:]
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12], tcp[13] = 0x50, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	ts := int64(1_700_000_000_000_000_000)
	// A key per packet: 2^24 sources times 2^16 destinations.
	flood := func(i int) {
		binary.BigEndian.PutUint32(ip[12:], 10<<24|uint32(i)&0xffffff)
		binary.BigEndian.PutUint32(ip[16:], dsts[i>>24^i&0xffff])
		binary.BigEndian.PutUint16(tcp[0:], uint16(1024+i>>24))
		d.Frame(frame, layers.LinkTypeEthernet, ts+int64(i)*1000) // 1 µs apart
	}
	// Warm up: the flow table fills to its capacity, so that every
	// new flow also evicts one, as in a long flood.
	warm := DefaultConfig().Flow.MaxFlows + 1<<16
	for i := 0; i < warm; i++ {
		flood(i)
	}
	d.Send()
	barrier(p)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		flood(warm + i)
	}
	d.Send()
	barrier(p)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/flow")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N), "B/flow")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

// publicIPv4 draws a public unicast IPv4 address.
func publicIPv4(r *rand.Rand) uint32 {
	for {
		a := r.Uint32()
		o1, o2 := a>>24, a>>16&0xff
		switch {
		case o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224,
			o1 == 100 && o2 >= 64 && o2 < 128, o1 == 169 && o2 == 254,
			o1 == 172 && o2 >= 16 && o2 < 32, o1 == 192 && o2 == 168:
			continue
		}
		return a
	}
}

// slowScrape makes BenchmarkScrape gather through the registry alone.
var slowScrape = os.Getenv("BW_SLOW_SCRAPE") != ""

// BenchmarkScrape: a scrape of a pipeline whose 10,000-series budget is
// full (30,000 traffic samples plus the rest), gathered and encoded as
// promhttp does, while a dispatcher keeps both workers busy with a
// capture. Reports the median and the slowest scrape.
func BenchmarkScrape(b *testing.B) {
	frames := loadFrames(b, 200000)
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for i := 0; p.Series().Len() < 10000; i++ {
		id, _ := p.Series().ID(metrics.Labels{Direction: []string{"egress", "ingress"}[i%2], Country: fmt.Sprintf("C%d", i/2%200),
			Provider: "other", App: fmt.Sprintf("app%d", i/400), Region: "abroad", ClientGroup: "default"})
		p.workers[i%2].shard.Add(id, uint64(i)*1000, uint64(i))
	}
	reg := prometheus.NewPedanticRegistry()
	c := metrics.NewCollector(p)
	reg.MustRegister(c, metrics.NewNamesCollector(p.NameStats(), p.NameCache()))
	g := prometheus.Gatherer(reg)
	if !slowScrape {
		g = metrics.NewGatherer(reg, c) // what the daemon serves
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // busy workers
		defer wg.Done()
		d := p.NewDispatcher(-1)
		span := frames[len(frames)-1].ts - frames[0].ts + 1
		for lap := int64(0); !stop.Load(); lap++ {
			for _, f := range frames {
				d.Frame(f.data, f.lt, f.ts+lap*(span+int64(120e9)))
			}
		}
		d.Send()
	}()
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		mfs, err := g.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// feedLaps dispatches n frames, going round frames in laps: lap k (from
// first) shifted by k x shift in time, so that flows expire and start
// again, as in a long capture.
func feedLaps(d *Dispatcher, frames []frame, n int, first, shift int64) {
	lap := first
	for i := range n {
		k := i % len(frames)
		if k == 0 && i > 0 {
			lap++
		}
		f := &frames[k]
		d.Frame(f.data, f.lt, f.ts+lap*shift)
	}
}
