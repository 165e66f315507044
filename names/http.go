package names

import (
	"bytes"
	"net/netip"
)

// maxHTTPHead bounds the request head searched for a Host header.
const maxHTTPHead = 8192

// httpMethods are the request methods recognised at the start of a flow
// without looking further: RFC 9110's, PATCH, and WebDAV's (RFC 4918,
// 3253, 4791, 5323). Other methods are recognised by their request line.
var httpMethods = [...]string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
	"PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ", "REPORT ", "SEARCH ", "MKCALENDAR ", "ACL "}

// maxMethod bounds the length of an unlisted method token.
const maxMethod = 24

// isHTTPRequest reports whether b starts like an HTTP/1.x request: a
// listed method, or any upper-case token followed by a request target and
// " HTTP/1." on the first line (BIND, CHECKOUT, MERGE, ...).
func isHTTPRequest(b []byte) bool {
	if len(b) < 4 || b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	for _, m := range httpMethods {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	i := 1
	for i < len(b) && i <= maxMethod && (b[i] >= 'A' && b[i] <= 'Z' || b[i] == '-' || b[i] == '_') {
		i++
	}
	if i < 3 || i > maxMethod || i >= len(b) || b[i] != ' ' {
		return false
	}
	line := b[i+1 : min(len(b), maxHTTPHead)]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	} else {
		return false
	}
	j := bytes.IndexByte(line, ' ')
	return j > 0 && bytes.HasPrefix(line[j:], []byte(" HTTP/1."))
}

type httpResult uint8

const (
	httpNoHost httpResult = iota // complete head (or limit) without Host
	httpIncomplete
	httpFound
	httpAddress // the Host is an IP address literal, not a name
)

// parseHTTPHost looks for the Host header in a request head; it returns
// the raw value (port removed) without allocating. A CONNECT request
// without Host gives the authority of its request line.
func parseHTTPHost(b []byte) ([]byte, httpResult) {
	if len(b) > maxHTTPHead {
		b = b[:maxHTTPHead]
	}
	full := len(b) == maxHTTPHead
	// Skip the request line.
	i := bytes.IndexByte(b, '\n')
	var connect []byte // CONNECT's authority-form target
	if i > 0 && bytes.HasPrefix(b, []byte("CONNECT ")) {
		if f := bytes.Fields(b[:i]); len(f) == 3 {
			connect = f[1]
		}
	}
	for i >= 0 {
		b = b[i+1:]
		if len(b) == 0 {
			break
		}
		if b[0] == '\n' || (b[0] == '\r' && (len(b) == 1 || b[1] == '\n')) {
			// End of head.
			if connect != nil {
				return hostOfAuthority(connect)
			}
			return nil, httpNoHost
		}
		i = bytes.IndexByte(b, '\n')
		if len(b) > 5 && (b[0]|0x20) == 'h' && (b[1]|0x20) == 'o' && (b[2]|0x20) == 's' && (b[3]|0x20) == 't' && b[4] == ':' {
			if i < 0 && !full {
				return nil, httpIncomplete // the value may continue
			}
			v := b[5:]
			if i >= 0 {
				v = b[5:i]
			}
			return hostOfAuthority(bytes.TrimSpace(v))
		}
	}
	if full {
		return nil, httpNoHost
	}
	return nil, httpIncomplete
}

// hostOfAuthority returns the host of host[:port] or [v6][:port]. An IP
// address literal is no name: httpAddress.
func hostOfAuthority(v []byte) ([]byte, httpResult) {
	if len(v) > 0 && v[0] == '[' { // [v6]:port
		if j := bytes.IndexByte(v, ']'); j > 0 {
			return v[1:j], httpAddress
		}
		return nil, httpNoHost
	}
	if j := bytes.IndexByte(v, ':'); j >= 0 {
		if bytes.IndexByte(v[j+1:], ':') >= 0 {
			return v, httpAddress // an unbracketed IPv6 address (or junk)
		}
		v = v[:j]
	}
	if isIPv4(bytes.TrimSuffix(v, []byte("."))) {
		return v, httpAddress
	}
	return v, httpFound
}

// isAddressLiteral reports whether a server name from the wire is an IP
// address: dotted-quad IPv4 (one trailing dot allowed) or IPv6, bracketed
// or not, with or without a port.
func isAddressLiteral(b []byte) bool {
	v, r := hostOfAuthority(b)
	if r != httpAddress {
		return false
	}
	_, err := netip.ParseAddr(string(bytes.TrimSuffix(v, []byte("."))))
	return err == nil // (the rare path of a flow that is not named)
}

// isIPv4 reports whether b is a dotted-quad IPv4 address.
func isIPv4(b []byte) bool {
	parts, n := 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n++
			if n > 3 {
				return false
			}
		case c == '.' && n > 0 && i < len(b)-1:
			parts, n = parts+1, 0
		default:
			return false
		}
	}
	return parts == 3 && n > 0
}

// ParseHTTPHost returns the Host header of an HTTP/1.x request head,
// lower-cased and without port (for a CONNECT without Host, the authority
// of its request line). ok is false when b does not start with a request
// line, has no (valid) Host header, the Host is an IP address literal
// (not a name), or the head is incomplete.
func ParseHTTPHost(b []byte) (host string, ok bool) {
	if !isHTTPRequest(b) {
		return "", false
	}
	v, r := parseHTTPHost(b)
	if r != httpFound {
		return "", false
	}
	h := hostname(v)
	return h, h != ""
}
