package sampler

import (
	"math/rand/v2"

	"scorematch/ad/repro"
)

// streams returns the random streams of items lo, ..., hi−1 (chains,
// permutations) for a seed and purpose: the streams of (seed, p, 0, i)
// (repro.Stream), so that an item's numbers do not depend on the chunk
// that draws them.
func streams(seed uint64, p repro.Purpose, lo, hi int) []*rand.Rand {
	rs := make([]*rand.Rand, hi-lo)
	for i := range rs {
		rs[i] = repro.New(seed, p, 0, uint64(lo+i))
	}
	return rs
}

// chunkCount returns c, or repro.DefaultChunks(n) for n items when c is
// zero, and a *ConfigError if c is negative.
func chunkCount(name string, c, n int) (int, error) {
	switch {
	case c < 0:
		return 0, &ConfigError{Type: name, Field: "Chunks", Value: c, Want: "≥ 0 (0: repro.DefaultChunks)"}
	case c == 0:
		return repro.DefaultChunks(n), nil
	}
	return c, nil
}
