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
	SnapLen     int           // bytes kept per frame (frame size)
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

// DefaultLiveConfig returns sane defaults: a 64 MiB ring of 1 MiB blocks,
// 256 KiB frames (GRO/TSO frames are longer than the MTU), 100 ms polls.
func DefaultLiveConfig() LiveConfig {
	return LiveConfig{SnapLen: 262144, BlockSize: 1 << 20, NumBlocks: 64, PollTimeout: 100 * time.Millisecond}
}

// ErrTimeout is returned by Live.Next when no frame arrived within the poll timeout.
var ErrTimeout = errors.New("capture: poll timeout")

// Live reads frames from an AF_PACKET TPACKET_V3 ring.
type Live struct {
	tp      *afpacket.TPacket
	iface   string
	ifindex int
	lt      layers.LinkType
}

// LiveLinkType is the link type of frames captured on iface: cooked (raw IP
// after the kernel strips the link header) for "any" and for interfaces
// without a hardware address (tunnels), Ethernet otherwise.
func LiveLinkType(iface string) (layers.LinkType, error) {
	if iface == "any" {
		return layers.LinkTypeRaw, nil
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return 0, interfaceError(iface, err)
	}
	if len(ifi.HardwareAddr) == 0 && ifi.Flags&net.FlagLoopback == 0 {
		return layers.LinkTypeRaw, nil
	}
	return layers.LinkTypeEthernet, nil
}

func interfaceError(iface string, err error) error {
	var names []string
	if ifs, e := net.Interfaces(); e == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	return fmt.Errorf("interface %q: %v (available: %s, or any)", iface, err, strings.Join(names, ", "))
}

// OpenLive opens and configures a socket on cfg.Interface.
func OpenLive(cfg LiveConfig) (*Live, error) {
	lt, err := LiveLinkType(cfg.Interface)
	if err != nil {
		return nil, err
	}
	ifindex := 0
	if cfg.Interface != "any" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, interfaceError(cfg.Interface, err)
		}
		ifindex = ifi.Index
	}
	frame := 1 << 16
	for frame < cfg.SnapLen && frame < cfg.BlockSize {
		frame <<= 1
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
	if len(cfg.Filter) > 0 {
		if err := tp.SetBPF(cfg.Filter); err != nil {
			tp.Close()
			return nil, fmt.Errorf("attach capture filter on %s: %w", cfg.Interface, err)
		}
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

// LinkType returns the link type of the frames.
func (l *Live) LinkType() layers.LinkType { return l.lt }

// Next returns the next frame (valid until the next call), or ErrTimeout.
func (l *Live) Next() (data []byte, lt layers.LinkType, ts int64, err error) {
	data, ci, err := l.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			return nil, 0, 0, ErrTimeout
		}
		return nil, 0, 0, fmt.Errorf("read %s: %w", l.iface, err)
	}
	return data, l.lt, ci.Timestamp.UnixNano(), nil
}

// Alive reports whether the interface still exists with the index the
// socket was bound to (an interface deleted and re-created gets a new one).
func (l *Live) Alive() bool {
	if l.iface == "any" {
		return true
	}
	ifi, err := net.InterfaceByName(l.iface)
	return err == nil && ifi.Index == l.ifindex && ifi.Flags&net.FlagUp != 0
}

// Stats returns the kernel's cumulative counters for this socket: frames
// delivered to the ring, frames dropped because the ring was full, and
// queue freezes.
func (l *Live) Stats() (packets, drops, freezes uint64, err error) {
	_, s3, err := l.tp.SocketStats()
	if err != nil {
		return 0, 0, 0, err
	}
	return uint64(s3.Packets()), uint64(s3.Drops()), uint64(s3.QueueFreezes()), nil
}

// Close closes the socket.
func (l *Live) Close() { l.tp.Close() }
