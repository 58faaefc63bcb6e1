package sampler

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"scorematch/ad"
)

// DefaultChunks is the number of chunks the chains (or rows) are split into
// when a sampler's Chunks field is zero. Each chunk runs on its own goroutine
// with its own evaluator. The count is fixed, never derived from GOMAXPROCS,
// so results do not depend on the machine's parallelism.
const DefaultChunks = 8

// Stream purposes: the second word of a ChaCha8 key, so that streams drawn
// for different jobs from one seed never coincide.
const (
	purposeChain uint64 = iota + 1
	purposeAISPilot
	purposeAIS
	purposePermutation
)

// stream returns the random stream of item i (a chain, a permutation) for
// the given seed and purpose: ChaCha8 keyed by the little-endian words
// (seed, purpose, i, 0). Distinct keys give independent streams.
func stream(seed, purpose uint64, i int) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], purpose)
	binary.LittleEndian.PutUint64(key[16:], uint64(i))
	return rand.New(rand.NewChaCha8(key))
}

// streams returns the streams of items lo, ..., hi−1.
func streams(seed, purpose uint64, lo, hi int) []*rand.Rand {
	rs := make([]*rand.Rand, hi-lo)
	for i := range rs {
		rs[i] = stream(seed, purpose, lo+i)
	}
	return rs
}

// chunkCount returns c, or DefaultChunks when c is zero, and a
// *ConfigError if c is negative.
func chunkCount(name string, c int) (int, error) {
	switch {
	case c < 0:
		return 0, &ConfigError{Type: name, Field: "Chunks", Value: c, Want: "≥ 0 (0: DefaultChunks)"}
	case c == 0:
		return DefaultChunks, nil
	}
	return c, nil
}

// runChunks splits n items into chunks contiguous parts (ad.Chunk) and runs
// f(c, lo, hi) for every non-empty chunk c on its own goroutine. It returns
// when all have finished; a panic in any chunk is re-raised in the caller
// (the first in chunk order).
func runChunks(n, chunks int, f func(c, lo, hi int)) {
	panics := make([]any, chunks)
	var wg sync.WaitGroup
	for c := range chunks {
		lo, hi := ad.Chunk(n, chunks, c)
		if lo == hi {
			continue
		}
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panics[c] = r
				}
			}()
			f(c, lo, hi)
		})
	}
	wg.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
}
