//go:build race

package flow

// raceEnabled: the race detector multiplies resident memory (shadow
// memory), so memory bounds cannot be checked under it.
const raceEnabled = true
