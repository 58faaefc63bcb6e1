package implicit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"scorematch/ad"
)

// An MLP is a stack of affine layers with an element-wise activation between
// consecutive layers and none after the last, laid out like PyTorch's
// nn.Sequential(nn.Linear(in, H₁), act, ..., nn.Linear(H_k, out)): layer i
// is module 2i, with parameters "2i.weight" (out×in) and "2i.bias" (1×out),
// listed by Params in that order. Package nn's MLPs map R^D to R or R^D;
// the encoders, decoders and conditional score nets here need any input
// and output widths.
type MLP struct {
	sizes  []int
	act    *ad.Elementwise
	params []*ad.Param
}

// NewMLP returns an MLP with layer widths sizes (sizes[0] inputs,
// sizes[len−1] outputs, at least two entries) and the named activation (a
// key of ad.Activations; "" is softplus), initialised from rng as PyTorch
// initialises nn.Linear: layer by layer, the weight (row-major) then the
// bias, every entry U(−1/√fan_in, 1/√fan_in). It returns a *ConfigError
// for a width < 1 or an unknown activation, and panics if rng is nil.
func NewMLP(sizes []int, act string, rng *rand.Rand) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, &ConfigError{Type: "MLP", Field: "sizes", Value: sizes, Want: "input and output widths"}
	}
	for _, s := range sizes {
		if s < 1 {
			return nil, &ConfigError{Type: "MLP", Field: "sizes", Value: sizes, Want: "widths ≥ 1"}
		}
	}
	if act == "" {
		act = "softplus"
	}
	f, ok := ad.Activations[act]
	if !ok {
		return nil, &ConfigError{Type: "MLP", Field: "act", Value: act, Want: "a key of ad.Activations"}
	}
	if rng == nil {
		panic("implicit: NewMLP: nil *rand.Rand")
	}
	m := &MLP{sizes: slices.Clone(sizes), act: f}
	for i := 1; i < len(sizes); i++ {
		name := strconv.Itoa(2 * (i - 1))
		w, b := ad.NewParam(name+".weight", sizes[i], sizes[i-1]), ad.NewParam(name+".bias", 1, sizes[i])
		bound := 1 / math.Sqrt(float64(sizes[i-1]))
		for _, p := range []*ad.Param{w, b} {
			for j := range p.Value.Data {
				p.Value.Data[j] = bound * (2*float64(rng.Float64()) - 1)
			}
		}
		m.params = append(m.params, w, b)
	}
	return m, nil
}

// Params returns the parameters "0.weight", "0.bias", "2.weight", ... in
// order. The slice is the model's own.
func (m *MLP) Params() []*ad.Param { return m.params }

// In returns the input width and Out the output width.
func (m *MLP) In() int { return m.sizes[0] }

// Out returns the output width.
func (m *MLP) Out() int { return m.sizes[len(m.sizes)-1] }

// Forward records the MLP on t for the B×In input node x (plain or jet) and
// returns the B×Out node. It panics if x does not have In columns.
func (m *MLP) Forward(t *ad.Tape, x *ad.Node) *ad.Node {
	if x.Cols() != m.In() {
		panic(fmt.Sprintf("implicit: MLP: input has %d columns, want %d", x.Cols(), m.In()))
	}
	h := x
	last := len(m.params)/2 - 1
	for i := 0; i <= last; i++ {
		h = t.Linear(h, t.Param(m.params[2*i]), t.Param(m.params[2*i+1]))
		if i < last {
			h = t.Apply(m.act, h)
		}
	}
	return h
}
