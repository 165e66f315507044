package pipeline

import (
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/borderwatch/borderwatch/capture"
)

// TestWorkerKeysAhead: a worker handling batches (whose flow keys it
// computes ahead and whose table slots it prefetches) counts exactly what
// it counts handling the same packets one by one, for batches shorter than,
// as long as and longer than its ring of keys.
func TestWorkerKeysAhead(t *testing.T) {
	src, err := capture.OpenFile(filepath.Join("..", "testdata", "sample.pcap.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec := capture.NewDecoder()
	var pkts []capture.Packet
	for {
		data, lt, ts, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var p capture.Packet
		if v, _ := dec.Decode(data, lt, ts, &p); v != capture.Decoded {
			continue
		}
		p.Payload = append([]byte(nil), p.Payload...)
		pkts = append(pkts, p)
	}
	if len(pkts) < 1000 {
		t.Fatalf("%d packets decoded, want a capture of at least 1000", len(pkts))
	}
	// The workers of pipelines whose queues lead nowhere, called here.
	one, batched := drainedPipeline(t), drainedPipeline(t)
	w := one.workers[0]
	for i := range pkts {
		w.Handle(&pkts[i])
	}
	w.Drain()
	w = batched.workers[0]
	sizes := []int{1, keysAhead - 1, keysAhead, keysAhead + 1, 2 * keysAhead, 2*keysAhead + 3, batchPackets}
	for i, n := 0, 0; i < len(pkts); i, n = i+sizes[n%len(sizes)], n+1 {
		w.handle(&batch{pkts: pkts[i:min(i+sizes[n%len(sizes)], len(pkts))]})
	}
	w.Drain()
	want, got := breakdownOf(one), breakdownOf(batched)
	if len(want.Series) == 0 {
		t.Fatal("nothing counted")
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("batched counts differ:\none by one %v\nbatched    %v", want, got)
	}
}
