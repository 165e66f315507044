package names

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type answer struct {
	Name string
	Addr netip.Addr
	TTL  uint32
}

func collect(t *testing.T, msg []byte, tcp bool) ([]answer, *Stats, error) {
	t.Helper()
	var st Stats
	var got []answer
	err := ParseDNS(msg, tcp, &st, func(n string, a netip.Addr, ttl uint32) {
		got = append(got, answer{n, a, ttl})
	})
	return got, &st, err
}

const respOK = 0x8180

func TestParseDNS(t *testing.T) {
	a4 := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	a16 := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	q := dnsWire("WWW.Example.COM.")
	qp := ptr(12) // the question name
	tests := []struct {
		name    string
		msg     []byte
		tcp     bool
		want    []answer
		wantErr bool
	}{
		{
			name: "A record, name lower-cased",
			msg:  dnsMsg(respOK, q, 1, []dnsRR{{qp, 1, 300, a4("192.0.2.1")}}, 1),
			want: []answer{{"www.example.com", netip.MustParseAddr("192.0.2.1"), 300}},
		},
		{
			name: "CNAME chain to two AAAA, TTL is the chain minimum",
			msg: func() []byte {
				// question at 12; cname1 target written in full, then pointers.
				m := dnsMsg(respOK, q, 28, nil, 4)
				c1 := len(m) + 12 // offset of first CNAME's rdata
				m = append(m, qp...)
				m = binary.BigEndian.AppendUint16(m, 5)
				m = binary.BigEndian.AppendUint16(m, 1)
				m = binary.BigEndian.AppendUint32(m, 3600)
				t1 := dnsWire("edge.cdn.example.net")
				m = binary.BigEndian.AppendUint16(m, uint16(len(t1)))
				m = append(m, t1...)
				c2 := len(m) + 12
				m = append(m, ptr(c1)...)
				m = binary.BigEndian.AppendUint16(m, 5)
				m = binary.BigEndian.AppendUint16(m, 1)
				m = binary.BigEndian.AppendUint32(m, 120)
				t2 := append([]byte{2, 'e', '2'}, ptr(c1+5)...) // e2.cdn.example.net
				m = binary.BigEndian.AppendUint16(m, uint16(len(t2)))
				m = append(m, t2...)
				for _, a := range []string{"2001:db8::1", "2001:db8::2"} {
					m = append(m, ptr(c2)...)
					m = binary.BigEndian.AppendUint16(m, 28)
					m = binary.BigEndian.AppendUint16(m, 1)
					m = binary.BigEndian.AppendUint32(m, 7200)
					m = binary.BigEndian.AppendUint16(m, 16)
					m = append(m, a16(a)...)
				}
				return m
			}(),
			want: []answer{
				{"www.example.com", netip.MustParseAddr("2001:db8::1"), 120},
				{"www.example.com", netip.MustParseAddr("2001:db8::2"), 120},
			},
		},
		{
			name: "records not linked to the question are ignored",
			msg: dnsMsg(respOK, q, 1, []dnsRR{
				{dnsWire("evil.example.org"), 1, 300, a4("198.51.100.66")},
				{qp, 1, 60, a4("192.0.2.7")},
			}, 2),
			want: []answer{{"www.example.com", netip.MustParseAddr("192.0.2.7"), 60}},
		},
		{
			name: "query is not an answer",
			msg:  dnsMsg(0x0100, q, 1, nil, 0),
		},
		{
			name: "NXDOMAIN yields nothing",
			msg:  dnsMsg(0x8183, q, 1, []dnsRR{{qp, 1, 300, a4("192.0.2.1")}}, 1),
		},
		{
			name: "TCP: two length-prefixed messages",
			msg: func() []byte {
				m1 := dnsMsg(respOK, q, 1, []dnsRR{{qp, 1, 30, a4("192.0.2.1")}}, 1)
				m2 := dnsMsg(respOK, dnsWire("b.example"), 1, []dnsRR{{qp, 1, 40, a4("192.0.2.2")}}, 1)
				b := binary.BigEndian.AppendUint16(nil, uint16(len(m1)))
				b = append(b, m1...)
				b = binary.BigEndian.AppendUint16(b, uint16(len(m2)))
				return append(b, m2...)
			}(),
			tcp: true,
			want: []answer{
				{"www.example.com", netip.MustParseAddr("192.0.2.1"), 30},
				{"b.example", netip.MustParseAddr("192.0.2.2"), 40},
			},
		},
		{
			name:    "TCP: length prefix beyond the segment",
			msg:     append([]byte{0x10, 0x00}, dnsMsg(respOK, q, 1, nil, 0)...),
			tcp:     true,
			wantErr: true,
		},
		{
			name:    "compression loop: pointer to itself",
			msg:     dnsMsg(respOK, q, 1, []dnsRR{{ptr(12 + len(q) + 4), 1, 300, a4("192.0.2.1")}}, 1),
			wantErr: true,
		},
		{
			name: "compression loop: two pointers to each other",
			msg: func() []byte {
				m := dnsMsg(respOK, q, 1, nil, 1)
				at := len(m)
				m = append(m, 1, 'a')
				m = append(m, ptr(at+4)...) // forward to the next pointer
				m = append(m, ptr(at)...)   // back to "a"
				m = append(m, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4)
				return m
			}(),
			wantErr: true,
		},
		{
			name:    "forward pointer",
			msg:     dnsMsg(respOK, q, 1, []dnsRR{{ptr(400), 1, 300, a4("192.0.2.1")}}, 1),
			wantErr: true,
		},
		{
			name:    "lying answer count",
			msg:     dnsMsg(respOK, q, 1, []dnsRR{{qp, 1, 300, a4("192.0.2.1")}}, 5),
			wantErr: true,
		},
		{
			name: "lying question count",
			msg: func() []byte {
				m := dnsMsg(respOK, q, 1, []dnsRR{{qp, 1, 300, a4("192.0.2.1")}}, 1)
				binary.BigEndian.PutUint16(m[4:], 40)
				return m
			}(),
			wantErr: true,
		},
		{
			name: "name longer than 255 bytes",
			msg: func() []byte {
				var n []byte
				for range 5 {
					n = append(n, 60)
					n = append(n, make([]byte, 60)...)
				}
				for i := 1; i < len(n); i++ {
					if n[i] == 0 {
						n[i] = 'a'
					}
				}
				n = append(n, 0)
				return dnsMsg(respOK, n, 1, []dnsRR{{ptr(12), 1, 300, a4("192.0.2.1")}}, 1)
			}(),
			wantErr: true,
		},
		{
			name:    "label longer than 63 bytes (reserved label type)",
			msg:     dnsMsg(respOK, append([]byte{0x40}, make([]byte, 65)...), 1, nil, 0),
			wantErr: true,
		},
		{
			name:    "A record with 5 data bytes",
			msg:     dnsMsg(respOK, q, 1, []dnsRR{{qp, 1, 300, []byte{1, 2, 3, 4, 5}}}, 1),
			wantErr: true,
		},
		{
			name:    "shorter than a header",
			msg:     []byte{1, 2, 3},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := collect(t, tt.msg, tt.tcp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformedDNS) {
				t.Errorf("error %v does not wrap ErrMalformedDNS", err)
			}
			if tt.wantErr && st.DNSMalformed.Load() != 1 {
				t.Errorf("DNSMalformed = %d, want 1", st.DNSMalformed.Load())
			}
			if diff := cmp.Diff(got, tt.want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("answers (-got +want):\n%s", diff)
			}
			if uint64(len(got)) != st.DNSAnswers.Load() {
				t.Errorf("DNSAnswers = %d, want %d", st.DNSAnswers.Load(), len(got))
			}
		})
	}
}

// TestParseDNSTruncated cuts a valid CNAME response at every offset: each
// prefix must be rejected or yield a subset of the answers, never panic.
func TestParseDNSTruncated(t *testing.T) {
	q := dnsWire("a.example")
	m := dnsMsg(respOK, q, 1, []dnsRR{
		{ptr(12), 5, 60, dnsWire("b.example")},
		{dnsWire("b.example"), 1, 60, []byte{192, 0, 2, 9}},
	}, 2)
	full, _, err := collect(t, m, false)
	if err != nil || len(full) != 1 {
		t.Fatalf("full message: %v %v", full, err)
	}
	for i := range len(m) {
		got, _, err := collect(t, m[:i], false)
		if err == nil && len(got) != 0 {
			t.Errorf("prefix %d: answers %v without error", i, got)
		}
	}
}

func TestDNSQuestionName(t *testing.T) {
	m := dnsMsg(0x0100, dnsWire("Mail.Example.ORG"), 1, nil, 0)
	got, err := DNSQuestionName(m, false)
	if err != nil || got != "mail.example.org" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := DNSQuestionName(append([]byte{0, byte(len(m))}, m...), true); err != nil {
		t.Errorf("tcp: %v", err)
	}
}

func BenchmarkParseDNS(b *testing.B) {
	q := dnsWire("www.example.com")
	m := dnsMsg(respOK, q, 1, []dnsRR{
		{ptr(12), 5, 60, dnsWire("edge.example.net")},
		{dnsWire("edge.example.net"), 1, 60, []byte{192, 0, 2, 9}},
		{dnsWire("edge.example.net"), 1, 60, []byte{192, 0, 2, 10}},
	}, 3)
	var st Stats
	fn := func(string, netip.Addr, uint32) {}
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		if err := ParseDNS(m, false, &st, fn); err != nil {
			b.Fatal(err)
		}
	}
}
