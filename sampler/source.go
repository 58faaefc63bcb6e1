package sampler

import (
	"fmt"

	"scorematch/ad"
	"scorematch/ad/repro"
)

// A ScoreFunc sets dst (B×D) to the score ∇ₓ log p at every row of x (B×D).
// It must not retain x or dst. A ScoreFunc may keep scratch buffers and is
// not safe for concurrent use.
type ScoreFunc func(dst, x ad.Mat)

// A ScoreSource gives the score ∇ₓ log p of a distribution over R^D.
//
// Samplers run chains on several goroutines, each with its own evaluator:
// NewScoreFunc returns a fresh evaluator every time it is called, and
// evaluators returned by different calls may run concurrently. The samplers
// call NewScoreFunc from one goroutine, so it need not be safe for concurrent
// use itself.
type ScoreSource interface {
	// Dim returns D, the dimension of the sample space.
	Dim() int
	// NewScoreFunc returns an evaluator for one goroutine.
	NewScoreFunc() ScoreFunc
}

// A LogDensityFunc sets logp[b] to the unnormalised log-density log p̃ at row
// b of x and, unless score is empty (no Data), sets score (shaped like x) to
// its gradient, the score. len(logp) must be x.Rows. Like a ScoreFunc it is
// not safe for concurrent use.
type LogDensityFunc func(logp []float64, score, x ad.Mat)

// A LogDensity is a ScoreSource that also knows its unnormalised
// log-density, as the Metropolis-adjusted samplers, annealed importance
// sampling and quadrature need. The normalising constant is unknown unless a type
// documents it (the analytic distributions of this package are normalised).
// NewLogDensityFunc follows the rules of ScoreSource.NewScoreFunc.
type LogDensity interface {
	ScoreSource
	NewLogDensityFunc() LogDensityFunc
}

// A CondScoreFunc sets dst (B×D) to the noise-conditional score at noise
// level sigma > 0 at every row of x (B×D): the score of p convolved with
// N(0, σ²I) for an analytic distribution, or a network's estimate of it. It
// is not safe for concurrent use.
type CondScoreFunc func(dst, x ad.Mat, sigma float64)

// A CondScoreSource gives noise-conditional scores, as annealed Langevin
// dynamics needs. NewCondScoreFunc follows the rules of
// ScoreSource.NewScoreFunc.
type CondScoreSource interface {
	Dim() int
	NewCondScoreFunc() CondScoreFunc
}

// EvalScore returns the scores of s at the rows of x as a new B×D matrix,
// evaluated in repro.DefaultChunks parallel chunks. It panics if x.Cols is not
// s.Dim().
func EvalScore(s ScoreSource, x ad.Mat) ad.Mat {
	checkCols("EvalScore", x, s.Dim())
	dst := ad.NewMat(x.Rows, x.Cols)
	chunks := repro.DefaultChunks(x.Rows)
	fs := make([]ScoreFunc, chunks)
	for c := range fs {
		fs[c] = s.NewScoreFunc()
	}
	repro.Run(x.Rows, chunks, func(c, lo, hi int) {
		fs[c](dst.RowRange(lo, hi), x.RowRange(lo, hi))
	})
	return dst
}

// EvalLogDensity returns log p̃ of d at the rows of x, evaluated in
// repro.DefaultChunks parallel chunks. It panics if x.Cols is not d.Dim().
func EvalLogDensity(d LogDensity, x ad.Mat) []float64 {
	checkCols("EvalLogDensity", x, d.Dim())
	logp := make([]float64, x.Rows)
	chunks := repro.DefaultChunks(x.Rows)
	fs := make([]LogDensityFunc, chunks)
	for c := range fs {
		fs[c] = d.NewLogDensityFunc()
	}
	repro.Run(x.Rows, chunks, func(c, lo, hi int) {
		fs[c](logp[lo:hi], ad.Mat{}, x.RowRange(lo, hi))
	})
	return logp
}

// checkCols panics unless x has dim columns.
func checkCols(name string, x ad.Mat, dim int) {
	if x.Cols != dim {
		panic(fmt.Sprintf("sampler: %s: x is %d×%d, the distribution has dimension %d", name, x.Rows, x.Cols, dim))
	}
	if len(x.Data) != x.Rows*x.Cols {
		panic(fmt.Sprintf("sampler: %s: x is %d×%d with %d elements", name, x.Rows, x.Cols, len(x.Data)))
	}
}
