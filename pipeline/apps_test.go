package pipeline

import (
	"bufio"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/capture"
)

// ndpiFlow is one flow line of an nDPI result file.
type ndpiFlow struct {
	proto    string // e.g. TLS.TikTok
	a, b     string // "addr:port" as nDPI prints them
	pkts     uint64 // both directions
	l4       string
	hostname string
	oneWay   bool
}

var ndpiLineRE = regexp.MustCompile(`^\s*\d+\s+(TCP|UDP)\s+(\S+)\s+(<->|->)\s+(\S+)\s+\[proto: [0-9.]+/([^\]]+)\].*?\[(\d+) pkts/\d+ bytes(?: <-> (\d+) pkts/\d+ bytes)?\]`)

func readNDPI(t *testing.T, path string) []ndpiFlow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ndpiFlow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	host := regexp.MustCompile(`\[Hostname/SNI: ([^\]]+)\]`)
	for sc.Scan() {
		m := ndpiLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p1, _ := strconv.ParseUint(m[6], 10, 64)
		p2, _ := strconv.ParseUint(m[7], 10, 64)
		fl := ndpiFlow{l4: m[1], a: m[2], b: m[4], proto: m[5], pkts: p1 + p2, oneWay: m[3] == "->"}
		if h := host.FindStringSubmatch(sc.Text()); h != nil {
			fl.hostname = h[1]
		}
		out = append(out, fl)
	}
	return out
}

// TestTikTokBytesMatchNDPI: on the capture where nDPI finds TikTok, the
// traffic borderwatch labels app="tiktok" is exactly the traffic of the
// flows nDPI classifies as TikTok: the same packets (nDPI's count) and the
// same IP-layer bytes (summed from the decoder, which the capture package
// checks against tshark, over nDPI's 5-tuples).
func TestTikTokBytesMatchNDPI(t *testing.T) {
	root := testenv.SharedDir(t)
	pcap := filepath.Join(root, "pcaps/ndpi/pcap/sites.pcapng")
	var want struct{ pkts, bytes uint64 }
	tuples := map[string]bool{}
	for _, fl := range readNDPI(t, filepath.Join(root, "pcaps/ndpi/result/sites.pcapng.out")) {
		if strings.Contains(fl.proto, "TikTok") {
			want.pkts += fl.pkts
			tuples[fl.l4+" "+fl.a+" "+fl.b] = true
			tuples[fl.l4+" "+fl.b+" "+fl.a] = true
		}
	}
	if len(tuples) == 0 {
		t.Fatal("nDPI reports no TikTok flow in sites.pcapng")
	}
	src, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	d := capture.NewDecoder()
	var pk capture.Packet
	for {
		data, lt, ts, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Decode(data, lt, ts, &pk); pk.Proto != 6 && pk.Proto != 17 {
			continue
		}
		l4 := "TCP"
		if pk.Proto == 17 {
			l4 = "UDP"
		}
		k := l4 + " " + hostPort(pk.SrcAddr().String(), pk.SrcPort) + " " + hostPort(pk.DstAddr().String(), pk.DstPort)
		if tuples[k] {
			want.bytes += uint64(pk.IPLen)
		}
	}
	src.Close()

	p := readAll(t, testPolicy(t), 2, pcap)
	defer p.Close()
	var got struct{ pkts, bytes uint64 }
	labels := p.Series().Labels()
	for id := 1; id < len(labels); id++ {
		if labels[id].App != "tiktok" {
			continue
		}
		for _, sh := range p.Shards() {
			got.bytes += sh.Bytes[id].Load()
			got.pkts += sh.Packets[id].Load()
		}
	}
	if got != want {
		t.Errorf("app=tiktok: %d packets %d bytes; nDPI's TikTok flows: %d packets %d bytes", got.pkts, got.bytes, want.pkts, want.bytes)
	}
}

func hostPort(a string, port uint16) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]:" + strconv.Itoa(int(port))
	}
	return a + ":" + strconv.Itoa(int(port))
}
