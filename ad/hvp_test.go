package ad

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
)

// reverseOverForward computes ∇²f·v as the gradient of the first Taylor
// coefficient vᵀ∇f: a jet forward pass, then a reverse sweep seeded on the
// coefficient block. It shares no rule with HVP's dual sweep for element-wise
// ops and products.
func reverseOverForward(f Func, x, v Mat) Mat {
	t := NewTape()
	t.FreezeParams(true)
	t.Reset(1)
	in := t.Input(x, true, v)
	out := f(t, in)
	seed := NewMat(2*x.Rows, 1)
	for b := x.Rows; b < 2*x.Rows; b++ {
		seed.Data[b] = 1
	}
	t.BackwardFrom(out, seed)
	return in.AdjCoef(0).Clone()
}

// TestHVPMLP checks forward-over-reverse HVP on a random 3-layer MLP against
// reverse over forward (to 1e-10) and against central differences of the
// gradient (to 1e-7), for every activation.
func TestHVPMLP(t *testing.T) {
	for i, act := range []*Elementwise{Softplus, Tanh, SiLU, ELU, Sigmoid} {
		t.Run(act.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(i)))
			m := newMLP(rng, act, 6, 16, 12, 1)
			x, v := MatOf(adtest.RandMat(rng, 9, 6, 1)), MatOf(adtest.RandMat(rng, 9, 6, 1))
			hv, g := NewMat(9, 6), NewMat(9, 6)
			tp := NewTape()
			HVP(tp, m.forward, x, v, g, hv)
			assertClose(t, "HVP vs reverse over forward", hv.Data, reverseOverForward(m.forward, x, v).Data, 1e-10)
			grads := func(x Mat) []float64 {
				InputGrad(tp, m.forward, x, g)
				return g.Data
			}
			assertClose(t, "HVP vs central difference of gradients", hv.Data, batchNumDeriv(x, v, grads), 1e-7)
		})
	}
}

// TestParamsFrozen checks that frozen parameters get no gradient and that
// InputGrad leaves the tape's freeze setting as it was.
func TestParamsFrozen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := newMLP(rng, Tanh, 3, 4, 1)
	x := MatOf(adtest.RandMat(rng, 2, 3, 1))
	tp := NewTape()
	InputGrad(tp, m.forward, x, NewMat(2, 3))
	if g := tp.Grad(m.w[0]); len(g.Data) != 0 {
		t.Errorf("InputGrad accumulated a parameter gradient: %v", g.Data)
	}
	tp.Reset()
	tp.Backward(tp.Sum(m.forward(tp, tp.Input(x, false))))
	if g := tp.Grad(m.w[0]); len(g.Data) != 12 {
		t.Errorf("after InputGrad, parameters stayed frozen: gradient %v", g.Data)
	}
}

// TestSteadyStateAllocs checks that repeating the same passes on reused
// tapes allocates nothing.
func TestSteadyStateAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	m := newMLP(rng, Softplus, 8, 32, 32, 1)
	x, v := MatOf(adtest.RandMat(rng, 16, 8, 1)), MatOf(adtest.RandMat(rng, 16, 8, 1))
	g, hv := NewMat(16, 8), NewMat(16, 8)
	tp := NewTape()
	so := NewSecondOrder()
	dirs, orders := []Mat{v}, []int{2}
	for name, run := range map[string]func(){
		"grad": func() {
			tp.Reset()
			tp.Backward(tp.Sum(m.forward(tp, tp.Input(x, false))))
		},
		"hvp":    func() { HVP(tp, m.forward, x, v, g, hv) },
		"ssm":    func() { so.Eval(m.forward, x, dirs, orders, ssmJetLoss, nil) },
		"ssm-vr": func() { so.Eval(m.forward, x, dirs, orders, ssmJetLoss, halfSquaredNorm) },
	} {
		run()
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("%s: %v allocations per repeated pass, want 0", name, a)
		}
	}
}

// TestOverwrittenAdjoints checks that writing fresh adjoints outright (the
// products and activations do it) gives the bits that zeroing them and
// adding gives, in every sweep: plain, jet, primal-only and dual.
func TestOverwrittenAdjoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 9))
	m := newMLP(rng, Softplus, 6, 16, 12, 1)
	x, v := MatOf(adtest.RandMat(rng, 9, 6, 1)), MatOf(adtest.RandMat(rng, 9, 6, 1))
	seed := MatOf(adtest.RandMat(rng, 9, 1, 1))
	tp := NewTape()
	sweeps := []struct {
		name string
		run  func() []Mat // the gradients it computes
	}{
		{"plain", func() []Mat {
			tp.Reset()
			in := tp.Input(x, true)
			tp.Backward(tp.Sum(m.forward(tp, in)))
			return []Mat{in.Adj()}
		}},
		{"jet", func() []Mat {
			tp.Reset(2)
			in := tp.Input(x, true, v)
			out := m.forward(tp, in)
			tp.BackwardFrom(out, MatOf(adtest.RandMat(rand.New(rand.NewPCG(1, 1)), 27, 1, 1)))
			return []Mat{in.Adj()}
		}},
		{"primal", func() []Mat {
			tp.Reset(2)
			in := tp.Input(x, true, v)
			tp.BackwardPrimal(m.forward(tp, in), seed)
			return []Mat{in.Adj()}
		}},
		{"dual", func() []Mat {
			g, hv := NewMat(9, 6), NewMat(9, 6)
			HVP(tp, m.forward, x, v, g, hv)
			return []Mat{g, hv}
		}},
	}
	for _, s := range sweeps {
		var bits [2][]uint64
		for i, on := range []bool{true, false} {
			shortcuts = on
			got := s.run()
			for _, p := range m.params() {
				got = append(got, tp.Grad(p))
			}
			for _, g := range got {
				for _, v := range g.Data {
					bits[i] = append(bits[i], math.Float64bits(v))
				}
			}
			shortcuts = true
		}
		if len(bits[0]) == 0 || len(bits[0]) != len(bits[1]) {
			t.Fatalf("%s: %d and %d gradient values", s.name, len(bits[0]), len(bits[1]))
		}
		for j := range bits[0] {
			if bits[0][j] != bits[1][j] {
				t.Fatalf("%s: gradient value %d is %v written outright, %v zeroed first", s.name, j,
					math.Float64frombits(bits[0][j]), math.Float64frombits(bits[1][j]))
			}
		}
	}
}

// TestSecondOrderShortcuts checks that taking block 0 from the plain pass
// and skipping products over zero blocks happen, and change no bit of the
// loss or the gradients of an SSM-VR evaluation.
func TestSecondOrderShortcuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	m := newMLP(rng, Softplus, 6, 16, 12, 1)
	x, v := MatOf(adtest.RandMat(rng, 9, 6, 1)), MatOf(adtest.RandMat(rng, 9, 6, 1))
	eval := func(on bool) (float64, [][]float64, *SecondOrder) {
		shortcuts = on
		defer func() { shortcuts = true }()
		so := NewSecondOrder()
		loss := so.Eval(m.forward, x, []Mat{v}, []int{2}, ssmJetLoss, halfSquaredNorm)
		var grads [][]float64
		for _, p := range m.params() {
			grads = append(grads, so.Grad(p).Clone().Data)
		}
		return loss, grads, so
	}
	loss, grads, so := eval(true)
	loss0, grads0, _ := eval(false)
	if math.Float64bits(loss) != math.Float64bits(loss0) {
		t.Errorf("loss %v with shortcuts, %v without", loss, loss0)
	}
	for i := range grads {
		for j := range grads[i] {
			if math.Float64bits(grads[i][j]) != math.Float64bits(grads0[i][j]) {
				t.Fatalf("gradient %d[%d]: %v with shortcuts, %v without", i, j, grads[i][j], grads0[i][j])
			}
		}
	}
	reused, zero := 0, 0
	jt := so.Tape()
	for _, n := range jt.nodes[:jt.n] {
		if (n.op == opLinear || n.op == opUnary) && jt.primalOf(n) != nil {
			reused++
		}
		if n.op == opLinear && n.zero != 0 {
			zero++
		}
	}
	if reused != 5 || zero != 1 {
		t.Errorf("%d nodes took block 0 from the plain pass (want 5: 3 Linear, 2 Apply), %d Linear nodes had zero blocks (want 1)", reused, zero)
	}
}
