//go:build race

package ad

// raceEnabled is set under the race detector, which makes sync.Pool drop
// items at random, so allocation counts are meaningless there.
const raceEnabled = true
