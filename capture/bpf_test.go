package capture

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

func TestParseRawBPF(t *testing.T) {
	// tcpdump -y EN10MB -ddd 'ip' (tcpdump 4.99).
	got, err := ParseRawBPF(strings.NewReader("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []bpf.RawInstruction{{Op: 0x28, K: 12}, {Op: 0x15, Jf: 1, K: 0x800}, {Op: 0x06, K: 262144}, {Op: 0x06}}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("(-got +want)\n%s", d)
	}
}

func TestParseRawBPFErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no instructions"},
		{"2\n6 0 0 0\n", "announces 2 instructions, 1 follow"},
		{"1\n6 0 0\n", "want \"code jt jf k\""},
		{"1\n40 0 0 12\n", "does not end with a return"},
		{"2\n21 5 0 2048\n6 0 0 262144\n", "jumps past the end"},
		{"x\n", "not an instruction count"},
		{"1\n70000 0 0 0\n", "field 1 is out of range"},
		{"1\n6 0 0 -1\n", "field 4 is out of range"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if _, err := ParseRawBPF(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
			}
		})
	}
}
