package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"scorematch/ad"
)

// DefaultActivation is the activation of a network whose activation is
// given as "".
const DefaultActivation = "softplus"

// An MLP is a stack of affine layers with an element-wise activation between
// consecutive layers and none after the last: PyTorch's
//
//	nn.Sequential(nn.Linear(D, H₁), act, nn.Linear(H₁, H₂), act, ..., nn.Linear(H_k, out))
//
// Layer i (counting Linear layers from 0) is the Sequential's module 2i, so
// its parameters are named "2i.weight" (out×in, PyTorch's layout) and
// "2i.bias" (1×out), and Params lists them in that order: "0.weight",
// "0.bias", "2.weight", "2.bias", ....
//
// MLP is the layer stack shared by EnergyMLP and ScoreMLP; by itself it
// implements Model but neither Energy nor Score.
type MLP struct {
	sizes  []int // D, H₁, ..., H_k, out
	act    *ad.Elementwise
	params []*ad.Param
}

// newMLP returns an MLP with zero parameters and the given layer widths
// (sizes[0] inputs, sizes[len-1] outputs); act "" means DefaultActivation.
func newMLP(sizes []int, act string) (*MLP, error) {
	for i, s := range sizes {
		if s < 1 {
			what := fmt.Sprintf("hidden[%d]", i-1)
			switch i {
			case 0:
				what = "dim"
			case len(sizes) - 1:
				what = "output width"
			}
			return nil, fmt.Errorf("%s is %d, want ≥ 1", what, s)
		}
	}
	f, err := activation(act)
	if err != nil {
		return nil, err
	}
	m := &MLP{sizes: slices.Clone(sizes), act: f}
	for i := 1; i < len(sizes); i++ {
		name := strconv.Itoa(2 * (i - 1))
		m.params = append(m.params,
			ad.NewParam(name+".weight", sizes[i], sizes[i-1]),
			ad.NewParam(name+".bias", 1, sizes[i]))
	}
	return m, nil
}

// activation looks up an activation by name ("" is DefaultActivation).
func activation(name string) (*ad.Elementwise, error) {
	if name == "" {
		name = DefaultActivation
	}
	f, ok := ad.Activations[name]
	if !ok {
		names := make([]string, 0, len(ad.Activations))
		for k := range ad.Activations {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("unknown activation %q (known: %s)", name, strings.Join(names, ", "))
	}
	return f, nil
}

// checkEnergyActivation refuses an activation whose second derivative
// vanishes (ReLU): an energy built from it is piecewise linear in x, its
// Hessian is zero, and score matching cannot train it.
func checkEnergyActivation(f *ad.Elementwise) error {
	x := []float64{-2, -0.5, 0.5, 2}
	f0, f1, f2, f3 := make([]float64, 4), make([]float64, 4), make([]float64, 4), make([]float64, 4)
	f.Eval(x, f0, f1, f2, f3)
	for _, v := range f2 {
		if v != 0 {
			return nil
		}
	}
	return fmt.Errorf("activation %q cannot be used in an energy net: its second derivative vanishes, "+
		"so the net's Hessian ∇ₓ²E is zero and score matching cannot train it "+
		"(use softplus, silu, elu, tanh or sigmoid; score nets may use %[1]q)", f.Name)
}

// initPyTorch draws every parameter as PyTorch's nn.Linear.reset_parameters
// does: the weight from U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5) and
// the bias from U(−1/√in, 1/√in), where in is the layer's fan-in. The
// draws are made layer by layer; within a layer first the weight's entries
// in row-major order, then the bias's; each is bound·(2u−1) with
// u = rng.Float64().
func (m *MLP) initPyTorch(rng *rand.Rand) {
	if rng == nil {
		panic("nn: nil *rand.Rand for the initial weights")
	}
	for _, p := range m.params {
		bound := 1 / math.Sqrt(float64(m.sizes[m.layerOf(p)]))
		for i := range p.Value.Data {
			// Float64 is a product (an integer times 2⁻⁵³) that Go could
			// fuse with 2u − 1; float64(…) forbids it (exact either way).
			p.Value.Data[i] = bound * (2*float64(rng.Float64()) - 1)
		}
	}
}

// layerOf returns the Linear layer index of parameter p.
func (m *MLP) layerOf(p *ad.Param) int {
	return slices.Index(m.params, p) / 2
}

// Params returns the parameters "0.weight", "0.bias", "2.weight", ... in
// that order. The slice is the model's own and must not be modified.
func (m *MLP) Params() []*ad.Param { return m.params }

// Dim returns the input dimension D.
func (m *MLP) Dim() int { return m.sizes[0] }

// Out returns the output dimension.
func (m *MLP) Out() int { return m.sizes[len(m.sizes)-1] }

// Hidden returns the widths of the hidden layers (a new slice; empty for a
// single affine layer).
func (m *MLP) Hidden() []int { return slices.Clone(m.sizes[1 : len(m.sizes)-1]) }

// Activation returns the name of the activation (a key of ad.Activations).
func (m *MLP) Activation() string { return m.act.Name }

// Layers returns the Linear layers' weights (out×in) and biases (1×out), in
// order, and the activation applied between them (none after the last).
// The parameters are the model's own.
func (m *MLP) Layers() (weights, biases []*ad.Param, act *ad.Elementwise) {
	for i := 0; i < len(m.params); i += 2 {
		weights, biases = append(weights, m.params[i]), append(biases, m.params[i+1])
	}
	return weights, biases, m.act
}

// Forward records the network on t for the B×D input node x (plain or jet)
// and returns the B×Out node. It panics if x does not have Dim columns.
func (m *MLP) Forward(t *ad.Tape, x *ad.Node) *ad.Node {
	return m.forward(t, x, nil)
}

// forward is Forward with an optional plain node shift (B×H₁) added to the
// first layer's pre-activation.
func (m *MLP) forward(t *ad.Tape, x, shift *ad.Node) *ad.Node {
	if x.Cols() != m.Dim() {
		panic(fmt.Sprintf("nn: MLP: input has %d columns, the model's dimension is %d", x.Cols(), m.Dim()))
	}
	h := x
	last := len(m.params)/2 - 1
	for i := 0; i <= last; i++ {
		h = t.Linear(h, t.Param(m.params[2*i]), t.Param(m.params[2*i+1]))
		if i == 0 && shift != nil {
			h = t.AddPrimal(h, shift)
		}
		if i < last {
			h = t.Apply(m.act, h)
		}
	}
	return h
}

// An EnergyMLP is an energy net E: R^D → R, an MLP with one output.
type EnergyMLP struct{ MLP }

// NewEnergyMLP returns an energy net D → hidden[0] → ... → 1 with the named
// activation ("" means DefaultActivation; the names are the keys of
// ad.Activations), initialised from rng as PyTorch initialises nn.Linear:
// layer by layer, each weight (row-major) then its bias, every entry
// U(−1/√fan_in, 1/√fan_in), so one seed gives one network. It returns an
// error if dim or a width is < 1, if the activation is unknown, or if the
// activation's second derivative vanishes (ReLU), since score matching
// cannot train such an energy. It panics if rng is nil.
func NewEnergyMLP(dim int, hidden []int, act string, rng *rand.Rand) (*EnergyMLP, error) {
	m, err := newEnergyMLP(dim, hidden, act)
	if err != nil {
		return nil, fmt.Errorf("nn: NewEnergyMLP: %w", err)
	}
	m.initPyTorch(rng)
	return m, nil
}

func newEnergyMLP(dim int, hidden []int, act string) (*EnergyMLP, error) {
	mlp, err := newMLP(layerSizes(dim, hidden, 1), act)
	if err != nil {
		return nil, err
	}
	if err := checkEnergyActivation(mlp.act); err != nil {
		return nil, err
	}
	return &EnergyMLP{*mlp}, nil
}

// Energy records E(x) on t and returns a B×1 node (see Energy).
func (m *EnergyMLP) Energy(t *ad.Tape, x *ad.Node) *ad.Node { return m.Forward(t, x) }

// A ScoreMLP is a score net h: R^D → R^D, an MLP with D outputs.
type ScoreMLP struct{ MLP }

// NewScoreMLP returns a score net D → hidden[0] → ... → D with the named
// activation ("" means DefaultActivation; ReLU is allowed), initialised from
// rng as NewEnergyMLP describes. It returns an error if dim or a width is
// < 1 or the activation is unknown. It panics if rng is nil.
func NewScoreMLP(dim int, hidden []int, act string, rng *rand.Rand) (*ScoreMLP, error) {
	m, err := newScoreMLP(dim, hidden, act)
	if err != nil {
		return nil, fmt.Errorf("nn: NewScoreMLP: %w", err)
	}
	m.initPyTorch(rng)
	return m, nil
}

func newScoreMLP(dim int, hidden []int, act string) (*ScoreMLP, error) {
	mlp, err := newMLP(layerSizes(dim, hidden, dim), act)
	if err != nil {
		return nil, err
	}
	return &ScoreMLP{*mlp}, nil
}

// Score records h(x) on t and returns a B×D node (see Score).
func (m *ScoreMLP) Score(t *ad.Tape, x *ad.Node) *ad.Node { return m.Forward(t, x) }

// layerSizes returns dim, hidden..., out.
func layerSizes(dim int, hidden []int, out int) []int {
	s := make([]int, 0, len(hidden)+2)
	s = append(s, dim)
	s = append(s, hidden...)
	return append(s, out)
}
