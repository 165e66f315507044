//go:build race

package mem

// raceEnabled: the race detector touches the memory the code allocates.
const raceEnabled = true
