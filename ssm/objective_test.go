package ssm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// drawBatch returns a batch of x with obj's randomness drawn from seed.
func drawBatch(obj Objective, x ad.Mat, seed uint64) *Batch {
	b := &Batch{X: x}
	b.Draw(obj, repro.NewStream(), seed, repro.Batch, 0, 0)
	return b
}

// condMLP adapts nn.NCSN-like behaviour for tests without depending on it:
// h(x, σ) = MLP(x)/σ.
type condMLP struct{ *nn.ScoreMLP }

func (c condMLP) CondScore(t *ad.Tape, x *ad.Node, sigma ad.Mat) *ad.Node {
	inv := ad.NewMat(sigma.Rows, 1)
	for i, s := range sigma.Data {
		inv.Data[i] = 1 / s
	}
	return t.ScaleRows(c.Score(t, x), t.Const(inv))
}

// objectiveCases lists every objective with a small model of its kind.
func objectiveCases(t *testing.T) []struct {
	name  string
	model nn.Model
	opts  Options
} {
	rng := rand.New(rand.NewPCG(1, 1))
	const d = 4
	energy := func(act string) nn.Model {
		m, err := nn.NewEnergyMLP(d, []int{6, 5}, act, rng)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	score := func(act string) *nn.ScoreMLP {
		m, err := nn.NewScoreMLP(d, []int{7}, act, rng)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ncsn := func(act string) nn.Model {
		m, err := nn.NewNCSN(d, []int{7, 6}, act, rng)
		if err != nil {
			t.Fatal(err)
		}
		// sigma.weight starts at zero; make the conditioning matter.
		for _, p := range m.Params() {
			if p.Name == "sigma.weight" {
				for i := range p.Value.Data {
					p.Value.Data[i] = rng.NormFloat64()
				}
			}
		}
		return m
	}
	sig := []float64{1, 0.5, 0.25}
	type c = struct {
		name  string
		model nn.Model
		opts  Options
	}
	return []c{
		{"ssm", energy("softplus"), Options{}},
		{"ssm", energy("tanh"), Options{Projection: Gaussian, M: 3}},
		{"ssm-vr", energy("softplus"), Options{Projection: Sphere, M: 2}},
		{"sm", energy("silu"), Options{Group: 3}},
		{"dsm", energy("softplus"), Options{Sigma: 0.3}},
		{"approx-bp", energy("softplus"), Options{}},
		{"cp", energy("tanh"), Options{M: 2}},
		{"sse", score("tanh"), Options{Projection: Gaussian}},
		{"sse-vr", score("softplus"), Options{M: 2}},
		{"sm", score("tanh"), Options{Group: 3}},
		{"dsm", score("elu"), Options{Sigma: 0.2}},
		{"ncsn", condMLP{score("tanh")}, Options{Sigmas: sig}},
		{"ncsn-sse-vr", condMLP{score("softplus")}, Options{Sigmas: sig, Projection: Gaussian, M: 2}},
		{"ncsn", ncsn("tanh"), Options{Sigmas: sig}},
		{"ncsn-sse-vr", ncsn("softplus"), Options{Sigmas: sig, M: 2}},
		{"grad", energy("elu"), Options{}},
		{"mle", testNICEModel(t, d, rng), Options{}},
		{"sde-dsm", testSDENet(t, rng, sde.VE{SigmaMin: 0.01, SigmaMax: 5}, "tanh"), Options{}},
		{"sde-dsm", testSDENet(t, rng, sde.VP{BetaMin: 0.1, BetaMax: 20}, "softplus"), Options{}},
		{"sde-sse-vr", testSDENet(t, rng, sde.VE{SigmaMin: 0.01, SigmaMax: 5}, "softplus"), Options{M: 2}},
		{"sde-sse-vr", testSDENet(t, rng, sde.SubVP{BetaMin: 0.1, BetaMax: 20}, "tanh"), Options{Projection: Gaussian}},
	}
}

// TestObjectiveGradients checks every objective's parameter gradient against
// central differences of its own value (T5).
func TestObjectiveGradients(t *testing.T) {
	for i, c := range objectiveCases(t) {
		t.Run(fmt.Sprintf("%s/%T", c.name, c.model), func(t *testing.T) {
			obj, err := New(c.name, c.model, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(2, uint64(i)))
			b := drawBatch(obj, ad.MatOf(adtest.RandMat(rng, 5, c.model.Dim(), 1)), uint64(i))
			w := obj.NewWorker()
			w.Eval(b, true)
			var got, want []float64
			for _, g := range w.Grads() {
				got = append(got, g.Data...)
			}
			for _, p := range c.model.Params() {
				g := make([]float64, len(p.Value.Data))
				h := fd.DefaultStep
				if c.name == "cp" {
					// √|D| has a kink where a unit's curvature D crosses
					// zero; a smaller step keeps the stencil on one side.
					h = 1e-5
				}
				fd.NumGrad(func() float64 { return w.Eval(b, false) }, p.Value.Data, g, h)
				want = append(want, g...)
			}
			if e, at := fd.RelErr(got, want, 1e-3); e > 1e-6 {
				t.Errorf("parameter gradient: relative error %.3g at %d (%.12g vs %.12g)", e, at, got[at], want[at])
			}
			// The loss is the sum of the per-sample terms.
			w.Eval(b, false)
			s := 0.0
			for _, v := range w.Terms().Data {
				s += v
			}
			if l := w.Eval(b, false); math.Abs(l-s) > 1e-12*math.Max(1, math.Abs(s)) {
				t.Errorf("loss %.15g, sum of terms %.15g", l, s)
			}
		})
	}
}

// TestNewErrors checks that misuse is refused with a clear error.
func TestNewErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	e, _ := nn.NewEnergyMLP(3, []int{4}, "softplus", rng)
	s, _ := nn.NewScoreMLP(3, []int{4}, "tanh", rng)
	for _, c := range []struct {
		name  string
		model nn.Model
		opts  Options
	}{
		{"nope", e, Options{}},
		{"sse", e, Options{}},
		{"ssm", s, Options{}},
		{"dsm", e, Options{}},
		{"ncsn", s, Options{Sigmas: []float64{1, 0.5}}},
		{"ncsn", condMLP{s}, Options{Sigmas: []float64{0.5, 1}}},
		{"ssm", e, Options{M: -1}},
		{"approx-bp", s, Options{}},
	} {
		if _, err := New(c.name, c.model, c.opts); err == nil {
			t.Errorf("New(%q, %T, %+v) succeeded", c.name, c.model, c.opts)
		}
	}
}

// testNICEModel returns a small NICE flow of dimension d (even), with
// random scales so that every parameter matters.
func testNICEModel(t *testing.T, d int, rng *rand.Rand) *nn.NICE {
	t.Helper()
	m, err := nn.NewNICE(nn.NICEConfig{Dim: d, Couplings: 2, Hidden: []int{5}}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if p.Name == "scale.scales" {
			for i := range p.Value.Data {
				p.Value.Data[i] = 0.3 * rng.NormFloat64()
			}
		}
	}
	return m
}
