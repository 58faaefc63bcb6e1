//go:build !race

package adtest

// RaceEnabled reports whether the race detector is on. Its instrumentation
// allocates, and it makes sync.Pool drop items at random, so tests of
// allocation counts skip themselves when it is true.
const RaceEnabled = false
