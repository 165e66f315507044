package capture

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// sameAsWalk checks that the fast path, when it takes a frame, decodes it
// as the layer walk does; it reports whether the fast path took it.
func sameAsWalk(t testing.TB, walker *Decoder, data []byte, lt layers.LinkType) bool {
	t.Helper()
	fp := Packet{Timestamp: 7}
	if !fast(data, linkOf(lt), &fp) {
		if d := cmp.Diff(Packet{Timestamp: 7}, fp); d != "" {
			t.Fatalf("the fast path refused a frame but changed the packet: %+v", fp)
		}
		return false
	}
	wp := Packet{Timestamp: 7}
	v, r := walker.walkLayers(data, linkOf(lt), &wp)
	if v != Decoded {
		t.Fatalf("fast path decoded a frame the walk calls %v/%v: % x", v, r, data)
	}
	// The payload must be the same bytes at the same place in the frame.
	if len(fp.Payload) != len(wp.Payload) || (len(fp.Payload) > 0 && &fp.Payload[0] != &wp.Payload[0]) {
		t.Fatalf("payload: fast %d bytes, walk %d bytes, not the same slice of the frame % x", len(fp.Payload), len(wp.Payload), data)
	}
	fp.Payload, wp.Payload = nil, nil
	if d := cmp.Diff(wp, fp); d != "" {
		t.Fatalf("fast path differs from the walk (-walk +fast):\n%s\nframe % x", d, data)
	}
	return true
}

// TestFastMatchesWalk: on every frame of every shared capture, the fast
// path decodes exactly what the layer walk decodes, and it takes most of
// the frames (else it would be no faster and this test would prove
// little).
func TestFastMatchesWalk(t *testing.T) {
	root := filepath.Join(testenv.SharedDir(t), "pcaps")
	walker := NewDecoder()
	var files, frames, taken int
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		name := strings.TrimSuffix(e.Name(), ".gz")
		if !strings.HasSuffix(name, ".pcap") && !strings.HasSuffix(name, ".pcapng") && !strings.HasSuffix(name, ".cap") {
			return nil
		}
		f, err := OpenFile(path)
		if err != nil {
			return nil // not every file named so is a capture
		}
		defer f.Close()
		files++
		for {
			data, lt, _, err := f.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Logf("%s: %v", path, err)
				}
				return nil
			}
			frames++
			if sameAsWalk(t, walker, data, lt) {
				taken++
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d captures, %d frames, %d (%.1f%%) taken by the fast path", files, frames, taken, 100*float64(taken)/float64(max(frames, 1)))
	if files < 100 || taken < frames/2 {
		t.Fatalf("%d captures, fast path took %d of %d frames", files, taken, frames)
	}
}

// TestFastRefuses: frames the fast path must leave to the walk.
func TestFastRefuses(t *testing.T) {
	tcp := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
		0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x10, 0, 0, 0, 0, 0}
	var p Packet
	if !fast(tcp, linkRaw, &p) || p.SrcPort != 40000 || p.DstPort != 443 || p.TCPFlags != FlagACK {
		t.Fatalf("a plain TCP segment: %+v", p)
	}
	mod := func(f func(b []byte)) []byte { b := bytes.Clone(tcp); f(b); return b }
	for name, b := range map[string][]byte{
		"ipv4 options":        mod(func(b []byte) { b[0] = 0x46 }),
		"more fragments":      mod(func(b []byte) { b[6] = 0x20 }),
		"fragment offset":     mod(func(b []byte) { b[7] = 1 }),
		"total length zero":   mod(func(b []byte) { b[2], b[3] = 0, 0 }),
		"icmp":                mod(func(b []byte) { b[9] = 1 }),
		"tcp offset past end": mod(func(b []byte) { b[32] = 0xf0 }),
		"tcp offset under 5":  mod(func(b []byte) { b[32] = 0x40 }),
		"short":               tcp[:30],
		"udp length zero":     mod(func(b []byte) { b[9] = 17; b[24], b[25] = 0, 0 }),
		"vxlan":               mod(func(b []byte) { b[9] = 17; b[22], b[23] = 0x12, 0xb5; b[24], b[25] = 0, 20 }),
	} {
		p := Packet{Timestamp: 3}
		if fast(b, linkRaw, &p) {
			t.Errorf("%s: taken by the fast path", name)
		}
		sameAsWalk(t, NewDecoder(), b, layers.LinkTypeRaw)
	}
	var pl Packet
	if fast(tcp, linkOf(layers.LinkTypeLinuxSLL), &pl) {
		t.Errorf("Linux SLL: taken by the fast path")
	}
}

// BenchmarkDecodeWalk is BenchmarkDecode's frame through the layer walk
// (what the fast path saves).
func BenchmarkDecodeWalk(b *testing.B) {
	benchDecode(b, func(d *Decoder, frame []byte, p *Packet) {
		*p = Packet{}
		d.walkLayers(frame, linkEthernet, p)
	})
}
