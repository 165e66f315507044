package capture

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestCompileFilterMatchesTcpdump: the program compiled through libpcap
// equals tcpdump's own (-ddd) for a set of expressions, and parses back.
func TestCompileFilterMatchesTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump); CI installs it")
	}
	for _, expr := range []string{"not port 22", "tcp and dst port 443", "udp port 53 or udp port 5353", "host 192.0.2.1 and not icmp", "tcp[tcpflags] & tcp-syn != 0", "ip6 and udp", "vlan and ip"} {
		prog, err := CompileFilter(expr, layers.LinkTypeEthernet, 262144)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		out, err := exec.Command("tcpdump", "-y", "EN10MB", "-s", "262144", "-ddd", expr).Output()
		if err != nil {
			t.Fatalf("tcpdump -ddd %s: %v", expr, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d\n", len(prog))
		for _, in := range prog {
			fmt.Fprintf(&b, "%d %d %d %d\n", in.Op, in.Jt, in.Jf, in.K)
		}
		if b.String() != string(out) {
			t.Errorf("%s: borderwatch\n%s\ntcpdump\n%s", expr, b.String(), out)
		}
		back, err := ParseRawBPF(strings.NewReader(string(out)))
		if err != nil || len(back) != len(prog) {
			t.Errorf("%s: parse back: %v", expr, err)
		}
	}
	if _, err := CompileFilter("port banana", layers.LinkTypeEthernet, 65535); err == nil || !strings.Contains(err.Error(), "banana") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestParseRawBPFErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                               "no instructions",
		"2\n6 0 0 0\n":                   "announces 2 instructions, 1 follow",
		"1\n6 0 0\n":                     "want \"code jt jf k\"",
		"1\n40 0 0 12\n":                 "does not end with a return",
		"2\n21 5 0 2048\n6 0 0 262144\n": "jumps past the end",
		"x\n":                            "not an instruction count",
	} {
		if _, err := ParseRawBPF(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
