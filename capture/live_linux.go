//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveConfig configures an AF_PACKET socket.
type LiveConfig struct {
	Interface   string // a name, or "any"
	Promiscuous bool
	// SnapLen is the most bytes kept per frame. Without a filter it is
	// applied by a one-instruction kernel filter ("ret #SnapLen"); a
	// compiled tcpdump filter returns it itself.
	SnapLen     int
	BlockSize   int           // TPACKET_V3 block size (bytes, multiple of the page size)
	NumBlocks   int           // blocks in the ring
	PollTimeout time.Duration // how long Next waits before returning ErrTimeout
	// FanoutGroup joins the socket to a PACKET_FANOUT_HASH group when not 0:
	// the kernel then spreads flows (both directions of a flow together)
	// over the group's sockets.
	FanoutGroup uint16
	// Filter is a classic BPF program applied in the kernel (nil: none).
	Filter []bpf.RawInstruction
}

// DefaultLiveConfig returns sane defaults: a 32 MiB ring of 1 MiB blocks
// per socket, frames kept whole (GRO/TSO frames are longer than the MTU),
// 100 ms polls.
func DefaultLiveConfig() LiveConfig {
	return LiveConfig{SnapLen: 262144, BlockSize: 1 << 20, NumBlocks: 32, PollTimeout: 100 * time.Millisecond}
}

// ErrInterfaceDown is returned by OpenLive for an interface that exists
// but is not up (a socket bound to it would see nothing).
var ErrInterfaceDown = errors.New("interface is down")

// Live reads frames from an AF_PACKET TPACKET_V3 ring.
type Live struct {
	tp      *afpacket.TPacket
	iface   string
	ifindex int
	lt      layers.LinkType
	base    LiveStats // the counters when the filter was set (Stats counts from them)
	// opened is when the filter was set: frames stamped before it are
	// skipped (zero once Next is past them).
	opened time.Time
}

// handoverSkip bounds how long after OpenLive frames stamped before the
// filter was set are skipped: those are in the ring by then and read at
// once (a ring block is handed over within 10 ms), and a clock stepped
// back meanwhile must not hide later frames for long.
const handoverSkip = time.Second

// LiveLinkType is the link type of frames captured on iface: raw IP (the
// kernel strips the link header, SOCK_DGRAM) for "any" and for interfaces
// without a hardware address (tunnels), Ethernet otherwise.
func LiveLinkType(iface string) (layers.LinkType, error) {
	if iface == "any" {
		return layers.LinkTypeRaw, nil
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return 0, InterfaceError(iface, err)
	}
	if len(ifi.HardwareAddr) == 0 && ifi.Flags&net.FlagLoopback == 0 {
		return layers.LinkTypeRaw, nil
	}
	return layers.LinkTypeEthernet, nil
}

// InterfaceError names the interfaces that exist, for an interface that does not.
func InterfaceError(iface string, err error) error {
	var names []string
	if ifs, e := net.Interfaces(); e == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	return fmt.Errorf("interface %q: %w (available: %s, or any)", iface, err, strings.Join(names, ", "))
}

// OpenLive opens and configures a socket on cfg.Interface. An interface
// that exists but is down gives ErrInterfaceDown.
func OpenLive(cfg LiveConfig) (*Live, error) {
	lt, err := LiveLinkType(cfg.Interface)
	if err != nil {
		return nil, err
	}
	ifindex := 0
	if cfg.Interface != "any" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, InterfaceError(cfg.Interface, err)
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("%s: %w", cfg.Interface, ErrInterfaceDown)
		}
		ifindex = ifi.Index
	}
	if cfg.BlockSize <= 0 || cfg.BlockSize%unix.Getpagesize() != 0 || cfg.NumBlocks <= 0 {
		return nil, fmt.Errorf("ring of %d blocks of %d bytes: the block size must be a multiple of the page size (%d) and both positive", cfg.NumBlocks, cfg.BlockSize, unix.Getpagesize())
	}
	// In TPACKET_V3 frames are packed into blocks; the frame size only
	// sizes the ring's bookkeeping and must divide the block size.
	frame := 1 << 16
	for frame > cfg.BlockSize {
		frame >>= 1
	}
	opts := []any{
		afpacket.OptFrameSize(frame), afpacket.OptBlockSize(cfg.BlockSize), afpacket.OptNumBlocks(cfg.NumBlocks),
		afpacket.OptPollTimeout(cfg.PollTimeout), afpacket.TPacketVersion3, afpacket.OptBlockTimeout(10 * time.Millisecond),
	}
	if lt == layers.LinkTypeRaw {
		opts = append(opts, afpacket.SocketDgram)
	}
	if cfg.Interface != "any" {
		opts = append(opts, afpacket.OptInterface(cfg.Interface))
	}
	tp, err := afpacket.NewTPacket(opts...)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("open AF_PACKET socket on %s: %w (borderwatch needs CAP_NET_RAW: run `setcap cap_net_raw+ep borderwatch`, or docker --cap-add NET_RAW)", cfg.Interface, err)
		}
		return nil, fmt.Errorf("open AF_PACKET socket on %s: %w", cfg.Interface, err)
	}
	l := &Live{tp: tp, iface: cfg.Interface, ifindex: ifindex, lt: lt}
	// The socket has taken frames since it was made, before any filter,
	// and the library cleared its counters after making the ring, when
	// frames may already be in it: read, they would be counted as read
	// but not as delivered (and pass a filter they never met). As libpcap
	// does, a filter that rejects everything goes on first; the counters
	// are taken as their baseline under it (no frame enters the ring or
	// the counters while it holds); frames stamped before the end of the
	// handover are skipped by Next; then the real filter (or none)
	// replaces it.
	if err := tp.SetBPF([]bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}); err != nil {
		tp.Close()
		return nil, fmt.Errorf("attach capture filter on %s: %w", cfg.Interface, err)
	}
	if l.base, err = l.kernelStats(); err != nil {
		tp.Close()
		return nil, err
	}
	l.opened = time.Now()
	filter := cfg.Filter
	if len(filter) == 0 && cfg.SnapLen > 0 && cfg.SnapLen < cfg.BlockSize {
		filter = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: uint32(cfg.SnapLen)}}
	}
	if lo := loopbackIndex(cfg.Interface); lo > 0 {
		if len(filter) == 0 {
			filter = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}}
		}
		filter = append(skipLoopbackOutgoing(lo), filter...)
	}
	if err := tp.SetBPF(filter); err != nil { // none: SO_DETACH_FILTER
		tp.Close()
		return nil, fmt.Errorf("attach capture filter on %s: %w", cfg.Interface, err)
	}
	if cfg.Promiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("promiscuous mode on %s: %w (needs CAP_NET_ADMIN)", cfg.Interface, err)
		}
	}
	if cfg.FanoutGroup != 0 {
		if err := tp.SetFanout(afpacket.FanoutHash, cfg.FanoutGroup); err != nil {
			tp.Close()
			return nil, fmt.Errorf("join fan-out group %d on %s: %w", cfg.FanoutGroup, cfg.Interface, err)
		}
	}
	return l, nil
}

// loopbackIndex returns the index of the loopback interface when a socket
// on iface sees its frames ("any" or the loopback itself), 0 otherwise.
func loopbackIndex(iface string) int {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 && (iface == "any" || iface == i.Name) {
			return i.Index
		}
	}
	return 0
}

// skipLoopbackOutgoing is a filter prologue that rejects the outgoing copy
// of loopback frames: the kernel hands a packet socket every loopback
// frame twice, once sent and once received (libpcap skips the same copy
// in user space). The program that follows starts at the next instruction.
func skipLoopbackOutgoing(loIndex int) []bpf.RawInstruction {
	const (
		skfAdOff     = 0xfffff000 // SKF_AD_OFF
		skfAdPkttype = 4          // SKF_AD_PKTTYPE
		skfAdIfindex = 8          // SKF_AD_IFINDEX
	)
	return []bpf.RawInstruction{
		{Op: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdPkttype},
		{Op: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.PACKET_OUTGOING},
		{Op: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdIfindex},
		{Op: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(loIndex)},
		{Op: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

// LinkType returns the link type of the frames.
func (l *Live) LinkType() layers.LinkType { return l.lt }

// Next returns the next frame (valid until the next call), or ErrTimeout.
func (l *Live) Next() (data []byte, lt layers.LinkType, ts int64, err error) {
	for {
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				return nil, 0, 0, ErrTimeout
			}
			return nil, 0, 0, fmt.Errorf("read %s: %w", l.iface, err)
		}
		ts := ci.Timestamp.UnixNano()
		if !l.opened.IsZero() {
			if ts < l.opened.UnixNano() && time.Since(l.opened) < handoverSkip {
				continue // taken before the filter was set (OpenLive)
			}
			l.opened = time.Time{} // the ring is in time order
		}
		return data, l.lt, ts, nil
	}
}

// Alive reports whether the interface still exists with the index the
// socket was bound to (an interface deleted and re-created gets a new
// one) and is up.
func (l *Live) Alive() bool {
	if l.iface == "any" {
		return true
	}
	ifi, err := net.InterfaceByName(l.iface)
	return err == nil && ifi.Index == l.ifindex && ifi.Flags&net.FlagUp != 0
}

// LiveStats are a socket's cumulative kernel counters.
type LiveStats struct {
	Received uint64 // frames that passed the filter, Dropped included
	Dropped  uint64 // frames dropped because the ring was full
	Freezes  uint64 // TPACKET_V3 queue freezes
}

// Delivered is the number of frames placed in the ring.
func (s LiveStats) Delivered() uint64 { return s.Received - s.Dropped }

// Stats returns the kernel's cumulative counters for this socket since
// its filter was set.
func (l *Live) Stats() (LiveStats, error) {
	s, err := l.kernelStats()
	if err != nil {
		return LiveStats{}, err
	}
	return LiveStats{Received: s.Received - l.base.Received, Dropped: s.Dropped - l.base.Dropped, Freezes: s.Freezes - l.base.Freezes}, nil
}

// kernelStats returns the socket's counters since it was made.
func (l *Live) kernelStats() (LiveStats, error) {
	_, s3, err := l.tp.SocketStats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("statistics of %s: %w", l.iface, err)
	}
	return LiveStats{Received: uint64(s3.Packets()), Dropped: uint64(s3.Drops()), Freezes: uint64(s3.QueueFreezes())}, nil
}

// Close closes the socket.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}
