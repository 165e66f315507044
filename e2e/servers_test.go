//go:build linux

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary double as the servers that run inside the
// namespace (BW_E2E_SERVERS=1): TLS on 443, DNS on 53, a TCP sink on 9000
// and a UDP sink on 9001, on every address.
func TestMain(m *testing.M) {
	if os.Getenv("BW_E2E_SERVERS") == "1" {
		runServers()
		return
	}
	os.Exit(m.Run())
}

func runServers() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"www.tiktok.com"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	tl, err := tls.Listen("tcp", ":443", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		panic(err)
	}
	go serveSink(tl)
	tcp, err := net.Listen("tcp", ":9000")
	if err != nil {
		panic(err)
	}
	go serveSink(tcp)
	udp, err := net.ListenPacket("udp", ":9001")
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	dns, err := net.ListenPacket("udp", ":53")
	if err != nil {
		panic(err)
	}
	go serveDNS(dns)
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
}

func serveSink(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(io.Discard, c)
		}()
	}
}

// serveDNS answers every A query with 203.0.113.10 and AAAA with 2001:db8:1::10.
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if len(q) < 12 {
			continue
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5
		if end > len(q) {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[end-4:])
		resp := append([]byte(nil), q[:end]...)
		resp[2], resp[3] = 0x81, 0x80
		resp[6], resp[7] = 0, 1
		var rdata []byte
		if qtype == 28 {
			rdata = net.ParseIP("2001:db8:1::10").To16()
		} else {
			rdata = net.ParseIP("203.0.113.10").To4()
		}
		resp = append(resp, 0xc0, 12, byte(qtype>>8), byte(qtype), 0, 1, 0, 0, 1, 0, 0, byte(len(rdata)))
		resp = append(resp, rdata...)
		pc.WriteTo(resp, addr)
	}
}
