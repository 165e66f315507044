package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngFile writes a pcapng file of n frames and returns it with the byte
// offset of each block.
func ngFile(t *testing.T, n int) ([]byte, []int) {
	frame := build(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip4("192.0.2.1", "198.51.100.7", 253), gopacket.Payload("x"))
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(frame), Length: len(frame), InterfaceIndex: 0}, frame); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	b := buf.Bytes()
	var offs []int
	for off := 0; off+8 <= len(b); off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		offs = append(offs, off)
	}
	return b, offs
}

// readAll reads a file to its end and returns the frames read and the error.
func readAll(t *testing.T, path string) (int, error) {
	src, err := OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n := 0
	for {
		if _, _, _, err := src.Next(); err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

func TestPcapngBlockErrors(t *testing.T) {
	good, offs := ngFile(t, 3)
	// blocks: section header, interface description, 3 enhanced packet blocks
	if len(offs) != 5 {
		t.Fatalf("%d blocks", len(offs))
	}
	epb2 := offs[3]
	epbLen := int(binary.LittleEndian.Uint32(good[epb2+4:]))
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		edit  func(b []byte)
		reads int
		want  string
	}{
		{"good", func(b []byte) {}, 3, ""},
		{"wrong trailing length", func(b []byte) {
			binary.LittleEndian.PutUint32(b[epb2+epbLen-4:], uint32(epbLen+4))
		}, 1, fmt.Sprintf("pcapng block at byte offset %d: trailing block length %d does not match the leading block length %d", epb2, epbLen+4, epbLen)},
		{"block length 5", func(b []byte) {
			binary.LittleEndian.PutUint32(b[epb2+4:], 5)
		}, 1, fmt.Sprintf("pcapng block at byte offset %d: invalid block length 5 (a block is at least 12 bytes and a multiple of 4)", epb2)},
		{"block length 0x7ffffff0", func(b []byte) {
			binary.LittleEndian.PutUint32(b[epb2+4:], 0x7ffffff0)
		}, 1, fmt.Sprintf("pcapng block at byte offset %d: block length 2147483632 exceeds the 16 MiB limit", epb2)},
		{"interface block length 5", func(b []byte) {
			binary.LittleEndian.PutUint32(b[offs[1]+4:], 5)
		}, 0, fmt.Sprintf("pcapng block at byte offset %d: invalid block length 5", offs[1])},
		{"cut inside a packet", func(b []byte) {}, 2, "file ends in the middle of a packet record (truncated capture)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			c.edit(b)
			if c.name == "cut inside a packet" {
				b = b[:epb2+epbLen+10]
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".pcapng")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			n, err := readAll(t, path)
			if c.want == "" {
				if err != nil || n != c.reads {
					t.Fatalf("read %d frames, %v", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || n != c.reads {
				t.Fatalf("read %d frames (want %d), error %v\nwant it to contain %q", n, c.reads, err, c.want)
			}
			var be *NgBlockError
			if strings.HasPrefix(c.want, "pcapng block") && !errors.As(err, &be) {
				t.Errorf("error %v is not an *NgBlockError", err)
			}
		})
	}
}

func TestLinkTypeName(t *testing.T) {
	for lt, want := range map[layers.LinkType]string{
		104: "DLT 104 (C_HDLC)", 239: "DLT 239 (NFLOG)", 253: "DLT 253 (NETLINK)", 1: "DLT 1 (EN10MB)",
		105: "DLT 105 (IEEE802_11)", 147: "DLT 147 (USER0)", 299: "DLT 299 (unknown)", 4000: "DLT 4000 (unknown)",
	} {
		if got := LinkTypeName(lt); got != want {
			t.Errorf("LinkTypeName(%d) = %q, want %q", lt, got, want)
		}
	}
	for _, lt := range []layers.LinkType{0, 1, 9, 50, 51, 101, 104, 108, 113, 228, 229, 239, 276} {
		if !SupportedLinkType(lt) {
			t.Errorf("%s not supported", LinkTypeName(lt))
		}
	}
	if SupportedLinkType(253) || SupportedLinkType(105) || SupportedLinkType(65535) {
		t.Error("NETLINK, 802.11 or 65535 claimed as supported")
	}
}
