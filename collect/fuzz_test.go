package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seeds are valid datagrams of every version, with fixed times: the
// committed corpus under testdata/fuzz is written from them (see
// TestWriteFuzzSeeds).
func seeds() (netflow, sflow [][]byte) {
	r := flowRec{src: cli, dst: us, sport: 40000, dport: 443, proto: 6, octets: 1500, pkts: 3}
	r6 := flowRec{src: cli6, dst: us6, sport: 1, dport: 2, proto: 17, octets: 100, pkts: 1}
	netflow = append(netflow, nf5(1_700_000_000, 1_000_000, 7, 1<<14|10, []flowRec{r, r}))
	var s9 wbuf
	set(&s9, 0, append(templateRec(256, v9Flow4), templateRec(257, v9Flow6)...))
	set(&s9, 1, nf9OptionsTemplate(258))
	set(&s9, 258, []byte{0, 0, 0, 0, 0, 0, 0, 5})
	set(&s9, 256, dataRec(v9Flow4, r, map[uint16]uint64{22: 1000, 21: 2000}, 0))
	set(&s9, 257, dataRec(v9Flow6, r6, nil, 0))
	netflow = append(netflow, nf9(1_700_000_000, 5_000_000, 1, 42, 5, s9))
	var s10 wbuf
	set(&s10, 2, templateRec(300, ipfixFlow4))
	set(&s10, 3, ipfixSamplerOptionsTemplate(301))
	set(&s10, 301, []byte{0, 7, 0, 0, 0, 100})
	set(&s10, 300, dataRec(ipfixFlow4, r, map[uint16]uint64{152: 1_700_000_000_000, 153: 1_700_000_001_000}, 7))
	netflow = append(netflow, ipfix(1_700_000_000, 0, 7, s10))
	frame := make([]byte, 60)
	copy(frame, []byte{0x45, 0, 0, 60, 0, 0, 0, 0, 64, 6, 0, 0, 192, 168, 1, 10, 203, 0, 113, 5, 0x9c, 0x40, 1, 0xbb})
	frame[32] = 0x50 // TCP data offset
	sflow = append(sflow,
		sflowDatagram(exp1, 1, flowSample(1, 256, sampledHeader(11, frame, 40)), counterSample(1)),
		sflowDatagram(exp1, 2, expandedFlowSample(2, 512, sampledHeader(11, frame, 60))))
	return netflow, sflow
}

// fuzzDatagram hands data to a fresh collector twice (the second time
// with the templates the first one taught) and checks the counts.
func fuzzDatagram(t *testing.T, k Kind, data []byte) {
	c := New(Config{MaxTemplates: 64, MaxDatagram: 9000})
	var out nopOut
	now := time.Unix(1_700_000_000, 0).UnixNano()
	c.Handle(k, exp1, data, now, &out)
	c.Handle(k, exp1, data, now+1, &out)
	e := c.exporters[exp1]
	if e == nil {
		t.Fatal("no exporter state")
	}
	if got := e.st.records.Load(); got != uint64(out.records+out.frames) {
		t.Fatalf("records counted %d, handed on %d", got, out.records+out.frames)
	}
	if n := e.st.templates.Load(); n > 64 {
		t.Fatalf("%d templates kept, more than the bound", n)
	}
}

// FuzzNetFlowDatagram: the NetFlow v5/v9/IPFIX listener's entry point.
func FuzzNetFlowDatagram(f *testing.F) {
	nf, _ := seeds()
	for _, s := range nf {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDatagram(t, NetFlow, data) })
}

// FuzzSFlowDatagram: the sFlow listener's entry point.
func FuzzSFlowDatagram(f *testing.F) {
	_, sf := seeds()
	for _, s := range sf {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDatagram(t, SFlow, data) })
}

// TestWriteFuzzSeeds writes the seeds as the committed corpus when
// BORDERWATCH_WRITE_FUZZ_SEEDS=1; otherwise it checks the seeds decode
// without an error.
func TestWriteFuzzSeeds(t *testing.T) {
	nf, sf := seeds()
	for _, s := range nf {
		checkSeed(t, NetFlow, s)
	}
	for _, s := range sf {
		checkSeed(t, SFlow, s)
	}
	if os.Getenv("BORDERWATCH_WRITE_FUZZ_SEEDS") != "1" {
		return
	}
	write := func(target string, ds [][]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzNetFlowDatagram", nf)
	write("FuzzSFlowDatagram", sf)
}

func checkSeed(t *testing.T, k Kind, d []byte) {
	t.Helper()
	c := New(Config{})
	var out nopOut
	c.Handle(k, exp1, d, time.Unix(1_700_000_000, 0).UnixNano(), &out)
	checkNoErrors(t, c.exporters[exp1])
	if out.records+out.frames == 0 {
		t.Errorf("seed %x: nothing handed on", d[:8])
	}
}
