package capture

import (
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// frame builds an Ethernet (or raw IP) frame carrying one datagram.
func frame(t *testing.T, raw, v6, tcp bool, src, dst string, sport, dport uint16) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
		proto := layers.IPProtocolUDP
		if tcp {
			proto = layers.IPProtocolTCP
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		ls, netl = append(ls, ip), ip
	} else {
		proto := layers.IPProtocolUDP
		if tcp {
			proto = layers.IPProtocolTCP
		}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
		ls, netl = append(ls, ip), ip
	}
	if !raw {
		ls = append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}}, ls...)
	}
	if tcp {
		l := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
		l.SetNetworkLayerForChecksum(netl)
		ls = append(ls, l)
	} else {
		l := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		l.SetNetworkLayerForChecksum(netl)
		ls = append(ls, l)
	}
	ls = append(ls, gopacket.Payload("borderwatch"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFilterCompiler: programs compiled through tcpdump, run by an
// independent classic BPF interpreter (golang.org/x/net/bpf), accept and
// reject the frames the expressions describe, on Ethernet and raw IP.
func TestFilterCompiler(t *testing.T) {
	c, err := NewFilterCompiler(nil)
	if err != nil {
		t.Skipf("%v (CI installs tcpdump)", err)
	}
	type pkt struct {
		v6, tcp    bool
		src, dst   string
		sport, dpt uint16
	}
	udp9001 := pkt{false, false, "198.18.0.1", "203.0.113.10", 40000, 9001}
	tls4 := pkt{false, true, "198.18.0.1", "203.0.113.10", 40000, 443}
	ssh6 := pkt{true, true, "2001:db8:1::1", "2001:db8:2::10", 22, 50000}
	dns6 := pkt{true, false, "2001:db8:2::10", "2001:db8:1::1", 53, 40000}
	for _, tc := range []struct {
		expr   string
		accept map[pkt]bool
	}{
		{"not udp port 9001", map[pkt]bool{udp9001: false, tls4: true, ssh6: true, dns6: true}},
		{"not port 22", map[pkt]bool{udp9001: true, tls4: true, ssh6: false, dns6: true}},
		{"tcp and dst port 443", map[pkt]bool{udp9001: false, tls4: true, ssh6: false, dns6: false}},
		{"ip6 and udp port 53", map[pkt]bool{udp9001: false, tls4: false, ssh6: false, dns6: true}},
		{"net 203.0.113.0/24 or host 2001:db8:1::1", map[pkt]bool{udp9001: true, tls4: true, ssh6: true, dns6: true}},
		{"tcp[tcpflags] & tcp-syn != 0", map[pkt]bool{udp9001: false, tls4: true, ssh6: false, dns6: false}},
	} {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
			t.Run(lt.String()+"/"+tc.expr, func(t *testing.T) {
				prog, err := c.Compile(tc.expr, lt, 1000)
				if err != nil {
					t.Fatal(err)
				}
				insns, ok := bpf.Disassemble(prog)
				if !ok {
					t.Fatalf("cannot disassemble %v", prog)
				}
				vm, err := bpf.NewVM(insns)
				if err != nil {
					t.Fatal(err)
				}
				got := map[pkt]bool{}
				for p := range tc.accept {
					n, err := vm.Run(frame(t, lt == layers.LinkTypeRaw, p.v6, p.tcp, p.src, p.dst, p.sport, p.dpt))
					if err != nil {
						t.Fatal(err)
					}
					got[p] = n > 0
					if n > 0 && n != 1000 {
						t.Errorf("accepts %d bytes, want the snap length 1000", n)
					}
				}
				if d := cmp.Diff(got, tc.accept); d != "" {
					t.Errorf("(-got +want)\n%s", d)
				}
			})
		}
	}
	if _, err := c.Compile("port banana", layers.LinkTypeEthernet, 65535); err == nil || !strings.Contains(err.Error(), "banana") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestFilterCompilerMissing(t *testing.T) {
	_, err := NewFilterCompiler([]string{"/nonexistent/tcpdump"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"apt-get install tcpdump", "--capture.filter-bpf", "/nonexistent/tcpdump"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not mention %q", err, want)
		}
	}
}
