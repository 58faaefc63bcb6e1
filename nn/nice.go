package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// DefaultNICECouplings is the number of additive coupling layers of a NICE
// flow whose NICEConfig.Couplings is 0: four, as in the sliced score
// matching paper's NICE.
const DefaultNICECouplings = 4

// MaxNICECouplings is the largest number of coupling layers NewNICE and
// Load accept.
const MaxNICECouplings = 64

// A NICE is a NICE flow (Dinh, Krueger & Bengio 2015) as an energy: an
// invertible map z = f(x) of R^D with a standard normal prior on z, whose
// energy is the exact negative log-density
//
//	E(x) = −log p(x) = ½‖f(x)‖² + (D/2)·log 2π − log|det ∂f/∂x|.
//
// f splits x into its even columns a = (x₀, x₂, …) and its odd ones
// b = (x₁, x₃, …) (the reference code's even/odd permutation, so D must be
// even), applies additive coupling layers that alternate between the
// halves,
//
//	coupling 1, 3, …:  b ← b + m_k(a)
//	coupling 2, 4, …:  a ← a + m_k(b)
//
// and scales the result: f(x) = [a, b]∘exp(s). Each m_k is an MLP
// D/2 → H₁ → … → H_h → D/2 with the activation between its Linear layers
// (softplus in the reference). A coupling layer has unit Jacobian
// determinant, so log|det ∂f/∂x| = Σⱼ sⱼ at every x, and Inverse undoes f
// exactly: x = f⁻¹(z) subtracts the couplings in reverse order.
//
// The parameters carry the names of the reference PyTorch module's
// state_dict, in its order: for coupling k = 1, 2, … and its Linear layer
// j = 1, 2, … the weight "nice<k>.dense<j>.weight" (out×in) and bias
// "nice<k>.dense<j>.bias", then the log-scales "scale.scales" (1×D). With
// four couplings and one or four hidden layers of equal width they are
// exactly the reference's NICE(D, H, num_layers = 2 or 5).
type NICE struct {
	nets      []*MLP    // the coupling nets m_1, m_2, …
	scale     *ad.Param // s, 1×D
	even, odd []int     // the columns of x in a and in b
	params    []*ad.Param
	logNorm   ad.Mat // 1×1: (D/2)·log 2π
}

// NICEConfig describes a NICE flow.
type NICEConfig struct {
	// Dim is the data dimension D: even and ≥ 2.
	Dim int
	// Couplings is the number of additive coupling layers (0 means
	// DefaultNICECouplings), at most MaxNICECouplings.
	Couplings int
	// Hidden are the widths of each coupling net's hidden layers: at least
	// one, each ≥ 1. The reference uses four of 1000 (MNIST).
	Hidden []int
	// Activation names the coupling nets' activation, a key of
	// ad.Activations ("" means DefaultActivation, softplus as in the
	// reference). ReLU is allowed: the energy's Hessian keeps the
	// Gaussian's JᵀJ term, which depends on every parameter.
	Activation string
}

// Validate reports the first invalid setting of c as a *ConfigError of
// type "NICEConfig", naming the field.
func (c NICEConfig) Validate() error {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "NICEConfig", Field: field, Value: v, Want: want}
	}
	switch {
	case c.Dim < 2 || c.Dim%2 != 0:
		return bad("Dim", c.Dim, "an even number ≥ 2 (the flow splits x into its even and odd columns)")
	case c.Couplings < 0 || c.Couplings > MaxNICECouplings:
		return bad("Couplings", c.Couplings, fmt.Sprintf("1 to %d, or 0 for %d", MaxNICECouplings, DefaultNICECouplings))
	case len(c.Hidden) == 0 || len(c.Hidden) > MaxHiddenLayers:
		return bad("Hidden", c.Hidden, fmt.Sprintf("1 to %d hidden layers per coupling net", MaxHiddenLayers))
	}
	for _, w := range c.Hidden {
		if w < 1 {
			return bad("Hidden", c.Hidden, "widths ≥ 1")
		}
	}
	if _, err := activation(c.Activation); err != nil {
		return bad("Activation", c.Activation, orList(activationChoices("")))
	}
	return nil
}

// NewNICE returns a NICE flow initialised as the reference initialises
// its PyTorch module: each coupling net as NewEnergyMLP draws an MLP from
// rng (nice1 first, each layer's weight in row-major order then its bias,
// U(−1/√fan_in, 1/√fan_in)), and the log-scales s = 0. It returns the
// *ConfigError of c.Validate. It panics if rng is nil.
func NewNICE(c NICEConfig, rng *rand.Rand) (*NICE, error) {
	m, err := newNICE(c)
	if err != nil {
		return nil, err
	}
	for _, net := range m.nets {
		net.initPyTorch(rng)
	}
	return m, nil
}

// newNICE returns a NICE with zero parameters.
func newNICE(c NICEConfig) (*NICE, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Couplings == 0 {
		c.Couplings = DefaultNICECouplings
	}
	h := c.Dim / 2
	m := &NICE{scale: ad.NewParam("scale.scales", 1, c.Dim), logNorm: ad.NewMat(1, 1)}
	m.logNorm.Data[0] = float64(h) * rmath.Log(2*math.Pi)
	for j := range h {
		m.even, m.odd = append(m.even, 2*j), append(m.odd, 2*j+1)
	}
	for k := range c.Couplings {
		net, err := newMLP(layerSizes(h, c.Hidden, h), c.Activation)
		if err != nil {
			return nil, err // not reached: Validate has passed
		}
		for i, p := range net.params {
			p.Name = fmt.Sprintf("nice%d.dense%d.%s", k+1, i/2+1, [2]string{"weight", "bias"}[i%2])
		}
		m.nets = append(m.nets, net)
		m.params = append(m.params, net.params...)
	}
	m.params = append(m.params, m.scale)
	return m, nil
}

// Params returns the coupling nets' weights and biases, nice1 first, then
// scale.scales. The slice is the model's own and must not be modified.
func (m *NICE) Params() []*ad.Param { return m.params }

// Dim returns the data dimension D.
func (m *NICE) Dim() int { return m.scale.Value.Cols }

// Couplings returns the number of coupling layers.
func (m *NICE) Couplings() int { return len(m.nets) }

// Hidden returns the widths of a coupling net's hidden layers (a new
// slice).
func (m *NICE) Hidden() []int { return m.nets[0].Hidden() }

// Activation returns the name of the coupling nets' activation.
func (m *NICE) Activation() string { return m.nets[0].Activation() }

// LogDet returns log|det ∂f/∂x| = Σⱼ sⱼ, the same at every x.
func (m *NICE) LogDet() float64 {
	var s float64
	for _, v := range m.scale.Value.Data {
		s += v
	}
	return s
}

// couple records the coupling layers on t for the B×D node x and returns
// the halves a (the even columns of x, coupled) and b (the odd ones).
func (m *NICE) couple(t *ad.Tape, x *ad.Node) (a, b *ad.Node) {
	if x.Cols() != m.Dim() {
		panic(fmt.Sprintf("nn: NICE: input has %d columns, the model's dimension is %d", x.Cols(), m.Dim()))
	}
	a, b = t.GatherCols(x, m.even), t.GatherCols(x, m.odd)
	for k, net := range m.nets {
		if k%2 == 0 {
			b = t.Add(b, net.Forward(t, a))
		} else {
			a = t.Add(a, net.Forward(t, b))
		}
	}
	return a, b
}

// Energy records E(x) = −log p(x) on t and returns a B×1 node (see
// Energy): with y = [a, b] the coupled halves,
// E = ½Σⱼ exp(2sⱼ)·yⱼ² + (D/2)·log 2π − Σⱼ sⱼ, the last two terms a
// constant of the batch added to the value only.
func (m *NICE) Energy(t *ad.Tape, x *ad.Node) *ad.Node {
	a, b := m.couple(t, x)
	s := t.Param(m.scale)
	w := t.Apply(ad.Exp, t.Scale(2, s)) // exp(2s), 1×D
	q := t.MatMulT(t.Apply(ad.Square, t.ConcatCols(a, b)), w)
	c := t.AddScaled(1, t.Const(m.logNorm), -1, t.Sum(s))
	return t.AddPrimal(t.Scale(0.5, q), c)
}

// LogDensity returns log p(x_b) = −E(x_b) for every row of the B×D matrix
// x, exactly normalised. It panics if x does not have Dim columns.
func (m *NICE) LogDensity(x ad.Mat) []float64 {
	t := ad.NewTape()
	e := m.Energy(t, t.Const(x)).Primal().Data
	out := make([]float64, len(e))
	for i, v := range e {
		out[i] = -v
	}
	return out
}

// Forward returns z = f(x) for every row of the B×D matrix x: the latent
// point that the prior N(0, I) scores. It panics if x does not have Dim
// columns.
func (m *NICE) Forward(x ad.Mat) ad.Mat {
	t := ad.NewTape()
	a, b := m.couple(t, t.Const(x))
	y := t.ConcatCols(a, b).Primal()
	z := ad.NewMat(x.Rows, x.Cols)
	s := m.scale.Value.Data
	for r := range z.Rows {
		yr, zr := y.Row(r), z.Row(r)
		for j := range zr {
			zr[j] = yr[j] * rmath.Exp(s[j])
		}
	}
	return z
}

// Inverse returns x = f⁻¹(z) for every row of the B×D matrix z: it divides
// by exp(s), subtracts the couplings in reverse order and puts the halves
// back in the even and odd columns. Inverse(Forward(x)) is x up to
// rounding. It panics if z does not have Dim columns.
func (m *NICE) Inverse(z ad.Mat) ad.Mat {
	d, h := m.Dim(), m.Dim()/2
	if z.Cols != d {
		panic(fmt.Sprintf("nn: NICE: Inverse of %d columns, the model's dimension is %d", z.Cols, d))
	}
	ya, yb := ad.NewMat(z.Rows, h), ad.NewMat(z.Rows, h)
	s := m.scale.Value.Data
	for r := range z.Rows {
		zr := z.Row(r)
		for j := range h {
			ya.Data[r*h+j] = zr[j] * rmath.Exp(-s[j])
			yb.Data[r*h+j] = zr[h+j] * rmath.Exp(-s[h+j])
		}
	}
	t := ad.NewTape()
	a, b := t.Const(ya), t.Const(yb)
	for k := len(m.nets) - 1; k >= 0; k-- {
		if k%2 == 0 {
			b = t.Sub(b, m.nets[k].Forward(t, a))
		} else {
			a = t.Sub(a, m.nets[k].Forward(t, b))
		}
	}
	x := ad.NewMat(z.Rows, d)
	av, bv := a.Primal(), b.Primal()
	for r := range z.Rows {
		for j := range h {
			x.Data[r*d+m.even[j]] = av.Data[r*h+j]
			x.Data[r*d+m.odd[j]] = bv.Data[r*h+j]
		}
	}
	return x
}

// Sample draws n points from the flow: z from the prior N(0, I), row by
// row, each element repro.Normal(rng), then x = Inverse(z). It panics if
// rng is nil or n < 1.
func (m *NICE) Sample(rng *rand.Rand, n int) ad.Mat {
	if rng == nil || n < 1 {
		panic(fmt.Sprintf("nn: NICE: Sample of %d points with rng %v", n, rng))
	}
	z := ad.NewMat(n, m.Dim())
	for i := range z.Data {
		z.Data[i] = repro.Normal(rng)
	}
	return m.Inverse(z)
}

// DefaultLogitClamp is the clamp of LogitPixels in the reference's NICE
// experiments: intensities are kept in [0.001, 0.999] before the logit.
const DefaultLogitClamp = 1e-3

// LogitPixels applies the logit transform with which the reference trains
// NICE on images: each dequantised intensity p (the reference adds
// (u − ½)/256, u ~ U(0, 1), to pixel/255) is clamped to [clamp, 1 − clamp]
// and mapped to log p − log(1 − p), written to dst (which may be x). It
// returns, per row, the log-determinant of the transform at the clamped
// intensities, Σⱼ −log(pⱼ(1 − pⱼ)): added to a log-density of the logits
// it gives the log-density of the intensities (exact where no value was
// clamped). It panics if dst and x differ in shape or clamp is not in
// (0, ½).
func LogitPixels(dst, x ad.Mat, clamp float64) []float64 {
	if !dst.SameShape(x) || !(clamp > 0 && clamp < 0.5) {
		panic(fmt.Sprintf("nn: LogitPixels: dst %d×%d, x %d×%d, clamp %g", dst.Rows, dst.Cols, x.Rows, x.Cols, clamp))
	}
	logdet := make([]float64, x.Rows)
	for r := range x.Rows {
		xr, dr := x.Row(r), dst.Row(r)
		for j, p := range xr {
			p = min(max(p, clamp), 1-clamp)
			lp, lq := rmath.Log(p), rmath.Log(1-p)
			dr[j] = lp - lq
			logdet[r] -= lp + lq
		}
	}
	return logdet
}

// The weight-file side of a NICE: its architecture's configuration, its
// parameters' shapes, and the architecture of a reference state_dict.

// niceConfig returns the configuration of a NICE architecture.
func (a Architecture) niceConfig() NICEConfig {
	return NICEConfig{Dim: a.Dim, Couplings: a.Couplings, Hidden: a.Hidden, Activation: a.Activation}
}

// niceCheck reports why a NICE architecture is not one NewNICE accepts,
// naming the setting as a file records it.
func (a Architecture) niceCheck() error {
	err := a.niceConfig().Validate()
	if ce, ok := err.(*ConfigError); ok {
		return fmt.Errorf("%s is %v, want %s", strings.ToLower(ce.Field), ce.Value, ce.Want)
	}
	return err
}

// niceParams lists the parameters of a checked NICE architecture in Params
// order.
func (a Architecture) niceParams() []paramShape {
	h := a.Dim / 2
	sizes := layerSizes(h, a.Hidden, h)
	var ps []paramShape
	for k := 1; k <= a.Couplings; k++ {
		for j := 1; j < len(sizes); j++ {
			name := fmt.Sprintf("nice%d.dense%d.", k, j)
			ps = append(ps, paramShape{name + "weight", sizes[j], sizes[j-1]}, paramShape{name + "bias", 1, sizes[j]})
		}
	}
	return append(ps, paramShape{"scale.scales", 1, a.Dim})
}

// niceFromTensors reads D from scale.scales, the hidden widths from the
// weights of nice1, and the couplings from the coupling nets present
// (nice1, nice2, … without a gap); match then checks every tensor.
func (a *Architecture) niceFromTensors(ts []Tensor) error {
	shape := func(name string) ([]int, bool) {
		i, ok := slices.BinarySearchFunc(ts, name, func(t Tensor, name string) int { return strings.Compare(t.Name, name) })
		if !ok {
			return nil, false
		}
		return ts[i].Shape, true
	}
	s, ok := shape("scale.scales")
	if !ok {
		return &FormatError{Tensor: "scale.scales", Problem: "missing (a NICE's log-scales, [1 D])"}
	}
	if len(s) == 1 || len(s) == 2 && s[0] == 1 {
		a.Dim = s[len(s)-1]
	}
	if a.Dim < 2 {
		return &FormatError{Tensor: "scale.scales", Problem: fmt.Sprintf("shape %v, want [1 D] or [D] with D ≥ 2", s)}
	}
	for j := 1; j <= MaxHiddenLayers+1; j++ {
		name := fmt.Sprintf("nice1.dense%d.weight", j)
		w, ok := shape(name)
		if !ok {
			break
		}
		if len(w) != 2 || w[0] < 1 {
			return &FormatError{Tensor: name, Problem: fmt.Sprintf("shape %v, want [out in]", w)}
		}
		a.Hidden = append(a.Hidden, w[0])
	}
	if len(a.Hidden) < 2 {
		return fmt.Errorf("no coupling net with a hidden layer (nice1.dense1.weight and nice1.dense2.weight)")
	}
	a.Hidden = a.Hidden[:len(a.Hidden)-1] // the last layer's output is D/2
	for a.Couplings < MaxNICECouplings {
		if _, ok := shape(fmt.Sprintf("nice%d.dense1.weight", a.Couplings+1)); !ok {
			break
		}
		a.Couplings++
	}
	return nil
}
