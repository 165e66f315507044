package names

import (
	"encoding/hex"
	"testing"
)

type seg struct {
	fromClient bool
	seq        uint32
	b          []byte
}

// feedAll feeds segments until done and returns the last result and how
// many segments were fed.
func feedAll(tr *Tracker, id uint64, proto uint8, segs []seg) (string, Source, bool, int) {
	for i, s := range segs {
		name, src, done := tr.Feed(id, proto, s.fromClient, s.seq, s.b)
		if done || name != "" {
			return name, src, done, i + 1
		}
	}
	return "", SourceNone, false, len(segs)
}

// split cuts b at the given offsets into client segments starting at isn.
func split(b []byte, isn uint32, cuts ...int) []seg {
	var out []seg
	prev := 0
	for _, c := range append(cuts, len(b)) {
		out = append(out, seg{true, isn + uint32(prev), b[prev:c]})
		prev = c
	}
	return out
}

func TestTrackerTLSReassembly(t *testing.T) {
	hello := records(helloMsg(ext{0x0010, []byte{0, 3, 2, 'h', '2'}}, make2K(), sniExt("Reasm.Example")), 16384)
	const isn = 0xfffffff0 // sequence numbers wrap inside the hello
	reorder := func(s []seg, order ...int) []seg {
		out := make([]seg, len(order))
		for i, o := range order {
			out[i] = s[o]
		}
		return out
	}
	tests := []struct {
		name string
		segs []seg
	}{
		{"one segment", split(hello, isn)},
		{"three in order", split(hello, isn, 1000, 2000)},
		{"three, last first", reorder(split(hello, isn, 1000, 2000), 2, 0, 1)},
		{"three, middle first", reorder(split(hello, isn, 1000, 2000), 1, 2, 0)},
		{"three reversed", reorder(split(hello, isn, 1000, 2000), 2, 1, 0)},
		{"first byte alone", split(hello, isn, 1)},
		{"with retransmission", append(split(hello, isn, 1500)[:1], split(hello, isn, 1500)...)},
		{"junk in SYN-ACK first", append([]seg{{false, 7, []byte{0, 0}}}, split(hello, isn, 700)...)},
		{"direction inverted", func() []seg {
			s := split(hello, isn, 700)
			for i := range s {
				s[i].fromClient = false
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(DefaultConfig(), nil)
			name, src, done, _ := feedAll(tr, 1, 6, tt.segs)
			if name != "reasm.example" || src != SourceSNI || !done {
				t.Errorf("got %q %v done=%v, want reasm.example sni done", name, src, done)
			}
			if tr.Active() != 0 {
				t.Errorf("%d slots still held", tr.Active())
			}
		})
	}
	// Every two-way split, both orders.
	for cut := 1; cut < len(hello); cut += 37 {
		for _, rev := range []bool{false, true} {
			tr := NewTracker(DefaultConfig(), nil)
			s := split(hello, isn, cut)
			if rev {
				s[0], s[1] = s[1], s[0]
			}
			if name, _, _, _ := feedAll(tr, 1, 6, s); name != "reasm.example" {
				t.Fatalf("cut %d reversed %v: got %q", cut, rev, name)
			}
		}
	}
}

// make2K is a padding extension that makes the hello span segments.
func make2K() ext { return ext{0x0015, make([]byte, 2048)} }

func TestTrackerTCPGivesUp(t *testing.T) {
	tests := []struct {
		name     string
		segs     []seg
		wantSegs int // segments fed before done
	}{
		{"server banner", []seg{{false, 1, []byte("SSH-2.0-OpenSSH_9.6\r\n")}}, 1},
		{"client binary protocol then server reply", []seg{{true, 1, []byte("\x00\x01binary-protocol")}, {false, 1, []byte("reply bytes here")}}, 2},
		{"client sends two non-TLS segments, server replies", []seg{{true, 1, []byte("abcdefgh")}, {true, 9, []byte("ijklmnop")}, {false, 1, []byte("server reply!")}}, 3},
		{"HTTP without Host", []seg{{true, 1, []byte("GET / HTTP/1.0\r\n\r\n")}}, 1},
		{"TLS alert is no hello", []seg{{true, 1, []byte{0x15, 0x03, 0x03, 0, 2, 2, 40}}, {false, 1, []byte("0123456789")}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(DefaultConfig(), nil)
			name, _, done, n := feedAll(tr, 1, 6, tt.segs)
			if name != "" || !done || n != tt.wantSegs {
				t.Errorf("got %q done=%v after %d segments, want done after %d", name, done, n, tt.wantSegs)
			}
			if tr.Active() != 0 {
				t.Errorf("%d slots still held", tr.Active())
			}
		})
	}
}

func TestTrackerHTTPSplit(t *testing.T) {
	req := []byte("GET /index.html HTTP/1.1\r\nUser-Agent: test\r\nAccept: */*\r\nHost: Split.Example:8080\r\n\r\n")
	for cut := 1; cut < len(req); cut++ {
		tr := NewTracker(DefaultConfig(), nil)
		name, src, _, _ := feedAll(tr, 9, 6, split(req, 1000, cut))
		if cut >= 4 && (name != "split.example" || src != SourceHTTP) {
			t.Fatalf("cut %d: got %q %v", cut, name, src)
		}
	}
}

func TestTrackerLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReassemblySlots = 2
	var st Stats
	tr := NewTracker(cfg, &st)
	hello := records(helloMsg(make2K(), sniExt("limit.example")), 16384)
	// Three flows start; the pool holds two: the oldest is recycled.
	for id := uint64(1); id <= 3; id++ {
		if _, _, done := tr.Feed(id, 6, true, 0, hello[:100]); done {
			t.Fatalf("flow %d done early", id)
		}
	}
	if got := st.SlotsRecycled.Load(); got != 1 {
		t.Errorf("SlotsRecycled = %d, want 1", got)
	}
	if name, _, _ := tr.Feed(3, 6, true, 100, hello[100:]); name != "limit.example" {
		t.Errorf("flow 3: got %q", name)
	}
	tr.Forget(2)
	if tr.Active() != 0 {
		t.Errorf("Active = %d after Forget", tr.Active())
	}
	// More than MaxHelloBytes: overflow counted, flow given up.
	big := records(helloMsg(ext{0x0015, make([]byte, 20000)}, sniExt("big.example")), 16384)
	before := st.ReassemblyOverflow.Load()
	_, _, done, _ := feedAll(tr, 4, 6, split(big, 0, 1400, 2800, 4200, 5600, 7000, 8400, 9800, 11200, 12600))
	if !done || st.ReassemblyOverflow.Load() != before+1 {
		t.Errorf("done=%v overflow %d->%d", done, before, st.ReassemblyOverflow.Load())
	}
}

func TestTrackerQUIC(t *testing.T) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	key, _ := hex.DecodeString("1f369613dd76d5467730efcbe3b1a22d")
	iv, _ := hex.DecodeString("fa044b2f42a3fd3b46fb255c")
	hp, _ := hex.DecodeString("9f50449e04a0e810283a1e9933adedd2")
	ch := helloMsg(ext{0x0010, []byte{0, 3, 2, 'h', '3'}}, make2K(), sniExt("quic.example"))
	a, b := ch[:1100], ch[1100:]
	p1 := sealInitial(quicV1, false, dcid, key, iv, hp, 0, append([]byte{0x01}, cryptoFrame(0, a)...), 1162)
	p2 := sealInitial(quicV1, false, dcid, key, iv, hp, 1, append(cryptoFrame(1100, b), 0x01), 1162)
	tests := []struct {
		name  string
		dgram [][]byte
	}{
		{"two datagrams", [][]byte{p1, p2}},
		{"out of order", [][]byte{p2, p1}},
		{"coalesced", [][]byte{append(append([]byte{}, p1...), p2...)}},
		{"frames out of order in one packet", [][]byte{sealInitial(quicV1, false, dcid, key, iv, hp, 0,
			append(append(cryptoFrame(1100, b), 0x02, 0, 0, 0, 0), cryptoFrame(0, a)...), 1162)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st Stats
			tr := NewTracker(DefaultConfig(), &st)
			var name string
			var src Source
			for i, d := range tt.dgram {
				var done bool
				name, src, done = tr.Feed(5, 17, true, 0, d)
				if done != (i == len(tt.dgram)-1) {
					t.Fatalf("datagram %d: done=%v", i, done)
				}
			}
			if name != "quic.example" || src != SourceQUIC {
				t.Errorf("got %q %v", name, src)
			}
			if st.QUICHellos.Load() != 1 || st.QUICInitials.Load() != 2 && tt.name != "frames out of order in one packet" {
				t.Errorf("stats hellos=%d initials=%d", st.QUICHellos.Load(), st.QUICInitials.Load())
			}
		})
	}
	// The pure parser sees a single datagram only.
	if _, err := ParseQUICInitial(p1); err != ErrIncomplete {
		t.Errorf("ParseQUICInitial(first half) err = %v, want ErrIncomplete", err)
	}
	if sni, err := ParseQUICInitial(append(append([]byte{}, p1...), p2...)); sni != "quic.example" || err != nil {
		t.Errorf("ParseQUICInitial(coalesced) = %q, %v", sni, err)
	}
	// A corrupted packet fails authentication and is counted.
	bad := append([]byte{}, p1...)
	bad[len(bad)-1] ^= 1
	var st Stats
	tr := NewTracker(DefaultConfig(), &st)
	if _, _, done := tr.Feed(6, 17, true, 0, bad); !done || st.QUICDecryptFailed.Load() != 1 {
		t.Errorf("corrupted: done=%v failed=%d", done, st.QUICDecryptFailed.Load())
	}
	// Every prefix of a datagram: no panic, no name.
	for i := range len(p1) {
		if sni, err := ParseQUICInitial(p1[:i]); sni != "" || err == nil {
			t.Fatalf("prefix %d: %q %v", i, sni, err)
		}
	}
}

func TestQUICInitialKeys(t *testing.T) {
	// RFC 9001 Appendix A.1 and RFC 9369 Appendix A.1 client keys.
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	for _, tt := range []struct {
		version     uint32
		key, iv, hp string
	}{
		{quicV1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{quicV2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		key, _ := hex.DecodeString(tt.key)
		iv, _ := hex.DecodeString(tt.iv)
		hp, _ := hex.DecodeString(tt.hp)
		ch := helloMsg(sniExt("rfc.example"))
		pkt := sealInitial(tt.version, tt.version == quicV2, dcid, key, iv, hp, 2, cryptoFrame(0, ch), 1162)
		sni, err := ParseQUICInitial(pkt)
		if sni != "rfc.example" || err != nil {
			t.Errorf("version %#x: %q %v", tt.version, sni, err)
		}
	}
}

func TestTrackerFastPaths(t *testing.T) {
	tr := NewTracker(DefaultConfig(), nil)
	for _, tt := range []struct {
		name  string
		proto uint8
		b     []byte
	}{
		{"UDP not QUIC", 17, []byte("\x12\x34 some dns or rtp payload")},
		{"UDP unknown QUIC version", 17, []byte{0xc0, 0x0a, 0x0a, 0x0a, 0x0a, 8, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"ICMP", 1, []byte{8, 0}},
	} {
		if _, _, done := tr.Feed(1, tt.proto, true, 0, tt.b); !done {
			t.Errorf("%s: not done", tt.name)
		}
	}
	if tr.Active() != 0 {
		t.Errorf("slots held: %d", tr.Active())
	}
}

func BenchmarkFeedTCPData(b *testing.B) {
	tr := NewTracker(DefaultConfig(), nil)
	// A server-side data segment of a flow with no slot (mid-flow or
	// server-first traffic).
	p := make([]byte, 1400)
	p[0] = 0x17
	b.ReportAllocs()
	for b.Loop() {
		tr.Feed(42, 6, false, 1, p)
	}
}

func BenchmarkFeedTCPNonTLSFirstSegment(b *testing.B) {
	tr := NewTracker(DefaultConfig(), nil)
	p := make([]byte, 1400)
	p[0] = 'x'
	b.ReportAllocs()
	id := uint64(0)
	for b.Loop() {
		id++
		tr.Feed(id, 6, true, 1, p)        // kept as a possible out-of-order hello tail
		tr.Feed(id, 6, true, 1401, p)     // the next in-order segment: not TLS
		tr.Feed(id, 6, false, 1, p[:100]) // server reply: done
	}
}

func BenchmarkFeedUDPNonQUIC(b *testing.B) {
	tr := NewTracker(DefaultConfig(), nil)
	p := make([]byte, 160)
	p[0] = 0x80 // RTP
	b.ReportAllocs()
	for b.Loop() {
		tr.Feed(42, 17, true, 0, p)
	}
}

func BenchmarkQUICInitial(b *testing.B) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	key, _ := hex.DecodeString("1f369613dd76d5467730efcbe3b1a22d")
	iv, _ := hex.DecodeString("fa044b2f42a3fd3b46fb255c")
	hp, _ := hex.DecodeString("9f50449e04a0e810283a1e9933adedd2")
	pkt := sealInitial(quicV1, false, dcid, key, iv, hp, 0, cryptoFrame(0, helloMsg(sniExt("bench.example"))), 1162)
	tr := NewTracker(DefaultConfig(), nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	id := uint64(0)
	for b.Loop() {
		id++
		if name, _, _ := tr.Feed(id, 17, true, 0, pkt); name == "" {
			b.Fatal("no name")
		}
	}
}
