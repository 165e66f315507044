//go:build linux || darwin || freebsd

package capture

import (
	"os"

	"golang.org/x/sys/unix"
)

// maxMapped is the largest file mapped (larger ones are read).
const maxMapped = 1 << 40

var pageSize = os.Getpagesize()

func mapFile(f *os.File, size int) ([]byte, error) {
	mm, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(mm, unix.MADV_SEQUENTIAL)
	return mm, nil
}

func unmapFile(mm []byte) { _ = unix.Munmap(mm) }

func dropPages(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
