package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/internal/testenv"
)

// The load tests run a real daemon process on a 10,000-series capture and
// attack it from loopback. They take about a minute and are skipped unless
// BORDERWATCH_LOAD=1; BORDERWATCH_BIN names another binary to attack (e.g.
// an older build, to compare).
//
//	BORDERWATCH_LOAD=1 go test -run 'TestLoad' -v ./cmd/borderwatch

// loadDaemon starts the daemon on a genpcap capture with --metrics.asn-label
// (about 10,000 traffic series) and returns its address and pid once the
// capture is read.
func loadDaemon(t *testing.T) (addr string, pid int) {
	t.Helper()
	if os.Getenv("BORDERWATCH_LOAD") == "" {
		t.Skip("load test: set BORDERWATCH_LOAD=1")
	}
	dir := t.TempDir()
	bin := os.Getenv("BORDERWATCH_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "borderwatch")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("build: %v %s", err, out)
		}
	}
	pcap := os.Getenv("BORDERWATCH_LOAD_PCAP")
	if pcap == "" {
		root := testenv.SharedDir(t)
		pcap = filepath.Join(dir, "g.pcap")
		cmd := exec.Command("go", "run", ".", "-o", pcap, "-packets", "300000", "-ranges", "../server-prefixes.txt")
		cmd.Dir = filepath.Join(root, "bench", "genpcap")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("genpcap: %v %s", err, out)
		}
	}
	addr = freePort(t)
	cmd := exec.Command(bin, "run", "--capture.file", pcap, "--metrics.asn-label", "--web.listen-address", addr, "--geo.home-region", "EU")
	logs, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	read := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "capture files read") {
				close(read)
			}
		}
	}()
	select {
	case <-read:
	case <-time.After(2 * time.Minute):
		t.Fatal("the capture was not read in 2 min")
	}
	return addr, cmd.Process.Pid
}

func rssMB(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// scraper scrapes like Prometheus: once a second, 10 s timeout, its own
// keep-alive connection, from 127.0.0.2 (Prometheus runs elsewhere: its
// address is not the local attackers'). It returns how many of n scrapes
// succeeded and their latencies.
func scraper(addr string, n int) (ok int, lat []time.Duration, errs []string) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	for i := 0; i < n; i++ {
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1")
		resp, err := c.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 && strings.Contains(string(b), "borderwatch_traffic_bytes_total") {
				ok++
			} else {
				errs = append(errs, fmt.Sprintf("%d %v", resp.StatusCode, rerr))
			}
		} else {
			errs = append(errs, err.Error())
		}
		lat = append(lat, time.Since(start))
		time.Sleep(time.Until(start.Add(time.Second)))
	}
	return ok, lat, errs
}

func quantiles(lat []time.Duration) string {
	s := slices.Clone(lat)
	slices.Sort(s)
	return fmt.Sprintf("p50 %v, p90 %v, max %v", s[len(s)/2].Round(time.Millisecond), s[len(s)*9/10].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// TestLoadHostileScrapers: 300 concurrent clients scrape in a loop while a
// normal once-a-second scraper must succeed 20 times out of 20.
func TestLoadHostileScrapers(t *testing.T) {
	addr, pid := loadDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var hostileOK, hostile503, hostile429, hostileErr atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: 400, MaxConnsPerHost: 0}
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					hostileErr.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					hostileOK.Add(1)
				case 503:
					hostile503.Add(1)
				case 429:
					hostile429.Add(1)
				default:
					hostileErr.Add(1)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second) // the attack is under way
	rss0 := rssMB(t, pid)
	ok, lat, errs := scraper(addr, 20)
	rss1 := rssMB(t, pid)
	cancel()
	wg.Wait()
	t.Logf("normal scraper: %d/20 ok (%s); hostile: %d ok, %d 503, %d 429, %d errors in %d s; RSS %.0f -> %.0f MB",
		ok, quantiles(lat), hostileOK.Load(), hostile503.Load(), hostile429.Load(), hostileErr.Load(), 22, rss0, rss1)
	if ok != 20 {
		t.Errorf("the normal scraper failed %d of 20: %v", 20-ok, errs)
	}
}

// TestLoadNonReadingClients: 100 clients send GET /metrics and never read.
// Their connections must be released (the write timeout), RSS must stay
// bounded, and a normal scraper must keep succeeding meanwhile.
func TestLoadNonReadingClients(t *testing.T) {
	addr, pid := loadDaemon(t)
	scraper(addr, 2) // warm: the first gatherings
	rss0 := rssMB(t, pid)
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
		defer c.Close() // holds c open (and referenced) until the test ends
	}
	var peak float64
	stop := make(chan struct{})
	var mu sync.Mutex
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				mu.Lock()
				peak = max(peak, rssMB(t, pid))
				mu.Unlock()
			}
		}
	}()
	ok, lat, errs := scraper(addr, 30) // 30 s: past the 20 s write timeout
	time.Sleep(100 * time.Millisecond) // the daemon sees the scraper's close
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	// A released connection: the daemon closed it after what it had sent.
	// After 30 s the daemon must be writing to none of these connections
	// (ss: its sockets on the port with data queued; those answered 429
	// are idle keep-alive connections with nothing queued).
	_, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("ss", "-Htn", "state", "established", "( sport = :"+port+" )").Output()
	if err != nil {
		t.Skipf("ss: %v", err)
	}
	held := 0 // still being written to: data queued (Send-Q)
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] != "0" {
			held++
		}
	}
	t.Logf("RSS %.0f MB before, peak %.0f MB with 100 non-reading clients, %.0f MB after 30 s; connections the daemon still holds after 30 s: %d; normal scraper %d/30 ok (%s)",
		rss0, peak, rssMB(t, pid), held, ok, quantiles(lat))
	if held != 0 {
		t.Errorf("the daemon still holds %d connections of the non-reading clients after 30 s", held)
	}
	if ok != 30 {
		t.Errorf("the normal scraper failed %d of 30: %v", 30-ok, errs)
	}
}
