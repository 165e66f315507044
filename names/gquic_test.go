package names

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var updateGQUIC = flag.Bool("update-gquic", false, "rewrite testdata/gquic_t05x.pcap and, with tshark, testdata/gquic_tshark.tsv")

// Initial salts of Google QUIC with TLS (Chromium's quic_crypto_stream
// salts, as Wireshark's packet-quic.c and nDPI's quic.c list them).
var (
	testSaltV1   = "38762cf7f55934b34d179ae6a4c80cadccbb7f0a"
	testSaltT050 = "7ff579e5acd072915580304c43a2367c60488310"
	testSaltT051 = "7a4edef4e7ccee5fa4506c19124fc8ccda6e033d"
)

// testInitialKeys derives client Initial key, iv and hp (RFC 9001 §5.2)
// for a salt given in hex.
func testInitialKeys(t testing.TB, saltHex string, dcid []byte) (key, iv, hp []byte) {
	t.Helper()
	salt, err := hex.DecodeString(strings.ReplaceAll(saltHex, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	label := func(l string, n int) string {
		full := "tls13 " + l
		b := []byte{byte(n >> 8), byte(n), byte(len(full))}
		return string(append(append(b, full...), 0))
	}
	initial, _ := hkdf.Extract(sha256.New, dcid, salt)
	secret, _ := hkdf.Expand(sha256.New, initial, label("client in", 32), 32)
	key, _ = hkdf.Expand(sha256.New, secret, label("quic key", 16), 16)
	iv, _ = hkdf.Expand(sha256.New, secret, label("quic iv", 12), 12)
	hp, _ = hkdf.Expand(sha256.New, secret, label("quic hp", 16), 16)
	return key, iv, hp
}

// gquicCryptoFrame is a Google QUIC CRYPTO frame (type 0x08, IETF layout).
func gquicCryptoFrame(off int, data []byte) []byte {
	b := quicVarintAppend([]byte{0x08}, uint64(off))
	b = quicVarintAppend(b, uint64(len(data)))
	return append(b, data...)
}

// gquicFlow is one client flow of the generated capture.
type gquicFlow struct {
	version uint32
	salt    string
	client  netip.AddrPort
	sni     string
	split   bool // the ClientHello over two Initials, the second with ACK and STOP_WAITING frames
}

var gquicFlows = []gquicFlow{
	{gquicT050, testSaltT050, netip.MustParseAddrPort("192.0.2.10:50050"), "t050.example.com", false},
	{gquicT051, testSaltT051, netip.MustParseAddrPort("192.0.2.10:50051"), "t051.example.com", false},
	{gquicT051, testSaltT051, netip.MustParseAddrPort("192.0.2.10:50052"), "split.t051.example.com", true},
}

var gquicServer = netip.MustParseAddrPort("198.51.100.20:443")

// gquicDatagrams returns the client datagrams of one flow.
func gquicDatagrams(t testing.TB, f gquicFlow) [][]byte {
	dcid := []byte{0x51, 0x05, 0x0a, byte(f.client.Port()), 1, 2, 3, 4}
	key, iv, hp := testInitialKeys(t, f.salt, dcid)
	if !f.split {
		ch := helloMsg(sniExt(f.sni))
		return [][]byte{sealInitial(f.version, false, dcid, key, iv, hp, 1, gquicCryptoFrame(0, ch), 1200)}
	}
	ch := helloMsg(sniExt(f.sni), ext{21, make([]byte, 1400)}) // padding extension
	n := 1000
	first := sealInitial(f.version, false, dcid, key, iv, hp, 1, gquicCryptoFrame(0, ch[:n]), 1200)
	// ACK of the server's packet 1 (largest 1 byte, one block, no
	// timestamp), STOP_WAITING (delta in 2 bytes: the packet number size),
	// PING, then the rest of the hello.
	frames := []byte{0x40, 0x01, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01, 0x07}
	frames = append(frames, gquicCryptoFrame(n, ch[n:])...)
	second := sealInitial(f.version, false, dcid, key, iv, hp, 2, frames, 1200)
	return [][]byte{first, second}
}

func writeGQUICCapture(t *testing.T, path string) {
	var pkts []pkt
	for _, f := range gquicFlows {
		for _, d := range gquicDatagrams(t, f) {
			pkts = append(pkts, pkt{proto: 17, src: f.client, dst: gquicServer, payload: d})
		}
	}
	writePcap(t, path, pkts)
}

// writePcap writes packets as Ethernet/IPv4 frames (TCP segments with
// PSH/ACK), built by gopacket, 1 ms apart.
func writePcap(t *testing.T, path string, pkts []pkt) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1_700_000_000, 0).UTC()
	for _, p := range pkts {
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		var l4 gopacket.SerializableLayer
		if p.proto == 6 {
			ip.Protocol = layers.IPProtocolTCP
			tcp := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), Seq: p.seq, PSH: true, ACK: true, Window: 65535}
			tcp.SetNetworkLayerForChecksum(ip)
			l4 = tcp
		} else {
			ip.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
			udp.SetNetworkLayerForChecksum(ip)
			l4 = udp
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(p.payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsharkQUICSNIs returns "client<TAB>server<TAB>sni" for every client
// Initial whose ClientHello tshark decodes in path.
func tsharkQUICSNIs(t *testing.T, path string) string {
	out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "tls.handshake.extensions_server_name",
		"-T", "fields", "-E", "separator=/t", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
		"-e", "quic.version", "-e", "tls.handshake.extensions_server_name").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 6 {
			t.Fatalf("tshark line %q", l)
		}
		b.WriteString(f[0] + ":" + f[1] + "\t" + f[2] + ":" + f[3] + "\t" + f[4] + "\t" + f[5] + "\n")
	}
	return b.String()
}

func TestGQUICTestKeys(t *testing.T) {
	// The test's key derivation on RFC 9001 Appendix A.1.
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	key, iv, hp := testInitialKeys(t, testSaltV1, dcid)
	if got := hex.EncodeToString(key) + hex.EncodeToString(iv) + hex.EncodeToString(hp); got !=
		"1f369613dd76d5467730efcbe3b1a22d"+"fa044b2f42a3fd3b46fb255c"+"9f50449e04a0e810283a1e9933adedd2" {
		t.Fatalf("RFC 9001 A.1 keys: %s", got)
	}
}

// TestGQUICTCaptures: Google QUIC T050 and T051 client Initials (IETF
// header and protection with their own salts, gQUIC frames inside, the
// TLS ClientHello in CRYPTO frames, once over two Initials with ACK and
// STOP_WAITING frames) in a generated capture, testdata/gquic_t05x.pcap.
// The names must be tshark's (testdata/gquic_tshark.tsv, re-derived from
// the installed tshark when there is one).
func TestGQUICTCaptures(t *testing.T) {
	pcap := filepath.Join("testdata", "gquic_t05x.pcap")
	truth := filepath.Join("testdata", "gquic_tshark.tsv")
	const header = "# client\tserver\tquic.version\tsni: tshark's decode of gquic_t05x.pcap (go test -run TestGQUICTCaptures -update-gquic)\n"
	_, errTshark := exec.LookPath("tshark")
	if *updateGQUIC {
		writeGQUICCapture(t, pcap)
		if errTshark != nil {
			t.Fatal("-update-gquic needs tshark for the truth file")
		}
		if err := os.WriteFile(truth, []byte(header+tsharkQUICSNIs(t, pcap)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(truth)
	if err != nil {
		t.Fatal(err)
	}
	if errTshark == nil {
		if now := header + tsharkQUICSNIs(t, pcap); now != string(b) {
			t.Errorf("the installed tshark decodes %s differently from %s:\n%s", pcap, truth, now)
		}
	} else {
		t.Logf("tshark not installed: using %s", truth)
	}
	pkts, err := readCapture(pcap)
	if err != nil {
		t.Fatal(err)
	}
	byFlow := map[flowKey][]pkt{}
	for _, p := range pkts {
		k := keyOf(p.proto, p.src, p.dst)
		byFlow[k] = append(byFlow[k], p)
	}
	rows := 0
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		client, server := netip.MustParseAddrPort(f[0]), netip.MustParseAddrPort(f[1])
		stats := new(Stats)
		tr := NewTracker(DefaultConfig(), stats)
		got, src := learnFlow(tr, uint64(i), 17, client, byFlow[keyOf(17, client, server)])
		if got != f[3] || src != SourceQUIC {
			t.Errorf("%s %s (version %s): got %q (%v), tshark %q; %d malformed", client, server, f[2], got, src, f[3], stats.QUICMalformed.Load())
		}
		rows++
	}
	if rows != len(gquicFlows) {
		t.Errorf("tshark names %d flows, the capture has %d", rows, len(gquicFlows))
	}
}

// TestGQUICFrames: gQUIC frame walking on hostile bytes.
func TestGQUICFrames(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"padding ends the packet", []byte{0x00, 0xff, 0xff}, true},
		{"ping", []byte{0x07}, true},
		{"crypto", gquicCryptoFrame(0, []byte{1, 0, 0, 0}), true},
		{"crypto length past the end", []byte{0x08, 0x00, 0x10, 1}, false},
		{"ack with blocks and timestamps", []byte{0x65, 0, 1, 0, 0, 2, 0, 1, 1, 0, 1, 2, 0, 0, 1, 0, 0, 0, 0, 0}, true},
		{"ack truncated", []byte{0x40, 1, 0}, false},
		{"stop waiting truncated", []byte{0x06, 0}, false},
		{"stream frame", []byte{0x80, 1, 2}, false},
	} {
		a := quicAssembler{stream: make([]byte, 64), pnLen: 2}
		if err := a.gquicFrames(tt.b); (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
}
