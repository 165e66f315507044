//go:build race

package collect

// raceEnabled: the race detector allocates where the code does not.
const raceEnabled = true
