//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// datagramPort is the source port of the "datagram" role.
const datagramPort = 40123

// TestLiveWithFiles: a daemon that captures an interface and also reads a
// capture file. When the file ends, its flows end, but a live flow that
// was active then goes on: it is counted as one flow, not again as a new
// one (the end of the files used to end every flow).
func TestLiveWithFiles(t *testing.T) {
	setup(t)
	startServers(t)
	dir := workDir(t)
	bin := buildBorderwatch(t, dir)
	file, err := filepath.Abs("../testdata/sample.pcap.gz") // 6408 packets: 6.4 s at 1000/s
	if err != nil {
		t.Fatal(err)
	}
	bw := startBorderwatch(t, dir, bin, nil, "--capture.file", file, "--capture.file-rate", "1000")
	sg := func() (packets, flows float64) {
		m := bw.metrics(t)
		return sum(m, "borderwatch_traffic_packets_total", "country", "SG"), sum(m, "borderwatch_flows_total", "country", "SG")
	}
	waitPackets := func(want float64) float64 {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, f := sg()
			if p == want {
				return f
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v packets to SG counted, want %v\n%s", p, want, bw.stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	const filesRead = "capture files read"
	if out, err := inNS(cliNS, "datagram").CombinedOutput(); err != nil {
		t.Fatalf("datagram: %v %s", err, out)
	}
	if f := waitPackets(1); f != 1 {
		t.Fatalf("flows to SG after the first datagram: %v, want 1", f)
	}
	if strings.Contains(bw.stderr.String(), filesRead) {
		t.Fatal("the file ended before the live flow started: the test proves nothing (a slow machine?)")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(bw.stderr.String(), filesRead) {
		if time.Now().After(deadline) {
			t.Fatalf("the capture file did not end\n%s", bw.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := inNS(cliNS, "datagram").CombinedOutput(); err != nil {
		t.Fatalf("datagram: %v %s", err, out)
	}
	if f := waitPackets(2); f != 1 {
		t.Errorf("flows to SG after the file ended and a second datagram of the same flow: %v, want 1", f)
	}
	m := bw.metrics(t)
	if n := sum(m, "borderwatch_flows_active"); n < 1 {
		t.Errorf("borderwatch_flows_active %v: the live flow was ended", n)
	}
	if n := sum(m, "borderwatch_packets_read_total"); n < 6408+2 {
		t.Errorf("%v packets read, want the file's 6408 and the 2 datagrams at least", n)
	}
	bw.stop()
}
