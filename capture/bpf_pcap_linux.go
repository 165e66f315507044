//go:build linux

package capture

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// libpcap is loaded at run time (the binary stays CGO-free) only to compile
// tcpdump-syntax filters, with pcap_open_dead + pcap_compile: the exact
// compiler tcpdump uses.
var (
	pcapOnce sync.Once
	pcapErr  error
	pcapLib  struct {
		openDead func(linktype, snaplen int32) uintptr
		compile  func(p uintptr, prog *bpfProgram, expr string, optimize int32, netmask uint32) int32
		geterr   func(p uintptr) string
		freecode func(prog *bpfProgram)
		close    func(p uintptr)
	}
)

type bpfProgram struct {
	len   uint32
	_     uint32
	insns *bpfInsn
}

type bpfInsn struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

func loadLibpcap() error {
	pcapOnce.Do(func() {
		var h uintptr
		var err error
		for _, name := range []string{"libpcap.so.1", "libpcap.so.0.8", "libpcap.so"} {
			if h, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
				break
			}
		}
		if err != nil {
			pcapErr = fmt.Errorf("compiling a tcpdump filter needs libpcap at run time and none was found (%v): install it (apt-get install libpcap0.8, dnf install libpcap) or give the compiled program with --capture.filter-bpf (the output of tcpdump -ddd)", err)
			return
		}
		purego.RegisterLibFunc(&pcapLib.openDead, h, "pcap_open_dead")
		purego.RegisterLibFunc(&pcapLib.compile, h, "pcap_compile")
		purego.RegisterLibFunc(&pcapLib.geterr, h, "pcap_geterr")
		purego.RegisterLibFunc(&pcapLib.freecode, h, "pcap_freecode")
		purego.RegisterLibFunc(&pcapLib.close, h, "pcap_close")
	})
	return pcapErr
}

var compileMu sync.Mutex // pcap_compile is not thread-safe in old libpcap

// CompileFilter compiles a tcpdump-syntax filter for frames of link type
// lt with libpcap, loaded at run time.
func CompileFilter(expr string, lt layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if err := loadLibpcap(); err != nil {
		return nil, err
	}
	compileMu.Lock()
	defer compileMu.Unlock()
	p := pcapLib.openDead(int32(lt), int32(snaplen))
	if p == 0 {
		return nil, errors.New("pcap_open_dead failed")
	}
	defer pcapLib.close(p)
	var prog bpfProgram
	if pcapLib.compile(p, &prog, expr, 1, 0xffffffff) != 0 {
		return nil, fmt.Errorf("capture filter %q: %s", expr, pcapLib.geterr(p))
	}
	defer pcapLib.freecode(&prog)
	insns := unsafe.Slice(prog.insns, prog.len)
	out := make([]bpf.RawInstruction, len(insns))
	for i, in := range insns {
		out[i] = bpf.RawInstruction{Op: in.code, Jt: in.jt, Jf: in.jf, K: in.k}
	}
	return out, nil
}
