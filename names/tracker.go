package names

// Tracker learns names from the first client packets of flows: TLS
// ClientHello (reassembled across TCP segments, in or out of order), QUIC
// Initial (across datagrams and coalesced packets), HTTP/1.x Host. One per
// worker goroutine; not safe for concurrent use. Memory is bounded: a fixed
// pool of reassembly slots whose buffers are allocated on first use and
// then reused.
type Tracker struct {
	cfg     Config
	stats   *Stats
	slots   []slot
	index   map[uint64]int32
	free    []int32
	clock   uint64
	scratch []byte // joins ClientHellos spread over several TLS records
}

type slotMode uint8

const (
	modeHeadless slotMode = iota // TCP: first segment seen did not start a message
	modeRejected                 // TCP: this side's stream starts with no message; wait for the other side
	modeTLS
	modeHTTP
	modeQUIC
)

// slot reassembles one flow's first client flight.
type slot struct {
	flow uint64
	mode slotMode
	side bool   // the fromClient value of the sender of the first flight
	base uint32 // TCP sequence number of buf[0]
	segs int
	used uint64 // tracker clock at last use, for recycling
	got  ranges
	buf  []byte // MaxHelloBytes, allocated on first use, kept
	quic *quicAssembler
}

// NewTracker returns a tracker counting into stats (which may be shared by
// several trackers; nil gives a private one).
func NewTracker(cfg Config, stats *Stats) *Tracker {
	cfg = cfg.withDefaults()
	if stats == nil {
		stats = new(Stats)
	}
	t := &Tracker{
		cfg:     cfg,
		stats:   stats,
		slots:   make([]slot, cfg.ReassemblySlots),
		index:   make(map[uint64]int32, cfg.ReassemblySlots),
		free:    make([]int32, 0, cfg.ReassemblySlots),
		scratch: make([]byte, 0, cfg.MaxHelloBytes),
	}
	for i := cfg.ReassemblySlots - 1; i >= 0; i-- {
		t.free = append(t.free, int32(i))
	}
	return t
}

// Active returns the number of flows holding a reassembly slot.
func (t *Tracker) Active() int { return len(t.index) }

// Feed shows the tracker one packet payload of a flow that has no name
// yet. It returns the name once found (src tells how), and done when the
// flow needs no more packets: named, certainly not TLS/QUIC/HTTP, or over
// a limit. seq is the TCP sequence number (ignored for UDP).
func (t *Tracker) Feed(flowID uint64, proto uint8, fromClient bool, seq uint32, payload []byte) (name string, src Source, done bool) {
	if len(payload) == 0 {
		return "", SourceNone, false
	}
	var s *slot
	if len(t.index) > 0 {
		if i, ok := t.index[flowID]; ok {
			s = &t.slots[i]
			t.clock++
			s.used = t.clock
			if (s.mode == modeQUIC) != (proto == 17) {
				// A flow id reused for another protocol without Forget.
				t.release(flowID)
				s = nil
			}
		}
	}
	switch proto {
	case 6:
		if s != nil {
			if fromClient == s.side {
				return t.tcpSegment(s, flowID, seq, payload)
			}
			if len(payload) < minReply {
				return "", SourceNone, false
			}
			// The other side speaks: the first flight is over, unless
			// what was kept was no message start and this is one (a
			// capture that begins with the end of a reply).
			t.release(flowID)
			if (s.mode == modeHeadless || s.mode == modeRejected) && (payload[0] == 0x16 || isHTTPRequest(payload)) {
				return t.tcpFirst(flowID, fromClient, seq, payload)
			}
			return "", SourceNone, true
		}
		if !fromClient {
			// A ClientHello or request from the "server": the direction
			// was inferred from a capture that missed the flow's start.
			if payload[0] == 0x16 || isHTTPRequest(payload) {
				return t.tcpFirst(flowID, false, seq, payload)
			}
			// Junk in a SYN-ACK or a keepalive does not end the wait for
			// the client; a server banner does.
			return "", SourceNone, len(payload) >= minReply
		}
		return t.tcpFirst(flowID, true, seq, payload)
	case 17:
		if s != nil {
			if !fromClient {
				return "", SourceNone, false // server Initial/ACK between client Initials
			}
			return t.quicDatagram(s, flowID, payload)
		}
		if !fromClient || !maybeQUIC(payload) {
			return "", SourceNone, true
		}
		if payload[0]&0x80 == 0 { // gQUIC Q043 and older, in clear
			b, st, _ := gquicCHLO(payload, t.stats)
			return t.quicResult(b, st, nil)
		}
		s = t.alloc(flowID, modeQUIC)
		if s == nil {
			return "", SourceNone, true
		}
		return t.quicDatagram(s, flowID, payload)
	}
	return "", SourceNone, true
}

// maxHeadless is the number of client segments kept while waiting for an
// overtaken ClientHello start (a post-quantum hello spans 2-3 segments).
const maxHeadless = 3

// minReply is the payload size from the other side that ends the wait for
// a first flight (smaller ones are junk in SYN-ACKs or keepalives).
const minReply = 8

// maybeQUIC is the cheap test for a client QUIC Initial (or gQUIC CHLO).
func maybeQUIC(b []byte) bool {
	if len(b) < 7 {
		return false
	}
	if b[0]&0x80 == 0 {
		// gQUIC public header with version flag and 8-byte CID: Q0xx.
		return b[0]&0x09 == 0x09 && len(b) > 13 && b[9] == 'Q' && b[10] == '0'
	}
	v := uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
	if v == gquicQ046 || v>>8 == 0x513034 {
		return true
	}
	_, _, ok := quicSalt(v)
	return ok
}

// tcpFirst handles the first client payload of a flow without a slot.
func (t *Tracker) tcpFirst(flowID uint64, side bool, seq uint32, payload []byte) (string, Source, bool) {
	switch {
	case payload[0] == 0x16:
		sni, ech, err := clientHelloRecords(payload, t.scratch)
		if err == ErrIncomplete {
			return t.tcpStart(flowID, side, modeTLS, seq, payload)
		}
		return t.tlsResult(flowID, sni, ech, err)
	case isHTTPRequest(payload):
		v, r := parseHTTPHost(payload)
		if r == httpIncomplete {
			return t.tcpStart(flowID, side, modeHTTP, seq, payload)
		}
		return t.httpResult(flowID, v, r)
	}
	if !side {
		return "", SourceNone, true
	}
	// Perhaps a later segment of a ClientHello that overtook the first:
	// keep it until the next client segment tells.
	return t.tcpStart(flowID, side, modeHeadless, seq, payload)
}

func (t *Tracker) tcpStart(flowID uint64, side bool, mode slotMode, seq uint32, payload []byte) (string, Source, bool) {
	s := t.alloc(flowID, mode)
	if s == nil {
		return "", SourceNone, true
	}
	s.base, s.side = seq, side
	return t.tcpSegment(s, flowID, seq, payload)
}

// tcpSegment adds a client segment to the flow's slot and parses the
// contiguous head.
func (t *Tracker) tcpSegment(s *slot, flowID uint64, seq uint32, payload []byte) (string, Source, bool) {
	s.segs++
	if s.segs > t.cfg.MaxSegments {
		if s.mode == modeRejected {
			return t.giveUp(flowID)
		}
		return t.overflow(flowID)
	}
	if s.mode == modeRejected {
		return "", SourceNone, false
	}
	off := int(int32(seq - s.base))
	if off < 0 {
		if s.mode != modeHeadless {
			return "", SourceNone, false // data before the message start: old retransmission
		}
		// An earlier segment: make room in front.
		shift := -off
		if s.got.extent()+shift > len(s.buf) {
			return t.overflow(flowID)
		}
		copy(s.buf[shift:], s.buf[:s.got.extent()])
		s.got.shift(shift)
		s.base = seq
		off = 0
	}
	if off >= len(s.buf) {
		return t.overflow(flowID)
	}
	n := copy(s.buf[off:], payload)
	if !s.got.add(off, off+n) {
		return t.overflow(flowID)
	}
	head := s.buf[:s.got.head()]
	if len(head) == 0 {
		return "", SourceNone, false
	}
	if s.mode == modeHeadless {
		switch {
		case head[0] == 0x16:
			s.mode = modeTLS
		case isHTTPRequest(head):
			s.mode = modeHTTP
		case s.segs >= maxHeadless:
			// No message start came before the later segments: this
			// side's stream is neither TLS nor HTTP. Keep the slot
			// (without data) in case the other side is the client.
			s.mode = modeRejected
			return "", SourceNone, false
		default:
			return "", SourceNone, false
		}
	}
	switch s.mode {
	case modeTLS:
		sni, ech, err := clientHelloRecords(head, t.scratch)
		if err == ErrIncomplete {
			if len(head) == len(s.buf) {
				return t.overflow(flowID)
			}
			return "", SourceNone, false
		}
		return t.tlsResult(flowID, sni, ech, err)
	default: // modeHTTP
		v, r := parseHTTPHost(head)
		if r == httpIncomplete {
			return "", SourceNone, false
		}
		return t.httpResult(flowID, v, r)
	}
}

func (t *Tracker) tlsResult(flowID uint64, sni []byte, ech bool, err error) (string, Source, bool) {
	t.release(flowID)
	if err != nil {
		if err == ErrBadHello {
			t.stats.TLSMalformed.Add(1)
		}
		return "", SourceNone, true
	}
	if ech {
		t.stats.TLSECH.Add(1)
	}
	name := hostname(sni)
	if name == "" {
		if isAddressLiteral(sni) {
			t.stats.AddressLiterals.Add(1)
		} else {
			t.stats.TLSNoSNI.Add(1)
		}
		return "", SourceNone, true
	}
	t.stats.TLSHellos.Add(1)
	return name, SourceSNI, true
}

func (t *Tracker) httpResult(flowID uint64, v []byte, r httpResult) (string, Source, bool) {
	t.release(flowID)
	if r == httpAddress {
		// An address literal names nothing: the flow stays unnamed (a
		// DNS answer may still name it) and is counted as usual.
		t.stats.AddressLiterals.Add(1)
		return "", SourceNone, true
	}
	if r != httpFound {
		return "", SourceNone, true
	}
	name := hostname(v)
	if name == "" {
		return "", SourceNone, true
	}
	t.stats.HTTPHosts.Add(1)
	return name, SourceHTTP, true
}

func (t *Tracker) quicDatagram(s *slot, flowID uint64, payload []byte) (string, Source, bool) {
	s.segs++
	// Chrome spreads its hello over Initials mixed with 0-RTT datagrams.
	if s.segs > 2*t.cfg.MaxSegments {
		return t.overflow(flowID)
	}
	b, st, err := s.quic.datagram(payload, t.stats)
	if st != quicMore {
		t.release(flowID)
	}
	return t.quicResult(b, st, err)
}

func (t *Tracker) quicResult(b []byte, st quicStatus, err error) (string, Source, bool) {
	switch st {
	case quicMore:
		return "", SourceNone, false
	case quicGiveUp:
		switch err {
		case ErrQUICMalformed:
			t.stats.QUICMalformed.Add(1)
		case ErrQUICOverflow:
			t.stats.ReassemblyOverflow.Add(1)
		}
		return "", SourceNone, true
	}
	name := hostname(b)
	if name == "" {
		if isAddressLiteral(b) {
			t.stats.AddressLiterals.Add(1)
		}
		return "", SourceNone, true
	}
	t.stats.QUICHellos.Add(1)
	return name, SourceQUIC, true
}

// alloc takes a free slot for flowID, recycling the least recently used
// one when none is free.
func (t *Tracker) alloc(flowID uint64, mode slotMode) *slot {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = 0
		for k := range t.slots {
			if t.slots[k].used < t.slots[i].used {
				i = int32(k)
			}
		}
		delete(t.index, t.slots[i].flow)
		t.stats.SlotsRecycled.Add(1)
		t.stats.ReassemblyOverflow.Add(1)
	}
	s := &t.slots[i]
	if s.buf == nil {
		s.buf = make([]byte, t.cfg.MaxHelloBytes)
	}
	t.clock++
	s.flow, s.mode, s.base, s.segs, s.used, s.got = flowID, mode, 0, 0, t.clock, ranges{}
	if mode == modeQUIC {
		if s.quic == nil {
			s.quic = new(quicAssembler)
		}
		s.quic.stream = s.buf
		s.quic.got = ranges{}
		s.quic.keys.aead = nil
		s.quic.decrypted = 0
	}
	t.index[flowID] = i
	return s
}

// Forget frees the flow's reassembly slot, if any (the flow ended).
func (t *Tracker) Forget(flowID uint64) {
	if len(t.index) > 0 {
		t.release(flowID)
	}
}

func (t *Tracker) release(flowID uint64) {
	if i, ok := t.index[flowID]; ok {
		delete(t.index, flowID)
		t.free = append(t.free, i)
	}
}

func (t *Tracker) giveUp(flowID uint64) (string, Source, bool) {
	t.release(flowID)
	return "", SourceNone, true
}

func (t *Tracker) overflow(flowID uint64) (string, Source, bool) {
	t.stats.ReassemblyOverflow.Add(1)
	return t.giveUp(flowID)
}
