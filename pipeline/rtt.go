package pipeline

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/internal/mem"
	"github.com/borderwatch/borderwatch/place"
)

// Passive round trips. A flow's round trip is measured from a probe that
// the capture point sees leave towards the remote endpoint to the remote
// endpoint's first answer:
//
//   - TCP, remote server: the client's first SYN to the server's first
//     packet (its SYN/ACK, or a RST);
//   - TCP, local server: the server's first SYN/ACK to the client's first
//     ACK;
//   - QUIC: the client's first Initial (a long-header datagram of at least
//     1200 bytes, the flow's first packet) to the server's first packet.
//
// The first probe is used, never a retransmission: an answer can only
// follow the first probe, so the round trip is never underestimated and
// the distance bound it gives stays a bound. The measurement lives in
// flow.Entry.RTT (no allocation, no lock):
//
//	0                      nothing measured or awaited
//	rttWait | offset       probe sent offset µs after the flow's first packet
//	rttWait | rttNeedProbe the remote client's SYN seen: awaiting the SYN/ACK
//	µs (>= 1)              the measured round trip
const (
	rttWait      = 1 << 31
	rttNeedProbe = 1 << 30
	rttMask      = rttNeedProbe - 1
)

// quicMinInitial is the smallest UDP payload of a client's first QUIC
// datagram (RFC 9000 section 14.1).
const quicMinInitial = 1200

// remoteSide returns the side of the flow's remote endpoint (the
// placement rule's, place.RemoteOf).
func remoteSide(e *flow.Entry) int {
	return place.RemoteOf([2]bool{e.Flags&flagLocalA != 0, e.Flags&flagLocalB != 0}, int(e.Initiator))
}

// rttStart looks at a flow's first packet (sent by side) for a probe.
func rttStart(e *flow.Entry, p *capture.Packet, side int) {
	if e.Flags&(flagLocalA|flagLocalB) == flagLocalA|flagLocalB {
		return
	}
	fromRemote := side == remoteSide(e)
	switch p.Proto {
	case 6:
		if p.TCPFlags&(capture.FlagSYN|capture.FlagACK|capture.FlagRST) != capture.FlagSYN {
			return
		}
		if fromRemote {
			e.RTT = rttWait | rttNeedProbe
		} else {
			e.RTT = rttWait
		}
	case 17:
		pl := p.Payload
		if !fromRemote && len(pl) >= quicMinInitial && pl[0]&0xc0 == 0xc0 && binary.BigEndian.Uint32(pl[1:5]) != 0 {
			e.RTT = rttWait
		}
	}
}

// rttAnswer looks at a later packet of a flow awaiting an answer; it
// returns the measured round trip in µs, or 0.
func rttAnswer(e *flow.Entry, p *capture.Packet, side int) uint32 {
	fromRemote := side == remoteSide(e)
	syn := p.TCPFlags&capture.FlagSYN != 0
	ack := p.TCPFlags&capture.FlagACK != 0
	if e.RTT&rttNeedProbe != 0 {
		if !fromRemote && p.Proto == 6 && syn && ack {
			off := (p.Timestamp - e.First) / 1e3 // rounded down: the round trip is not underestimated
			e.RTT = 0
			if off >= 0 && off < rttMask {
				e.RTT = rttWait | uint32(off)
			}
		}
		return 0
	}
	if !fromRemote || p.Proto == 6 && syn && !ack {
		return 0 // the local side again, or the remote client's SYN again
	}
	d := p.Timestamp - e.First - int64(e.RTT&rttMask)*1e3
	e.RTT = 0
	if d <= 0 || d >= rttMask*1e3 {
		return 0 // timestamps out of order, or beyond any handshake
	}
	us := uint32((d + 999) / 1e3) // rounded up
	e.RTT = us
	return us
}

// rttSlots is the size of the table of the shortest round trip per remote
// address: direct-mapped, a newer address takes an older one's slot.
const rttSlots = 1 << 16

// rttTable keeps the shortest round trip measured per remote address, so
// that flows without a handshake of their own (DNS, other UDP, TCP caught
// mid-way) are placed with one. It is shared by the workers (a flow to an
// address lands on any worker) and lock-free: a slot is one atomic word,
// a 32-bit tag of the address's hash and the round trip in µs. Two
// addresses share a tag and a slot with a probability of 2^-32 per lookup.
// Written once per handshake, read once per placement: never per packet.
// A bitmap of the slots ever written (8 KiB, in the cache) answers most
// lookups of addresses never measured, such as a flood's, without touching
// the 512 KiB of slots.
type rttTable struct {
	slots [rttSlots]atomic.Uint64
	used  [rttSlots / 64]atomic.Uint64
}

// newRTTTable returns an empty table whose pages are mapped by writes
// (see mem.Prefault, which cannot take atomic words: placement reads slots
// before handshakes write them).
func newRTTTable() *rttTable {
	t := new(rttTable)
	step := mem.PageSize / int(unsafe.Sizeof(t.slots[0]))
	for i := 0; i < rttSlots; i += step {
		t.slots[i].Store(0)
	}
	for i := 0; i < len(t.used); i += step {
		t.used[i].Store(0)
	}
	return t
}

func rttHash(a *[16]byte) (slot uint32, tag uint64) {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(a[0:])^bits.RotateLeft64(binary.LittleEndian.Uint64(a[8:]), 29), 0x9E3779B97F4A7C15)
	h := hi ^ lo
	return uint32(h) & (rttSlots - 1), (h >> 32) << 32
}

// note records a round trip of us µs to a.
func (t *rttTable) note(a *[16]byte, us uint32) {
	i, tag := rttHash(a)
	if w := &t.used[i/64]; w.Load()&(1<<(i%64)) == 0 {
		w.Or(1 << (i % 64))
	}
	for {
		old := t.slots[i].Load()
		if old&^0xffffffff == tag && uint32(old) != 0 && uint32(old) <= us {
			return
		}
		if t.slots[i].CompareAndSwap(old, tag|uint64(us)) {
			return
		}
	}
}

// min returns the shortest round trip to a, 0 if none is known.
func (t *rttTable) min(a *[16]byte) uint32 {
	i, tag := rttHash(a)
	if t.used[i/64].Load()&(1<<(i%64)) == 0 {
		return 0
	}
	v := t.slots[i].Load()
	if v&^0xffffffff != tag {
		return 0
	}
	return uint32(v)
}

// flowRTT returns the round trip a flow is placed with: the shortest known
// to its remote address, its own when the table lost it.
func (w *Worker) flowRTT(e *flow.Entry) time.Duration {
	a := &e.Key.A
	if remoteSide(e) == flow.BtoA {
		a = &e.Key.B
	}
	us := w.p.rtts.min(a)
	if own := e.RTT; own&rttWait == 0 && own != 0 && (us == 0 || own < us) {
		us = own
	}
	return time.Duration(us) * time.Microsecond
}

// measured handles a flow's measured round trip of us µs: the address
// table, and the histogram once the flow's region is known (at placement
// when it is not placed yet).
func (w *Worker) measured(e *flow.Entry, us uint32) {
	if remoteSide(e) == flow.BtoA {
		w.p.rtts.note(&e.Key.B, us)
	} else {
		w.p.rtts.note(&e.Key.A, us)
	}
	if e.Flags&flagPlaced != 0 {
		w.shard.ObserveRTT(w.placedRegion(e), us)
	}
}

// placedRegion returns the region of a placed flow's series.
func (w *Worker) placedRegion(e *flow.Entry) place.Region {
	labels := w.p.series.Labels()
	id := e.Series[remoteSide(e)]
	if int(id) >= len(labels) {
		return place.RegionUnknown
	}
	switch labels[id].Region {
	case place.Home.String():
		return place.Home
	case place.Abroad.String():
		return place.Abroad
	}
	return place.RegionUnknown
}
