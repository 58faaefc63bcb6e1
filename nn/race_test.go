//go:build race

package nn

// raceEnabled is set under the race detector, whose instrumentation makes
// allocation counts meaningless.
const raceEnabled = true
