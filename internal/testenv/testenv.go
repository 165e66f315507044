// Package testenv holds what the tests share: the directory of real
// captures and benchmarks (shared/, beside the repository or named by
// $BORDERWATCH_SHARED), and a buffer safe for concurrent use.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns the shared directory (holding pcaps/ and bench/), or
// skips the test with a message saying how to provide it.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BORDERWATCH_SHARED"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			shared := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(filepath.Join(shared, "pcaps")); err == nil && st.IsDir() {
				return shared
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Skip("shared captures not found next to the repository: set BORDERWATCH_SHARED to the directory holding pcaps/ and bench/")
	return ""
}
