package names

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrMalformedDNS is wrapped by every error ParseDNS returns.
var ErrMalformedDNS = errors.New("malformed DNS message")

// Errors are package-level values so that hostile floods cost no allocation.
var (
	errDNSShort      = fmt.Errorf("%w: shorter than its header", ErrMalformedDNS)
	errDNSTruncated  = fmt.Errorf("%w: record runs past the end (lying count or truncated)", ErrMalformedDNS)
	errDNSTCPLength  = fmt.Errorf("%w: TCP length prefix runs past the segment", ErrMalformedDNS)
	errDNSPointer    = fmt.Errorf("%w: compression pointer not strictly backwards (loop, self or forward reference)", ErrMalformedDNS)
	errDNSLabelType  = fmt.Errorf("%w: label longer than 63 bytes or unknown label type", ErrMalformedDNS)
	errDNSNameLong   = fmt.Errorf("%w: name longer than 255 bytes", ErrMalformedDNS)
	errDNSRDLength   = fmt.Errorf("%w: address record with wrong data length", ErrMalformedDNS)
	errDNSCNAMEData  = fmt.Errorf("%w: CNAME target runs past its record", ErrMalformedDNS)
	errDNSBadQName   = fmt.Errorf("%w: question name with invalid characters", ErrMalformedDNS)
	errDNSNoQuestion = fmt.Errorf("%w: response with answers but no question", ErrMalformedDNS)
)

const (
	dnsTypeA     = 1
	dnsTypeCNAME = 5
	dnsTypeAAAA  = 28
	dnsClassIN   = 1

	// maxChain bounds the CNAME chain followed from the question name.
	maxChain = 8
	// maxRRs bounds the answer records examined in one message.
	maxRRs = 64
)

// ParseDNS parses one DNS message (a UDP payload, or with tcp=true a TCP
// payload made of 2-byte length-prefixed messages) and calls fn for every
// address the question name resolves to: the question name (head of the
// CNAME chain), each final A/AAAA address, and the TTL as the minimum over
// the chain. Queries, failed responses and records not linked to the
// question are ignored. Malformed or hostile messages return an error
// wrapping ErrMalformedDNS, are counted in stats and yield no answer.
// stats may be nil.
func ParseDNS(msg []byte, tcp bool, stats *Stats, fn func(name string, addr netip.Addr, ttl uint32)) error {
	if stats == nil {
		stats = new(Stats)
	}
	if !tcp {
		return parseDNSMessage(msg, stats, fn)
	}
	if len(msg) < 2 {
		stats.DNSMalformed.Add(1)
		return errDNSTCPLength
	}
	for len(msg) >= 2 {
		n := int(binary.BigEndian.Uint16(msg))
		if 2+n > len(msg) {
			stats.DNSMalformed.Add(1)
			return errDNSTCPLength
		}
		if err := parseDNSMessage(msg[2:2+n], stats, fn); err != nil {
			return err
		}
		msg = msg[2+n:]
	}
	return nil
}

// dnsName is a decoded name in text form (lower-case, dot separated, no
// trailing dot).
type dnsName struct {
	b [256]byte
	n int
}

func (d *dnsName) bytes() []byte { return d.b[:d.n] }

func (d *dnsName) equal(o *dnsName) bool {
	return d.n == o.n && string(d.b[:d.n]) == string(o.b[:o.n])
}

// readName decodes the (possibly compressed) name at off into dst and
// returns the offset following the name at its original position. Every
// compression pointer must point strictly before the previous jump (the
// first one before itself), which rules out loops, self and forward
// references and bounds the work.
func readName(msg []byte, off int, dst *dnsName) (int, error) {
	dst.n = 0
	pos, next, limit, wire := off, -1, off, 0
	for {
		if pos >= len(msg) {
			return 0, errDNSTruncated
		}
		l := int(msg[pos])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if wire+1 > 255 {
					return 0, errDNSNameLong
				}
				if next < 0 {
					next = pos + 1
				}
				return next, nil
			}
			if pos+1+l > len(msg) {
				return 0, errDNSTruncated
			}
			wire += l + 1
			if wire+1 > 255 {
				return 0, errDNSNameLong
			}
			if dst.n > 0 {
				dst.b[dst.n] = '.'
				dst.n++
			}
			for _, c := range msg[pos+1 : pos+1+l] {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				dst.b[dst.n] = c
				dst.n++
			}
			pos += 1 + l
		case 0xc0:
			if pos+1 >= len(msg) {
				return 0, errDNSTruncated
			}
			target := (l&0x3f)<<8 | int(msg[pos+1])
			if target >= limit || target >= pos {
				return 0, errDNSPointer
			}
			if next < 0 {
				next = pos + 2
			}
			limit, pos = target, target
		default:
			return 0, errDNSLabelType
		}
	}
}

// rrHeader is the fixed part of a resource record.
type rrHeader struct {
	owner int // offset of the owner name
	typ   uint16
	class uint16
	ttl   uint32
	rdata int // offset of the record data
	rdlen int
}

func parseRR(msg []byte, off int, scratch *dnsName) (rrHeader, int, error) {
	next, err := readName(msg, off, scratch)
	if err != nil {
		return rrHeader{}, 0, err
	}
	if next+10 > len(msg) {
		return rrHeader{}, 0, errDNSTruncated
	}
	h := rrHeader{
		owner: off,
		typ:   binary.BigEndian.Uint16(msg[next:]),
		class: binary.BigEndian.Uint16(msg[next+2:]) & 0x7fff, // mDNS cache-flush bit
		ttl:   binary.BigEndian.Uint32(msg[next+4:]),
		rdata: next + 10,
		rdlen: int(binary.BigEndian.Uint16(msg[next+8:])),
	}
	if h.ttl > 1<<31-1 { // RFC 2181 §8: treat as zero
		h.ttl = 0
	}
	end := h.rdata + h.rdlen
	if end > len(msg) {
		return rrHeader{}, 0, errDNSTruncated
	}
	if h.class == dnsClassIN {
		switch h.typ {
		case dnsTypeA:
			if h.rdlen != 4 {
				return rrHeader{}, 0, errDNSRDLength
			}
		case dnsTypeAAAA:
			if h.rdlen != 16 {
				return rrHeader{}, 0, errDNSRDLength
			}
		case dnsTypeCNAME:
			e, err := readName(msg, h.rdata, scratch)
			if err != nil {
				return rrHeader{}, 0, err
			}
			if e > end {
				return rrHeader{}, 0, errDNSCNAMEData
			}
		}
	}
	return h, end, nil
}

// dnsQuestion returns the first question name of a DNS message (query or
// response) and the offset after the question section.
func dnsQuestion(msg []byte, q *dnsName) (qd int, off int, err error) {
	if len(msg) < 12 {
		return 0, 0, errDNSShort
	}
	qd = int(binary.BigEndian.Uint16(msg[4:]))
	off = 12
	var scratch dnsName
	for i := 0; i < qd; i++ {
		dst := &scratch
		if i == 0 {
			dst = q
		}
		next, err := readName(msg, off, dst)
		if err != nil {
			return 0, 0, err
		}
		off = next + 4
		if off > len(msg) {
			return 0, 0, errDNSTruncated
		}
	}
	return qd, off, nil
}

func parseDNSMessage(msg []byte, stats *Stats, fn func(string, netip.Addr, uint32)) error {
	var q dnsName
	qd, off, err := dnsQuestion(msg, &q)
	if err != nil {
		stats.DNSMalformed.Add(1)
		return err
	}
	stats.DNSMessages.Add(1)
	flags := binary.BigEndian.Uint16(msg[2:])
	an := int(binary.BigEndian.Uint16(msg[6:]))
	isResponse := flags&0x8000 != 0
	opcode := (flags >> 11) & 0xf
	rcode := flags & 0xf
	if !isResponse || opcode != 0 || rcode != 0 || an == 0 {
		return nil
	}
	if qd == 0 {
		stats.DNSMalformed.Add(1)
		return errDNSNoQuestion
	}

	// First pass: validate every counted answer before trusting any.
	var (
		rrs     [maxRRs]rrHeader
		nrr     int
		scratch dnsName
	)
	for i := 0; i < an; i++ {
		h, next, err := parseRR(msg, off, &scratch)
		if err != nil {
			stats.DNSMalformed.Add(1)
			return err
		}
		if nrr < maxRRs && h.class == dnsClassIN &&
			(h.typ == dnsTypeA || h.typ == dnsTypeAAAA || h.typ == dnsTypeCNAME) {
			rrs[nrr] = h
			nrr++
		}
		off = next
	}

	// Follow the CNAME chain from the question name.
	var (
		chain    [maxChain]dnsName
		chainTTL [maxChain]uint32
	)
	chain[0] = q
	chainTTL[0] = 1<<32 - 1
	depth := 1
	for depth < maxChain {
		found := false
		for i := range nrr {
			h := &rrs[i]
			if h.typ != dnsTypeCNAME {
				continue
			}
			if _, err := readName(msg, h.owner, &scratch); err != nil || !scratch.equal(&chain[depth-1]) {
				continue
			}
			if _, err := readName(msg, h.rdata, &chain[depth]); err != nil {
				continue
			}
			loop := false
			for k := range depth {
				if chain[k].equal(&chain[depth]) {
					loop = true
				}
			}
			if loop {
				break
			}
			chainTTL[depth] = min(chainTTL[depth-1], h.ttl)
			depth++
			found = true
			break
		}
		if !found {
			break
		}
	}

	var name string
	for i := range nrr {
		h := &rrs[i]
		if h.typ == dnsTypeCNAME {
			continue
		}
		if _, err := readName(msg, h.owner, &scratch); err != nil {
			continue
		}
		k := -1
		for j := range depth {
			if chain[j].equal(&scratch) {
				k = j
				break
			}
		}
		if k < 0 {
			continue
		}
		if name == "" {
			if name = hostname(q.bytes()); name == "" {
				stats.DNSMalformed.Add(1)
				return errDNSBadQName
			}
		}
		var addr netip.Addr
		if h.typ == dnsTypeA {
			addr = netip.AddrFrom4([4]byte(msg[h.rdata : h.rdata+4]))
		} else {
			addr = netip.AddrFrom16([16]byte(msg[h.rdata : h.rdata+16]))
		}
		stats.DNSAnswers.Add(1)
		fn(name, addr, min(chainTTL[k], h.ttl))
	}
	return nil
}

// DNSQuestionName returns the first question name of a DNS message (query
// or response; with tcp=true after the 2-byte length prefix), normalized.
func DNSQuestionName(msg []byte, tcp bool) (string, error) {
	if tcp {
		if len(msg) < 2 || 2+int(binary.BigEndian.Uint16(msg)) > len(msg) {
			return "", errDNSTCPLength
		}
		msg = msg[2 : 2+int(binary.BigEndian.Uint16(msg))]
	}
	var q dnsName
	qd, _, err := dnsQuestion(msg, &q)
	if err != nil {
		return "", err
	}
	if qd == 0 {
		return "", errDNSNoQuestion
	}
	s := hostname(q.bytes())
	if s == "" {
		return "", errDNSBadQName
	}
	return s, nil
}
