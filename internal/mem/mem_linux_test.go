package mem

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// resident returns the process's resident pages (/proc/self/statm).
func resident(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrefaultMapsPages: after Prefault a fresh table's pages are private
// and resident, so probing it reads no zero page; a fresh table only read
// stays on the zero page (the case Prefault avoids: its first write per
// page is a copy and a TLB flush on every CPU).
func TestPrefaultMapsPages(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every allocation resident: the zero page is not in play")
	}
	const n = 64 << 20 / 8 // 64 MiB of words
	var sink uint64
	before := resident(t)
	read := make([]uint64, n)
	for i := 0; i < n; i += 512 {
		sink += read[i]
	}
	readOnly := resident(t) - before
	before = resident(t)
	pre := make([]uint64, n)
	Prefault(pre)
	for i := 0; i < n; i += 512 {
		sink += pre[i]
	}
	prefaulted := resident(t) - before
	runtime.KeepAlive(read)
	runtime.KeepAlive(pre)
	pages := n * 8 / os.Getpagesize()
	t.Logf("resident pages: read only +%d, prefaulted +%d, of %d (sink %d)", readOnly, prefaulted, pages, sink)
	if prefaulted < pages*9/10 {
		t.Errorf("prefaulted table: %d of %d pages resident", prefaulted, pages)
	}
	if readOnly > pages/10 {
		t.Errorf("a table only read made %d of %d pages resident: the zero page is not in play and the test proves nothing", readOnly, pages)
	}
}
