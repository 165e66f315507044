package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func ciOf(n int) gopacket.CaptureInfo { return gopacket.CaptureInfo{CaptureLength: n, Length: n} }

// ngBuilder writes pcapng blocks by hand, in either byte order, so that
// the tests can make what writers rarely do: big-endian sections, several
// sections and interfaces, simple and obsolete packet blocks, options.
type ngBuilder struct {
	big  bool
	b    []byte
	offs []int // offset of each block
}

func (w *ngBuilder) order() binary.AppendByteOrder {
	if w.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (w *ngBuilder) u16(v uint16) []byte { return w.order().AppendUint16(nil, v) }
func (w *ngBuilder) u32(v uint32) []byte { return w.order().AppendUint32(nil, v) }
func (w *ngBuilder) u64(v uint64) []byte { return w.order().AppendUint64(nil, v) }

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// opt is one option, padded.
func (w *ngBuilder) opt(code uint16, v []byte) []byte {
	b := append(w.u16(code), w.u16(uint16(len(v)))...)
	return pad4(append(b, v...))
}

// endOpt is opt_endofopt.
func (w *ngBuilder) endOpt() []byte { return make([]byte, 4) }

func (w *ngBuilder) block(typ uint32, parts ...[]byte) {
	body := pad4(bytes.Join(parts, nil))
	n := uint32(12 + len(body))
	w.offs = append(w.offs, len(w.b))
	w.b = append(w.b, w.u32(typ)...)
	w.b = append(w.b, w.u32(n)...)
	w.b = append(w.b, body...)
	w.b = append(w.b, w.u32(n)...)
}

func (w *ngBuilder) section(big bool, major, minor uint16, opts ...[]byte) {
	w.big = big
	w.block(ngSectionHeader, w.u32(ngByteOrderMagic), w.u16(major), w.u16(minor), w.u64(^uint64(0)), bytes.Join(opts, nil))
}

func (w *ngBuilder) iface(lt layers.LinkType, snap uint32, opts ...[]byte) {
	w.block(ngInterface, w.u16(uint16(lt)), w.u16(0), w.u32(snap), bytes.Join(opts, nil))
}

func (w *ngBuilder) epb(id uint32, ts uint64, data []byte, opts ...[]byte) {
	w.block(ngEnhancedPacket, w.u32(id), w.u32(uint32(ts>>32)), w.u32(uint32(ts)), w.u32(uint32(len(data))), w.u32(uint32(len(data))), pad4(append([]byte(nil), data...)), bytes.Join(opts, nil))
}

func (w *ngBuilder) opb(id uint16, ts uint64, data []byte) {
	w.block(ngObsoletePacket, w.u16(id), w.u16(0), w.u32(uint32(ts>>32)), w.u32(uint32(ts)), w.u32(uint32(len(data))), w.u32(uint32(len(data))), data)
}

func (w *ngBuilder) spb(orig uint32, data []byte) {
	w.block(ngSimplePacket, w.u32(orig), data)
}

func frameOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

type ngPacket struct {
	data []byte
	lt   layers.LinkType
	ts   int64
}

// mixedNg is a pcapng file of four sections: little-endian with three
// interfaces of different link types and timestamp resolutions, every
// kind of packet block and blocks to skip; big-endian with other
// interfaces at the same indexes; one of version 2.0, skipped whole; and
// a last one. want is what it holds.
func mixedNg() (b []byte, want []ngPacket) {
	var w ngBuilder
	w.section(false, 1, 0, w.opt(4, []byte("borderwatch test")), w.endOpt())
	w.iface(layers.LinkTypeEthernet, 0)
	w.iface(layers.LinkTypeRaw, 0, w.opt(2, []byte("raw0")), w.opt(ngOptTsResolution, []byte{9}), w.endOpt())
	w.iface(layers.LinkTypeLinuxSLL, 64, w.opt(ngOptTsResolution, []byte{0x94}), w.opt(ngOptTsOffset, w.u64(1600000000)), w.endOpt())
	w.epb(0, 1700000000_123456, frameOf(60, 1))
	w.epb(1, 1700000001_000000007, frameOf(41, 2), w.opt(1, []byte("a comment")), w.endOpt())
	w.epb(2, 3<<20|1<<19, frameOf(64, 3))
	w.block(4, w.u16(1), w.u16(8), []byte{192, 0, 2, 1, 'a', 0, 0, 0}, w.u32(0)) // name resolution
	w.block(0x40000bad, []byte("custom block"))                                  // custom: skipped
	w.opb(1, 1700000002_500000000, frameOf(20, 4))
	w.block(ngInterfaceStats, w.u32(1), w.u32(0), w.u32(0), w.opt(4, w.u64(7)), w.endOpt())
	w.spb(33, frameOf(33, 5))
	want = append(want,
		ngPacket{frameOf(60, 1), layers.LinkTypeEthernet, 1700000000_123456000},
		ngPacket{frameOf(41, 2), layers.LinkTypeRaw, 1700000001_000000007},
		// 2^19 units of 2^-20 s: gopacket's integer scale (953 ns a
		// unit) made it 0.499646464 s; kept, so that results do not move.
		ngPacket{frameOf(64, 3), layers.LinkTypeLinuxSLL, 1600000003_499646464},
		ngPacket{frameOf(20, 4), layers.LinkTypeRaw, 1700000002_500000000},
		ngPacket{frameOf(33, 5), layers.LinkTypeEthernet, zeroTime},
	)
	w.section(true, 1, 0)
	w.iface(layers.LinkTypeRaw, 40, w.opt(ngOptTsResolution, []byte{3}), w.endOpt())
	w.iface(layers.LinkTypeEthernet, 0)
	w.epb(1, 1700000003_000001, frameOf(70, 6))
	w.epb(0, 1700000004_250, frameOf(40, 7))
	w.spb(100, frameOf(40, 8)) // cut to interface 0's snap length
	want = append(want,
		ngPacket{frameOf(70, 6), layers.LinkTypeEthernet, 1700000003_000001000},
		ngPacket{frameOf(40, 7), layers.LinkTypeRaw, 1700000004_250000000},
		ngPacket{frameOf(40, 8), layers.LinkTypeRaw, zeroTime},
	)
	w.section(false, 2, 0)
	w.iface(layers.LinkTypeEthernet, 0)
	w.epb(0, 1, frameOf(50, 9))
	w.section(false, 1, 0)
	w.iface(layers.LinkTypeIPv4, 0)
	w.epb(0, 1700000005_000000, frameOf(30, 10))
	want = append(want, ngPacket{frameOf(30, 10), layers.LinkTypeIPv4, 1700000005_000000000})
	return w.b, want
}

func readNg(t *testing.T, b []byte) ([]ngPacket, error) {
	t.Helper()
	f, err := newFile("test.pcapng", io.NopCloser(bytes.NewReader(b)))
	if err != nil {
		return nil, err
	}
	var got []ngPacket
	for {
		data, lt, ts, err := f.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, ngPacket{append([]byte(nil), data...), lt, ts})
	}
}

// TestPcapngReader reads every kind of section, interface and packet
// block, and compares with what was written and with gopacket's reader.
func TestPcapngReader(t *testing.T) {
	b, want := mixedNg()
	got, err := readNg(t, b)
	if err != nil {
		t.Fatal(err)
	}
	check := func(who string, got []ngPacket) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d packets, want %d", who, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].lt != want[i].lt || got[i].ts != want[i].ts {
				t.Errorf("%s: packet %d: %d bytes, %v, ts %d; want %d bytes, %v, ts %d", who, i+1, len(got[i].data), got[i].lt, got[i].ts, len(want[i].data), want[i].lt, want[i].ts)
			}
		}
	}
	check("borderwatch", got)
	// gopacket's reader, which borderwatch used before, agrees.
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	var ref []ngPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, ngPacket{data, ci.AncillaryData[0].(layers.LinkType), ci.Timestamp.UnixNano()})
	}
	check("pcapgo", ref)
	// The same gzip-compressed, and read through a buffer that must grow.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	defer func(c int) { readChunk = c }(readChunk)
	readChunk = 16
	got, err = readNg(t, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check("gzip, small buffer", got)
}

// TestPcapngContentErrors: blocks well framed whose contents do not fit
// are refused with the block's offset, after the packets before them.
func TestPcapngContentErrors(t *testing.T) {
	head := func() *ngBuilder {
		w := &ngBuilder{}
		w.section(false, 1, 0)
		w.iface(layers.LinkTypeEthernet, 0)
		w.epb(0, 1, frameOf(60, 1))
		return w
	}
	for _, c := range []struct {
		name  string
		add   func(w *ngBuilder)
		edit  func(w *ngBuilder) // after add
		reads int
		want  string
	}{
		{"captured length beyond the block", func(w *ngBuilder) { w.epb(0, 2, frameOf(60, 2)) }, func(w *ngBuilder) {
			binary.LittleEndian.PutUint32(w.b[w.offs[3]+20:], 61)
		}, 1, "enhanced packet block of 92 bytes cannot hold its captured length 61"},
		{"unknown interface", func(w *ngBuilder) { w.epb(1, 2, frameOf(60, 2)) }, nil, 1, "enhanced packet block of interface 1, but the section has 1"},
		{"obsolete packet block, unknown interface", func(w *ngBuilder) { w.opb(3, 2, frameOf(60, 2)) }, nil, 1, "packet block of interface 3, but the section has 1"},
		{"statistics of an unknown interface", func(w *ngBuilder) { w.block(ngInterfaceStats, w.u32(2), w.u64(0)) }, nil, 1, "interface statistics block of interface 2, but the section has 1"},
		{"short enhanced packet block", func(w *ngBuilder) { w.block(ngEnhancedPacket, w.u32(0), w.u32(0)) }, nil, 1, "enhanced packet block length 20 is too short"},
		{"option overruns", func(w *ngBuilder) { w.epb(0, 2, frameOf(8, 2), w.opt(1, []byte("abcd"))) }, func(w *ngBuilder) {
			binary.LittleEndian.PutUint16(w.b[w.offs[3]+38:], 12)
		}, 1, "enhanced packet block: option 1 of 12 bytes overruns the block"},
		{"end of options with a value", func(w *ngBuilder) { w.epb(0, 2, frameOf(8, 2), w.opt(0, []byte("abcd"))) }, nil, 1, "enhanced packet block: end of options with a length of 4, not 0"},
		{"timestamp resolution too fine", func(w *ngBuilder) { w.iface(layers.LinkTypeEthernet, 0, w.opt(ngOptTsResolution, []byte{0x80 | 64})) }, nil, 1, "interface timestamp resolution 2^-64 is too fine"},
		{"simple packet before any interface", func(w *ngBuilder) {
			w.section(true, 1, 0)
			w.spb(10, frameOf(10, 3))
		}, nil, 1, "simple packet block before any interface description block"},
		{"cut in a later block", func(w *ngBuilder) { w.epb(0, 2, frameOf(60, 2)) }, func(w *ngBuilder) {
			w.b = w.b[:len(w.b)-7]
		}, 1, "file ends in the middle of a packet record (truncated capture)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := head()
			c.add(w)
			if c.edit != nil {
				c.edit(w)
			}
			got, err := readNg(t, w.b)
			var fe *FileError
			if err == nil || !strings.Contains(err.Error(), c.want) || len(got) != c.reads || !errors.As(err, &fe) {
				t.Fatalf("read %d packets (want %d), error %v\nwant it to contain %q", len(got), c.reads, err, c.want)
			}
			last := w.offs[len(w.offs)-1]
			if fe.Offset != int64(last) || fe.Packet != uint64(c.reads+1) || !fe.Exact {
				t.Errorf("error at packet %d, offset %d (exact %v); want packet %d at the last block, %d", fe.Packet, fe.Offset, fe.Exact, c.reads+1, last)
			}
		})
	}
}

// FuzzFile: no input makes the file reader panic or loop, and each record
// is at most as long as the input (uncompressed) or a block.
func FuzzFile(f *testing.F) {
	b, _ := mixedNg()
	f.Add(b)
	f.Add(b[:len(b)/2])
	var w ngBuilder
	w.section(true, 1, 0)
	w.iface(layers.LinkTypeEthernet, 0, w.opt(ngOptTsResolution, []byte{0x90}), w.endOpt())
	w.epb(0, 1, frameOf(60, 1))
	f.Add(w.b)
	frame := frameOf(60, 1)
	var pb bytes.Buffer
	pw := pcapgo.NewWriter(&pb)
	pw.WriteFileHeader(65535, layers.LinkTypeEthernet)
	pw.WritePacket(ciOf(len(frame)), frame)
	pw.WritePacket(ciOf(len(frame)), frame)
	f.Add(pb.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pb.Bytes())
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		src, err := newFile("fuzz", io.NopCloser(bytes.NewReader(in)))
		if err != nil {
			return
		}
		for i := 0; ; i++ {
			data, _, _, err := src.Next()
			if err != nil {
				var fe *FileError
				if err != io.EOF && !errors.As(err, &fe) {
					t.Fatalf("error %v (%T) is not a *FileError", err, err)
				}
				return
			}
			if !src.Compressed() && len(data) > len(in) || len(data) > maxNgBlock {
				t.Fatalf("record %d of %d bytes from %d bytes", i, len(data), len(in))
			}
			if !src.Compressed() && i > len(in) {
				t.Fatalf("%d records from %d bytes", i, len(in))
			}
		}
	})
}

// TestClaimedLengthCostsNoMemory: a block that claims 16 MiB in a small
// file is reported cut without a 16 MiB buffer.
func TestClaimedLengthCostsNoMemory(t *testing.T) {
	w := &ngBuilder{}
	w.section(false, 1, 0)
	w.iface(layers.LinkTypeEthernet, 0)
	w.epb(0, 1, frameOf(60, 1))
	binary.LittleEndian.PutUint32(w.b[w.offs[2]+4:], maxNgBlock)
	f, err := newFile("claim.pcapng", io.NopCloser(bytes.NewReader(w.b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.Next(); err == nil || !strings.Contains(err.Error(), "truncated capture") {
		t.Fatalf("error %v", err)
	}
	if len(f.in.buf) > readChunk {
		t.Errorf("buffer of %d bytes for a %d-byte file", len(f.in.buf), len(w.b))
	}
}
