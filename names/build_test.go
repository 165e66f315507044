package names

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"strings"
)

// Builders for handcrafted packets. They follow the RFCs directly and do
// not share code with the parsers.

// dnsWire encodes a name without compression.
func dnsWire(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

type dnsRR struct {
	name  []byte // wire form (may be a pointer)
	typ   uint16
	ttl   uint32
	rdata []byte
}

// dnsMsg builds a DNS message with one question and the given answers.
func dnsMsg(flags uint16, qname []byte, qtype uint16, an []dnsRR, anCount int) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], 0x1234)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(anCount))
	b = append(b, qname...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1)
	for _, rr := range an {
		b = append(b, rr.name...)
		b = binary.BigEndian.AppendUint16(b, rr.typ)
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint32(b, rr.ttl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rr.rdata)))
		b = append(b, rr.rdata...)
	}
	return b
}

// ptr is a DNS compression pointer to off.
func ptr(off int) []byte { return []byte{0xc0 | byte(off>>8), byte(off)} }

// ext is a TLS extension.
type ext struct {
	typ  uint16
	data []byte
}

func sniExt(name string) ext {
	entry := []byte{0}
	entry = binary.BigEndian.AppendUint16(entry, uint16(len(name)))
	entry = append(entry, name...)
	list := binary.BigEndian.AppendUint16(nil, uint16(len(entry)))
	return ext{0, append(list, entry...)}
}

// helloMsg builds a ClientHello handshake message (with its 4-byte header).
func helloMsg(exts ...ext) []byte {
	body := []byte{0x03, 0x03}
	body = append(body, make([]byte, 32)...)          // random
	body = append(body, 32)                           // session id
	body = append(body, make([]byte, 32)...)          //
	body = append(body, 0, 4, 0x13, 0x01, 0x13, 0x02) // cipher suites
	body = append(body, 1, 0)                         // compression
	var e []byte
	for _, x := range exts {
		e = binary.BigEndian.AppendUint16(e, x.typ)
		e = binary.BigEndian.AppendUint16(e, uint16(len(x.data)))
		e = append(e, x.data...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(e)))
	body = append(body, e...)
	msg := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(msg, body...)
}

// records wraps a handshake message in TLS records of at most size bytes.
func records(msg []byte, size int) []byte {
	var b []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		b = append(b, 0x16, 0x03, 0x01, byte(n>>8), byte(n))
		b = append(b, msg[:n]...)
		msg = msg[n:]
	}
	return b
}

func quicVarintAppend(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	default:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

// cryptoFrame is a QUIC CRYPTO frame.
func cryptoFrame(off int, data []byte) []byte {
	b := []byte{0x06}
	b = quicVarintAppend(b, uint64(off))
	b = quicVarintAppend(b, uint64(len(data)))
	return append(b, data...)
}

// sealInitial builds a protected client Initial packet (RFC 9001 §5) with
// the given keys, a 2-byte packet number and frames padded to pad bytes.
func sealInitial(version uint32, v2 bool, dcid []byte, key, iv, hp []byte, pn uint16, frames []byte, pad int) []byte {
	for len(frames) < pad {
		frames = append(frames, 0)
	}
	typ := byte(0x00)
	if v2 {
		typ = 0x10
	}
	hdr := []byte{0xc0 | typ | 0x01} // pn length 2
	hdr = binary.BigEndian.AppendUint32(hdr, version)
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	hdr = append(hdr, 0) // empty SCID
	hdr = append(hdr, 0) // token length 0
	length := 2 + len(frames) + 16
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint16(hdr, pn)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := append([]byte(nil), iv...)
	nonce[10] ^= byte(pn >> 8)
	nonce[11] ^= byte(pn)
	pkt := gcm.Seal(append([]byte(nil), hdr...), nonce, frames, hdr)
	hpb, _ := aes.NewCipher(hp)
	mask := make([]byte, 16)
	hpb.Encrypt(mask, pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	pkt[pnOff] ^= mask[1]
	pkt[pnOff+1] ^= mask[2]
	return pkt
}
