package flow

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeBytesPerFlow is the README's bound on the flow table's memory:
// "at most 261 bytes x --flow.max-flows" (steady 1.5 slots x 116 bytes = 174,
// and while the table grows to that size the smaller arrays it outgrew,
// at most half of it, until the garbage collector returns them).
const readmeBytesPerFlow = 261

func TestSlotSize(t *testing.T) {
	if SlotBytes != 116 {
		t.Errorf("a slot is %d bytes, the README's formula says 116", SlotBytes)
	}
	for _, n := range []int{1 << 18, 1<<20 + 1, 1000003} {
		if got := MaxSlots(n) * SlotBytes; got > n*174 {
			t.Errorf("max-flows %d: %d bytes at the limit, over 174 per flow", n, got)
		}
	}
}

// TestTableMemory fills tables to their limit (one past a power of two
// too) in a child process and checks the peak resident memory it added,
// as the kernel counts it (VmHWM), against the README's bytes per flow.
func TestTableMemory(t *testing.T) {
	if n := os.Getenv("BW_FLOW_MEM_CHILD"); n != "" {
		memChild(n)
		return
	}
	if testing.Short() {
		t.Skip("fills tables of a million flows")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory multiplies resident memory; run without -race")
	}
	for _, n := range []int{1 << 18, 1 << 20, 1<<20 + 1} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTableMemory$")
		cmd.Env = append(os.Environ(), "BW_FLOW_MEM_CHILD="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("max-flows %d: %v\n%s", n, err, out)
		}
		var added int
		if _, err := fmt.Sscanf(lastLine(string(out), "added "), "added %d", &added); err != nil {
			t.Fatalf("max-flows %d: %v\n%s", n, err, out)
		}
		per := float64(added) / float64(n)
		t.Logf("max-flows %d: peak RSS +%d MB, %.0f bytes per flow", n, added>>20, per)
		if per > readmeBytesPerFlow {
			t.Errorf("max-flows %d: %.0f bytes per flow, the README says about %d", n, per, readmeBytesPerFlow)
		}
	}
}

func lastLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func memChild(arg string) {
	n, _ := strconv.Atoi(arg)
	runtime.GC()
	before := vmHWM()
	tab := New(Config{MaxFlows: n, IdleTimeout: time.Hour}, nil)
	for i := 0; i < n+n/4; i++ { // past the limit: capacity evictions
		var a, b [16]byte
		a[12], a[13], a[14], a[15] = 10, byte(i>>16), byte(i>>8), byte(i)
		b[15] = 1
		k, _ := MakeKey(a, b, uint16(i>>24), 443, 6, false, 0)
		tab.Get(&k, k.Hash(), int64(i))
	}
	after := vmHWM()
	runtime.KeepAlive(tab)
	fmt.Printf("added %d\n", after-before)
	os.Exit(0)
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	return 0
}
