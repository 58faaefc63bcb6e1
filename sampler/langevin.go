package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// Langevin is unadjusted Langevin dynamics: T steps of
//
//	x ← x + (ε/2)·s(x) + √ε·z,  z ~ N(0, I),
//
// on every chain (row) independently. Its stationary law is only
// approximately p, with an O(ε) bias, and the score alone cannot see the
// relative weights of well-separated modes.
type Langevin struct {
	// Step is ε > 0.
	Step float64
	// Steps is T ≥ 0.
	Steps int
	// Seed selects the random streams: chain i draws its noise from the
	// stream of (Seed, i), so the result does not depend on scheduling.
	Seed uint64
	// Chunks is the number of goroutines the chains are split into (fixed
	// chunks); 0 means repro.DefaultChunks(x.Rows).
	Chunks int
}

// Run moves the chains x (one row per chain, B×D) in place. Each chunk of
// chains calls its own evaluator from s on its rows once per step; the
// result is bit-identical for any GOMAXPROCS. Run returns an error if a
// chain ends with a non-finite coordinate (ε too large for the score), and
// a *ConfigError for an invalid setting. It panics if x does not have
// s.Dim() columns.
func (l Langevin) Run(s ScoreSource, x ad.Mat) error {
	checkCols("Langevin.Run", x, s.Dim())
	if err := checkStep("Langevin", l.Step, l.Steps); err != nil {
		return err
	}
	chunks, err := chunkCount("Langevin", l.Chunks, x.Rows)
	if err != nil {
		return err
	}
	fs := make([]ScoreFunc, chunks)
	for c := range fs {
		fs[c] = s.NewScoreFunc()
	}
	repro.Run(x.Rows, chunks, func(c, lo, hi int) {
		xc := x.RowRange(lo, hi)
		sc := ad.NewMat(hi-lo, x.Cols)
		rngs := streams(l.Seed, repro.Chain, lo, hi)
		for range l.Steps {
			fs[c](sc, xc)
			langevinStep(xc, sc, rngs, l.Step)
		}
	})
	return checkFinite("Langevin", x)
}

// AnnealedLangevin is the annealed Langevin dynamics of NCSN (Song & Ermon
// 2019): for noise levels σ₁ > … > σ_L, with αᵢ = ε·σᵢ²/σ_L², T steps of
//
//	x ← x + (αᵢ/2)·s(x, σᵢ) + √αᵢ·z,  z ~ N(0, I),
//
// at each level in turn, s being a noise-conditional score.
type AnnealedLangevin struct {
	// Sigmas are the noise levels σ₁, ..., σ_L, each finite and > 0,
	// usually decreasing (GeometricSigmas).
	Sigmas []float64
	// Step is ε > 0, the step size at the last level.
	Step float64
	// Steps is T ≥ 0, the number of steps per level.
	Steps int
	// Seed and Chunks are as in Langevin.
	Seed   uint64
	Chunks int
}

// Run moves the chains x (B×D) in place; see Langevin.Run for determinism
// and errors (a *ConfigError also for an empty Sigmas or a level that is
// not finite and positive). It panics if x does not have s.Dim() columns.
func (a AnnealedLangevin) Run(s CondScoreSource, x ad.Mat) error {
	checkCols("AnnealedLangevin.Run", x, s.Dim())
	if err := checkStep("AnnealedLangevin", a.Step, a.Steps); err != nil {
		return err
	}
	if len(a.Sigmas) == 0 {
		return &ConfigError{Type: "AnnealedLangevin", Field: "Sigmas", Value: a.Sigmas, Want: "at least one noise level"}
	}
	for _, sg := range a.Sigmas {
		if !(sg > 0) || math.IsInf(sg, 0) {
			return &ConfigError{Type: "AnnealedLangevin", Field: "Sigmas", Value: a.Sigmas, Want: "finite levels > 0"}
		}
	}
	last := a.Sigmas[len(a.Sigmas)-1]
	chunks, err := chunkCount("AnnealedLangevin", a.Chunks, x.Rows)
	if err != nil {
		return err
	}
	fs := make([]CondScoreFunc, chunks)
	for c := range fs {
		fs[c] = s.NewCondScoreFunc()
	}
	repro.Run(x.Rows, chunks, func(c, lo, hi int) {
		xc := x.RowRange(lo, hi)
		sc := ad.NewMat(hi-lo, x.Cols)
		rngs := streams(a.Seed, repro.Chain, lo, hi)
		for _, sigma := range a.Sigmas {
			alpha := a.Step * (sigma / last) * (sigma / last)
			for range a.Steps {
				fs[c](sc, xc, sigma)
				langevinStep(xc, sc, rngs, alpha)
			}
		}
	})
	return checkFinite("AnnealedLangevin", x)
}

// GeometricSigmas returns n noise levels from hi down to lo in geometric
// progression: σᵢ = hi·(lo/hi)^(i/(n−1)), with σ₁ = hi and σₙ = lo exactly.
// For n = 1 it returns [hi]. It panics unless 0 < lo ≤ hi are finite and
// n ≥ 1.
func GeometricSigmas(hi, lo float64, n int) []float64 {
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) || n < 1 {
		panic(fmt.Sprintf("sampler: GeometricSigmas(%v, %v, %d): want 0 < lo ≤ hi finite and n ≥ 1", hi, lo, n))
	}
	s := make([]float64, n)
	s[0] = hi
	for i := 1; i < n; i++ {
		s[i] = hi * rmath.Pow(lo/hi, float64(i)/float64(n-1))
	}
	s[n-1] = lo
	return s
}

// langevinStep applies x ← x + (a/2)s + √a·z row by row, row b drawing its
// noise from rngs[b] in column order.
func langevinStep(x, s ad.Mat, rngs []*rand.Rand, a float64) {
	h, sq := a/2, math.Sqrt(a)
	for b, rng := range rngs {
		xr, sr := x.Row(b), s.Row(b)
		for i := range xr {
			xr[i] += float64(h*sr[i]) + float64(sq*repro.Normal(rng))
		}
	}
}

// checkStep returns a *ConfigError unless step is finite and positive and
// steps ≥ 0.
func checkStep(name string, step float64, steps int) error {
	if err := positiveStep(name, step); err != nil {
		return err
	}
	if steps < 0 {
		return &ConfigError{Type: name, Field: "Steps", Value: steps, Want: "≥ 0"}
	}
	return nil
}

// checkFinite returns an error naming the first chain of x with a
// non-finite coordinate.
func checkFinite(name string, x ad.Mat) error {
	for b := range x.Rows {
		for _, v := range x.Row(b) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("sampler: %s: chain %d diverged (non-finite state); reduce the step size", name, b)
			}
		}
	}
	return nil
}
