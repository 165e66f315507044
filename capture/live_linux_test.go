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
	"golang.org/x/net/bpf"
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

// TestLiveFilterFromTheStart opens sockets on the loopback interface while
// datagrams stream to two ports, with a filter that takes only one: no
// frame of the other port is ever read (the socket takes frames from its
// creation, before any filter), and once the stream stops and the ring is
// drained, the frames read are exactly the frames the kernel says it
// delivered (its counters are cleared after the ring is made, when frames
// may already be in it).
func TestLiveFilterFromTheStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("AF_PACKET needs CAP_NET_RAW: run as root (CI does)")
	}
	var socks [3]net.PacketConn // wanted, unwanted, sender
	for i := range socks {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		socks[i] = pc
	}
	want := uint16(socks[0].LocalAddr().(*net.UDPAddr).Port)
	// Ethernet, IPv4 without options, UDP, destination port want.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 5},
		bpf.LoadAbsolute{Off: 23, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 36, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(want), SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 64)
	for round := range 20 {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				socks[2].WriteTo(payload, socks[0].LocalAddr())
				socks[2].WriteTo(payload, socks[1].LocalAddr())
			}
		}()
		cfg := DefaultLiveConfig()
		cfg.Interface, cfg.PollTimeout, cfg.Filter = "lo", 20*time.Millisecond, prog
		l, err := OpenLive(cfg)
		if err != nil {
			close(stop)
			t.Fatal(err)
		}
		read, timeouts := 0, 0
		for timeouts < 3 {
			if read == 200 && stop != nil {
				close(stop)
				<-done
				stop = nil
			}
			data, _, _, err := l.Next()
			if errors.Is(err, ErrTimeout) {
				if stop == nil {
					timeouts++
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(data) < 38 || data[23] != 17 || uint16(data[36])<<8|uint16(data[37]) != want {
				t.Fatalf("round %d: a frame the filter rejects was read: % x", round, data[:min(len(data), 38)])
			}
			read++
		}
		s, err := l.Stats()
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(read) != s.Delivered() {
			t.Fatalf("round %d: read %d frames, the kernel delivered %d (%+v)", round, read, s.Delivered(), s)
		}
	}
}
