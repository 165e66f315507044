//go:build !(linux || darwin || freebsd)

package capture

import (
	"errors"
	"os"
)

const maxMapped = 0

var pageSize = 4096

func mapFile(f *os.File, size int) ([]byte, error) { return nil, errors.New("not mapped") }

func unmapFile(mm []byte) {}

func dropPages(b []byte) {}
