package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"github.com/borderwatch/borderwatch/internal/testenv"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The oracle for decoding is tshark. For every capture in the shared corpus,
// testdata/tshark-truth.tsv.gz holds tshark's IP-layer bytes and packets per
// (source, destination) address pair of the placed header, and the number of
// frames that carry no placeable IP header. It is made from tshark's own
// fields by -update-truth (see tsharkTruth for the one policy applied: which
// tunnels borderwatch opens), and spot-checked against a live tshark by
// TestTruthFileMatchesTshark.
var updateTruth = flag.Bool("update-truth", false, "regenerate testdata/tshark-truth.tsv.gz by running tshark on every shared capture")

const truthFile = "testdata/tshark-truth.tsv.gz"

func captureFiles(t testing.TB, root string) []string {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "pcaps"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") || strings.HasSuffix(n, ".cap") ||
			strings.HasSuffix(n, ".pcap.gz") || strings.HasSuffix(n, ".pcapng.gz")) {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

type pair struct{ src, dst netip.Addr }

type counts struct{ bytes, packets uint64 }

type fileTruth struct {
	pairs    map[pair]counts
	unplaced uint64
	frames   uint64
	readErr  bool // the file ends in a damaged record
}

// tunnelTokens are the protocols borderwatch crosses between an outer and
// an inner IP header (GRE, PPTP, VXLAN, Geneve, GTP-U, Teredo, LISP,
// IP-in-IP, IP in AH), in tshark's names.
var tunnelTokens = map[string]bool{"gre": true, "udp": true, "vxlan": true, "geneve": true, "eth": true, "ethertype": true, "vlan": true,
	"ipv6.hopopts": true, "ipv6.routing": true, "ipv6.dstopts": true, "erspan": true, "ppp": true, "gtp": true, "teredo": true,
	"lisp-data": true, "ah": true, "cmd": true, "nsh": true, "mpls": true}

// udpTunnelTokens are the tunnels over UDP that borderwatch opens.
var udpTunnelTokens = map[string]bool{"vxlan": true, "geneve": true, "gtp": true, "teredo": true, "lisp-data": true, "nsh": true, "mpls": true}

// preTokens are the link and shim layers borderwatch decodes before the first IP header.
var preTokens = map[string]bool{"eth": true, "ethertype": true, "vlan": true, "mpls": true, "sll": true, "null": true, "loop": true, "raw": true, "ieee8021ad": true,
	"pppoes": true, "ppp": true, "chdlc": true, "nflog": true, "vntag": true, "etag": true, "cmd": true, "cfp": true, "nsh": true,
	"pwethcw": true, "pwethnocw": true, "pwethheuristic": true}

// placedIndex applies borderwatch's tunnel policy to tshark's protocol
// chain: it returns which IP header is placed (the k-th "ip" or "ipv6"
// token, and which kind), or ok=false when the frame has no placeable IP.
func placedIndex(protocols string) (kind string, k int, ok bool) {
	toks := strings.Split(protocols, ":")
	nIP, nIP6 := 0, 0
	placed := -1
	for i, tok := range toks {
		switch tok {
		case "ip", "ipv6":
			idx := nIP
			if tok == "ipv6" {
				idx = nIP6
			}
			good := true
			if placed < 0 {
				for _, p := range toks[:i] {
					if !preTokens[p] {
						good = false
					}
				}
			} else {
				between := toks[placed+1 : i]
				hasUDP, hasVX := false, false
				for _, p := range between {
					if !tunnelTokens[p] {
						good = false
					}
					hasUDP = hasUDP || p == "udp"
					hasVX = hasVX || udpTunnelTokens[p]
				}
				if hasUDP && !hasVX {
					good = false
				}
			}
			if !good {
				return kind, k, placed >= 0
			}
			placed, kind, k = i, tok, idx
			if tok == "ip" {
				nIP++
			} else {
				nIP6++
			}
		case "icmp", "icmpv6", "tcp":
			return kind, k, placed >= 0
		}
	}
	return kind, k, placed >= 0
}

func runTshark(path string) (*fileTruth, error) {
	cmd := exec.Command("tshark", "-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=/t", "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.len",
		"-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen")
	out, err := cmd.Output()
	ft := &fileTruth{pairs: map[pair]counts{}}
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && len(out) > 0) {
		return nil, fmt.Errorf("tshark %s: %v", path, err)
	}
	if err != nil {
		ft.readErr = true
	}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		for len(f) < 7 {
			f = append(f, "")
		}
		ft.frames++
		kind, k, ok := placedIndex(f[0])
		if !ok {
			ft.unplaced++
			continue
		}
		col := 1
		if kind == "ipv6" {
			col = 4
		}
		src, dst, ln := nth(f[col], k), nth(f[col+1], k), nth(f[col+2], k)
		s, err1 := netip.ParseAddr(src)
		d, err2 := netip.ParseAddr(dst)
		n, err3 := strconv.ParseUint(ln, 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			ft.unplaced++ // tshark itself could not read the header
			continue
		}
		if kind == "ipv6" {
			n += 40
		}
		c := ft.pairs[pair{s, d}]
		c.bytes += n
		c.packets++
		ft.pairs[pair{s, d}] = c
	}
	return ft, nil
}

func nth(list string, k int) string {
	parts := strings.Split(list, ",")
	if k < len(parts) {
		return parts[k]
	}
	return ""
}

func writeTruth(t *testing.T, root string, files []string) {
	type result struct {
		ft  *fileTruth
		err error
	}
	res := make([]result, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ft, err := runTshark(filepath.Join(root, f))
			res[i] = result{ft, err}
		}()
	}
	wg.Wait()
	out, err := os.Create(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	bw := bufio.NewWriter(zw)
	fmt.Fprintln(bw, "# file\tsrc\tdst\tip_bytes\tpackets  (lines with src '-' give: frames, unplaced frames, read error 0/1)")
	for i, f := range files {
		if res[i].err != nil {
			t.Logf("skipping %s: %v", f, res[i].err)
			continue
		}
		ft := res[i].ft
		re := 0
		if ft.readErr {
			re = 1
		}
		fmt.Fprintf(bw, "%s\t-\t%d\t%d\t%d\n", f, ft.frames, ft.unplaced, re)
		keys := make([]pair, 0, len(ft.pairs))
		for p := range ft.pairs {
			keys = append(keys, p)
		}
		sort.Slice(keys, func(a, b int) bool {
			if c := keys[a].src.Compare(keys[b].src); c != 0 {
				return c < 0
			}
			return keys[a].dst.Less(keys[b].dst)
		})
		for _, p := range keys {
			c := ft.pairs[p]
			fmt.Fprintf(bw, "%s\t%s\t%s\t%d\t%d\n", f, p.src, p.dst, c.bytes, c.packets)
		}
	}
	bw.Flush()
	zw.Close()
}

func readTruth(t *testing.T) (map[string]*fileTruth, []string) {
	f, err := os.Open(truthFile)
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./capture -run TestDecodeMatchesTshark -update-truth)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]*fileTruth{}
	var order []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		ft := truth[c[0]]
		if ft == nil {
			ft = &fileTruth{pairs: map[pair]counts{}}
			truth[c[0]] = ft
			order = append(order, c[0])
		}
		a, _ := strconv.ParseUint(c[3], 10, 64)
		b, _ := strconv.ParseUint(c[4], 10, 64)
		if c[1] == "-" {
			ft.frames, _ = strconv.ParseUint(c[2], 10, 64)
			ft.unplaced = a
			ft.readErr = b == 1
			continue
		}
		ft.pairs[pair{netip.MustParseAddr(c[1]), netip.MustParseAddr(c[2])}] = counts{a, b}
	}
	return truth, order
}

// decodeFile runs borderwatch's file source and decoder over a capture.
func decodeFile(path string) (*fileTruth, error) {
	src, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	d := NewDecoder()
	var p Packet
	ft := &fileTruth{pairs: map[pair]counts{}}
	for {
		data, lt, ts, err := src.Next()
		if err == io.EOF {
			return ft, nil
		}
		if err != nil {
			ft.readErr = true
			return ft, err
		}
		ft.frames++
		if v, _ := d.Decode(data, lt, ts, &p); v != Decoded {
			ft.unplaced++
			continue
		}
		k := pair{p.SrcAddr(), p.DstAddr()}
		c := ft.pairs[k]
		c.bytes += uint64(p.IPLen)
		c.packets++
		ft.pairs[k] = c
	}
}

// truthExceptions lists captures where borderwatch and tshark legitimately
// differ, with the reason (testdata/tshark-exceptions.tsv).
func truthExceptions(t *testing.T) map[string]string {
	ex := map[string]string{}
	b, err := os.ReadFile("testdata/tshark-exceptions.tsv")
	if err != nil {
		return ex
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f, reason, ok := strings.Cut(line, "\t")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("tshark-exceptions.tsv: %q needs a reason after a tab", line)
		}
		ex[f] = reason
	}
	return ex
}

// TestDecodeMatchesTshark: for every shared capture, the IP-layer bytes and
// packets per address pair equal tshark's exactly, and so does the number
// of frames without a placeable IP header.
func TestDecodeMatchesTshark(t *testing.T) {
	root := testenv.SharedDir(t)
	files := captureFiles(t, root)
	if *updateTruth {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Fatal("-update-truth needs tshark (apt-get install tshark)")
		}
		writeTruth(t, root, files)
	}
	truth, order := readTruth(t)
	exceptions := truthExceptions(t)
	var failed, checked int
	for _, f := range order {
		want := truth[f]
		got, err := decodeFile(filepath.Join(root, f))
		if got == nil {
			if want.frames == 0 {
				continue // neither tool reads a frame from it
			}
			t.Errorf("%s: %v", f, err)
			failed++
			continue
		}
		diff := compareTruth(got, want)
		if diff == "" {
			checked++
			if _, ok := exceptions[f]; ok {
				t.Errorf("%s: listed as an exception but matches tshark; remove it from tshark-exceptions.tsv", f)
			}
			continue
		}
		if reason, ok := exceptions[f]; ok {
			t.Logf("%s: differs from tshark (accepted: %s)", f, reason)
			continue
		}
		failed++
		t.Errorf("%s: differs from tshark:\n%s", f, diff)
	}
	t.Logf("%d captures match tshark exactly, %d differ, %d accepted exceptions", checked, failed, len(exceptions))
	if checked < 1000 {
		t.Errorf("only %d captures checked; the corpus has more", checked)
	}
}

func compareTruth(got, want *fileTruth) string {
	var b strings.Builder
	if got.frames != want.frames {
		fmt.Fprintf(&b, "  frames: got %d, tshark %d\n", got.frames, want.frames)
	}
	if got.unplaced != want.unplaced {
		fmt.Fprintf(&b, "  frames without placeable IP: got %d, tshark %d\n", got.unplaced, want.unplaced)
	}
	n := 0
	for k, w := range want.pairs {
		if g := got.pairs[k]; g != w && n < 5 {
			fmt.Fprintf(&b, "  %s -> %s: got %d bytes/%d packets, tshark %d/%d\n", k.src, k.dst, g.bytes, g.packets, w.bytes, w.packets)
			n++
		}
	}
	for k, g := range got.pairs {
		if _, ok := want.pairs[k]; !ok && n < 10 {
			fmt.Fprintf(&b, "  %s -> %s: got %d bytes/%d packets, tshark none\n", k.src, k.dst, g.bytes, g.packets)
			n++
		}
	}
	return b.String()
}

// TestTruthFileMatchesTshark re-derives a sample of the truth file with the
// installed tshark, so the committed oracle cannot drift from the tool.
func TestTruthFileMatchesTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (apt-get install tshark); CI installs it")
	}
	root := testenv.SharedDir(t)
	truth, order := readTruth(t)
	step := max(len(order)/40, 1)
	for i := 0; i < len(order); i += step {
		f := order[i]
		live, err := runTshark(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if d := compareTruth(live, truth[f]); d != "" {
			t.Errorf("%s: truth file differs from tshark now:\n%s", f, d)
		}
	}
}
