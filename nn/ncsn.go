package nn

import (
	"fmt"
	"math/rand/v2"

	"scorematch/ad"
)

// An NCSN is a noise-conditional score network with the simple conditioning
// of Song & Ermon's technical notes on NCSN (not the RefineNet of the NCSN
// paper): an MLP D → H₁ → ... → H_k → D whose first pre-activation is
// shifted by log σ times a learnt row, and whose output is divided by σ:
//
//	z₁ = W₀x + b₀ + log(σ)·w_σ
//	h(x, σ) = (W_{2k} act(... act(z₁) ...) + b_{2k}) / σ
//
// The division makes the output scale like the true score of data blurred
// with noise σ, about 1/σ. The parameters are those of the MLP ("0.weight",
// "0.bias", "2.weight", ...) followed by "sigma.weight" (w_σ, 1×H₁), in
// that order.
type NCSN struct {
	mlp    *MLP
	sigma  *ad.Param
	params []*ad.Param
}

// NewNCSN returns a noise-conditional score net with at least one hidden
// layer and the named activation ("" means DefaultActivation; ReLU is
// allowed). The MLP's parameters are drawn from rng exactly as NewScoreMLP
// draws them, so both give the same layers for the same seed; sigma.weight
// starts at zero, so the initial network is MLP(x)/σ. It returns an error if
// dim or a width is < 1, hidden is empty, or the activation is unknown. It
// panics if rng is nil.
func NewNCSN(dim int, hidden []int, act string, rng *rand.Rand) (*NCSN, error) {
	m, err := newNCSN(dim, hidden, act)
	if err != nil {
		return nil, fmt.Errorf("nn: NewNCSN: %w", err)
	}
	m.mlp.initPyTorch(rng)
	return m, nil
}

func newNCSN(dim int, hidden []int, act string) (*NCSN, error) {
	if len(hidden) == 0 {
		return nil, fmt.Errorf("an NCSN needs at least one hidden layer")
	}
	mlp, err := newMLP(layerSizes(dim, hidden, dim), act)
	if err != nil {
		return nil, err
	}
	m := &NCSN{mlp: mlp, sigma: ad.NewParam("sigma.weight", 1, hidden[0])}
	m.params = append(append(m.params, mlp.params...), m.sigma)
	return m, nil
}

// Params returns the MLP's parameters then sigma.weight. The slice is the
// model's own and must not be modified.
func (m *NCSN) Params() []*ad.Param { return m.params }

// Dim returns the input dimension D.
func (m *NCSN) Dim() int { return m.mlp.Dim() }

// Hidden returns the widths of the hidden layers (a new slice).
func (m *NCSN) Hidden() []int { return m.mlp.Hidden() }

// Activation returns the name of the activation.
func (m *NCSN) Activation() string { return m.mlp.Activation() }

// CondScore records h(x, σ) on t and returns a B×D node (see CondScore). It
// panics if x does not have Dim columns, if sigma is not B×1, or if a noise
// level is not positive.
func (m *NCSN) CondScore(t *ad.Tape, x *ad.Node, sigma ad.Mat) *ad.Node {
	if sigma.Rows != x.Rows() || sigma.Cols != 1 {
		panic(fmt.Sprintf("nn: NCSN: sigma is %d×%d, want %d×1", sigma.Rows, sigma.Cols, x.Rows()))
	}
	for i, s := range sigma.Data {
		if !(s > 0) {
			panic(fmt.Sprintf("nn: NCSN: sigma[%d] = %g, noise levels must be positive", i, s))
		}
	}
	s := t.Const(sigma)
	shift := t.MatMul(t.Apply(ad.Log, s), t.Param(m.sigma)) // B×H₁: log σ_b · w_σ
	out := m.mlp.forward(t, x, shift)
	return t.ScaleRows(out, t.Apply(reciprocal, s))
}

// reciprocal is 1/x with its derivatives −1/x², 2/x³, −6/x⁴.
var reciprocal = ad.Pointwise("reciprocal", func(v float64) (f0, f1, f2, f3 float64) {
	r := 1 / v
	return r, -r * r, 2 * r * r * r, -6 * r * r * r * r
})
