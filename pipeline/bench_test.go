package pipeline

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/gopacket/gopacket/layers"
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

// BenchmarkWorker: decode + flow + names + enrichment + aggregation on one
// goroutine, over a realistic mix (new flows with DNS answers, TLS and
// QUIC handshakes, bulk data). Timestamps advance across laps so flows
// expire and start again, as in a long capture.
func BenchmarkWorker(b *testing.B) {
	frames := loadFrames(b, 200000)
	cfg := DefaultConfig()
	p, err := New(cfg, testPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	w := newWorker(p, 1<<18)
	w.refreshPolicy()
	span := frames[len(frames)-1].ts - frames[0].ts + 1
	// warm up: one lap
	for _, f := range frames {
		w.HandleFrame(f.data, f.lt, f.ts)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	lap := int64(1)
	for i := 0; i < b.N; i++ {
		k := i % len(frames)
		if k == 0 && i > 0 {
			lap++
		}
		f := &frames[k]
		w.HandleFrame(f.data, f.lt, f.ts+lap*(span+int64(120e9)))
		if i%1000000 == 999999 {
			w.Flush() // a scrape
		}
	}
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
	w := newWorker(p, 1<<18)
	w.refreshPolicy()
	for _, f := range frames {
		w.HandleFrame(f.data, f.lt, f.ts)
	}
	w.Flush()
	last := frames[len(frames)-1].ts
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := &frames[i%len(frames)]
		w.HandleFrame(f.data, f.lt, last) // same time: no flow expires
		if i%1000000 == 999999 {
			w.Flush()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
