//go:build linux

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary double as the programs that run inside the
// namespaces (BW_E2E_ROLE): the servers, the traffic generator and an
// HTTP getter (borderwatch listens on the client namespace's loopback).
func TestMain(m *testing.M) {
	switch os.Getenv("BW_E2E_ROLE") {
	case "servers":
		if err := runServers(); err != nil {
			fmt.Fprintln(os.Stderr, "servers:", err)
			os.Exit(1)
		}
		return
	case "relay":
		if err := runRelay(); err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		return
	case "traffic":
		if err := sendTraffic(); err != nil {
			fmt.Fprintln(os.Stderr, "traffic:", err)
			os.Exit(1)
		}
		return
	case "filler":
		if err := sendFiller(); err != nil {
			fmt.Fprintln(os.Stderr, "filler:", err)
			os.Exit(1)
		}
		return
	case "datagram":
		// One UDP datagram to the first server's sink, always from the
		// same source port: successive calls are one flow.
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(client4), Port: datagramPort}, &net.UDPAddr{IP: net.ParseIP(servers[0].addr), Port: 9001})
		if err != nil {
			fmt.Fprintln(os.Stderr, "datagram:", err)
			os.Exit(1)
		}
		c.Write(make([]byte, 100))
		c.Close()
		return
	case "get":
		resp, err := http.Get(os.Getenv("BW_E2E_URL"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, resp.Status)
			os.Exit(2)
		}
		io.Copy(os.Stdout, resp.Body)
		return
	}
	os.Exit(m.Run())
}

// runServers serves on every server address: TLS on 443, DNS on 53, a TCP
// sink on 9000 and a UDP sink on 9001. DNS sockets are bound per address,
// so that answers leave from the address the query went to.
func runServers() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{sni}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	tl, err := tls.Listen("tcp", ":443", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	go serveSink(tl)
	tcp, err := net.Listen("tcp", ":9000")
	if err != nil {
		return err
	}
	go serveSink(tcp)
	udp, err := net.ListenPacket("udp", ":9001")
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	for _, s := range servers {
		dns, err := net.ListenPacket("udp", net.JoinHostPort(s.addr, "53"))
		if err != nil {
			return err
		}
		go serveDNS(dns)
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
	return nil
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

// serveDNS answers every A query with the first IPv4 server address and
// every other query with the first IPv6 one.
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
		rdata := netip.MustParseAddr(servers[2].addr).AsSlice()
		if qtype == 1 {
			rdata = netip.MustParseAddr(servers[0].addr).AsSlice()
		}
		resp = append(resp, 0xc0, 12, byte(qtype>>8), byte(qtype), 0, 1, 0, 0, 1, 0, 0, byte(len(rdata)))
		resp = append(resp, rdata...)
		pc.WriteTo(resp, addr)
	}
}

// sendTraffic sends, to every server: DNS queries (A and AAAA), a TLS
// session with an SNI, a bulk TCP transfer and a UDP stream.
func sendTraffic() error {
	for _, s := range servers {
		c, err := net.Dial("udp", net.JoinHostPort(s.addr, "53"))
		if err != nil {
			return err
		}
		for i, qt := range []byte{1, 28} {
			q := []byte{0, byte(i + 1), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', 'p', 'i', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, qt, 0, 1}
			c.Write(q)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				return fmt.Errorf("dns %s: %w", s.addr, err)
			}
		}
		c.Close()
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(s.addr, "443"), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err != nil {
			return fmt.Errorf("tls %s: %w", s.addr, err)
		}
		for range 4 {
			if _, err := tc.Write(bytes.Repeat([]byte("x"), 50_000)); err != nil {
				return fmt.Errorf("tls %s: %w", s.addr, err)
			}
			time.Sleep(time.Millisecond)
		}
		tc.Close()
		bc, err := net.Dial("tcp", net.JoinHostPort(s.addr, "9000"))
		if err != nil {
			return err
		}
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < 1_000_000; sent += len(chunk) {
			if _, err := bc.Write(chunk); err != nil {
				return fmt.Errorf("bulk %s: %w", s.addr, err)
			}
			time.Sleep(time.Millisecond) // paced, so that tshark's own capture keeps up
		}
		bc.Close()
		uc, err := net.Dial("udp", net.JoinHostPort(s.addr, "9001"))
		if err != nil {
			return err
		}
		for i := range 300 {
			uc.Write(make([]byte, 1000))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		uc.Close()
	}
	time.Sleep(time.Second) // FINs, last ACKs
	return nil
}
