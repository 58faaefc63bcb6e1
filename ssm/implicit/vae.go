package implicit

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/nn"
)

// Purposes of the auto-encoders' own random streams, beyond the
// estimators' (PurposeNoise, PurposeProjection), named in package repro's
// list: sample b of step s reads the stream (seed, purpose, s, b).
const (
	// PurposeELBONoise is the encoder noise ε of the training loss's
	// draws z = g_φ(x, ε), one per row of the batch.
	PurposeELBONoise = repro.LossNoise
	// PurposeBinarize is the uniforms of dynamic binarisation, one stream
	// per row of the batch.
	PurposeBinarize = repro.Binarize
	// PurposeShuffle is the order of the training rows, one stream per
	// epoch: the trainer's (package ssm) purpose.
	PurposeShuffle = repro.Epoch
	// PurposePrior is the prior draws that latent codes are compared with.
	PurposePrior = repro.Prior
)

// EntropyNames lists the entropy terms an auto-encoder accepts: the score
// estimators sse (the default), stein and ssge, and, for the VAE only,
// gaussian (the explicit Gaussian encoder with the analytic ELBO).
func EntropyNames() []string { return []string{"sse", "stein", "ssge", "gaussian"} }

// VAEConfig configures NewVAE.
type VAEConfig struct {
	// XDim and ZDim are the widths of x and z (and ε).
	XDim, ZDim int
	// Entropy is one of EntropyNames ("" is sse).
	Entropy string
	// EncHidden and DecHidden are the hidden widths of the encoder (each
	// of the Gaussian encoder's nets) and of the decoder; Act is their
	// activation ("" is softplus). nil means 256, 256.
	EncHidden, DecHidden []int
	Act                  string
	// Seed seeds the initialisation of the encoder, the decoder and the
	// estimator, and the estimator's randomness.
	Seed uint64
	// Estimator holds the estimator's settings (score net widths, its
	// learning rate, projections, samples, warm-up; K for the kernels):
	// New's Config, whose Sampler and Seed are set here.
	Estimator Config
}

// A VAE is a variational auto-encoder with a standard normal prior, a
// Bernoulli decoder p_θ(x|z) and an encoder q_φ(z|x) that is implicit (an
// Encoder, whose entropy's gradient comes from an Estimator of its score)
// or Gaussian (a GaussianEncoder with the analytic KL divergence to the
// prior, and no Estimator).
//
// Its training loss on a batch is the mean over rows of the negative
// ELBO −log p_θ(x|z) − log N(z; 0, I) − H(q_φ(·|x)), z = g_φ(x, ε), whose
// entropy term is the surrogate −Surrogate (gradient −∇_φ H through the
// estimated score held constant); for the Gaussian encoder it is
// −log p_θ(x|z) + KL(q_φ(·|x) ‖ N(0, I)) in closed form.
type VAE struct {
	Encoder   Sampler
	Decoder   *BernoulliDecoder
	Estimator Estimator
	// Opt is the optimiser of (φ, θ) (nn.NewAdam by default).
	Opt nn.Optimizer

	tape   *ad.Tape
	score  ad.Mat
	grads  []ad.Mat
	params []*ad.Param
	named  []*ad.Param
}

// NewVAE returns a VAE built from c, initialised from the streams of
// c.Seed: the encoder from (Seed, repro.Init, 1, 0), the decoder from
// (Seed, repro.Init, 2, 0), the estimator as New does with Seed. It
// returns a *ConfigError for an invalid setting.
func NewVAE(c VAEConfig) (*VAE, error) {
	if c.XDim < 1 || c.ZDim < 1 {
		return nil, &ConfigError{Type: "VAEConfig", Field: "XDim, ZDim", Value: [2]int{c.XDim, c.ZDim}, Want: "≥ 1"}
	}
	if c.Entropy == "" {
		c.Entropy = "sse"
	}
	if !slices.Contains(EntropyNames(), c.Entropy) {
		return nil, &ConfigError{Type: "VAEConfig", Field: "Entropy", Value: c.Entropy, Want: "one of " + strings.Join(EntropyNames(), ", ")}
	}
	if c.EncHidden == nil {
		c.EncHidden = []int{256, 256}
	}
	if c.DecHidden == nil {
		c.DecHidden = []int{256, 256}
	}
	v := &VAE{Opt: nn.NewAdam()}
	var err error
	encRNG := repro.New(c.Seed, repro.Init, 1, 0)
	if c.Entropy == "gaussian" {
		v.Encoder, err = NewGaussianEncoder(c.XDim, c.ZDim, c.EncHidden, c.Act, 0, encRNG)
	} else {
		v.Encoder, err = NewEncoder(c.XDim, c.ZDim, c.EncHidden, c.Act, encRNG)
	}
	if err != nil {
		return nil, err
	}
	if v.Decoder, err = NewBernoulliDecoder(c.ZDim, c.XDim, c.DecHidden, c.Act, repro.New(c.Seed, repro.Init, 2, 0)); err != nil {
		return nil, err
	}
	if c.Entropy != "gaussian" {
		ec := c.Estimator
		ec.Sampler, ec.Seed = v.Encoder, c.Seed
		if v.Estimator, err = New(c.Entropy, ec); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Params returns φ, then θ.
func (v *VAE) Params() []*ad.Param {
	if v.params == nil {
		v.params = append(slices.Clone(v.Encoder.Params()), v.Decoder.Params()...)
	}
	return v.params
}

// NamedParams returns Params under names unique across the model, as the
// optimiser and a checkpoint need them: "encoder.0.weight", ... for an
// implicit encoder, "encoder.mean.0.weight", ..., "encoder.logstd.0.weight",
// ... for the Gaussian one, and "decoder.0.weight", .... Each shares its
// value's storage with the parameter of Params it names.
func (v *VAE) NamedParams() []*ad.Param {
	if v.named == nil {
		if g, ok := v.Encoder.(*GaussianEncoder); ok {
			v.named = alias(v.named, "encoder.mean.", g.Mean.Params())
			v.named = alias(v.named, "encoder.logstd.", g.LogStd.Params())
		} else {
			v.named = alias(v.named, "encoder.", v.Encoder.Params())
		}
		v.named = alias(v.named, "decoder.", v.Decoder.Params())
	}
	return v.named
}

// alias appends to dst parameters named prefix+name that share the values
// of ps.
func alias(dst []*ad.Param, prefix string, ps []*ad.Param) []*ad.Param {
	for _, p := range ps {
		dst = append(dst, &ad.Param{Name: prefix + p.Name, Value: p.Value})
	}
	return dst
}

// Entropy returns the name of the VAE's entropy term: the estimator's, or
// "gaussian".
func (v *VAE) Entropy() string {
	if v.Estimator == nil {
		return "gaussian"
	}
	return v.Estimator.Name()
}

// Terms are the parts of an auto-encoder's loss on a batch, as means over
// its rows.
type Terms struct {
	// Loss is the recorded 1×1 training loss. For an implicit encoder or
	// a WAE its value is not the objective (the entropy's surrogate has
	// the gradient of the entropy, not its value); its gradient is the
	// estimate of the objective's.
	Loss *ad.Node
	// Recon is the reconstruction term, mean −log p_θ(x|z).
	Recon float64
	// Prior is the cross-entropy to the prior, mean −log N(z; 0, I).
	Prior float64
	// KL is the mean KL(q(·|x) ‖ N(0, I)) for the Gaussian encoder (the
	// negative ELBO is Recon + KL), NaN where it is not known.
	KL float64
}

// Loss records the VAE's training loss on t for the batch x (B×XDim),
// the encoder noise eps (B×ZDim) and the score estimates score (B×ZDim) at
// the codes z = g_φ(x, ε), held constant (ignored by the Gaussian encoder,
// and may then be empty). It panics on mismatched shapes.
func (v *VAE) Loss(t *ad.Tape, x, eps, score ad.Mat) Terms {
	return v.record(t, x, eps, func(ad.Mat) ad.Mat { return score })
}

// record records the loss; score returns the score estimate at the codes.
func (v *VAE) record(t *ad.Tape, x, eps ad.Mat, score func(z ad.Mat) ad.Mat) Terms {
	zd := v.Encoder.ZDim()
	if x.Cols != v.Encoder.XDim() || eps.Cols != zd || eps.Rows != x.Rows || x.Rows == 0 {
		panic(fmt.Sprintf("implicit: VAE.Loss: x is %d×%d, eps %d×%d, want B×%d and B×%d with B ≥ 1", x.Rows, x.Cols, eps.Rows, eps.Cols, v.Encoder.XDim(), zd))
	}
	inv := 1 / float64(x.Rows)
	xn := t.Const(x)
	var z, reg *ad.Node
	kl := math.NaN()
	g, gaussian := v.Encoder.(*GaussianEncoder)
	if gaussian && v.Estimator == nil {
		// KL(N(μ, σ²) ‖ N(0, I)) = ½Σ(μ² + σ² − 1) − Σ log σ per row.
		mu, ls := g.Mean.Forward(t, xn), g.LogStd.Forward(t, xn)
		z = t.Add(mu, t.Mul(t.Apply(ad.Exp, ls), t.Const(eps)))
		klRows := t.Sub(t.Add(t.HalfSquaredNorm(mu), t.HalfSquaredNorm(t.Apply(ad.Exp, ls))), t.SumRows(ls))
		reg = t.Scale(inv, t.AddScaled(1, t.Sum(klRows), -0.5*float64(zd*x.Rows), t.Const(ad.MatOf(1, 1, []float64{1}))))
		kl = reg.Primal().Data[0]
	} else {
		if v.Estimator == nil {
			panic("implicit: VAE: an implicit encoder needs an Estimator")
		}
		z = v.Encoder.Sample(t, xn, t.Const(eps))
		s := score(z.Primal())
		if !s.SameShape(z.Primal()) {
			panic(fmt.Sprintf("implicit: VAE.Loss: score is %d×%d, want %d×%d", s.Rows, s.Cols, x.Rows, zd))
		}
		// −log N(z; 0, I) − H, the entropy through its surrogate.
		reg = t.Sub(t.Scale(inv, t.Sum(t.HalfSquaredNorm(z))), Surrogate(t, z, t.Const(s)))
	}
	recon := t.Scale(-inv, t.Sum(v.Decoder.LogLik(t, z, xn)))
	logNorm := float64(0.5 * float64(zd) * rmath.Log(2*math.Pi))
	var sq float64
	for _, val := range t.HalfSquaredNorm(z).Primal().Data {
		sq += val
	}
	return Terms{
		Loss:  t.Add(recon, reg),
		Recon: recon.Primal().Data[0],
		Prior: float64(sq*inv) + logNorm,
		KL:    kl,
	}
}

// StepStats are the measurements of one training step.
type StepStats struct {
	Terms
	// ScoreLoss is the SSE-VR loss of the score net's step (sse), NaN
	// for the other estimators.
	ScoreLoss float64
}

// Grad computes the gradient of the training loss for the batch x at
// step number step, in Params order, with the encoder noise from the
// streams (seed, PurposeELBONoise, step, row): (a) the estimator
// estimates the score at the codes (sse first takes its score net's
// SSE-VR step on fresh encoder samples), then (b) the loss is recorded and
// differentiated. The gradients are valid until the next call.
func (v *VAE) Grad(x ad.Mat, seed, step uint64) ([]ad.Mat, StepStats) {
	if v.tape == nil {
		v.tape = ad.NewTape()
	}
	t := v.tape
	t.FreezeParams(false)
	t.Reset()
	eps := noise(x.Rows, v.Encoder.ZDim(), seed, PurposeELBONoise, step)
	terms := v.record(t, x, eps, func(z ad.Mat) ad.Mat {
		v.score.Resize(z.Rows, z.Cols)
		v.Estimator.Estimate(v.score, x, z, step)
		return v.score
	})
	t.Backward(terms.Loss)
	st := StepStats{Terms: terms, ScoreLoss: math.NaN()}
	if s, ok := v.Estimator.(*SSE); ok {
		st.ScoreLoss = s.Loss()
	}
	return gradsOf(t, v.Params(), &v.grads), st
}

// Encode returns one code z = g_φ(x, ε) per row of x, the noise from the
// streams (seed, PurposeELBONoise, step, row) as Grad draws it.
func (v *VAE) Encode(x ad.Mat, seed, step uint64) ad.Mat {
	z := ad.NewMat(x.Rows, v.Encoder.ZDim())
	NewDrawer(v.Encoder, seed, PurposeELBONoise).Draw(z, x, step, 0)
	return z
}

// noise returns an n×d matrix of standard normal deviates, row r from the
// stream (seed, p, step, r).
func noise(n, d int, seed uint64, p repro.Purpose, step uint64) ad.Mat {
	m := ad.NewMat(n, d)
	s := repro.NewStream()
	for r := range n {
		rng := s.Seed(seed, p, step, uint64(r))
		for j := range m.Row(r) {
			m.Row(r)[j] = repro.Normal(rng)
		}
	}
	return m
}

// gradsOf copies the tape's gradients of ps into *buf (zero for a
// parameter the loss does not reach) and returns them.
func gradsOf(t *ad.Tape, ps []*ad.Param, buf *[]ad.Mat) []ad.Mat {
	if len(*buf) != len(ps) {
		*buf = make([]ad.Mat, len(ps))
		for i, p := range ps {
			(*buf)[i] = ad.NewMat(p.Value.Rows, p.Value.Cols)
		}
	}
	for i, p := range ps {
		g := t.Grad(p)
		if len(g.Data) == 0 {
			clear((*buf)[i].Data)
			continue
		}
		copy((*buf)[i].Data, g.Data)
	}
	return *buf
}

// Optimizer returns Opt.
func (v *VAE) Optimizer() nn.Optimizer { return v.Opt }
