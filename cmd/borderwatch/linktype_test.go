package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestUnsupportedLinkTypeNamed: reading a capture of a link type that is
// not decoded warns with its DLT number and libpcap name.
func TestUnsupportedLinkTypeNamed(t *testing.T) {
	for lt, want := range map[layers.LinkType]string{253: "DLT 253 (NETLINK)", 105: "DLT 105 (IEEE802_11)", 147: "DLT 147 (USER0)"} {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, 20)
		w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame)}, frame)
		path := filepath.Join(t.TempDir(), "x.pcap")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCLI(t, "read", path)
		if code != 0 || !strings.Contains(stderr, "link type "+want+" is not decoded") {
			t.Errorf("link type %d: exit %d, stderr %q; want it to name %s", lt, code, stderr, want)
		}
	}
}
