package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

func TestMLPNamesAndShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e, err := NewEnergyMLP(3, []int{4, 6}, "", rng)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScoreMLP(3, nil, "relu", rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m     Model
		names []string
		dims  [][2]int
	}{
		{e, []string{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"},
			[][2]int{{4, 3}, {1, 4}, {6, 4}, {1, 6}, {1, 6}, {1, 1}}},
		{s, []string{"0.weight", "0.bias"}, [][2]int{{3, 3}, {1, 3}}},
	} {
		ps := tc.m.Params()
		if len(ps) != len(tc.names) {
			t.Fatalf("%T: %d parameters, want %d", tc.m, len(ps), len(tc.names))
		}
		for i, p := range ps {
			if p.Name != tc.names[i] || p.Value.Rows != tc.dims[i][0] || p.Value.Cols != tc.dims[i][1] {
				t.Errorf("%T: parameter %d is %q %d×%d, want %q %v", tc.m, i, p.Name, p.Value.Rows, p.Value.Cols, tc.names[i], tc.dims[i])
			}
		}
	}
	if e.Activation() != DefaultActivation || e.Out() != 1 || !slices.Equal(e.Hidden(), []int{4, 6}) {
		t.Errorf("energy net: activation %q, out %d, hidden %v", e.Activation(), e.Out(), e.Hidden())
	}
	if s.Out() != 3 || len(s.Hidden()) != 0 {
		t.Errorf("score net: out %d, hidden %v", s.Out(), s.Hidden())
	}
}

func TestMLPConstructorErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		energy bool
		dim    int
		hidden []int
		act    string
		want   string
	}{
		{"energy relu", true, 2, []int{4}, "relu", "second derivative vanishes"},
		{"zero dim", true, 0, []int{4}, "tanh", "dim is 0"},
		{"negative output", false, -1, nil, "tanh", "dim is -1"},
		{"zero width", false, 2, []int{4, 0}, "tanh", "hidden[1] is 0"},
		{"unknown activation", false, 2, []int{4}, "gelu", `unknown activation "gelu"`},
		{"unknown activation energy", true, 2, []int{4}, "Softplus", `unknown activation "Softplus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.energy {
				_, err = NewEnergyMLP(tc.dim, tc.hidden, tc.act, rng)
			} else {
				_, err = NewScoreMLP(tc.dim, tc.hidden, tc.act, rng)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestActivations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name := range ad.Activations {
		_, errE := NewEnergyMLP(2, []int{3}, name, rng)
		_, errS := NewScoreMLP(2, []int{3}, name, rng)
		if errS != nil {
			t.Errorf("score net with %s: %v", name, errS)
		}
		if (errE != nil) != (name == "relu") {
			t.Errorf("energy net with %s: error %v", name, errE)
		}
	}
}

func TestInitBoundsAndSeed(t *testing.T) {
	mk := func(seed uint64) *EnergyMLP {
		m, err := NewEnergyMLP(7, []int{16, 9}, "tanh", rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b, c := mk(1), mk(1), mk(2)
	fanIn := []int{7, 7, 16, 16, 9, 9}
	for i, p := range a.Params() {
		bound := 1 / math.Sqrt(float64(fanIn[i]))
		maxAbs := 0.0
		for _, v := range p.Value.Data {
			if !(math.Abs(v) <= bound) {
				t.Fatalf("%s: %g outside ±%g", p.Name, v, bound)
			}
			maxAbs = math.Max(maxAbs, math.Abs(v))
		}
		if len(p.Value.Data) >= 100 && maxAbs < 0.95*bound {
			t.Errorf("%s: largest |w| is %g, want close to the bound %g", p.Name, maxAbs, bound)
		}
		if !slices.Equal(p.Value.Data, b.Params()[i].Value.Data) {
			t.Errorf("%s: the same seed gave different values", p.Name)
		}
		if slices.Equal(p.Value.Data, c.Params()[i].Value.Data) {
			t.Errorf("%s: different seeds gave the same values", p.Name)
		}
	}
	// The documented order: weight entries row-major, then the bias, layer
	// by layer, each bound·(2u−1).
	rng := rand.New(rand.NewPCG(1, 0))
	for i, p := range a.Params() {
		bound := 1 / math.Sqrt(float64(fanIn[i]))
		for j, v := range p.Value.Data {
			if w := bound * (2*rng.Float64() - 1); v != w {
				t.Fatalf("%s[%d] = %g, want %g", p.Name, j, v, w)
			}
		}
	}
}

// TestInitVariance checks that the weights' empirical variance is
// (1/fan_in)/3, the variance of U(−1/√fan_in, 1/√fan_in). With 40000
// weights its relative standard error is 0.45%, so a 3% tolerance rejects
// any other common bound (√(6/fan_in), √(3/fan_in), 1/fan_in, ...).
func TestInitVariance(t *testing.T) {
	m, err := NewScoreMLP(100, []int{400}, "", rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p   *ad.Param
		fan int
		tol float64
	}{
		{m.Params()[0], 100, 0.03}, // 40000 weights
		{m.Params()[2], 400, 0.03}, // 40000 weights
		{m.Params()[1], 100, 0.25}, // 400 biases: relative standard error 4.5%
	} {
		mean, sq := 0.0, 0.0
		for _, v := range tc.p.Value.Data {
			mean += v
		}
		mean /= float64(len(tc.p.Value.Data))
		for _, v := range tc.p.Value.Data {
			sq += (v - mean) * (v - mean)
		}
		got := sq / float64(len(tc.p.Value.Data)-1)
		want := 1 / (3 * float64(tc.fan))
		if math.Abs(got/want-1) > tc.tol {
			t.Errorf("%s: variance %g, want %g ± %.0f%%", tc.p.Name, got, want, 100*tc.tol)
		}
	}
}

// TestMLPForward checks the forward pass against a direct evaluation and
// the parameter gradient of Σ E against finite differences.
func TestMLPForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := NewEnergyMLP(3, []int{5, 4}, "silu", rng)
	if err != nil {
		t.Fatal(err)
	}
	x := ad.MatOf(adtest.RandMat(rng, 6, 3, 1))
	got := energies(m, x)
	for b := range x.Rows {
		h := x.Row(b)
		for l := 0; l < 3; l++ {
			w, bias := m.Params()[2*l].Value, m.Params()[2*l+1].Value
			next := make([]float64, w.Rows)
			for i := range w.Rows {
				s := bias.Data[i]
				for j := range w.Cols {
					s += w.At(i, j) * h[j]
				}
				if l < 2 {
					s = s / (1 + math.Exp(-s))
				}
				next[i] = s
			}
			h = next
		}
		if !relClose(got[b], h[0], 1e-13) {
			t.Errorf("E(x_%d) = %g, want %g", b, got[b], h[0])
		}
	}

	tape := ad.NewTape()
	sum := func() float64 {
		tape.Reset()
		root := tape.Sum(m.Energy(tape, tape.Input(x, false)))
		return root.Primal().Data[0]
	}
	tape.Reset()
	root := tape.Sum(m.Energy(tape, tape.Input(x, false)))
	tape.Backward(root)
	for _, p := range m.Params() {
		g := tape.Grad(p).Clone()
		if e, at := fd.CheckGrad(sum, p.Value.Data, g.Data, fd.DefaultStep); e > 1e-7 {
			t.Errorf("%s: gradient error %g at %d", p.Name, e, at)
		}
	}
}

func TestMLPInputDerivatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m, err := NewEnergyMLP(4, []int{6}, "elu", rng)
	if err != nil {
		t.Fatal(err)
	}
	x, v := ad.MatOf(adtest.RandMat(rng, 3, 4, 1)), ad.MatOf(adtest.RandMat(rng, 3, 4, 1))
	g, hv := ad.NewMat(3, 4), ad.NewMat(3, 4)
	ad.HVP(ad.NewTape(), m.Energy, x, v, g, hv)
	for b := range 3 {
		for j := range 4 {
			xj := x.At(b, j)
			num := fd.CentralDiff(func(s float64) float64 {
				x.Set(b, j, s)
				defer x.Set(b, j, xj)
				return energies(m, x)[b]
			}, xj, 1e-3)
			if !relClose(g.At(b, j), num, 1e-7) {
				t.Errorf("∂E/∂x[%d][%d] = %g, finite difference %g", b, j, g.At(b, j), num)
			}
		}
	}
}

func TestForwardShapePanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	e, _ := NewEnergyMLP(3, []int{4}, "", rng)
	tape := ad.NewTape()
	mustPanic(t, "input has 2 columns, the model's dimension is 3", func() {
		e.Energy(tape, tape.Input(ad.NewMat(1, 2), false))
	})
	mustPanic(t, "input has 4 columns", func() {
		NewGaussianEnergy(3).Energy(tape, tape.Input(ad.NewMat(1, 4), false))
	})
}

func TestForwardAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	e, _ := NewEnergyMLP(3, []int{8, 8}, "", rng)
	g := NewGaussianEnergy(3)
	n, _ := NewNCSN(3, []int{8}, "", rng)
	x, v := ad.MatOf(adtest.RandMat(rng, 16, 3, 1)), ad.MatOf(adtest.RandMat(rng, 16, 3, 1))
	sigma := ad.NewMat(16, 1)
	for i := range sigma.Data {
		sigma.Data[i] = 0.5
	}
	tape := ad.NewTape()
	run := func() {
		tape.Reset(2)
		in := tape.Input(x, false, v)
		root := tape.Add(tape.Sum(e.Energy(tape, in)), tape.Sum(g.Energy(tape, in)))
		root = tape.Add(tape.Sum(tape.SumRows(n.CondScore(tape, in, sigma))), root)
		tape.Backward(tape.Deriv(root, 0, 2))
	}
	run()
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("a forward and backward pass allocates %v times, want 0", a)
	}
}

// TestConcurrentEvaluation evaluates one model on several tapes at once; the
// race detector checks that models only read their parameters.
func TestConcurrentEvaluation(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	e, _ := NewEnergyMLP(3, []int{8}, "", rng)
	n, _ := NewNCSN(3, []int{8}, "", rng)
	g := NewGaussianEnergy(3)
	x, v := ad.MatOf(adtest.RandMat(rng, 8, 3, 1)), ad.MatOf(adtest.RandMat(rng, 8, 3, 1))
	sigma := ad.NewMat(8, 1)
	for i := range sigma.Data {
		sigma.Data[i] = 1
	}
	results := make([][]float64, 4)
	done := make(chan int)
	for w := range results {
		go func() {
			tape := ad.NewTape()
			for range 5 {
				tape.Reset(2)
				in := tape.Input(x, false, v)
				root := tape.Add(tape.Sum(e.Energy(tape, in)), tape.Sum(g.Energy(tape, in)))
				root = tape.Add(tape.Sum(tape.SumRows(n.CondScore(tape, in, sigma))), root)
				tape.Backward(tape.Deriv(root, 0, 2))
				results[w] = slices.Clone(tape.Grad(e.Params()[0]).Data)
			}
			done <- w
		}()
	}
	for range results {
		<-done
	}
	for w := 1; w < len(results); w++ {
		if !slices.Equal(results[w], results[0]) {
			t.Errorf("tape %d got a different gradient", w)
		}
	}
}

func TestLayers(t *testing.T) {
	m, err := NewEnergyMLP(3, []int{4, 5}, "tanh", rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	w, b, act := m.Layers()
	if len(w) != 3 || len(b) != 3 || act != ad.Tanh {
		t.Fatalf("Layers: %d weights, %d biases, activation %v", len(w), len(b), act.Name)
	}
	for i, want := range [][2]int{{4, 3}, {5, 4}, {1, 5}} {
		if w[i].Value.Rows != want[0] || w[i].Value.Cols != want[1] || b[i].Value.Cols != want[0] || w[i] != m.Params()[2*i] {
			t.Errorf("layer %d: weight %d×%d, bias 1×%d", i, w[i].Value.Rows, w[i].Value.Cols, b[i].Value.Cols)
		}
	}
}
