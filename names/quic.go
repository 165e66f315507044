package names

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// QUIC errors.
var (
	ErrNotQUIC       = errors.New("quic: not a client Initial of a known version")
	ErrQUICMalformed = errors.New("quic: malformed Initial packet")
	ErrQUICDecrypt   = errors.New("quic: Initial packet failed to decrypt")
	ErrQUICOverflow  = errors.New("quic: CRYPTO stream beyond the reassembly limit")
)

// Known versions.
const (
	quicV1      = 0x00000001
	quicV2      = 0x6b3343cf
	quicDraft29 = 0xff00001d
	gquicQ046   = 0x51303436
	gquicQ050   = 0x51303530
	gquicT050   = 0x54303530
	gquicT051   = 0x54303531
)

var (
	saltV1      = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2      = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	saltDraft29 = []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
	saltDraft23 = []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
	saltDraft22 = []byte{0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a}
	saltQ050    = []byte{0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0, 0xd3, 0xb5, 0x6b, 0x45}
	saltT050    = []byte{0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10}
	saltT051    = []byte{0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d}
)

// quicSalt returns the Initial salt of a version and whether it uses the
// QUIC v2 labels and packet types.
func quicSalt(v uint32) (salt []byte, v2 bool, ok bool) {
	switch {
	case v == quicV1:
		return saltV1, false, true
	case v == quicV2:
		return saltV2, true, true
	case v >= 0xff000021 && v <= 0xff000022: // drafts 33, 34
		return saltV1, false, true
	case v >= 0xff00001d && v <= 0xff000020: // drafts 29..32
		return saltDraft29, false, true
	case v >= 0xff000017 && v <= 0xff00001c: // drafts 23..28
		return saltDraft23, false, true
	case v == 0xff000016, v == 0xfaceb001:
		return saltDraft22, false, true
	case v == 0xfaceb002, v == 0xfaceb00e:
		return saltDraft23, false, true
	case v == gquicQ050:
		return saltQ050, false, true
	case v == gquicT050:
		return saltT050, false, true
	case v == gquicT051:
		return saltT051, false, true
	}
	return nil, false, false
}

// quicVarint reads a variable-length integer; n is 0 when b is too short.
func quicVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n
}

// quicKeys are the client Initial keys for one destination connection ID.
type quicKeys struct {
	version uint32
	dcid    [20]byte
	dcidLen int
	aead    cipher.AEAD
	hp      cipher.Block
	iv      [12]byte
}

func (k *quicKeys) matches(version uint32, dcid []byte) bool {
	return k.aead != nil && k.version == version && k.dcidLen == len(dcid) && bytes.Equal(k.dcid[:k.dcidLen], dcid)
}

func (k *quicKeys) derive(version uint32, dcid []byte, salt []byte, v2 bool) error {
	k.aead = nil
	initial := hkdfExtract(dcid, salt)
	var secret [32]byte
	hkdfExpandLabel(secret[:], initial[:], "client in")
	lk, liv, lhp := "quic key", "quic iv", "quic hp"
	if v2 {
		lk, liv, lhp = "quicv2 key", "quicv2 iv", "quicv2 hp"
	}
	var key, hpKey [16]byte
	var iv [12]byte
	hkdfExpandLabel(key[:], secret[:], lk)
	hkdfExpandLabel(iv[:], secret[:], liv)
	hkdfExpandLabel(hpKey[:], secret[:], lhp)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	hp, err := aes.NewCipher(hpKey[:])
	if err != nil {
		return err
	}
	k.version, k.dcidLen = version, copy(k.dcid[:], dcid)
	k.aead, k.hp = aead, hp
	k.iv = iv
	return nil
}

// quicAssembler reassembles the client's CRYPTO stream over the Initial
// packets of one connection (several datagrams, coalesced packets, frames
// out of order) until it holds a whole ClientHello.
type quicAssembler struct {
	keys   quicKeys
	stream []byte // CRYPTO stream buffer (len = limit)
	got    ranges
	hdr    [256]byte // unprotected header scratch
	plain  []byte    // decrypted payload scratch
	// decrypted counts the Initial packets decrypted for this flow.
	decrypted int
	pnLen     int // packet number length of the last packet decrypted
}

type quicStatus uint8

const (
	quicMore quicStatus = iota // keep feeding
	quicFound
	quicGiveUp
)

// datagram processes one client UDP datagram. It returns the SNI (nil when
// not found yet), the status and, when giving up, the reason.
func (a *quicAssembler) datagram(d []byte, stats *Stats) (sni []byte, st quicStatus, err error) {
	first := true
	for len(d) > 0 {
		if d[0]&0x80 == 0 || len(d) < 7 {
			break // short header or trailing padding: no more Initials
		}
		version := binary.BigEndian.Uint32(d[1:])
		if version == gquicQ046 || (version>>8) == 0x513034 { // Q04x in clear
			return gquicCHLO(d, stats)
		}
		salt, v2, ok := quicSalt(version)
		if !ok {
			if first {
				return nil, quicGiveUp, ErrNotQUIC
			}
			break
		}
		first = false
		p := 5
		dcidLen := int(d[p])
		if dcidLen > 20 || p+1+dcidLen >= len(d) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		dcid := d[p+1 : p+1+dcidLen]
		p += 1 + dcidLen
		scidLen := int(d[p])
		if scidLen > 20 || p+1+scidLen > len(d) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		p += 1 + scidLen
		typ := (d[0] >> 4) & 3
		initial, retry := typ == 0, typ == 3
		if v2 {
			initial, retry = typ == 1, typ == 0
		}
		if retry {
			break
		}
		if initial {
			tl, n := quicVarint(d[p:])
			if n == 0 || tl > uint64(len(d)) {
				return nil, quicGiveUp, ErrQUICMalformed
			}
			p += n + int(tl)
		}
		if p > len(d) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		length, n := quicVarint(d[p:])
		if n == 0 || length > uint64(len(d)) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		p += n
		end := p + int(length)
		if end > len(d) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		if initial {
			// Initial keys come from the DCID of the client's first
			// Initial and survive the switch to the server's CID; only a
			// Retry makes the client derive new ones from a new DCID.
			if a.keys.aead == nil || a.keys.version != version {
				if err := a.keys.derive(version, dcid, salt, v2); err != nil {
					return nil, quicGiveUp, ErrQUICMalformed
				}
			}
			payload, err := a.decrypt(d[:end], p)
			if err != nil && !a.keys.matches(version, dcid) {
				old := a.keys
				if a.keys.derive(version, dcid, salt, v2) == nil {
					payload, err = a.decrypt(d[:end], p)
				}
				if err != nil {
					a.keys = old
				}
			}
			if err != nil {
				stats.QUICDecryptFailed.Add(1)
				if a.decrypted == 0 {
					return nil, quicGiveUp, err
				}
				d = d[end:]
				continue
			}
			a.decrypted++
			stats.QUICInitials.Add(1)
			if version == gquicQ050 {
				return gquicCHLO(payload, stats)
			}
			if version == gquicT050 || version == gquicT051 {
				err = a.gquicFrames(payload)
			} else {
				err = a.frames(payload)
			}
			if err != nil {
				return nil, quicGiveUp, err
			}
		}
		d = d[end:]
	}
	return a.hello()
}

// decrypt removes header protection and AEAD protection from the packet
// pkt whose packet number starts at pnOff. pkt is not modified.
func (a *quicAssembler) decrypt(pkt []byte, pnOff int) ([]byte, error) {
	if pnOff+4+16 > len(pkt) || pnOff+4 > len(a.hdr) {
		return nil, ErrQUICMalformed
	}
	var mask [16]byte
	a.keys.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+4+16])
	hdr := a.hdr[:pnOff+4]
	copy(hdr, pkt)
	hdr[0] ^= mask[0] & 0x0f
	pnLen := int(hdr[0]&3) + 1
	a.pnLen = pnLen
	var pn uint64
	for i := range pnLen {
		hdr[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(hdr[pnOff+i])
	}
	nonce := a.keys.iv
	for i := range 8 {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	ct := pkt[pnOff+pnLen:]
	if cap(a.plain) < len(ct) {
		a.plain = make([]byte, 0, max(len(ct), 2048))
	}
	out, err := a.keys.aead.Open(a.plain[:0], nonce[:], ct, hdr[:pnOff+pnLen])
	if err != nil {
		return nil, ErrQUICDecrypt
	}
	return out, nil
}

// frames walks the frames of a decrypted Initial and stores CRYPTO data.
func (a *quicAssembler) frames(b []byte) error {
	skip := func(k int) bool { // skip k varints
		for range k {
			_, n := quicVarint(b)
			if n == 0 {
				return false
			}
			b = b[n:]
		}
		return true
	}
	for len(b) > 0 {
		t := b[0]
		b = b[1:]
		switch t {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK
			if !skip(2) {
				return ErrQUICMalformed
			}
			count, n := quicVarint(b)
			if n == 0 || count > uint64(len(b)) {
				return ErrQUICMalformed
			}
			b = b[n:]
			if !skip(1 + 2*int(count)) {
				return ErrQUICMalformed
			}
			if t == 0x03 && !skip(3) {
				return ErrQUICMalformed
			}
		case 0x06: // CRYPTO
			off, n := quicVarint(b)
			if n == 0 {
				return ErrQUICMalformed
			}
			b = b[n:]
			l, n := quicVarint(b)
			if n == 0 || l > uint64(len(b)-n) {
				return ErrQUICMalformed
			}
			if err := a.crypto(off, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		case 0x1c, 0x1d: // CONNECTION_CLOSE
			k := 2
			if t == 0x1d {
				k = 1
			}
			if !skip(k) {
				return ErrQUICMalformed
			}
			rl, n := quicVarint(b)
			if n == 0 || rl > uint64(len(b)-n) {
				return ErrQUICMalformed
			}
			b = b[n+int(rl):]
		default:
			return ErrQUICMalformed // not allowed in an Initial
		}
	}
	return nil
}

// crypto stores the data of a CRYPTO frame at its stream offset.
func (a *quicAssembler) crypto(off uint64, data []byte) error {
	l := uint64(len(data))
	if off+l > uint64(len(a.stream)) {
		return ErrQUICOverflow
	}
	copy(a.stream[off:], data)
	if !a.got.add(int(off), int(off+l)) {
		return ErrQUICOverflow
	}
	return nil
}

// gquicFrames walks the frames of a decrypted gQUIC T050/T051 Initial:
// Google QUIC frame types (PADDING fills the rest of the packet, 0x06 is
// STOP_WAITING, ACK frames are 0x40-0x7f with field sizes in the type
// byte), whose CRYPTO frame (0x08, IETF layout) carries the TLS
// ClientHello (Wireshark's packet-gquic.c, Chromium's quic_framer.cc).
func (a *quicAssembler) gquicFrames(b []byte) error {
	for len(b) > 0 {
		t := b[0]
		b = b[1:]
		switch {
		case t == 0x00: // PADDING: the rest of the packet
			return nil
		case t == 0x07: // PING
		case t == 0x08: // CRYPTO
			off, n := quicVarint(b)
			if n == 0 {
				return ErrQUICMalformed
			}
			b = b[n:]
			l, n := quicVarint(b)
			if n == 0 || l > uint64(len(b)-n) {
				return ErrQUICMalformed
			}
			if err := a.crypto(off, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		case t == 0x06: // STOP_WAITING: least unacked delta, packet number sized
			if len(b) < a.pnLen {
				return ErrQUICMalformed
			}
			b = b[a.pnLen:]
		case t&0xc0 == 0x40: // ACK
			n, ok := gquicACKLen(t, b)
			if !ok {
				return ErrQUICMalformed
			}
			b = b[n:]
		default: // stream data or control frames: not in a client Initial
			return ErrQUICMalformed
		}
	}
	return nil
}

// gquicACKLen returns the length of a gQUIC (Q046+) ACK frame's body.
func gquicACKLen(t byte, b []byte) (int, bool) {
	sizes := [4]int{1, 2, 4, 6}
	largest, block := sizes[(t>>2)&3], sizes[t&3]
	p := largest + 2 // largest acked, ack delay
	blocks := 0
	if t&0x20 != 0 { // more than one ack block
		if len(b) <= p {
			return 0, false
		}
		blocks = int(b[p])
		p++
	}
	p += block + blocks*(1+block) // first block length, (gap, length)*
	if len(b) <= p {
		return 0, false
	}
	ts := int(b[p]) // timestamps: delta (1) and time (4), then (1+2) each
	p++
	if ts > 0 {
		p += 5 + (ts-1)*3
	}
	if p > len(b) {
		return 0, false
	}
	return p, true
}

// hello parses the ClientHello once the CRYPTO stream's head is complete.
func (a *quicAssembler) hello() ([]byte, quicStatus, error) {
	h := a.got.head()
	if h < 4 {
		return nil, quicMore, nil
	}
	m := a.stream[:h]
	if m[0] != 0x01 {
		return nil, quicGiveUp, ErrQUICMalformed
	}
	hl := int(m[1])<<16 | int(m[2])<<8 | int(m[3])
	if 4+hl > len(a.stream) {
		return nil, quicGiveUp, ErrQUICOverflow
	}
	if h < 4+hl {
		return nil, quicMore, nil
	}
	sni, _, err := helloSNI(m[4 : 4+hl])
	if err != nil {
		return nil, quicGiveUp, ErrQUICMalformed
	}
	return sni, quicFound, nil
}

// gquicCHLO finds a gQUIC CHLO message (Q043/Q046 in clear, Q050 after
// decryption) and returns its SNI tag.
func gquicCHLO(b []byte, stats *Stats) ([]byte, quicStatus, error) {
	i := bytes.Index(b, []byte("CHLO"))
	if i < 0 || len(b) < i+8 {
		return nil, quicGiveUp, ErrQUICMalformed
	}
	m := b[i:]
	n := int(binary.LittleEndian.Uint16(m[4:]))
	tags := m[8:]
	if n*8 > len(tags) {
		return nil, quicGiveUp, ErrQUICMalformed
	}
	vals := tags[n*8:]
	prev := uint32(0)
	for k := range n {
		tag := tags[k*8 : k*8+4]
		end := binary.LittleEndian.Uint32(tags[k*8+4:])
		if end < prev || int(end) > len(vals) {
			return nil, quicGiveUp, ErrQUICMalformed
		}
		if string(tag) == "SNI\x00" {
			return vals[prev:end], quicFound, nil
		}
		prev = end
	}
	return nil, quicFound, nil // a CHLO without SNI
}

// ParseQUICInitial reads the SNI from the client Initial packets of one
// UDP datagram (coalesced packets included) whose CRYPTO frames hold a
// whole ClientHello. It returns ErrIncomplete when the ClientHello
// continues in later datagrams (use a Tracker for those), ErrNotQUIC for a
// datagram that is not a client Initial of a known version. It allocates
// its reassembly buffer and keys on every call: the packet path uses a
// Tracker.
func ParseQUICInitial(datagram []byte) (sni string, err error) {
	a := quicAssembler{stream: make([]byte, DefaultConfig().MaxHelloBytes)}
	var stats Stats
	b, st, err := a.datagram(datagram, &stats)
	switch st {
	case quicMore:
		return "", ErrIncomplete
	case quicGiveUp:
		return "", err
	}
	return hostname(b), nil
}
