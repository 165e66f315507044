package capture

import (
	"bufio"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// benchFrameSizes draws frame sizes like those of real traffic: many
// bare ACKs, some handshakes and small datagrams, many full segments.
func benchFrameSizes(n int) []int {
	rng := rand.New(rand.NewPCG(7, 11))
	sizes := make([]int, n)
	for i := range sizes {
		switch r := rng.IntN(100); {
		case r < 40:
			sizes[i] = 54 + rng.IntN(13) // ACKs, with or without options
		case r < 55:
			sizes[i] = 67 + rng.IntN(234) // DNS, handshakes, small requests
		case r < 65:
			sizes[i] = 301 + rng.IntN(700)
		default:
			sizes[i] = 1001 + rng.IntN(514) // up to full Ethernet frames
		}
	}
	return sizes
}

// benchCapture writes a capture of about 32 MB (40,000 records of
// benchFrameSizes) in the temporary directory, as pcap or pcapng, and
// returns its path and the mean bytes per record (header included).
func benchCapture(b *testing.B, ng bool) (string, float64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	type writer interface {
		WritePacket(gopacket.CaptureInfo, []byte) error
	}
	var w writer
	if ng {
		nw, err := pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet)
		if err != nil {
			b.Fatal(err)
		}
		w = nw
	} else {
		pw := pcapgo.NewWriter(bw)
		if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			b.Fatal(err)
		}
		w = pw
	}
	frame := make([]byte, 1514)
	for i := range frame {
		frame[i] = byte(i)
	}
	ts := time.Unix(1700000000, 0)
	sizes := benchFrameSizes(40000)
	for i, n := range sizes {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * 37 * time.Microsecond), CaptureLength: n, Length: n}
		if err := w.WritePacket(ci, frame[:n]); err != nil {
			b.Fatal(err)
		}
	}
	if nw, ok := w.(*pcapgo.NgWriter); ok {
		nw.Flush()
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return path, float64(st.Size()) / float64(len(sizes))
}

// benchRead reads the capture record by record with File.Next, from the
// start again at its end (reopening is not timed). One op is one record;
// MB/s counts the file's bytes.
func benchRead(b *testing.B, path string, perRecord float64) {
	open := func() *File {
		f, err := OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	src := open()
	defer func() { src.Close() }()
	b.SetBytes(int64(perRecord + 0.5))
	b.ReportAllocs()
	var sum int
	for b.Loop() {
		data, _, _, err := src.Next()
		if err == io.EOF {
			b.StopTimer()
			src.Close()
			src = open()
			b.StartTimer()
			data, _, _, err = src.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		sum += len(data)
	}
	if sum == 0 {
		b.Fatal("no data")
	}
}

// BenchmarkReadPcap: the reading stage alone, File.Next over a pcap file
// of realistic record sizes (in the page cache).
func BenchmarkReadPcap(b *testing.B) {
	path, per := benchCapture(b, false)
	benchRead(b, path, per)
}

// BenchmarkReadPcapng: the same over a pcapng file (enhanced packet blocks).
func BenchmarkReadPcapng(b *testing.B) {
	path, per := benchCapture(b, true)
	benchRead(b, path, per)
}
