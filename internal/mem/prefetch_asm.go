//go:build amd64 || arm64

package mem

//go:noescape
func prefetch(addr uintptr)
