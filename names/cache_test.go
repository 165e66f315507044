package names

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestCacheTTL(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTLFloor = time.Minute
	cfg.TTLCeiling = time.Hour
	c := NewCache(cfg)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cl := netip.MustParseAddr("192.168.1.10")
	other := netip.MustParseAddr("192.168.1.11")
	srv := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }
	c.Learn(cl, srv(1), "short.example", 5, t0)                                            // floor: 60s
	c.Learn(cl, srv(2), "long.example", 7*24*3600, t0)                                     // ceiling: 1h
	c.Learn(cl, srv(3), "normal.example", 600, t0)                                         // 10 min
	c.Learn(netip.MustParseAddr("::ffff:192.168.1.10"), srv(4), "mapped.example", 600, t0) // v4-mapped client
	tests := []struct {
		client, server netip.Addr
		at             time.Duration
		want           string
	}{
		{cl, srv(1), 59 * time.Second, "short.example"},
		{cl, srv(1), 61 * time.Second, ""},
		{cl, srv(2), 59 * time.Minute, "long.example"},
		{cl, srv(2), 61 * time.Minute, ""},
		{cl, srv(3), 9 * time.Minute, "normal.example"},
		{cl, srv(3), 11 * time.Minute, ""},
		{other, srv(3), time.Second, ""}, // per client
		{cl, srv(4), time.Second, "mapped.example"},
		{cl, srv(9), 0, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s@%s", tt.server, tt.at), func(t *testing.T) {
			got, ok := c.Lookup(tt.client, tt.server, t0.Add(tt.at))
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("got %q %v, want %q", got, ok, tt.want)
			}
		})
	}
	// A later answer replaces the name.
	c.Learn(cl, srv(3), "renamed.example", 600, t0.Add(time.Minute))
	if got, _ := c.Lookup(cl, srv(3), t0.Add(2*time.Minute)); got != "renamed.example" {
		t.Errorf("after relearn: %q", got)
	}
}

// TestCacheAnswerTime: a lookup at a time before an answer does not find
// it (the dispatcher learns answers ahead of the workers' lookups), and the
// answer it replaced still answers until then.
func TestCacheAnswerTime(t *testing.T) {
	c := NewCache(DefaultConfig())
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cl, srv := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("203.0.113.1")
	c.Learn(cl, srv, "first.example", 600, t0)
	c.Learn(cl, srv, "second.example", 600, t0.Add(time.Minute))
	c.Learn(cl, srv, "second.example", 600, t0.Add(2*time.Minute)) // the same answer again
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{
		{-time.Second, ""},
		{0, "first.example"},
		{59 * time.Second, "first.example"},
		{time.Minute, "second.example"},
		{90 * time.Second, "second.example"},
		{11 * time.Minute, "second.example"}, // the repeat renewed the TTL
		{13 * time.Minute, ""},
	} {
		got, ok := c.Lookup(cl, srv, t0.Add(tt.at))
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("at %v: got %q %v, want %q", tt.at, got, ok, tt.want)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CacheEntries = 1024
	c := NewCache(cfg)
	t0 := time.Unix(1_700_000_000, 0)
	cl := netip.MustParseAddr("10.0.0.1")
	for i := range 100_000 {
		c.Learn(cl, netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), "x.example", 300, t0)
	}
	if n := c.Len(); n > 1024+cacheShards || n < 512 {
		t.Errorf("Len = %d, want about 1024", n)
	}
	if c.Evictions() == 0 {
		t.Error("no evictions counted")
	}
	// The newest entry is there.
	if _, ok := c.Lookup(cl, netip.AddrFrom4([4]byte{100, 1, 0x86, 0x9f}), t0); !ok {
		t.Error("newest entry missing")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := netip.AddrFrom4([4]byte{10, 0, 0, byte(w)})
			for i := range 5000 {
				s := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
				c.Learn(cl, s, "c.example", 60, t0)
				if got, ok := c.Lookup(cl, s, t0); !ok || got != "c.example" {
					t.Errorf("worker %d: lookup %s = %q %v", w, s, got, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkCacheLookup(b *testing.B) {
	c := NewCache(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	cl, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.1")
	c.Learn(cl, s, "bench.example", 60, t0)
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(cl, s, t0)
	}
}
