package names

// maxName is the longest name kept (DNS limit, text form).
const maxName = 253

// hostname validates and lower-cases a host name from the wire and returns
// it as a new string (the only allocation a parser makes, once per found
// name). A ":port" suffix and one trailing dot is removed. Anything that is not made of letters,
// digits, '-', '_' and '.' yields "": names are matched against catalogs
// and may end up in metric labels. So does an IPv4 address literal (an
// IPv6 one has colons): an SNI or Host that is an address names nothing.
func hostname(b []byte) string {
	// A ":port" suffix (seen in SNIs of test clients) is not part of the name.
	for i := len(b) - 1; i > 0; i-- {
		c := b[i]
		if c == ':' && i < len(b)-1 {
			b = b[:i]
			break
		}
		if c < '0' || c > '9' {
			break
		}
	}
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > maxName || isIPv4(b) {
		return "" // an address literal is not a name (RFC 1123 §2.1)
	}
	var buf [maxName]byte
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			return ""
		}
		buf[i] = c
	}
	return string(buf[:len(b)])
}
