package main

import (
	"bytes"
	"context"
	binenc "encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// netflowV5 is a NetFlow v5 datagram (Cisco's layout: a 24-byte header
// and one 48-byte record) of one flow, sampled 1 in rate, ending now.
func netflowV5(src, dst [4]byte, octets, pkts uint32, rate uint16) []byte {
	b := make([]byte, 24+48)
	be := binenc.BigEndian
	up := uint32(10_000_000)
	be.PutUint16(b[0:], 5)
	be.PutUint16(b[2:], 1)
	be.PutUint32(b[4:], up)
	be.PutUint32(b[8:], uint32(time.Now().Unix()))
	be.PutUint16(b[22:], 1<<14|rate)
	r := b[24:]
	copy(r[0:], src[:])
	copy(r[4:], dst[:])
	be.PutUint32(r[16:], pkts)
	be.PutUint32(r[20:], octets)
	be.PutUint32(r[24:], up-3000) // first
	be.PutUint32(r[28:], up-2500) // last
	be.PutUint16(r[32:], 40000)
	be.PutUint16(r[34:], 443)
	r[38] = 6
	return b
}

// TestDaemonCollects: the daemon with only a NetFlow and an sFlow listener
// (no capture) counts a v5 record ×rate into the traffic metrics, and
// exports its per-exporter self-metrics, clean for promlint.
func TestDaemonCollects(t *testing.T) {
	addr, nf, sf := freePort(t), freeUDPPort(t), freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"run", "--netflow.listen-address", nf, "--sflow.listen-address", sf, "--web.listen-address", addr, "--geo.home-region", "DE"}, io.Discard, &stderr)
	}()
	get := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	conn, err := net.Dial("udp", nf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	sent := false
	var body string
	for time.Now().Before(deadline) {
		body = get()
		if body != "" && !sent {
			conn.Write(netflowV5([4]byte{192, 168, 1, 10}, [4]byte{8, 8, 8, 8}, 1000, 2, 7))
			sent = true
		}
		if sum(parseMetrics(t, body)["borderwatch_traffic_bytes_total"], nil) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mfs := parseMetrics(t, body)
	if b, p := sum(mfs["borderwatch_traffic_bytes_total"], nil), sum(mfs["borderwatch_traffic_packets_total"], nil); b != 7000 || p != 14 {
		t.Errorf("traffic bytes %v, packets %v; want 7000 and 14 (1000 bytes, 2 packets ×7)\n%s", b, p, stderr.String())
	}
	for _, w := range []string{`borderwatch_collector_records_total{exporter="127.0.0.1"} 1`, `borderwatch_collector_datagrams_total{exporter="127.0.0.1",protocol="netflow5"} 1`, `borderwatch_collector_sampling_rate{exporter="127.0.0.1"} 7`} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if problems, err := promlint.New(strings.NewReader(body)).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint /metrics: %v %v", err, problems)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

// TestCollectFlags: a listen address that cannot be bound fails the start
// and names the flag. What started before (the web server) has stopped
// when the daemon returns: its log is complete, and nothing writes to
// stderr afterwards (the race detector saw a late write before).
func TestCollectFlags(t *testing.T) {
	for range 5 {
		_, stderr, code := borderwatch(t, "run", "--netflow.listen-address", "256.0.0.1:2055", "--web.listen-address", freePort(t))
		if code != 1 || !strings.Contains(stderr, "--netflow.listen-address 256.0.0.1:2055") || !strings.Contains(stderr, "Listening on") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	}
	_, stderr, code := borderwatch(t, "run", "--netflow.sampling-rate", "-1")
	if code != 2 || !strings.Contains(stderr, "netflow.sampling-rate") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
