// Command samplepcap writes testdata/sample.pcap.gz, the small capture the
// README's first command reads: a few clients in 192.168.1.0/24 resolve
// names through a local resolver, then talk TLS (with SNI), QUIC-shaped UDP
// and plain HTTP to real, public service addresses (TikTok on ByteDance's
// network, Google, Oracle Cloud, Alibaba Cloud Singapore, ...). The bytes
// are synthetic; the addresses and names are what those services use, so
// the embedded databases place them as they would place real traffic.
//
//	go run ./tools/samplepcap -o testdata/sample.pcap.gz
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
)

// service is one remote endpoint of the sample.
type service struct {
	name  string
	addr  string
	kind  string // tls, http, quic
	bytes int    // downstream payload bytes, roughly
}

var services = []service{
	{"www.tiktok.com", "71.18.0.1", "tls", 900_000},
	{"v16-webapp.tiktok.com", "71.18.1.20", "tls", 2_400_000},
	{"p16-sign-va.tiktokcdn.com", "71.18.2.30", "quic", 1_500_000},
	{"mon.byteoversea.com", "71.18.3.40", "tls", 40_000},
	{"www.google.com", "142.250.74.36", "quic", 300_000},
	{"dns.google", "8.8.8.8", "tls", 8_000},
	{"objectstorage.us-ashburn-1.oraclecloud.com", "129.213.0.10", "tls", 700_000},
	{"www.alibabacloud.com", "47.74.0.10", "tls", 250_000},
	{"www.lemon8-app.com", "161.117.0.10", "tls", 180_000},
	{"www.capcut.com", "8.219.0.20", "quic", 220_000},
	{"weixin.qq.com", "43.129.0.10", "tls", 120_000},
	{"www.wikipedia.org", "185.15.59.224", "tls", 90_000},
	{"example.org", "93.184.215.14", "http", 20_000},
}

type writer struct {
	w   *bufio.Writer
	ts  int64 // microseconds
	rng *rand.Rand
}

func main() {
	out := flag.String("o", "testdata/sample.pcap.gz", "output file (gzip-compressed when it ends in .gz)")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var sink io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(*out, ".gz") {
		zw, _ = gzip.NewWriterLevel(f, gzip.BestCompression)
		sink = zw
	}
	w := &writer{w: bufio.NewWriter(sink), ts: 1_763_000_000_000_000, rng: rand.New(rand.NewPCG(7, 7))}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.w.Write(hdr)
	resolver := netip.MustParseAddr("192.168.1.1")
	for i, s := range services {
		client := netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i%3)})
		server := netip.MustParseAddr(s.addr)
		cport := uint16(40000 + i*7)
		w.udp(client, resolver, cport+1, 53, dnsQuery(s.name, uint16(i)))
		w.udp(resolver, client, 53, cport+1, dnsAnswer(s.name, uint16(i), server))
		switch s.kind {
		case "tls", "http":
			w.tcpFlow(client, server, cport, s)
		case "quic":
			w.quicFlow(client, server, cport, s)
		}
	}
	if err := w.w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if zw != nil {
		zw.Close()
	}
	f.Close()
}

func (w *writer) tcpFlow(c, s netip.Addr, cport uint16, sv service) {
	sport := uint16(443)
	first := clientHello(sv.name)
	if sv.kind == "http" {
		sport = 80
		first = []byte("GET / HTTP/1.1\r\nHost: " + sv.name + "\r\nUser-Agent: borderwatch-sample\r\n\r\n")
	}
	var cseq, sseq uint32 = 1000, 5000
	w.tcp(c, s, cport, sport, &cseq, sseq, 0x02, nil)
	w.tcp(s, c, sport, cport, &sseq, cseq, 0x12, nil)
	w.tcp(c, s, cport, sport, &cseq, sseq, 0x10, nil)
	w.tcp(c, s, cport, sport, &cseq, sseq, 0x18, first)
	for sent := 0; sent < sv.bytes; sent += 1400 {
		w.tcp(s, c, sport, cport, &sseq, cseq, 0x10, make([]byte, 1400))
		if w.rng.IntN(4) == 0 {
			w.tcp(c, s, cport, sport, &cseq, sseq, 0x10, nil)
		}
		if w.rng.IntN(10) == 0 {
			w.tcp(c, s, cport, sport, &cseq, sseq, 0x18, make([]byte, 100+w.rng.IntN(400)))
		}
	}
	w.tcp(c, s, cport, sport, &cseq, sseq, 0x11, nil)
	w.tcp(s, c, sport, cport, &sseq, cseq, 0x11, nil)
}

func (w *writer) quicFlow(c, s netip.Addr, cport uint16, sv service) {
	p := make([]byte, 1200)
	p[0] = 0xc3
	binary.BigEndian.PutUint32(p[1:], 1)
	w.udp(c, s, cport, 443, p)
	for sent := 0; sent < sv.bytes; sent += 1350 {
		d := make([]byte, 1350)
		d[0] = 0x43
		w.udp(s, c, 443, cport, d)
		if w.rng.IntN(5) == 0 {
			a := make([]byte, 40)
			a[0] = 0x43
			w.udp(c, s, cport, 443, a)
		}
	}
}

func (w *writer) tcp(src, dst netip.Addr, sp, dp uint16, seq *uint32, ack uint32, flags byte, payload []byte) {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], sp)
	binary.BigEndian.PutUint16(h[2:], dp)
	binary.BigEndian.PutUint32(h[4:], *seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 64240)
	*seq += uint32(len(payload))
	if flags&0x03 != 0 {
		*seq++
	}
	w.ip(src, dst, 6, append(h, payload...))
}

func (w *writer) udp(src, dst netip.Addr, sp, dp uint16, payload []byte) {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sp)
	binary.BigEndian.PutUint16(h[2:], dp)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	w.ip(src, dst, 17, append(h, payload...))
}

func (w *writer) ip(src, dst netip.Addr, proto byte, l4 []byte) {
	ip := make([]byte, 20, 20+len(l4))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8] = 64
	ip[9] = proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	frame := append([]byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00}, append(ip, l4...)...)
	w.ts += int64(200 + w.rng.IntN(2000))
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(w.ts/1_000_000))
	binary.LittleEndian.PutUint32(rec[4:], uint32(w.ts%1_000_000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	w.w.Write(rec)
	w.w.Write(frame)
}

func dnsName(name string) []byte {
	var b []byte
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			b = append(b, byte(i-start))
			b = append(b, name[start:i]...)
			start = i + 1
		}
	}
	return append(b, 0)
}

func dnsQuery(name string, id uint16) []byte {
	p := []byte{byte(id >> 8), byte(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	p = append(p, dnsName(name)...)
	return append(p, 0, 1, 0, 1)
}

func dnsAnswer(name string, id uint16, a netip.Addr) []byte {
	p := []byte{byte(id >> 8), byte(id), 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}
	p = append(p, dnsName(name)...)
	p = append(p, 0, 1, 0, 1)
	ip := a.As4()
	p = append(p, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4)
	return append(p, ip[:]...)
}

func clientHello(sni string) []byte {
	list := append([]byte{0, byte(len(sni) >> 8), byte(len(sni))}, sni...)
	sn := append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)
	ext := append([]byte{0, 0, byte(len(sn) >> 8), byte(len(sn))}, sn...)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}
