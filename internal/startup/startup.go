// Package startup holds the garbage collector off while borderwatch
// starts. Package main imports it first; Go initialises packages whose
// imports are ready in the order of their import paths, so it runs before
// the packages that allocate at initialisation (gopacket, the Prometheus
// client, YAML, the geo and app tables) and the collector stays off while
// the databases' tables are built: tens of MB allocated once and kept.
//
// A collection during start-up marks what is being built and scans the
// binary's globals, among them gopacket's two 2.5 MB tables of pointers,
// faulting them in: two collections cost about a quarter of a short
// read's time.
package startup

import (
	"os"
	"runtime/debug"
	"sync"
)

var gcPercent = debug.SetGCPercent(-1) // GOGC, default 100

// Done ends start-up: the collector runs again, at target percent, or
// at GOGC when it is set or percent is 0 (default 100). Only the first
// call counts.
func Done(percent int) {
	once.Do(func() {
		if _, set := os.LookupEnv("GOGC"); set || percent == 0 {
			percent = gcPercent
		}
		debug.SetGCPercent(percent)
	})
}

var once sync.Once
