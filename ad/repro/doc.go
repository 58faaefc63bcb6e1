// Package repro is what makes this module's results reproducible: the
// same bits for the same seed on any machine, core count or schedule.
//
// Work on a batch (rows of data, chains of a sampler) is split into a fixed
// number of contiguous chunks (Chunk, DefaultChunks) that depends on the
// batch alone, never on GOMAXPROCS. Chunks run on goroutines: on a Pool of
// long-lived workers, or once with Run. Per-chunk results are combined in
// chunk order (SumChunks), so floating-point sums are the same however the
// chunks were scheduled. A panic in a chunk is re-raised in the caller.
//
// Every random number is drawn from a stream named by (seed, purpose,
// step, sample) (Stream, New): the sample's own randomness at that step,
// for that purpose, whichever goroutine draws it. Normal deviates come from
// Normal, which gives the same bits on every architecture (the generator's
// NormFloat64 does not: it calls math.Log and math.Exp, whose last bits
// differ between architectures; see package ad/rmath).
package repro
