package capture

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// ParseRawBPF reads a classic BPF program in the format `tcpdump -ddd`
// prints: the instruction count on the first line, then one instruction a
// line as four decimal numbers "code jt jf k".
func ParseRawBPF(r io.Reader) ([]bpf.RawInstruction, error) {
	sc := bufio.NewScanner(r)
	var prog []bpf.RawInstruction
	want := -1
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(strings.ReplaceAll(s, ",", " "))
		if want < 0 && len(f) == 1 {
			n, err := strconv.Atoi(f[0])
			if err != nil || n <= 0 || n > maxBPFInstructions {
				return nil, fmt.Errorf("line %d: %q is not an instruction count (1-%d)", line, s, maxBPFInstructions)
			}
			want = n
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: %q: want \"code jt jf k\" (the output of tcpdump -ddd)", line, s)
		}
		var v [4]uint64
		for i, x := range f {
			n, err := strconv.ParseUint(x, 10, 32)
			if err != nil || (i == 0 && n > 0xffff) || ((i == 1 || i == 2) && n > 0xff) {
				return nil, fmt.Errorf("line %d: %q: field %d is out of range", line, s, i+1)
			}
			v[i] = n
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(prog) == 0 {
		return nil, fmt.Errorf("no instructions")
	}
	if want >= 0 && want != len(prog) {
		return nil, fmt.Errorf("the first line announces %d instructions, %d follow", want, len(prog))
	}
	if err := checkBPF(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// checkBPF rejects programs the kernel would refuse, with a clearer message:
// jumps out of range, or a last instruction that is not a return.
func checkBPF(prog []bpf.RawInstruction) error {
	for i, ins := range prog {
		if ins.Op&0x07 == 0x05 { // BPF_JMP
			if ins.Op&0xf0 != 0x00 && (i+1+int(ins.Jt) >= len(prog) || i+1+int(ins.Jf) >= len(prog)) {
				return fmt.Errorf("instruction %d jumps past the end of the program", i)
			}
		}
	}
	if last := prog[len(prog)-1]; last.Op&0x07 != 0x06 { // BPF_RET
		return fmt.Errorf("the program does not end with a return instruction")
	}
	return nil
}

// maxBPFInstructions is the kernel's limit on classic BPF programs (BPF_MAXINSNS).
const maxBPFInstructions = 4096
