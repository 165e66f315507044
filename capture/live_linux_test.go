//go:build linux

package capture

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

func TestOpenLiveUnknownInterface(t *testing.T) {
	cfg := DefaultLiveConfig()
	cfg.Interface = "bw-no-such0"
	_, err := OpenLive(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	ifs, _ := net.Interfaces()
	for _, want := range []string{`"bw-no-such0"`, "available:", ifs[0].Name, "or any"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not mention %q", err, want)
		}
	}
}

func TestOpenLiveBadRing(t *testing.T) {
	cfg := DefaultLiveConfig()
	cfg.Interface, cfg.BlockSize = "lo", 1000
	if _, err := OpenLive(cfg); err == nil || !strings.Contains(err.Error(), "multiple of the page size") {
		t.Errorf("got %v", err)
	}
}

// TestLiveLoopback reads datagrams sent to 127.0.0.1 from the loopback
// interface, truncated to the snap length, and checks the kernel counters.
func TestLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("AF_PACKET needs CAP_NET_RAW: run as root (CI does)")
	}
	cfg := DefaultLiveConfig()
	cfg.Interface, cfg.SnapLen, cfg.PollTimeout = "lo", 100, 50*time.Millisecond
	l, err := OpenLive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", l.LinkType())
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	marker := []byte("borderwatch-live-test")
	payload := append(append([]byte{}, marker...), make([]byte, 1000)...)
	for range 5 {
		pc.WriteTo(payload, pc.LocalAddr())
	}
	// Each datagram is seen once (not also as the outgoing copy).
	seen := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		data, _, _, err := l.Next()
		if errors.Is(err, ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 100 {
			t.Errorf("frame of %d bytes, snap length 100", len(data))
		}
		// 14 Ethernet + 20 IPv4 + 8 UDP: the marker starts at 42.
		if len(data) >= 42+len(marker) && string(data[42:42+len(marker)]) == string(marker) {
			seen++
		}
	}
	if seen != 5 {
		t.Fatalf("saw %d frames of 5 datagrams", seen)
	}
	s, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dropped != 0 || s.Delivered() < 5 {
		t.Errorf("stats %+v", s)
	}
}
