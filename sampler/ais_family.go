package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// A LogDensityFamily is a set of unnormalised densities p̃₀, ..., p̃ₙ₋₁ over
// the same R^D with one evaluator for all of them: a batch may mix points of
// different members, so that work on many targets shares big matrix
// products. The posteriors over the latent of a latent-variable model, one
// per observation, are the example: their normalising constants are the
// observations' marginal likelihoods, which AIS.RunFamily estimates
// together. NewFamilyFunc follows the rules of ScoreSource.NewScoreFunc.
type LogDensityFamily interface {
	// Dim returns D, the dimension of the sample space.
	Dim() int
	// Len returns n ≥ 1, the number of members.
	Len() int
	// NewFamilyFunc returns an evaluator for one goroutine.
	NewFamilyFunc() FamilyFunc
}

// A FamilyFunc is the LogDensityFunc of a LogDensityFamily: it sets logp[b]
// to log p̃ₘ at row b of x, with m = member[b], and unless score is empty
// (no Data) sets row b of score (shaped like x) to ∇ₓ log p̃ₘ there.
// len(logp) and len(member) must be x.Rows. A row's values must not depend
// on the other rows of the batch (AIS.RunFamily relies on it for its
// results to be those of AIS.Run). It must not retain x, score or member,
// and is not safe for concurrent use.
type FamilyFunc func(logp []float64, score, x ad.Mat, member []int)

// Member returns member i of f as a LogDensity, whose evaluator is f's
// with every row assigned to i. It panics if i is not in [0, f.Len()).
func Member(f LogDensityFamily, i int) LogDensity {
	if i < 0 || i >= f.Len() {
		panic(fmt.Sprintf("sampler: Member: member %d of a family of %d", i, f.Len()))
	}
	return member{f, i}
}

type member struct {
	f LogDensityFamily
	i int
}

func (m member) Dim() int { return m.f.Dim() }

func (m member) NewScoreFunc() ScoreFunc {
	f := m.NewLogDensityFunc()
	var lp []float64
	return func(dst, x ad.Mat) {
		checkPair("Member score", dst, x, m.f.Dim())
		lp = slices.Grow(lp[:0], x.Rows)[:x.Rows]
		f(lp, dst, x)
	}
}

func (m member) NewLogDensityFunc() LogDensityFunc {
	f := m.f.NewFamilyFunc()
	var idx []int
	return func(logp []float64, score, x ad.Mat) {
		checkLogDensity("Member", logp, score, x, m.f.Dim())
		for len(idx) < x.Rows {
			idx = append(idx, m.i)
		}
		f(logp, score, x, idx[:x.Rows])
	}
}

// defaultMaxRows is RunFamily's bound on the chains it advances together
// when AIS.MaxRows is 0.
const defaultMaxRows = 4096

// RunFamily estimates log Z of every member of f, member i with the seed
// Seed + i: its result is bit-identical to that of Run on Member(f, i)
// with that seed — the same pilot, the same step-size schedule, the same
// random streams and the same sums — for any GOMAXPROCS and any MaxRows,
// as long as f's rows do not depend on each other (see FamilyFunc).
//
// What changes is the work's shape. The members are taken in groups of
// ⌊MaxRows/(pilot chains + Chains)⌋ (at least one). A group's pilot and
// main chains advance through the temperatures together, in
// repro.DefaultChunks sub-batches of contiguous chains (64 chains each,
// mixing members) that GOMAXPROCS workers share out, each worker with one
// evaluator for all its sub-batches (the split does not change any
// result). After each temperature, each member's pilot sets that
// member's next step. The main chains
// use a step only once the pilot has fixed it, so they never adapt and the
// weights stay unbiased, as in Run.
//
// It returns a *ConfigError for an invalid setting or an empty family,
// and otherwise the error of the lowest-numbered member whose run fails
// (a log-density that is not finite at a starting point, or no finite
// weight), naming the member.
func (a AIS) RunFamily(f LogDensityFamily) ([]AISResult, error) {
	p, err := a.plan()
	if err != nil {
		return nil, err
	}
	n := f.Len()
	if n < 1 {
		return nil, &ConfigError{Type: "AIS", Field: "family", Value: n, Want: "≥ 1 member"}
	}
	maxRows := a.MaxRows
	if maxRows == 0 {
		maxRows = defaultMaxRows
	}
	g := &aisGroup{a: a, p: p, dim: f.Dim(), per: p.pilot + a.Chains, newF: f.NewFamilyFunc}
	size := max(1, maxRows/g.per)
	res := make([]AISResult, n)
	for lo := 0; lo < n; lo += size {
		if err := g.run(lo, min(n, lo+size), res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// aisGroup runs RunFamily's groups of members. Chain row r of a group
// belongs to its member r/per and is that member's pilot chain r%per when
// r%per < pilot, and otherwise its main chain r%per − pilot.
type aisGroup struct {
	a        AIS
	p        aisPlan
	dim, per int
	newF     func() FamilyFunc
	fs       []FamilyFunc // the evaluators, one per chunk, kept across groups
}

// run runs members lo, ..., hi−1 and stores their results in res[lo:hi].
func (g *aisGroup) run(lo, hi int, res []AISResult) error {
	a, p, per := g.a, g.p, g.per
	rows := (hi - lo) * per
	members := make([]int, rows)
	rngs := make([]*rand.Rand, rows)
	for r := range rows {
		m, j := lo+r/per, r%per
		members[r] = m
		if j < p.pilot {
			rngs[r] = repro.New(a.Seed+uint64(m), repro.AISPilot, 0, uint64(j))
		} else {
			rngs[r] = repro.New(a.Seed+uint64(m), repro.AIS, 0, uint64(j-p.pilot))
		}
	}
	subs := repro.DefaultChunks(rows)
	workers := min(runtime.GOMAXPROCS(0), subs)
	for len(g.fs) < workers {
		g.fs = append(g.fs, g.newF())
	}
	// Sub-batch c of the chains is an aisChunk, always advanced by the same
	// worker with that worker's evaluator (which stays in cache).
	each := func(fn func(c, clo, chi, w int)) {
		repro.Run(subs, workers, func(w, lo, hi int) {
			for c := lo; c < hi; c++ {
				clo, chi := repro.Chunk(rows, subs, c)
				fn(c, clo, chi, w)
			}
		})
	}
	chs := make([]*aisChunk, subs)
	each(func(c, clo, chi, w int) {
		f, mem := g.fs[w], members[clo:chi]
		eval := func(logp []float64, score, x ad.Mat) { f(logp, score, x, mem) }
		chs[c] = newAISChunk(eval, g.dim, a, rngs[clo:chi], ad.Mat{})
	})
	// Starting points: a member's pilot chains first, as Run checks them.
	lt := make([]float64, 0, rows)
	for _, ch := range chs {
		lt = append(lt, ch.lt...)
	}
	for r, v := range lt {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sampler: AIS: member %d: log-density %v at a starting point", members[r], v)
		}
	}

	K := len(p.betas) - 1
	steps := make([][]float64, hi-lo) // each member's schedule ε₁, ..., ε_{K−1}
	logEps := make([]float64, hi-lo)
	acc := make([][]float64, hi-lo) // per member, Run's per-chunk acceptance sums
	for i := range steps {
		steps[i] = make([]float64, max(K-1, 0))
		logEps[i] = rmath.Log(a.Step)
		acc[i] = make([]float64, p.chunks)
	}
	prob := make([]float64, rows)
	for k := 1; k <= K; k++ {
		if k < K {
			for i := range steps {
				steps[i][k-1] = rmath.Exp(logEps[i])
			}
		}
		each(func(c, clo, chi, _ int) {
			ch := chs[c]
			ch.addWeight(p.betas[k] - p.betas[k-1])
			if k == K {
				return
			}
			for b := range ch.eps {
				ch.eps[b] = steps[members[clo+b]-lo][k-1]
			}
			ch.step(p.betas[k])
			// Run skips the transitions of a member whose step has
			// underflowed to 0, so its acceptance is 0 from then on and so
			// is its step. Here the chains take steps of 0 instead, which
			// leave them where they are (a proposal equals its start, or is
			// NaN and rejected); their streams are never used again.
			for b, e := range ch.eps {
				if e == 0 {
					ch.prob[b] = 0
				}
			}
			copy(prob[clo:chi], ch.prob)
		})
		if k == K {
			break
		}
		for i := range steps {
			pr := prob[i*per : (i+1)*per]
			// The pilot's mean acceptance, summed as Run sums it: within
			// each of its chunks, then over the chunks.
			mean := 0.0
			for c := range p.chunks {
				mean += sumChunk(pr[:p.pilot], p.chunks, c)
			}
			mean /= float64(p.pilot)
			logEps[i] += mean - p.target
			for c := range p.chunks {
				acc[i][c] += sumChunk(pr[p.pilot:], p.chunks, c)
			}
		}
	}

	logw := make([]float64, 0, rows)
	for _, ch := range chs {
		logw = append(logw, ch.logw...)
	}
	for i := range hi - lo {
		r := AISResult{LogWeights: append([]float64(nil), logw[i*per+p.pilot:(i+1)*per]...), Steps: steps[i]}
		for _, s := range acc[i] {
			r.AcceptRate += s
		}
		r.AcceptRate /= float64(a.Chains)
		if K > 1 {
			r.AcceptRate /= float64(K - 1)
		}
		if err := r.summarise(); err != nil {
			return fmt.Errorf("sampler: AIS: member %d: %w", lo+i, err)
		}
		res[lo+i] = r
	}
	return nil
}

// sumChunk returns the sum, in order, of chunk c of v split into chunks
// contiguous parts as repro.Run splits rows (0 for an empty chunk).
func sumChunk(v []float64, chunks, c int) float64 {
	lo, hi := repro.Chunk(len(v), chunks, c)
	s := 0.0
	for _, x := range v[lo:hi] {
		s += x
	}
	return s
}
