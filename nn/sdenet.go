package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/nn/sde"
)

// The defaults of SDENetConfig.
const (
	// DefaultFourierDim is the number E of Fourier frequencies of an
	// SDENet's time embedding (which has 2E features).
	DefaultFourierDim = 16
	// DefaultFourierScale is the standard deviation of the frequencies,
	// the reference code's fourier_scale.
	DefaultFourierScale = 16
)

// MaxFourierDim is the largest number of Fourier frequencies NewSDENet and
// Load accept.
const MaxFourierDim = 1 << 16

// An SDENet is a time-conditional score network h(x, t) for a score SDE
// (package nn/sde): an MLP D → H₁ → … → H_k → D on x whose every hidden
// pre-activation is shifted by a learnt linear map of a Gaussian Fourier
// embedding of the time,
//
//	e(t) = [sin(2π W c(t)), cos(2π W c(t))]     (2E features)
//	z_l = W_{2l} h_{l−1} + b_{2l} + T_l e(t)       (l = 1 … k; h₀ = x)
//	h_l = act(z_l)
//	h(x, t) = (W_{2k} h_k + b_{2k}) / σ(t)        (VE; no division for VP, sub-VP)
//
// with c(t) = log σ(t) for VE, as the reference code (score_sde's NCSN++)
// embeds its noise level, and c(t) = t for VP and sub-VP. W holds E
// frequencies drawn once from N(0, scale²) (scale 16 in the reference) and
// is not trained. For VE the output is divided by σ(t) (the reference's
// scale_by_sigma), so that it scales like the true score of data blurred
// with noise σ(t). For VP and sub-VP the output is the score itself: the
// reference code instead reads its VP network's output as −z and divides
// it by the kernel's s(t); here no scaling is applied, so the objectives'
// λ(t) = s(t)² weighting (see package ssm) treats the three SDEs alike.
//
// The parameters are the MLP's ("0.weight", "0.bias", "2.weight", …,
// PyTorch's layout) followed by "temb.0.weight", …, "temb.<k−1>.weight"
// (H_l × 2E each, a bias-free nn.Linear per hidden layer, named as an
// nn.ModuleList "temb" would name them), in that order. The frequencies
// are the non-trainable tensor "fourier.W" (shape [E], the name of a
// GaussianFourierProjection module "fourier" with attribute W), which is
// not among Params, so that optimisers and gradient checks leave it alone,
// and which Save writes and Load reads with the rest.
//
// Times are data: TimeScore reads them while recording and no derivative
// with respect to them is taken. The input x may be a jet, so Taylor-mode
// objectives (SSE, exact divergences) work as with the other score nets.
type SDENet struct {
	mlp     *MLP
	temb    []*ad.Param // T_l, H_l × 2E
	fourier *ad.Param   // W, 1×E, not trained
	scale   float64     // the standard deviation W was drawn with
	sde     sde.SDE
	params  []*ad.Param

	cond  *ad.Elementwise // t ↦ c(t); nil for c(t) = t
	inv   *ad.Elementwise // t ↦ 1/σ(t) for VE; nil otherwise
	embed *ad.Elementwise // the embedding of a B×2E matrix of c(t) per row
	ones  ad.Mat          // 1×2E ones, to repeat c(t) along a row
}

// SDENetConfig describes an SDENet.
type SDENetConfig struct {
	// SDE is the diffusion the net's times refer to; it must pass its
	// Validate (a VE's σmax must be set).
	SDE sde.SDE
	// Dim is the data dimension D.
	Dim int
	// Hidden are the widths of the hidden layers, at least one.
	Hidden []int
	// Activation names the activation ("" means DefaultActivation; ReLU is
	// allowed).
	Activation string
	// FourierDim is the number E of frequencies (0 means
	// DefaultFourierDim).
	FourierDim int
	// FourierScale is the standard deviation of the frequencies (0 means
	// DefaultFourierScale).
	FourierScale float64
}

// NewSDENet returns a time-conditional score net. The MLP's parameters are
// drawn from rng exactly as NewScoreMLP draws them; then the embedding
// maps temb.l.weight as PyTorch initialises a bias-free nn.Linear of 2E
// inputs (U(−1/√(2E), 1/√(2E)), layer by layer, row-major); then the E
// frequencies, scale·repro.Normal(rng) each. It returns an error if c.SDE
// is nil or fails its Validate, if Dim, a width or FourierDim is out of
// range, if Hidden is empty, if FourierScale is not finite and positive,
// or if the activation is unknown. It panics if rng is nil.
func NewSDENet(c SDENetConfig, rng *rand.Rand) (*SDENet, error) {
	if c.FourierDim == 0 {
		c.FourierDim = DefaultFourierDim
	}
	if c.FourierScale == 0 {
		c.FourierScale = DefaultFourierScale
	}
	m, err := newSDENet(c)
	if err != nil {
		return nil, fmt.Errorf("nn: NewSDENet: %w", err)
	}
	m.mlp.initPyTorch(rng)
	bound := 1 / math.Sqrt(float64(2*c.FourierDim))
	for _, p := range m.temb {
		for i := range p.Value.Data {
			p.Value.Data[i] = bound * (2*float64(rng.Float64()) - 1)
		}
	}
	for i := range m.fourier.Value.Data {
		m.fourier.Value.Data[i] = c.FourierScale * repro.Normal(rng)
	}
	return m, nil
}

// newSDENet returns an SDENet with zero parameters and frequencies.
func newSDENet(c SDENetConfig) (*SDENet, error) {
	if c.SDE == nil {
		return nil, fmt.Errorf("no SDE")
	}
	if err := c.SDE.Validate(); err != nil {
		return nil, err
	}
	if len(c.Hidden) == 0 {
		return nil, fmt.Errorf("an SDE score net needs at least one hidden layer")
	}
	if c.FourierDim < 1 || c.FourierDim > MaxFourierDim {
		return nil, fmt.Errorf("FourierDim is %d, want 1 to %d", c.FourierDim, MaxFourierDim)
	}
	if !(c.FourierScale > 0) || math.IsInf(c.FourierScale, 0) {
		return nil, fmt.Errorf("FourierScale is %v, want a finite value > 0", c.FourierScale)
	}
	mlp, err := newMLP(layerSizes(c.Dim, c.Hidden, c.Dim), c.Activation)
	if err != nil {
		return nil, err
	}
	e := c.FourierDim
	m := &SDENet{mlp: mlp, scale: c.FourierScale, sde: c.SDE, fourier: ad.NewParam("fourier.W", 1, e)}
	m.params = append(m.params, mlp.params...)
	for l, h := range c.Hidden {
		p := ad.NewParam(fmt.Sprintf("temb.%d.weight", l), h, 2*e)
		m.temb = append(m.temb, p)
		m.params = append(m.params, p)
	}
	m.ones = ad.NewMat(1, 2*e)
	for i := range m.ones.Data {
		m.ones.Data[i] = 1
	}
	m.embed = &ad.Elementwise{Name: "fourier-embedding", Eval: m.embedEval}
	if c.SDE.Kind() == "ve" {
		m.cond, m.inv = veLogSigma(c.SDE), veInvSigma(c.SDE)
	}
	return m, nil
}

// veSlope returns k = d log σ(t)/dt = log(σmax/σmin) of a VE SDE, whose
// log σ(t) is linear in t.
func veSlope(s sde.SDE) float64 {
	_, s0 := s.Marginal(0)
	_, s1 := s.Marginal(s.T())
	return rmath.Log(s1/s0) / s.T()
}

// veLogSigma is t ↦ log σ(t) = log σmin + t·log(σmax/σmin) with its
// derivatives, the value computed from σ(t) as the reference does.
func veLogSigma(s sde.SDE) *ad.Elementwise {
	k := veSlope(s)
	return ad.Pointwise("ve-log-sigma", func(t float64) (f0, f1, f2, f3 float64) {
		_, std := s.Marginal(t)
		return rmath.Log(std), k, 0, 0
	})
}

// veInvSigma is t ↦ 1/σ(t) with its derivatives (−k)ⁿ/σ(t), k = log(σmax/σmin).
func veInvSigma(s sde.SDE) *ad.Elementwise {
	k := veSlope(s)
	return ad.Pointwise("ve-inv-sigma", func(t float64) (f0, f1, f2, f3 float64) {
		_, std := s.Marginal(t)
		r := 1 / std
		return r, -k * r, k * k * r, -k * k * k * r
	})
}

// embedEval is the Eval of the time embedding, applied to a row-major
// B×2E matrix whose row b repeats c_b = c(t_b): element (b, j) becomes
// sin(2πW_j c_b) for j < E and cos(2πW_{j−E} c_b) for j ≥ E, with its
// derivatives in c. Unlike an activation it depends on the column, so it
// serves this one matrix shape only; it reads W afresh at every call. The
// phase is rounded as the reference's c·W·2·π (×2 is exact).
func (m *SDENet) embedEval(x, f0, f1, f2, f3 []float64) {
	w := m.fourier.Value.Data
	e := len(w)
	for i, c := range x {
		j := i % (2 * e)
		wj := w[j%e]
		p := float64(c*wj) * (2 * math.Pi)
		s, co := rmath.Sin(p), rmath.Cos(p)
		a := wj * (2 * math.Pi) // dp/dc
		var v0, v1, v2, v3 float64
		if j < e {
			v0, v1, v2, v3 = s, a*co, -a*a*s, -a*a*a*co
		} else {
			v0, v1, v2, v3 = co, -a*s, -a*a*co, a*a*a*s
		}
		if f0 != nil {
			f0[i] = v0
		}
		if f1 != nil {
			f1[i] = v1
		}
		if f2 != nil {
			f2[i] = v2
		}
		if f3 != nil {
			f3[i] = v3
		}
	}
}

// Params returns the MLP's parameters then temb.0.weight, …, in that
// order (not fourier.W, which is not trained). The slice is the model's
// own and must not be modified.
func (m *SDENet) Params() []*ad.Param { return m.params }

// Buffers returns the model's non-trainable tensors, saved with it:
// fourier.W (1×E). The slice is new; the tensor is the model's own.
func (m *SDENet) Buffers() []*ad.Param { return []*ad.Param{m.fourier} }

// Dim returns the input dimension D.
func (m *SDENet) Dim() int { return m.mlp.Dim() }

// Hidden returns the widths of the hidden layers (a new slice).
func (m *SDENet) Hidden() []int { return m.mlp.Hidden() }

// Activation returns the name of the activation.
func (m *SDENet) Activation() string { return m.mlp.Activation() }

// SDE returns the diffusion the net's times refer to.
func (m *SDENet) SDE() sde.SDE { return m.sde }

// FourierDim returns the number E of Fourier frequencies.
func (m *SDENet) FourierDim() int { return m.fourier.Value.Cols }

// FourierScale returns the standard deviation the frequencies were drawn
// with (as recorded; the frequencies themselves are in fourier.W).
func (m *SDENet) FourierScale() float64 { return m.scale }

// TimeScore records h(x, t) on tp and returns a B×D node (see TimeScore).
// It panics if x does not have Dim columns, if times is not B×1, or if a
// time is negative or not finite.
func (m *SDENet) TimeScore(tp *ad.Tape, x *ad.Node, times ad.Mat) *ad.Node {
	if times.Rows != x.Rows() || times.Cols != 1 {
		panic(fmt.Sprintf("nn: SDENet: times is %d×%d, want %d×1", times.Rows, times.Cols, x.Rows()))
	}
	if x.Cols() != m.Dim() {
		panic(fmt.Sprintf("nn: SDENet: input has %d columns, the model's dimension is %d", x.Cols(), m.Dim()))
	}
	for i, v := range times.Data {
		if !(v >= 0) || math.IsInf(v, 0) {
			panic(fmt.Sprintf("nn: SDENet: times[%d] = %g, times must be finite and ≥ 0", i, v))
		}
	}
	tn := tp.Const(times)
	c := tn
	if m.cond != nil {
		c = tp.Apply(m.cond, tn)
	}
	// [sin(2πWc), cos(2πWc)], B×2E, from c repeated along each row.
	emb := tp.Apply(m.embed, tp.MatMul(c, tp.Const(m.ones)))
	ws, bs, act := m.mlp.Layers()
	h := x
	last := len(ws) - 1
	for l := range ws {
		h = tp.Linear(h, tp.Param(ws[l]), tp.Param(bs[l]))
		if l < last {
			h = tp.Apply(act, tp.AddPrimal(h, tp.MatMulT(emb, tp.Param(m.temb[l]))))
		}
	}
	if m.inv != nil {
		h = tp.ScaleRows(h, tp.Apply(m.inv, tn))
	}
	return h
}
