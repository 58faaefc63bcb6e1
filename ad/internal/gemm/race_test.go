//go:build race

package gemm

// raceEnabled is true when the race detector is on; sync.Pool then drops
// items at random, so allocation counts are not meaningful.
const raceEnabled = true
