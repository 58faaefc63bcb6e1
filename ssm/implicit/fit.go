package implicit

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
)

// An AutoEncoder is a VAE or a WAE as Fit trains it.
type AutoEncoder interface {
	// Params returns the trained parameters (φ, then θ).
	Params() []*ad.Param
	// NamedParams returns them under unique names, sharing their values:
	// what the optimiser steps.
	NamedParams() []*ad.Param
	// Optimizer returns the optimiser of the parameters.
	Optimizer() nn.Optimizer
	// Grad returns the gradient of the training loss on the batch x at
	// step number step, whose noise (if any) comes from seed's streams.
	Grad(x ad.Mat, seed, step uint64) ([]ad.Mat, StepStats)
}

// FitConfig configures Fit.
type FitConfig struct {
	// Steps ≥ 1 is the number of optimiser steps, numbered Start,
	// Start+1, ...
	Steps int
	// Start is the first step's number: a run resumed at step s (with the
	// optimiser's and the estimator's state restored) continues the
	// uninterrupted run's data order and noise.
	Start int
	// Batch ≥ 1 is the batch size, at most the number of rows.
	Batch int
	// LR > 0, if set, replaces the learning rate of the auto-encoder's
	// optimiser (an nn.Adam, nn.SGD or nn.RMSProp) for this and later
	// steps; 0 keeps it.
	LR float64
	// Seed seeds the data order and the noise.
	Seed uint64
	// Binarize replaces each pixel value p ∈ [0, 1] of a batch by a
	// Bernoulli(p) draw at every step (dynamic binarisation).
	Binarize bool
	// Every > 0 calls Progress after every Every steps and after the last.
	Every    int
	Progress func(Progress)
}

// Progress reports the training loss's terms at one step.
type Progress struct {
	// Step is the number of steps done.
	Step int
	StepStats
}

// Fit trains m on the rows of data (n×XDim, values in [0, 1]) with its
// optimiser, one step per batch. Each epoch visits the rows in the order
// of a permutation from the stream (Seed, PurposeShuffle, epoch, 0), in
// ⌊n/Batch⌋ batches (the rest is dropped). With Binarize, pixel j of row r
// of the batch of step s is 1 when the draw u_j of the stream (Seed,
// PurposeBinarize, s, r) is below its value. Fit runs on the calling
// goroutine (the kernel estimators split their work into
// repro.DefaultChunks chunks), so the result is the same bits for any
// GOMAXPROCS. It returns the last step's measurements, a *ConfigError for
// an invalid setting, or an error when the loss is not finite.
func Fit(m AutoEncoder, data ad.Mat, c FitConfig) (Progress, error) {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "FitConfig", Field: field, Value: v, Want: want}
	}
	switch {
	case c.Steps < 1:
		return Progress{}, bad("Steps", c.Steps, "≥ 1")
	case c.Start < 0:
		return Progress{}, bad("Start", c.Start, "≥ 0")
	case c.Batch < 1 || c.Batch > data.Rows:
		return Progress{}, bad("Batch", c.Batch, fmt.Sprintf("in [1, %d], the rows of the data", data.Rows))
	case c.LR < 0 || math.IsNaN(c.LR):
		return Progress{}, bad("LR", c.LR, "≥ 0")
	case c.Every < 0:
		return Progress{}, bad("Every", c.Every, "≥ 0")
	}
	opt := m.Optimizer()
	if c.LR > 0 {
		setLR(opt, c.LR)
	}
	if err := opt.Validate(); err != nil {
		return Progress{}, err
	}
	per := data.Rows / c.Batch
	x := ad.NewMat(c.Batch, data.Cols)
	var perm []int
	epoch := -1
	strm := repro.NewStream()
	var last Progress
	for i := range c.Steps {
		s := c.Start + i
		if e := s / per; e != epoch {
			epoch = e
			perm = repro.New(c.Seed, PurposeShuffle, uint64(e), 0).Perm(data.Rows)
		}
		b := s % per
		for r := range c.Batch {
			copy(x.Row(r), data.Row(perm[b*c.Batch+r]))
			if c.Binarize {
				rng := strm.Seed(c.Seed, PurposeBinarize, uint64(s), uint64(r))
				for j, p := range x.Row(r) {
					if rng.Float64() < p {
						x.Row(r)[j] = 1
					} else {
						x.Row(r)[j] = 0
					}
				}
			}
		}
		grads, st := m.Grad(x, c.Seed, uint64(s))
		last = Progress{Step: s + 1, StepStats: st}
		if v := st.Loss.Primal().Data[0]; math.IsNaN(v) || math.IsInf(v, 0) {
			return last, fmt.Errorf("implicit: Fit: the loss is %v at step %d", v, s)
		}
		opt.Step(m.NamedParams(), grads)
		if c.Progress != nil && c.Every > 0 && ((i+1)%c.Every == 0 || i == c.Steps-1) {
			c.Progress(last)
		}
	}
	return last, nil
}

// setLR sets the learning rate of the package nn optimisers that have one.
func setLR(opt any, lr float64) {
	switch o := opt.(type) {
	case *nn.Adam:
		o.LR = lr
	case *nn.SGD:
		o.LR = lr
	case *nn.RMSProp:
		o.LR = lr
	}
}

// NLLResult is a test negative log-likelihood by AIS.
type NLLResult struct {
	// NLL is the mean over rows of −log p_θ(x) in nats.
	NLL float64
	// StdErr is the Monte Carlo standard error of NLL, √(Σ se_r²)/n from
	// the rows' AIS standard errors: the error of NLL as the test NLL of
	// these rows.
	StdErr float64
	// TestStdErr is the standard error of NLL as an estimate of the
	// expected NLL of a row drawn like the test rows: sd(Rows)/√n, the
	// sample standard deviation of the rows' estimates over √n (it includes
	// their AIS noise). It is the error bar for comparing models on
	// different test sets; NaN for one row.
	TestStdErr float64
	// Rows are the rows' −log p_θ(x_r) estimates and their standard errors.
	Rows, RowErr []float64
	// MinESS is the smallest importance-weight ESS over the rows.
	MinESS float64
}

// LaplaceInflate is the factor by which NLL widens the Laplace
// approximation it starts AIS from: a base somewhat wider than the
// posterior keeps AIS's weights well behaved where the posterior's tails
// are heavier than a Gaussian's.
const LaplaceInflate = 1.2

// NLL estimates the mean test negative log-likelihood −log p_θ(x) of the
// decoder with a standard normal prior over the rows of data by AIS over
// the latent: a.RunFamily on Joints(data) (BaseScale 0 means 1), which
// runs the chains of many rows in the same matrix products and gives row
// r the result of a.Run on Joint(x_r) with the seed a.Seed + r, bit for
// bit.
//
// With start empty (no rows), or a latent of more than LaplaceMaxDim
// dimensions, AIS starts from the prior. Otherwise start
// holds a point per row (the encoder's code of the row, say) and AIS runs
// on the Laplace approximation's Warp of the posteriors (FitLaplace from
// start, inflated by LaplaceInflate): it starts near each posterior, so
// far fewer temperatures reach a given weight ESS, and its estimate of
// log p_θ(x) is as unbiased as from the prior (the warp keeps every
// normalising constant).
//
// It returns a's *sampler.ConfigError (wrapped) for an invalid setting, a
// *ConfigError for data or start of the wrong shape, or the error of the
// first row whose AIS fails (its member number is the row's).
func NLL(dec *BernoulliDecoder, data ad.Mat, a sampler.AIS, start ad.Mat) (NLLResult, error) {
	if data.Rows == 0 || data.Cols != dec.XDim() {
		return NLLResult{}, &ConfigError{Type: "NLL", Field: "data", Value: [2]int{data.Rows, data.Cols}, Want: fmt.Sprintf("n×%d with n ≥ 1", dec.XDim())}
	}
	if a.BaseScale == 0 {
		a.BaseScale = 1
	}
	family := dec.Joints(data)
	if start.Rows > 0 && dec.ZDim() <= LaplaceMaxDim {
		lap, err := FitLaplace(family, start, LaplaceInflate)
		if err != nil {
			return NLLResult{}, err
		}
		family = lap.Warp(family)
	}
	outs, err := a.RunFamily(family)
	if err != nil {
		return NLLResult{}, fmt.Errorf("implicit: NLL: %w", err)
	}
	res := NLLResult{Rows: make([]float64, data.Rows), RowErr: make([]float64, data.Rows), MinESS: math.Inf(1)}
	var sum, sq float64
	for r, out := range outs {
		res.Rows[r], res.RowErr[r] = -out.LogZ, out.StdErr
		sum += -out.LogZ
		sq += float64(out.StdErr * out.StdErr)
		res.MinESS = min(res.MinESS, out.WeightESS)
	}
	n := float64(data.Rows)
	res.NLL = sum / n
	res.StdErr = math.Sqrt(sq) / n
	ss := 0.0
	for _, v := range res.Rows {
		ss += float64((v - res.NLL) * (v - res.NLL))
	}
	res.TestStdErr = math.Sqrt(ss/(n-1)) / math.Sqrt(n)
	return res, nil
}
