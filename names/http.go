package names

import "bytes"

// maxHTTPHead bounds the request head searched for a Host header.
const maxHTTPHead = 8192

// httpMethods are the request methods recognised at the start of a flow.
var httpMethods = [...]string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// isHTTPRequest reports whether b starts like an HTTP/1.x request.
func isHTTPRequest(b []byte) bool {
	if len(b) < 4 || b[0] < 'C' || b[0] > 'T' {
		return false
	}
	for _, m := range httpMethods {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

type httpResult uint8

const (
	httpNoHost httpResult = iota // complete head (or limit) without Host
	httpIncomplete
	httpFound
)

// parseHTTPHost looks for the Host header in a request head; it returns
// the raw value (port removed) without allocating.
func parseHTTPHost(b []byte) ([]byte, httpResult) {
	if len(b) > maxHTTPHead {
		b = b[:maxHTTPHead]
	}
	full := len(b) == maxHTTPHead
	// Skip the request line.
	i := bytes.IndexByte(b, '\n')
	for i >= 0 {
		b = b[i+1:]
		if len(b) == 0 {
			break
		}
		if b[0] == '\n' || (b[0] == '\r' && (len(b) == 1 || b[1] == '\n')) {
			return nil, httpNoHost // end of head
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
			v = bytes.TrimSpace(v)
			if len(v) > 0 && v[0] == '[' { // [v6]:port
				if j := bytes.IndexByte(v, ']'); j > 0 {
					return v[1:j], httpFound
				}
				return nil, httpNoHost
			}
			if j := bytes.IndexByte(v, ':'); j >= 0 && bytes.IndexByte(v[j+1:], ':') < 0 {
				v = v[:j]
			}
			return v, httpFound
		}
	}
	if full {
		return nil, httpNoHost
	}
	return nil, httpIncomplete
}

// ParseHTTPHost returns the Host header of an HTTP/1.x request head,
// lower-cased and without port. ok is false when b does not start with a
// request method, has no (valid) Host header, or the head is incomplete.
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
