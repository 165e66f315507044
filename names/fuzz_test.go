package names

import (
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// realPayloads returns up to n client payloads from shared captures that
// match keep (nil when the shared captures are absent).
func realPayloads(n int, keep func(pkt) bool, captures ...string) [][]byte {
	dir := os.Getenv("BORDERWATCH_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared")
	}
	var out [][]byte
	for _, c := range captures {
		pkts, err := readCapture(filepath.Join(dir, "pcaps", c))
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if len(out) < n && len(p.payload) > 0 && keep(p) {
				out = append(out, p.payload)
			}
		}
	}
	return out
}

func FuzzParseDNS(f *testing.F) {
	q := dnsWire("www.example.com")
	f.Add(dnsMsg(respOK, q, 1, []dnsRR{{ptr(12), 5, 60, dnsWire("e.example.net")}, {dnsWire("e.example.net"), 1, 60, []byte{1, 2, 3, 4}}}, 2), false)
	f.Add(dnsMsg(respOK, q, 1, []dnsRR{{ptr(12 + len(q) + 4), 1, 300, []byte{1, 2, 3, 4}}}, 1), false)
	for _, p := range realPayloads(40, func(p pkt) bool { return p.src.Port() == 53 || p.dst.Port() == 53 },
		"ndpi/pcap/dns_ambiguous_names.pcap", "ndpi/pcap/dns-tunnel-iodine.pcap", "ndpi/pcap/dns_long_domainname.pcap", "mobile/KBKlic1.pcapng") {
		f.Add(p, false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, tcp bool) {
		var st Stats
		err := ParseDNS(msg, tcp, &st, func(name string, addr netip.Addr, ttl uint32) {
			if name == "" || len(name) > maxName || !addr.IsValid() || ttl > 1<<31-1 {
				t.Fatalf("bad answer %q %v %d", name, addr, ttl)
			}
		})
		if err != nil && st.DNSMalformed.Load() != 1 {
			t.Fatalf("error %v not counted", err)
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	f.Add(records(helloMsg(sniExt("a.example"), ext{0xfe0d, []byte{1}}), 30))
	for _, p := range realPayloads(30, func(p pkt) bool { return p.proto == 6 && p.payload[0] == 0x16 },
		"ndpi/pcap/tls_ech.pcapng", "ja4/pcap/tls-sni.pcapng", "ndpi/pcap/tls_2_reasms.pcapng") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sni, _, err := ParseClientHello(b)
		if err != nil && sni != "" {
			t.Fatalf("name %q with error %v", sni, err)
		}
		if len(sni) > maxName {
			t.Fatalf("name too long: %d", len(sni))
		}
	})
}

func FuzzQUICInitial(f *testing.F) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	key, _ := hex.DecodeString("1f369613dd76d5467730efcbe3b1a22d")
	iv, _ := hex.DecodeString("fa044b2f42a3fd3b46fb255c")
	hp, _ := hex.DecodeString("9f50449e04a0e810283a1e9933adedd2")
	f.Add(sealInitial(quicV1, false, dcid, key, iv, hp, 0, cryptoFrame(0, helloMsg(sniExt("f.example"))), 1162))
	for _, fl := range gquicFlows {
		f.Add(gquicDatagrams(f, fl)[0]) // T050/T051: gQUIC frames
	}
	for _, p := range realPayloads(20, func(p pkt) bool { return p.proto == 17 && p.payload[0]&0x80 != 0 },
		"ndpi/pcap/quic-v2.pcapng", "ndpi/pcap/quic_q50.pcap", "ndpi/pcap/quic_q46.pcap", "ndpi/pcap/quic-29.pcap", "retina/traces/quic_kyber.pcapng") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		sni, err := ParseQUICInitial(d)
		if err != nil && sni != "" {
			t.Fatalf("name %q with error %v", sni, err)
		}
	})
}

func FuzzParseHTTPHost(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nhOsT:[::1]:8\r\n"))
	for _, p := range realPayloads(20, func(p pkt) bool { return p.proto == 6 && isHTTPRequest(p.payload) },
		"ndpi/pcap/http-lines-split.pcap", "ndpi/pcap/1kxun.pcap") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		host, ok := ParseHTTPHost(b)
		if ok != (host != "") {
			t.Fatalf("ok=%v host=%q", ok, host)
		}
	})
}

// FuzzTrackerFeed cuts the input into segments fed in a fuzzed order and
// direction to one TCP and one UDP flow.
func FuzzTrackerFeed(f *testing.F) {
	hello := records(helloMsg(make2K(), sniExt("t.example")), 16384)
	f.Add(hello, []byte{0, 7, 2, 9, 1})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h.example\r\n\r\n"), []byte{3, 0x81})
	f.Fuzz(func(t *testing.T, data []byte, plan []byte) {
		cfg := DefaultConfig()
		cfg.ReassemblySlots = 2
		tr := NewTracker(cfg, nil)
		pos := 0
		for i, c := range plan {
			n := int(c&0x3f)*64 + 1
			start := min(pos, len(data))
			end := min(start+n, len(data))
			seq := uint32(start)
			if c&0x40 != 0 { // deliver an earlier chunk
				seq -= uint32(n)
			}
			fromClient := c&0x80 == 0
			for _, proto := range []uint8{6, 17} {
				id := uint64(i%3) + uint64(proto)<<8
				if c&0x20 != 0 {
					id = uint64(i % 3) // shared by both protocols
				}
				name, _, _ := tr.Feed(id, proto, fromClient, seq, data[start:end])
				if len(name) > maxName {
					t.Fatalf("name too long")
				}
			}
			pos = end
		}
		for id := range uint64(3) {
			tr.Forget(id)
			tr.Forget(id + 6<<8)
			tr.Forget(id + 17<<8)
		}
		if tr.Active() != 0 {
			t.Fatalf("%d slots leaked", tr.Active())
		}
	})
}
