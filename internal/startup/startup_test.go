package startup

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

var sink [][]byte

// TestDone: until Done the collector is off (64 MB allocated and dropped
// run no collection); Done sets the target once.
func TestDone(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: Done keeps it")
	}
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("before Done the GC percent is %d, want -1 (off)", p)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.NumGC
	for range 64 {
		sink = append(sink[:0], make([]byte, 1<<20))
	}
	runtime.ReadMemStats(&m)
	if m.NumGC != before {
		t.Errorf("%d collections during start-up", m.NumGC-before)
	}
	Done(400)
	Done(50) // ignored
	if p := debug.SetGCPercent(400); p != 400 {
		t.Errorf("after Done(400) the GC percent is %d", p)
	}
	debug.SetGCPercent(gcPercent)
}
