package collect

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/pipeline"
)

// softflowdTotals is what softflowd says it exported: records, and the
// octets and packets of its per-protocol statistics.
type softflowdTotals struct{ records, octets, packets uint64 }

var (
	reExported = regexp.MustCompile(`Flows exported: \d+ \((\d+) records\)`)
	reProto    = regexp.MustCompile(`(?m)^\s+\w+ \(\d+\):\s+(\d+)\s+(\d+)\s`)
)

func parseSoftflowd(t *testing.T, out string) softflowdTotals {
	t.Helper()
	m := reExported.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("softflowd's output has no 'Flows exported':\n%s", out)
	}
	var st softflowdTotals
	st.records, _ = strconv.ParseUint(m[1], 10, 64)
	for _, p := range reProto.FindAllStringSubmatch(out, -1) {
		o, _ := strconv.ParseUint(p[1], 10, 64)
		n, _ := strconv.ParseUint(p[2], 10, 64)
		st.octets += o
		st.packets += n
	}
	return st
}

// TestSoftflowd: a real exporter, independent truth. softflowd (Debian's
// softflowd) reads the repository's sample capture and exports its flows
// as NetFlow v5, v9 and IPFIX to the collector; for each version the
// pipeline's traffic plus internal bytes and packets equal the octets and
// packets softflowd reports having exported, and every record arrives.
func TestSoftflowd(t *testing.T) {
	bin, err := exec.LookPath("softflowd")
	if err != nil {
		t.Skip("softflowd not installed (apt-get install softflowd); CI installs it")
	}
	pcap := gunzipTo(t, "../testdata/sample.pcap.gz")
	captured := captureTotals(t, pcap)
	for _, v := range []string{"5", "9", "10"} {
		t.Run("v"+v, func(t *testing.T) {
			h := newHarness(t, Config{})
			dir := t.TempDir()
			// -c none: no control socket (with one, softflowd 1.1.0
			// reading a file may block in accept for ever).
			args := []string{"-d", "-r", pcap, "-n", h.nf.Addr().String(), "-v", v, "-p", filepath.Join(dir, "pid"), "-c", "none"}
			if v != "5" {
				args = append(args, "-6")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("softflowd: %v\n%s", err, out)
			}
			want := parseSoftflowd(t, string(out))
			deadline := time.Now().Add(10 * time.Second)
			for h.exporter() == nil || h.exporter().st.records.Load() < want.records {
				if time.Now().After(deadline) {
					t.Fatalf("records received: want %d", want.records)
				}
				time.Sleep(5 * time.Millisecond)
			}
			h.finish()
			var bytes, packets uint64
			for _, c := range traffic(h.p) {
				bytes += c.Bytes
				packets += c.Packets
			}
			for _, sh := range h.p.Shards() {
				bytes += sh.InternalBytes.Load()
				packets += sh.InternalPackets.Load()
			}
			e := h.exporter()
			if bytes != want.octets || packets != want.packets || e.st.records.Load() != want.records {
				t.Errorf("counted %d bytes, %d packets, %d records; softflowd exported %d octets, %d packets, %d records",
					bytes, packets, e.st.records.Load(), want.octets, want.packets, want.records)
			}
			if m := e.st.templateMisses.Load(); m != 0 {
				t.Errorf("template misses %d", m)
			}
			checkNoErrors(t, e)
			// The same capture read by borderwatch's own decoder counts
			// the same (this capture has only plain IPv4 TCP/UDP).
			if captured != (counted{bytes, packets}) {
				t.Errorf("captured %+v, collected %d bytes, %d packets", captured, bytes, packets)
			}
		})
	}
}

// captureTotals reads a capture file through a pipeline: traffic plus
// internal bytes and packets.
func captureTotals(t *testing.T, path string) counted {
	t.Helper()
	p, err := pipeline.New(pipeline.DefaultConfig(), testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := capture.Feed(context.Background(), src, p.NewDispatcher(-1), capture.FeedConfig{}); err != nil {
		t.Fatal(err)
	}
	p.Finish()
	var c counted
	for _, v := range traffic(p) {
		c.Bytes += v.Bytes
		c.Packets += v.Packets
	}
	for _, sh := range p.Shards() {
		c.Bytes += sh.InternalBytes.Load()
		c.Packets += sh.InternalPackets.Load()
	}
	return c
}

func gunzipTo(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "capture.pcap")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	return out
}
