package implicit

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm"
)

// An Estimator estimates the score ∇_z log q(z|x) of a Sampler's
// distribution at given points. Estimators that learn (sse) or sample
// (stein, ssge) do so inside Estimate; step numbers the call, so that
// their randomness depends on it and on their seed only.
type Estimator interface {
	// Name is the estimator's name in the registry.
	Name() string
	// Estimate sets dst (B×ZDim) to the estimate of ∇_z log q(z_b|x_b) at
	// the rows of x (B×XDim) and z (B×ZDim). It panics on mismatched
	// shapes.
	Estimate(dst, x, z ad.Mat, step uint64)
}

// Exact is the estimator of a known score, for tests: Score sets dst to
// ∇_z log q(z|x) at the rows of x and z (GaussianEncoder.Score is one).
type Exact struct {
	Score func(dst, x, z ad.Mat)
}

// Name returns "exact".
func (Exact) Name() string { return "exact" }

// Estimate calls Score.
func (e Exact) Estimate(dst, x, z ad.Mat, _ uint64) { e.Score(dst, x, z) }

// A KernelMethod estimates a score from samples of the distribution at
// query points: sampler.Stein and sampler.SSGE.
type KernelMethod interface {
	Estimate(dst, x, samples ad.Mat)
}

// Kernel is a kernel score estimator on K samples of z per x: for every
// run of consecutive rows of x that are equal, it draws K samples of
// q(·|x) (noise from the streams (Seed, PurposeNoise, step, b·K + i), with
// b the run's first row) and estimates the score at the run's rows of z
// out of sample. Runs are processed in repro.DefaultChunks parallel
// chunks; the result does not depend on GOMAXPROCS.
type Kernel struct {
	// Method is sampler.Stein{} or sampler.SSGE{} (with their settings).
	Method KernelMethod
	// Sampler draws the samples.
	Sampler Sampler
	// K ≥ 2 is the number of samples per x.
	K int
	// Seed seeds the samples' noise.
	Seed uint64
	// Label is the estimator's name ("stein", "ssge").
	Label string
}

// Name returns the estimator's label.
func (k *Kernel) Name() string { return k.Label }

// Estimate implements Estimator.
func (k *Kernel) Estimate(dst, x, z ad.Mat, step uint64) {
	checkRows("Kernel.Estimate", dst, x, z, k.Sampler.XDim(), k.Sampler.ZDim())
	if k.K < 2 {
		panic(fmt.Sprintf("implicit: Kernel: K = %d, want ≥ 2", k.K))
	}
	runs := equalRuns(x)
	chunks := repro.DefaultChunks(len(runs))
	repro.Run(len(runs), chunks, func(_, lo, hi int) {
		d := NewDrawer(k.Sampler, k.Seed, PurposeNoise)
		samples := ad.NewMat(k.K, k.Sampler.ZDim())
		for _, r := range runs[lo:hi] {
			xs := Repeat(x.RowRange(r[0], r[0]+1), k.K)
			d.Draw(samples, xs, step, r[0]*k.K)
			k.Method.Estimate(dst.RowRange(r[0], r[1]), z.RowRange(r[0], r[1]), samples)
		}
	})
}

// equalRuns returns the runs [lo, hi) of consecutive equal rows of x.
func equalRuns(x ad.Mat) [][2]int {
	var runs [][2]int
	for lo := 0; lo < x.Rows; {
		hi := lo + 1
		for hi < x.Rows && rowsEqual(x.Row(lo), x.Row(hi)) {
			hi++
		}
		runs = append(runs, [2]int{lo, hi})
		lo = hi
	}
	return runs
}

func rowsEqual(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A ScoreNet is a conditional score net s_ψ(z|x): an MLP on [x, z] with
// ZDim outputs, in PyTorch's layout.
type ScoreNet struct {
	Net  *MLP
	xdim int
}

// NewScoreNet returns a conditional score net [x, z] → hidden... → ZDim,
// initialised from rng as NewMLP describes.
func NewScoreNet(xdim, zdim int, hidden []int, act string, rng *rand.Rand) (*ScoreNet, error) {
	if xdim < 1 || zdim < 1 {
		return nil, &ConfigError{Type: "ScoreNet", Field: "dims", Value: [2]int{xdim, zdim}, Want: "x and z widths ≥ 1"}
	}
	net, err := NewMLP(sizes(xdim+zdim, hidden, zdim), act, rng)
	if err != nil {
		return nil, err
	}
	return &ScoreNet{Net: net, xdim: xdim}, nil
}

// Params returns ψ.
func (s *ScoreNet) Params() []*ad.Param { return s.Net.Params() }

// Score records s_ψ(z|x) for a plain B×XDim node x and a B×ZDim node z
// (plain or jet: x carries no Taylor coefficients).
func (s *ScoreNet) Score(t *ad.Tape, x, z *ad.Node) *ad.Node {
	return s.Net.Forward(t, t.ConcatCols(x, z))
}

// condScore is a ScoreNet at fixed conditioning rows, as the nn.Score that
// ssm's objectives train: its input is z, and x is replicated down the
// copies ssm stacks for M projections.
type condScore struct {
	net    *ScoreNet
	x, rep ad.Mat
}

func (c *condScore) Params() []*ad.Param { return c.net.Params() }
func (c *condScore) Dim() int            { return c.net.Net.Out() }

func (c *condScore) Score(t *ad.Tape, z *ad.Node) *ad.Node {
	if z.Rows()%c.x.Rows != 0 {
		panic(fmt.Sprintf("implicit: score net: %d rows of z for %d of x", z.Rows(), c.x.Rows))
	}
	c.rep.Resize(z.Rows(), c.x.Cols)
	for i := 0; i < z.Rows(); i += c.x.Rows {
		copy(c.rep.Data[i*c.x.Cols:], c.x.Data)
	}
	return c.net.Score(t, t.Const(c.rep), z)
}

// SSE is sliced score estimation: a conditional score net s_ψ(z|x)
// trained by SSE-VR (package ssm's "sse-vr") on fresh samples of the
// Sampler, one optimiser step per Estimate call on Samples draws per row
// of x, as the reference trains it alongside the encoder, after Warmup
// extra steps on the first call. The estimate is s_ψ(z|x).
type SSE struct {
	// Net is the score net; Opt its optimiser (nn.NewAdam, say).
	Net *ScoreNet
	Opt nn.Optimizer
	// Sampler draws the training samples.
	Sampler Sampler
	// Samples ≥ 1 is the number of draws of z per row of x per step.
	Samples int
	// Warmup is the number of extra steps before the first estimate.
	Warmup int
	// Options are SSE-VR's options (M projections, their distribution).
	Options ssm.Options
	// Seed seeds the samples' noise and the projections.
	Seed uint64

	obj     ssm.Objective
	worker  ssm.Worker
	cond    *condScore
	drawer  *Drawer
	batch   ssm.Batch
	strm    *repro.Stream
	grads   []ad.Mat
	updates uint64
	tape    *ad.Tape
	last    float64
}

// Name returns "sse".
func (e *SSE) Name() string { return "sse" }

// Updates returns the number of optimiser steps taken so far.
func (e *SSE) Updates() uint64 { return e.updates }

// SetUpdates sets the number of steps taken, for a resumed run whose
// score net and optimiser state were restored: the draws and projections
// of the next step are then those of update u of the uninterrupted run,
// and a u > 0 skips the warm-up.
func (e *SSE) SetUpdates(u uint64) { e.updates = u }

// Loss returns the SSE-VR loss (mean per sample) of the last step.
func (e *SSE) Loss() float64 { return e.last }

func (e *SSE) init() {
	if e.obj != nil {
		return
	}
	e.cond = &condScore{net: e.Net}
	obj, err := ssm.New("sse-vr", e.cond, e.Options)
	if err != nil {
		panic("implicit: SSE: " + err.Error())
	}
	e.obj, e.worker = obj, obj.NewWorker()
	e.drawer = NewDrawer(e.Sampler, e.Seed, PurposeNoise)
	e.strm = repro.NewStream()
	e.tape = ad.NewTape()
	for _, p := range e.Net.Params() {
		e.grads = append(e.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
}

// Update takes one SSE-VR step of the score net on Samples fresh draws of
// z per row of x and returns its loss (mean per sample). The draws of
// update u read the streams (Seed, PurposeNoise, u, row) and the
// projections (Seed, PurposeProjection, u, row).
func (e *SSE) Update(x ad.Mat) float64 {
	e.init()
	n := max(e.Samples, 1)
	e.cond.x = Repeat(x, n)
	e.batch.X.Resize(e.cond.x.Rows, e.Sampler.ZDim())
	// The training draws use step numbers of their own, offset from the
	// kernel estimators' (which use the call's step) by the top bit.
	u := e.updates | 1<<63
	e.drawer.Draw(e.batch.X, e.cond.x, u, 0)
	e.batch.Draw(e.obj, e.strm, e.Seed, PurposeProjection, e.updates, 0)
	loss := e.worker.Eval(&e.batch, true)
	inv := 1 / float64(e.batch.X.Rows)
	for i, g := range e.worker.Grads() {
		for j, v := range g.Data {
			e.grads[i].Data[j] = v * inv
		}
	}
	e.Opt.Step(e.Net.Params(), e.grads)
	e.updates++
	e.last = loss * inv
	return e.last
}

// Estimate takes Warmup+1 steps on the first call and one step on every
// later call (Update), then sets dst to s_ψ(z|x).
func (e *SSE) Estimate(dst, x, z ad.Mat, _ uint64) {
	checkRows("SSE.Estimate", dst, x, z, e.Sampler.XDim(), e.Sampler.ZDim())
	e.init()
	if e.updates == 0 {
		for range e.Warmup {
			e.Update(x)
		}
	}
	e.Update(x)
	e.Eval(dst, x, z)
}

// Eval sets dst to s_ψ(z|x) without training.
func (e *SSE) Eval(dst, x, z ad.Mat) {
	e.init()
	t := e.tape
	t.FreezeParams(true)
	t.Reset()
	copy(dst.Data, e.Net.Score(t, t.Const(x), t.Const(z)).Primal().Data)
}

// Surrogate records the entropy surrogate −(1/n) Σ_r stopgrad(ŝ_r)ᵀz_r of
// the n rows of z (n×ZDim, a node that depends on φ) and score estimates
// ŝ (n×ZDim): a 1×1 node whose gradient with respect to φ is the estimate
// −mean_r ŝ_rᵀ∂z_r/∂φ of ∇_φ of the mean entropy of the rows' q(·|x_r).
// score may be any node (a score net recorded on the same tape at z): it
// is held constant.
func Surrogate(t *ad.Tape, z, score *ad.Node) *ad.Node {
	return t.Scale(-1/float64(z.Rows()), t.Sum(t.Mul(t.StopGradient(score), z)))
}

// EntropyGrad returns the estimate of ∇_φ of the mean over rows of the
// entropy H(q(·|x_r)), for the noise eps (n×ZDim): z = g_φ(x, ε) is
// recorded, est estimates the score at z, and the surrogate is
// differentiated. The gradients are new matrices in s.Params() order.
func EntropyGrad(s Sampler, est Estimator, x, eps ad.Mat, step uint64) []ad.Mat {
	t := ad.NewTape()
	t.Reset()
	z := s.Sample(t, t.Const(x), t.Const(eps))
	score := ad.NewMat(z.Rows(), z.Cols())
	est.Estimate(score, x, z.Primal(), step)
	t.Backward(Surrogate(t, z, t.Const(score)))
	out := make([]ad.Mat, len(s.Params()))
	for i, p := range s.Params() {
		if g := t.Grad(p); len(g.Data) > 0 {
			out[i] = g.Clone()
		} else {
			out[i] = ad.NewMat(p.Value.Rows, p.Value.Cols)
		}
	}
	return out
}

// A Spec is one row of the registry of estimators.
type Spec struct {
	Name string // as New and a tool spell it
	Doc  string // one line
}

// registry lists the estimators New builds, in order.
var registry = []Spec{
	{"sse", "a conditional score net s_ψ(z|x) trained by SSE-VR on fresh encoder samples, one step per call"},
	{"stein", "the Stein gradient estimator (kernel ridge regression) on K samples of z per x"},
	{"ssge", "the spectral Stein gradient estimator (Nyström eigenfunctions) on K samples of z per x"},
	{"exact", "a known score function (tests)"},
}

// Specs returns the registry.
func Specs() []Spec { return slices.Clone(registry) }

// Names lists the estimators New accepts.
func Names() []string {
	var n []string
	for _, s := range registry {
		n = append(n, s.Name)
	}
	return n
}

// Config configures New. Fields an estimator does not read are ignored.
type Config struct {
	// Sampler is the distribution whose score is estimated (sse, stein,
	// ssge).
	Sampler Sampler
	// Seed seeds the estimator's randomness.
	Seed uint64
	// Hidden and Act are the score net's hidden widths and activation
	// (sse; default 256, 256 and softplus).
	Hidden []int
	Act    string
	// LR is Adam's learning rate for the score net (sse; default 1e-3).
	LR float64
	// M is the number of projections per sample (sse; default 1).
	M int
	// Samples is the number of draws per x per step (sse; default 1).
	Samples int
	// Warmup is the number of score-net steps before the first estimate
	// (sse).
	Warmup int
	// K is the number of samples per x (stein, ssge; default 100).
	K int
	// Score is the known score (exact).
	Score func(dst, x, z ad.Mat)
}

// New returns the estimator called name (see Names). It returns a
// *ConfigError for a missing or invalid setting.
func New(name string, c Config) (Estimator, error) {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "Config", Field: field, Value: v, Want: want + " for " + name}
	}
	needSampler := func() error {
		if c.Sampler == nil {
			return bad("Sampler", nil, "a sampler")
		}
		return nil
	}
	switch name {
	case "exact":
		if c.Score == nil {
			return nil, bad("Score", nil, "a score function")
		}
		return Exact{Score: c.Score}, nil
	case "stein", "ssge":
		if err := needSampler(); err != nil {
			return nil, err
		}
		if c.K == 0 {
			c.K = 100
		}
		if c.K < 2 {
			return nil, bad("K", c.K, "≥ 2")
		}
		var m KernelMethod = sampler.Stein{}
		if name == "ssge" {
			m = sampler.SSGE{}
		}
		return &Kernel{Method: m, Sampler: c.Sampler, K: c.K, Seed: c.Seed, Label: name}, nil
	case "sse":
		if err := needSampler(); err != nil {
			return nil, err
		}
		switch {
		case c.LR < 0:
			return nil, bad("LR", c.LR, "≥ 0")
		case c.M < 0:
			return nil, bad("M", c.M, "≥ 1")
		case c.Samples < 0:
			return nil, bad("Samples", c.Samples, "≥ 1")
		case c.Warmup < 0:
			return nil, bad("Warmup", c.Warmup, "≥ 0")
		}
		if c.Hidden == nil {
			c.Hidden = []int{256, 256}
		}
		net, err := NewScoreNet(c.Sampler.XDim(), c.Sampler.ZDim(), c.Hidden, c.Act, repro.New(c.Seed, repro.Init, 0, 0))
		if err != nil {
			return nil, err
		}
		opt := nn.NewAdam()
		if c.LR > 0 {
			opt.LR = c.LR
		}
		return &SSE{Net: net, Opt: opt, Sampler: c.Sampler, Samples: max(c.Samples, 1), Warmup: c.Warmup,
			Options: ssm.Options{M: max(c.M, 1)}, Seed: c.Seed}, nil
	}
	return nil, fmt.Errorf("implicit: unknown estimator %q (want one of %s)", name, strings.Join(Names(), ", "))
}
