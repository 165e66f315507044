package collect

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/gopacket/gopacket/layers"
)

// linkTypeDatagram marks the listener's "frames": whole export datagrams,
// which only the listener's own sink takes (DLT_USER0, never a capture's).
const linkTypeDatagram layers.LinkType = 147

// Listener is a UDP socket that receives one kind of export. It is a
// capture.Source, so it runs in the daemon's one feeding loop
// (capture.Feed): its datagrams go to a sink that decodes them into the
// pipeline's dispatcher.
type Listener struct {
	c       *Collector
	kind    Kind
	conn    *net.UDPConn
	buf     []byte // MaxDatagram+1: a datagram that fills it is oversized
	from    netip.Addr
	timeout time.Duration
}

// Listen opens a UDP listener of kind k on addr (host:port).
func (c *Collector) Listen(k Kind, addr string) (*Listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	// The kernel may grant less (net.core.rmem_max): not an error.
	_ = conn.SetReadBuffer(c.cfg.ReadBuffer)
	return &Listener{c: c, kind: k, conn: conn, buf: make([]byte, c.cfg.MaxDatagram+1), timeout: c.cfg.PollTimeout}, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() netip.AddrPort { return l.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Kind is what the listener accepts.
func (l *Listener) Kind() Kind { return l.kind }

// Next returns the next datagram (capture.Source). Its timestamp is its
// arrival; its sender is kept for the sink.
func (l *Listener) Next() ([]byte, layers.LinkType, int64, error) {
	if err := l.conn.SetReadDeadline(time.Now().Add(l.timeout)); err != nil {
		return nil, 0, 0, io.EOF // closed
	}
	n, from, err := l.conn.ReadFromUDPAddrPort(l.buf)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, 0, 0, capture.ErrTimeout
	case errors.Is(err, net.ErrClosed):
		return nil, 0, 0, io.EOF
	default:
		// A transient socket error: counted, and the listener goes on.
		l.c.recvErrors.Add(1)
		return nil, 0, 0, capture.ErrTimeout
	}
	l.from = from.Addr()
	return l.buf[:n], linkTypeDatagram, time.Now().UnixNano(), nil
}

// LinkType is the pseudo link type of the listener's datagrams.
func (l *Listener) LinkType() layers.LinkType { return linkTypeDatagram }

// Close closes the socket; a running Run returns.
func (l *Listener) Close() error { return l.conn.Close() }

// Run feeds the listener's datagrams into out through capture.Feed until
// ctx is cancelled or the listener is closed.
func (l *Listener) Run(ctx context.Context, out Out) error {
	_, err := capture.Feed(ctx, l, &datagramSink{l: l, out: out}, capture.FeedConfig{})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// datagramSink is the listener's sink in the feeding loop: datagrams are
// decoded by the collector; Send hands on the dispatcher's batches.
type datagramSink struct {
	l   *Listener
	out Out
}

func (s *datagramSink) Frame(data []byte, _ layers.LinkType, ts int64) {
	s.l.c.Handle(s.l.kind, s.l.from, data, ts, s.out)
}

func (s *datagramSink) Send() { s.out.Send() }
