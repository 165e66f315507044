package names

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseClientHello(t *testing.T) {
	alpn := ext{0x0010, []byte{0, 3, 2, 'h', '2'}}
	tests := []struct {
		name    string
		b       []byte
		sni     string
		ech     bool
		wantErr error
	}{
		{name: "one record", b: records(helloMsg(alpn, sniExt("WWW.Example.com")), 16384), sni: "www.example.com"},
		{name: "trailing dot removed", b: records(helloMsg(sniExt("example.com.")), 16384), sni: "example.com"},
		{name: "ECH outer name", b: records(helloMsg(sniExt("public.example"), ext{0xfe0d, []byte{0, 1, 2, 3}}), 16384), sni: "public.example", ech: true},
		{name: "no SNI", b: records(helloMsg(alpn), 16384)},
		{name: "hello over three records", b: records(helloMsg(alpn, sniExt("split.example")), 40), sni: "split.example"},
		{name: "header split over records", b: records(helloMsg(sniExt("tiny.example")), 3), sni: "tiny.example"},
		{name: "not a handshake", b: []byte{0x17, 0x03, 0x03, 0, 5, 1, 2, 3, 4, 5}, wantErr: ErrNotHello},
		{name: "server hello", b: []byte{0x16, 0x03, 0x03, 0, 5, 2, 0, 0, 1, 0}, wantErr: ErrNotHello},
		{name: "zero-length record", b: []byte{0x16, 0x03, 0x01, 0, 0}, wantErr: ErrBadHello},
		{name: "extension longer than the list", b: func() []byte {
			m := helloMsg(sniExt("x.example"))
			m[len(m)-len("x.example")-7] = 0xff // extension length high byte
			return records(m, 16384)
		}(), wantErr: ErrBadHello},
		{name: "bad characters rejected", b: records(helloMsg(sniExt("bad name")), 16384)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni, ech, err := ParseClientHello(tt.b)
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff([]any{sni, ech}, []any{tt.sni, tt.ech}); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestParseClientHelloTruncated: every strict prefix of a ClientHello is
// incomplete (never a wrong answer, never a panic).
func TestParseClientHelloTruncated(t *testing.T) {
	for _, size := range []int{16384, 50} {
		b := records(helloMsg(ext{0x0010, []byte{0, 3, 2, 'h', '2'}}, sniExt("trunc.example")), size)
		for i := range len(b) {
			if _, _, err := ParseClientHello(b[:i]); err != ErrIncomplete {
				t.Fatalf("record size %d, prefix %d: err = %v, want ErrIncomplete", size, i, err)
			}
		}
	}
}

func TestParseHTTPHost(t *testing.T) {
	tests := []struct {
		name, req string
		host      string
		ok        bool
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: Example.COM\r\n\r\n", "example.com", true},
		{"port removed", "POST /x HTTP/1.1\r\nUser-Agent: a\r\nhost:  api.example.net:8080 \r\n\r\n", "api.example.net", true},
		{"bare LF", "HEAD / HTTP/1.0\nHost: lf.example\n\n", "lf.example", true},
		{"no host", "GET / HTTP/1.0\r\nAccept: */*\r\n\r\nHost: body.example\r\n", "", false},
		{"incomplete head", "GET / HTTP/1.1\r\nAccept: */*\r\n", "", false},
		{"not a request", "HTTP/1.1 200 OK\r\nHost: x.example\r\n\r\n", "", false},
		{"lower-case method", "get / HTTP/1.1\r\nHost: x.example\r\n\r\n", "", false},
		{"invalid host bytes", "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", "", false},
		{"IPv6 literal", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "", false},
		{"IPv4 literal", "GET / HTTP/1.1\r\nHost: 192.0.2.1:8089\r\n\r\n", "", false},
		{"IPv4 literal, no port", "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n", "", false},
		{"IPv6 literal, no port", "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", "", false},
		{"IPv6 unbracketed", "GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n", "", false},
		{"numeric label is a name", "GET / HTTP/1.1\r\nHost: 1.2.3.example\r\n\r\n", "1.2.3.example", true},
		{"PROPFIND", "PROPFIND /dav/ HTTP/1.1\r\nHost: dav.example\r\nDepth: 1\r\n\r\n", "dav.example", true},
		{"UNLOCK", "UNLOCK /dav/a HTTP/1.1\r\nHost: dav.example\r\n\r\n", "dav.example", true},
		{"MKCALENDAR", "MKCALENDAR /cal/new/ HTTP/1.1\r\nHost: cal.example\r\n\r\n", "cal.example", true},
		{"unlisted method", "BASELINE-CONTROL /x HTTP/1.1\r\nHost: vc.example\r\n\r\n", "vc.example", true},
		{"unlisted method, not HTTP", "DESCRIBE rtsp://cam.example/ RTSP/1.0\r\nHost: cam.example\r\n\r\n", "", false},
		{"CONNECT with Host", "CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n", "tunnel.example", true},
		{"CONNECT without Host", "CONNECT tunnel.example:443 HTTP/1.0\r\nUser-Agent: a\r\n\r\n", "tunnel.example", true},
		{"CONNECT to an address", "CONNECT 192.0.2.7:443 HTTP/1.0\r\n\r\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, ok := ParseHTTPHost([]byte(tt.req))
			if host != tt.host || ok != tt.ok {
				t.Errorf("got %q %v, want %q %v", host, ok, tt.host, tt.ok)
			}
		})
	}
}

func BenchmarkParseClientHello(b *testing.B) {
	h := records(helloMsg(ext{0x0010, []byte{0, 3, 2, 'h', '2'}}, ext{0x002b, []byte{2, 3, 4}}, sniExt("www.example.com")), 16384)
	b.ReportAllocs()
	b.SetBytes(int64(len(h)))
	for b.Loop() {
		if _, _, err := clientHelloRecords(h, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIsAddressLiteral(t *testing.T) {
	for s, want := range map[string]bool{
		"192.0.2.1": true, "192.0.2.1.": true, "192.0.2.1:443": true, "[2001:db8::1]": true, "[2001:db8::1]:443": true,
		"2001:db8::1": true, "www.example.com": false, "1.2.3.example": false, "a:b:c": false, "": false, "256.1.1.1x": false,
	} {
		if got := isAddressLiteral([]byte(s)); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}
