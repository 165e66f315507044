package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FilterCompiler compiles tcpdump-syntax filters with tcpdump itself
// (`tcpdump -y DLT -s SNAPLEN -ddd EXPR`, which calls libpcap's
// pcap_compile on a dead handle and needs no privilege). Running it as a
// program keeps borderwatch a static, CGO-free binary: loading libpcap
// in-process would need the C runtime and a dynamically linked binary.
type FilterCompiler struct {
	tcpdump string
}

// NewFilterCompiler finds tcpdump: the first of paths that exists (nil:
// tcpdump in $PATH, /usr/bin, /usr/sbin, /sbin). The error says what to
// install, or how to do without.
func NewFilterCompiler(paths []string) (*FilterCompiler, error) {
	if paths == nil {
		paths = []string{"tcpdump", "/usr/bin/tcpdump", "/usr/sbin/tcpdump", "/sbin/tcpdump"}
	}
	for _, p := range paths {
		if path, err := exec.LookPath(p); err == nil {
			return &FilterCompiler{tcpdump: path}, nil
		}
	}
	return nil, fmt.Errorf("compiling a tcpdump-syntax filter needs tcpdump (tried %s): install it (apt-get install tcpdump, which brings libpcap0.8; dnf install tcpdump; apk add tcpdump), or compile the filter elsewhere with `tcpdump -y EN10MB -ddd EXPR > filter.bpf` (-y RAW for \"any\" and tunnels) and give --capture.filter-bpf filter.bpf", strings.Join(paths, ", "))
}

// Compile compiles expr for frames of link type lt; the program returns
// snaplen for the frames it accepts.
func (c *FilterCompiler) Compile(expr string, lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	dlt := dltName(lt) // tcpdump -y takes libpcap's names
	if dlt == "" || !SupportedLinkType(lt) {
		return nil, fmt.Errorf("capture filter for link type %v: not supported", lt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.tcpdump, "-y", dlt, "-s", strconv.Itoa(snaplen), "-ddd", "--", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "tcpdump: "))
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("capture filter %q: %s", expr, msg)
		}
		return nil, fmt.Errorf("capture filter %q: %s: %w %s", expr, c.tcpdump, err, msg)
	}
	prog, err := ParseRawBPF(&stdout)
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: reading tcpdump's program: %w", expr, err)
	}
	return prog, nil
}
