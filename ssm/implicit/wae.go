package implicit

import (
	"fmt"
	"math"
	"slices"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm"
)

// A CodeScore estimates the score ∇_z log q(z) of the aggregate posterior
// q(z) = E_x q(z|x) of a WAE at a batch's codes, from those codes alone.
type CodeScore interface {
	// Name is the estimator's name ("sse", "stein", "ssge").
	Name() string
	// Estimate sets dst (B×ZDim) to the estimate at the rows of codes
	// (B×ZDim), learning from them first if it learns; step numbers the
	// call.
	Estimate(dst, codes ad.Mat, step uint64)
}

// CodeKernel is a kernel estimator of the aggregate posterior's score on
// the batch's codes: Method estimates at the codes from the codes
// themselves.
type CodeKernel struct {
	Method KernelMethod
	Label  string
}

// Name returns the label.
func (k CodeKernel) Name() string { return k.Label }

// Estimate implements CodeScore.
func (k CodeKernel) Estimate(dst, codes ad.Mat, _ uint64) {
	if !dst.SameShape(codes) {
		panic(fmt.Sprintf("implicit: CodeKernel: dst is %d×%d, codes %d×%d", dst.Rows, dst.Cols, codes.Rows, codes.Cols))
	}
	k.Method.Estimate(dst, codes, codes)
}

// CodeSSE is an unconditional score net s_ψ(z), an MLP z → hidden... → z,
// trained by SSE-VR (package ssm's "sse-vr") on the batch's codes: one
// optimiser step per Estimate call, whose projections come from the
// streams (Seed, PurposeProjection, u, row) of update u; the estimate is
// s_ψ at the codes after the step.
type CodeSSE struct {
	Net     *MLP
	Opt     nn.Optimizer
	Options ssm.Options
	Seed    uint64

	obj     ssm.Objective
	worker  ssm.Worker
	batch   ssm.Batch
	strm    *repro.Stream
	grads   []ad.Mat
	updates uint64
	last    float64
	tape    *ad.Tape
}

// mlpScore is an MLP z → z as the nn.Score that ssm trains.
type mlpScore struct{ m *MLP }

func (s mlpScore) Params() []*ad.Param                   { return s.m.Params() }
func (s mlpScore) Dim() int                              { return s.m.In() }
func (s mlpScore) Score(t *ad.Tape, z *ad.Node) *ad.Node { return s.m.Forward(t, z) }

// Name returns "sse".
func (c *CodeSSE) Name() string { return "sse" }

// Loss returns the SSE-VR loss (mean per code) of the last step.
func (c *CodeSSE) Loss() float64 { return c.last }

// Updates returns the number of optimiser steps taken so far.
func (c *CodeSSE) Updates() uint64 { return c.updates }

// SetUpdates sets the number of steps taken, for a resumed run whose
// score net and optimiser state were restored: the projections of the
// next step are then those of update u of the uninterrupted run.
func (c *CodeSSE) SetUpdates(u uint64) { c.updates = u }

// Update takes one SSE-VR step on the codes and returns its loss.
func (c *CodeSSE) Update(codes ad.Mat) float64 {
	if c.obj == nil {
		obj, err := ssm.New("sse-vr", mlpScore{c.Net}, c.Options)
		if err != nil {
			panic("implicit: CodeSSE: " + err.Error())
		}
		c.obj, c.worker, c.strm, c.tape = obj, obj.NewWorker(), repro.NewStream(), ad.NewTape()
		for _, p := range c.Net.Params() {
			c.grads = append(c.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
		}
	}
	c.batch.X.Resize(codes.Rows, codes.Cols)
	copy(c.batch.X.Data, codes.Data)
	c.batch.Draw(c.obj, c.strm, c.Seed, PurposeProjection, c.updates, 0)
	loss := c.worker.Eval(&c.batch, true)
	inv := 1 / float64(codes.Rows)
	for i, g := range c.worker.Grads() {
		for j, v := range g.Data {
			c.grads[i].Data[j] = v * inv
		}
	}
	c.Opt.Step(c.Net.Params(), c.grads)
	c.updates++
	c.last = loss * inv
	return c.last
}

// Estimate takes one step on the codes (Update), then sets dst to s_ψ at
// them.
func (c *CodeSSE) Estimate(dst, codes ad.Mat, _ uint64) {
	if !dst.SameShape(codes) || codes.Cols != c.Net.In() {
		panic(fmt.Sprintf("implicit: CodeSSE: dst is %d×%d, codes %d×%d, want B×%d", dst.Rows, dst.Cols, codes.Rows, codes.Cols, c.Net.In()))
	}
	c.Update(codes)
	c.Eval(dst, codes)
}

// Eval sets dst to s_ψ at the codes without training.
func (c *CodeSSE) Eval(dst, codes ad.Mat) {
	if c.tape == nil {
		c.tape = ad.NewTape()
	}
	t := c.tape
	t.FreezeParams(true)
	t.Reset()
	copy(dst.Data, c.Net.Forward(t, t.Const(codes)).Primal().Data)
}

// WAEConfig configures NewWAE.
type WAEConfig struct {
	// XDim and ZDim are the widths of x and z.
	XDim, ZDim int
	// Entropy is sse (the default), stein or ssge.
	Entropy string
	// Lambda > 0 weighs the KL term (default 1).
	Lambda float64
	// EncHidden and DecHidden are the hidden widths of the encoder and the
	// decoder, Act their activation ("" is softplus); nil means 256, 256.
	EncHidden, DecHidden []int
	Act                  string
	// Seed seeds the initialisation and the estimator's randomness.
	Seed uint64
	// Estimator holds the score net's settings (sse: Hidden, Act, LR, M)
	// or the kernel estimators' (none: they use all the batch's codes).
	Estimator Config
}

// A WAE is a Wasserstein auto-encoder with a deterministic encoder z =
// f_φ(x), a Bernoulli decoder and the divergence KL(q(z) ‖ N(0, I)) of the
// aggregate posterior q(z) from the prior as its regulariser. Its training
// loss on a batch is
//
//	mean −log p_θ(x|f_φ(x)) + λ·(mean −log N(z; 0, I) − H(q)),
//
// the entropy's gradient through the estimate of q's score at the batch's
// codes (Score) held constant.
type WAE struct {
	Encoder *MLP
	Decoder *BernoulliDecoder
	Lambda  float64
	Score   CodeScore
	// Opt is the optimiser of (φ, θ) (nn.NewAdam by default).
	Opt nn.Optimizer

	tape   *ad.Tape
	score  ad.Mat
	grads  []ad.Mat
	params []*ad.Param
	named  []*ad.Param
}

// NewWAE returns a WAE built from c: the encoder initialised from the
// stream (Seed, repro.Init, 1, 0), the decoder from (Seed, repro.Init, 2,
// 0) and the score net (sse) from (Seed, repro.Init, 3, 0). It returns a
// *ConfigError for an invalid setting.
func NewWAE(c WAEConfig) (*WAE, error) {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "WAEConfig", Field: field, Value: v, Want: want}
	}
	switch {
	case c.XDim < 1 || c.ZDim < 1:
		return nil, bad("XDim, ZDim", [2]int{c.XDim, c.ZDim}, "≥ 1")
	case c.Lambda < 0 || math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0):
		return nil, bad("Lambda", c.Lambda, "> 0")
	case c.Estimator.LR < 0:
		return nil, bad("Estimator.LR", c.Estimator.LR, "≥ 0")
	case c.Estimator.M < 0:
		return nil, bad("Estimator.M", c.Estimator.M, "≥ 1")
	}
	if c.Entropy == "" {
		c.Entropy = "sse"
	}
	if c.Lambda == 0 {
		c.Lambda = 1
	}
	if c.EncHidden == nil {
		c.EncHidden = []int{256, 256}
	}
	if c.DecHidden == nil {
		c.DecHidden = []int{256, 256}
	}
	w := &WAE{Lambda: c.Lambda, Opt: nn.NewAdam()}
	var err error
	switch c.Entropy {
	case "stein":
		w.Score = CodeKernel{Method: sampler.Stein{}, Label: "stein"}
	case "ssge":
		w.Score = CodeKernel{Method: sampler.SSGE{}, Label: "ssge"}
	case "sse":
		h := c.Estimator.Hidden
		if h == nil {
			h = []int{256, 256}
		}
		net, err := NewMLP(sizes(c.ZDim, h, c.ZDim), c.Estimator.Act, repro.New(c.Seed, repro.Init, 3, 0))
		if err != nil {
			return nil, err
		}
		opt := nn.NewAdam()
		if c.Estimator.LR > 0 {
			opt.LR = c.Estimator.LR
		}
		w.Score = &CodeSSE{Net: net, Opt: opt, Options: ssm.Options{M: max(c.Estimator.M, 1)}, Seed: c.Seed}
	default:
		return nil, bad("Entropy", c.Entropy, "one of sse, stein, ssge")
	}
	if w.Encoder, err = NewMLP(sizes(c.XDim, c.EncHidden, c.ZDim), c.Act, repro.New(c.Seed, repro.Init, 1, 0)); err != nil {
		return nil, err
	}
	if w.Decoder, err = NewBernoulliDecoder(c.ZDim, c.XDim, c.DecHidden, c.Act, repro.New(c.Seed, repro.Init, 2, 0)); err != nil {
		return nil, err
	}
	return w, nil
}

// Params returns φ, then θ.
func (w *WAE) Params() []*ad.Param {
	if w.params == nil {
		w.params = append(slices.Clone(w.Encoder.Params()), w.Decoder.Params()...)
	}
	return w.params
}

// NamedParams returns Params under the names "encoder.0.weight", ...,
// "decoder.0.weight", ..., unique across the model, as the optimiser and a
// checkpoint need them; each shares its value's storage with the parameter
// of Params it names.
func (w *WAE) NamedParams() []*ad.Param {
	if w.named == nil {
		w.named = alias(alias(nil, "encoder.", w.Encoder.Params()), "decoder.", w.Decoder.Params())
	}
	return w.named
}

// Entropy returns the estimator's name.
func (w *WAE) Entropy() string { return w.Score.Name() }

// Loss records the WAE's training loss on t for the batch x (B×XDim) and
// the score estimates score (B×ZDim) at its codes, held constant. Terms.KL
// is NaN. It panics on mismatched shapes.
func (w *WAE) Loss(t *ad.Tape, x, score ad.Mat) Terms {
	return w.record(t, x, func(ad.Mat) ad.Mat { return score })
}

func (w *WAE) record(t *ad.Tape, x ad.Mat, score func(z ad.Mat) ad.Mat) Terms {
	if x.Cols != w.Encoder.In() || x.Rows == 0 {
		panic(fmt.Sprintf("implicit: WAE.Loss: x is %d×%d, want B×%d with B ≥ 1", x.Rows, x.Cols, w.Encoder.In()))
	}
	inv := 1 / float64(x.Rows)
	xn := t.Const(x)
	z := w.Encoder.Forward(t, xn)
	s := score(z.Primal())
	if !s.SameShape(z.Primal()) {
		panic(fmt.Sprintf("implicit: WAE.Loss: score is %d×%d, want %d×%d", s.Rows, s.Cols, z.Rows(), z.Cols()))
	}
	recon := t.Scale(-inv, t.Sum(w.Decoder.LogLik(t, z, xn)))
	half := t.Scale(inv, t.Sum(t.HalfSquaredNorm(z)))
	// KL(q ‖ N(0, I)) = −H(q) + E_q ½‖z‖² + const, −H through the surrogate.
	kl := t.Sub(half, Surrogate(t, z, t.Const(s)))
	zd := float64(w.Encoder.Out())
	return Terms{
		Loss:  t.AddScaled(1, recon, w.Lambda, kl),
		Recon: recon.Primal().Data[0],
		Prior: half.Primal().Data[0] + float64(0.5*zd*rmath.Log(2*math.Pi)),
		KL:    math.NaN(),
	}
}

// Grad computes the gradient of the training loss for the batch x at step
// number step, in Params order: (a) the codes are computed and Score
// estimates q's score at them (sse first takes its SSE-VR step on them),
// then (b) the loss is recorded and differentiated. The gradients are
// valid until the next call. The WAE draws no noise: seed is unused.
func (w *WAE) Grad(x ad.Mat, _, step uint64) ([]ad.Mat, StepStats) {
	if w.tape == nil {
		w.tape = ad.NewTape()
	}
	t := w.tape
	t.FreezeParams(false)
	t.Reset()
	terms := w.record(t, x, func(z ad.Mat) ad.Mat {
		w.score.Resize(z.Rows, z.Cols)
		w.Score.Estimate(w.score, z, step)
		return w.score
	})
	t.Backward(terms.Loss)
	st := StepStats{Terms: terms, ScoreLoss: math.NaN()}
	if s, ok := w.Score.(*CodeSSE); ok {
		st.ScoreLoss = s.Loss()
	}
	return gradsOf(t, w.Params(), &w.grads), st
}

// Encode returns the codes f_φ(x) of the rows of x.
func (w *WAE) Encode(x ad.Mat) ad.Mat {
	t := ad.NewTape()
	t.FreezeParams(true)
	t.Reset()
	return w.Encoder.Forward(t, t.Const(x)).Primal().Clone()
}

// PriorMMD compares codes (n×ZDim, n ≥ 2) with as many draws of the prior
// N(0, I), row r from the stream (seed, PurposePrior, 0, r), by
// sampler.MMDTest with perms permutations.
func PriorMMD(codes ad.Mat, perms int, seed uint64) sampler.MMDResult {
	return sampler.MMDTest(codes, noise(codes.Rows, codes.Cols, seed, PurposePrior, 0), perms, seed)
}

// Optimizer returns Opt.
func (w *WAE) Optimizer() nn.Optimizer { return w.Opt }
