package names

import (
	"encoding/binary"
	"errors"
)

// TLS parsing errors.
var (
	// ErrIncomplete means more bytes are needed.
	ErrIncomplete = errors.New("names: ClientHello incomplete")
	// ErrNotHello means the bytes do not start a TLS handshake with a ClientHello.
	ErrNotHello = errors.New("tls: not a ClientHello")
	// ErrBadHello means a ClientHello whose lengths are inconsistent.
	ErrBadHello = errors.New("tls: malformed ClientHello")
)

const (
	extServerName = 0x0000
	extECH        = 0xfe0d

	maxTLSRecord = 1<<14 + 2048
	maxHelloLen  = 1 << 16
)

// ParseClientHello reads the SNI from a TLS record stream that starts with
// a handshake record holding a ClientHello (the start of a TCP client
// flight). The handshake message may span several records. ech reports an
// Encrypted Client Hello extension (the SNI is then the outer, public
// name). err is ErrIncomplete when more bytes are needed.
func ParseClientHello(b []byte) (sni string, ech bool, err error) {
	raw, ech, err := clientHelloRecords(b, nil)
	if err != nil {
		return "", ech, err
	}
	return hostname(raw), ech, nil
}

// clientHelloRecords is ParseClientHello without allocation: the SNI is
// returned as a slice of b (or of scratch). When the ClientHello spans
// several records their payloads are joined in scratch (allocated if nil
// or too small).
func clientHelloRecords(b, scratch []byte) (sni []byte, ech bool, err error) {
	if len(b) < 5 {
		if len(b) > 0 && b[0] != 0x16 || len(b) > 1 && b[1] != 0x03 {
			return nil, false, ErrNotHello
		}
		return nil, false, ErrIncomplete
	}
	if b[0] != 0x16 || b[1] != 0x03 {
		return nil, false, ErrNotHello
	}
	rl := int(binary.BigEndian.Uint16(b[3:5]))
	if rl == 0 || rl > maxTLSRecord {
		return nil, false, ErrBadHello
	}
	body := b[5:]
	if len(body) > 0 && body[0] != 0x01 {
		return nil, false, ErrNotHello
	}
	if rl < 4 {
		// Even the handshake header is split over records: join below.
	} else if len(body) < 4 {
		return nil, false, ErrIncomplete
	}
	hl := -1
	if rl >= 4 {
		hl = int(body[1])<<16 | int(body[2])<<8 | int(body[3])
		if hl > maxHelloLen {
			return nil, false, ErrBadHello
		}
		if rl >= 4+hl {
			if len(body) < 4+hl {
				return nil, false, ErrIncomplete
			}
			return helloSNI(body[4 : 4+hl])
		}
	}
	// The ClientHello spans records: join their payloads.
	joined := scratch[:0]
	for hl < 0 || len(joined) < 4+hl {
		if len(b) < 5 {
			return nil, false, ErrIncomplete
		}
		if b[0] != 0x16 || b[1] != 0x03 {
			return nil, false, ErrBadHello
		}
		l := int(binary.BigEndian.Uint16(b[3:5]))
		if l == 0 || l > maxTLSRecord {
			return nil, false, ErrBadHello
		}
		if len(b) < 5+l {
			// Partial record: enough if it completes the message.
			if hl >= 0 && len(joined)+len(b)-5 >= 4+hl {
				joined = append(joined, b[5:]...)
				break
			}
			return nil, false, ErrIncomplete
		}
		joined = append(joined, b[5:5+l]...)
		b = b[5+l:]
		if hl < 0 && len(joined) >= 4 {
			if joined[0] != 0x01 {
				return nil, false, ErrNotHello
			}
			hl = int(joined[1])<<16 | int(joined[2])<<8 | int(joined[3])
			if hl > maxHelloLen {
				return nil, false, ErrBadHello
			}
		}
	}
	return helloSNI(joined[4 : 4+hl])
}

// helloSNI reads a ClientHello body (after the 4-byte handshake header)
// and returns the first host_name of its server_name extension as a slice
// of m.
func helloSNI(m []byte) (sni []byte, ech bool, err error) {
	// legacy_version(2) random(32)
	if len(m) < 34 {
		return nil, false, ErrBadHello
	}
	p := 34
	// session id
	if p >= len(m) {
		return nil, false, ErrBadHello
	}
	p += 1 + int(m[p])
	// cipher suites
	if p+2 > len(m) {
		return nil, false, ErrBadHello
	}
	p += 2 + int(binary.BigEndian.Uint16(m[p:]))
	// compression methods
	if p >= len(m) {
		return nil, false, ErrBadHello
	}
	p += 1 + int(m[p])
	if p == len(m) {
		return nil, false, nil // no extensions
	}
	if p+2 > len(m) {
		return nil, false, ErrBadHello
	}
	end := p + 2 + int(binary.BigEndian.Uint16(m[p:]))
	if end > len(m) {
		return nil, false, ErrBadHello
	}
	p += 2
	for p+4 <= end {
		typ := binary.BigEndian.Uint16(m[p:])
		l := int(binary.BigEndian.Uint16(m[p+2:]))
		p += 4
		if p+l > end {
			return nil, false, ErrBadHello
		}
		ext := m[p : p+l]
		p += l
		switch typ {
		case extECH:
			ech = true
		case extServerName:
			// list length(2), then entries: type(1) len(2) name
			if len(ext) < 2 {
				return nil, ech, ErrBadHello
			}
			list := ext[2:]
			if ll := int(binary.BigEndian.Uint16(ext)); ll > len(list) {
				return nil, ech, ErrBadHello
			} else {
				list = list[:ll]
			}
			for len(list) >= 3 {
				nl := int(binary.BigEndian.Uint16(list[1:]))
				if 3+nl > len(list) {
					return nil, ech, ErrBadHello
				}
				if list[0] == 0 && sni == nil {
					sni = list[3 : 3+nl]
				}
				list = list[3+nl:]
			}
		}
	}
	return sni, ech, nil
}

// maxRanges bounds the disjoint byte ranges of a reassembly (Chrome cuts
// its QUIC ClientHello into many small CRYPTO frames in random order).
const maxRanges = 32

// ranges is a small sorted list of received byte ranges [start, end).
type ranges struct {
	iv [maxRanges][2]int
	n  int
}

// add merges [start, end); false when more than maxRanges disjoint ranges result.
func (r *ranges) add(start, end int) bool {
	if start >= end {
		return true
	}
	var tmp [maxRanges + 1][2]int
	n, placed := 0, false
	for k := 0; k < r.n; k++ {
		if !placed && start < r.iv[k][0] {
			tmp[n] = [2]int{start, end}
			n++
			placed = true
		}
		tmp[n] = r.iv[k]
		n++
	}
	if !placed {
		tmp[n] = [2]int{start, end}
		n++
	}
	m := 0
	for k := 0; k < n; k++ {
		if m > 0 && tmp[k][0] <= tmp[m-1][1] {
			tmp[m-1][1] = max(tmp[m-1][1], tmp[k][1])
			continue
		}
		tmp[m] = tmp[k]
		m++
	}
	if m > len(r.iv) {
		return false
	}
	copy(r.iv[:], tmp[:m])
	r.n = m
	return true
}

// head returns how many bytes from offset 0 are contiguous.
func (r *ranges) head() int {
	if r.n == 0 || r.iv[0][0] != 0 {
		return 0
	}
	return r.iv[0][1]
}

// extent returns the end of the last range.
func (r *ranges) extent() int {
	if r.n == 0 {
		return 0
	}
	return r.iv[r.n-1][1]
}

// shift moves every range by d bytes (d > 0).
func (r *ranges) shift(d int) {
	for k := 0; k < r.n; k++ {
		r.iv[k][0] += d
		r.iv[k][1] += d
	}
}
