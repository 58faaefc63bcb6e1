package ad

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
)

// structCases are the structural ops and the Bernoulli log-likelihood, each
// built from the pre-activations z1, z2 (B×H) of TestOps; the result, of
// any width, is reduced to a per-sample scalar by a random projection.
func structCases() []opCase {
	return []opCase{
		{"concat", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.ConcatCols(t.Apply(Tanh, z1), t.Apply(Softplus, z2))
		}},
		{"concat-self", func(t *Tape, z1, z2 *Node, p *opParams) *Node { h := t.Apply(Tanh, z1); return t.ConcatCols(h, h) }},
		{"concat-plain-right", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Tanh, t.ConcatCols(z1, t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm)))))
		}},
		{"concat-plain-left", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			c := t.SliceCols(t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))), 1, 3)
			return t.Apply(SiLU, t.ConcatCols(c, t.Mul(z1, z2)))
		}},
		{"slice", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.SliceCols(t.Apply(Tanh, z1), 1, 4) }},
		{"slice-concat", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			c := t.ConcatCols(t.Apply(Tanh, z1), t.Apply(Softplus, z2))
			return t.Mul(t.SliceCols(c, 2, 7), t.SliceCols(c, 5, 10))
		}},
		{"bernoulli", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.BernoulliLogLik(t.Mul(z1, z2), t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))))
		}},
		{"bernoulli-binary", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.BernoulliLogLik(t.Scale(3, z1), t.Const(binaryTargets))
		}},
		// Logits about ±30 on the side of their targets, where σ(l) rounds
		// to 1 and the value and every derivative are about e⁻³⁰: only the
		// stable form keeps their relative accuracy, and central
		// differences resolve them.
		{"bernoulli-large", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			shift := NewMat(opB, opH)
			for i, x := range binaryTargets.Data {
				shift.Data[i] = 30 * (2*x - 1)
			}
			return t.BernoulliLogLik(t.AddPrimal(z1, t.Const(shift)), t.Const(binaryTargets))
		}},
	}
}

// binaryTargets are B×H targets in {0, 1}.
var binaryTargets = MatOf(opB, opH, []float64{1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0})

// TestStructOps checks the structural ops and BernoulliLogLik as TestOps
// checks the others: input gradient, both Taylor coefficients, HVP and the
// parameter gradient of a second-order loss against central differences.
func TestStructOps(t *testing.T) {
	for i, c := range structCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(i)))
			p := newOpParams(rng)
			var wout *Param
			f := func(tp *Tape, x *Node) *Node {
				z1 := tp.Linear(x, tp.Param(p.w1), tp.Param(p.b1))
				z2 := tp.Linear(x, tp.Param(p.w2), tp.Param(p.b2))
				h := c.build(tp, z1, z2, p)
				if wout == nil {
					wout = &Param{Name: "wout", Value: MatOf(adtest.RandMat(rng, 1, h.Cols(), 1))}
				}
				return tp.MatMulT(h, tp.Param(wout))
			}
			x := MatOf(adtest.RandMat(rng, opB, opD, 1))
			v := MatOf(adtest.RandMat(rng, opB, opD, 1))
			tp := NewTape()
			f(tp, tp.Input(x, false)) // creates wout
			checkFunc(t, f, x, v, append(p.all(), wout))
		})
	}
}

// TestStopGradient checks that f(x) = a(x) + stopgrad(b(x)) has the value
// of a + b and, at x₀, the derivatives of x ↦ a(x) + b(x₀): input gradient,
// Taylor coefficients, HVP and parameter gradient all equal those of the
// function with b replaced by the constant b(x₀), bit for bit.
func TestStopGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	p := newOpParams(rng)
	x := MatOf(adtest.RandMat(rng, opB, opD, 1))
	v := MatOf(adtest.RandMat(rng, opB, opD, 1))
	a := func(tp *Tape, in *Node) *Node { return tp.Apply(Tanh, tp.Linear(in, tp.Param(p.w1), tp.Param(p.b1))) }
	b := func(tp *Tape, in *Node) *Node {
		return tp.Apply(Softplus, tp.Mul(tp.Linear(in, tp.Param(p.w2), tp.Param(p.b2)), tp.Linear(in, tp.Param(p.w1), tp.Param(p.b1))))
	}
	tp := NewTape()
	tp.Reset()
	b0 := b(tp, tp.Input(x, false)).Primal().Clone()
	// fixed adds b(x₀) through a node that has the jet's blocks, so that
	// both functions record ops of the same shapes.
	stop := func(tp *Tape, in *Node) *Node {
		h := tp.Add(a(tp, in), tp.StopGradient(b(tp, in)))
		return tp.Mul(h, h)
	}
	fixed := func(tp *Tape, in *Node) *Node {
		h := tp.AddPrimal(a(tp, in), tp.Const(b0))
		return tp.Mul(h, h)
	}
	reduce := func(f func(*Tape, *Node) *Node) Func {
		return func(tp *Tape, in *Node) *Node { return tp.SumRows(f(tp, in)) }
	}
	type result struct{ val, grad, d1, d2, hv, pgrad []float64 }
	run := func(f Func) result {
		var r result
		tp := NewTape()
		tp.Reset()
		r.val = append([]float64(nil), f(tp, tp.Input(x, false)).Primal().Data...)
		g := NewMat(x.Rows, x.Cols)
		InputGrad(tp, f, x, g)
		r.grad = g.Data
		tp.Reset(2)
		out := f(tp, tp.Input(x, false, v))
		r.d1 = append([]float64(nil), tp.Deriv(out, 0, 1).Value().Data...)
		r.d2 = append([]float64(nil), tp.Deriv(out, 0, 2).Value().Data...)
		hv := NewMat(x.Rows, x.Cols)
		HVP(tp, f, x, v, Mat{}, hv)
		r.hv = hv.Data
		so := NewSecondOrder()
		so.Eval(f, x, []Mat{v}, []int{2}, ssmJetLoss, halfSquaredNorm)
		r.pgrad = flatGrad(p.all(), so.Grad)
		return r
	}
	got, want := run(reduce(stop)), run(reduce(fixed))
	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"value", got.val, want.val}, {"input gradient", got.grad, want.grad},
		{"first Taylor coefficient", got.d1, want.d1}, {"second Taylor coefficient", got.d2, want.d2},
		{"HVP", got.hv, want.hv}, {"parameter gradient", got.pgrad, want.pgrad},
	} {
		if !adtest.SameBits(c.got, c.want) {
			t.Errorf("%s: with StopGradient %v, with the constant %v", c.name, c.got, c.want)
		}
	}
	// And b's derivatives are not zero, so the check means something.
	full := func(tp *Tape, in *Node) *Node { h := tp.Add(a(tp, in), b(tp, in)); return tp.Mul(h, h) }
	if r := run(reduce(full)); adtest.SameBits(r.grad, want.grad) {
		t.Error("b does not change the gradient: the test checks nothing")
	}
}

// TestStopGradientPlain checks StopGradient on a plain node: the value
// passes, and a parameter used only through it gets no gradient.
func TestStopGradientPlain(t *testing.T) {
	tp := NewTape()
	tp.Reset()
	w := &Param{Name: "w", Value: MatOf(1, 2, []float64{0.5, -2})}
	u := &Param{Name: "u", Value: MatOf(1, 2, []float64{3, 1})}
	s := tp.StopGradient(tp.Apply(Exp, tp.Param(w)))
	root := tp.Sum(tp.Mul(s, tp.Param(u)))
	tp.Backward(root)
	if got, want := s.Value().Data, []float64{math.Exp(0.5), math.Exp(-2)}; math.Abs(got[0]-want[0]) > 1e-15 || math.Abs(got[1]-want[1]) > 1e-15 {
		t.Errorf("value %v, want %v", got, want)
	}
	if g := tp.Grad(w); len(g.Data) != 0 && (g.Data[0] != 0 || g.Data[1] != 0) {
		t.Errorf("gradient through StopGradient %v, want none", g.Data)
	}
	if g := tp.Grad(u); !adtest.SameBits(g.Data, s.Value().Data) {
		t.Errorf("gradient of the other factor %v, want %v", g.Data, s.Value().Data)
	}
}

// TestBernoulliTails checks BernoulliLogLik's value and logit gradient
// where naive formulas overflow or cancel: x·l − log(1+eˡ) at l = ±40, ±800.
func TestBernoulliTails(t *testing.T) {
	e40 := math.Exp(-40)
	for _, c := range []struct {
		l, x, val, grad float64
	}{
		{40, 1, -math.Log1p(e40), e40 / (1 + e40)},
		{40, 0, -(40 + math.Log1p(e40)), -1 / (1 + e40)},
		{-40, 0, -math.Log1p(e40), -e40 / (1 + e40)},
		{-40, 1, -(40 + math.Log1p(e40)), 1 / (1 + e40)},
		{800, 1, 0, 0},
		{-800, 0, 0, 0},
		{800, 0, -800, -1},
		{-800, 1, -800, 1},
		{0, 0.25, -math.Ln2, 0.25 - 0.5},
	} {
		tp := NewTape()
		tp.Reset()
		l := tp.Var(MatOf(1, 1, []float64{c.l}))
		y := tp.BernoulliLogLik(l, tp.Const(MatOf(1, 1, []float64{c.x})))
		tp.Backward(y)
		val, grad := y.Value().Data[0], l.Adj().Data[0]
		if math.Abs(val-c.val) > 1e-15*math.Abs(c.val) || math.Abs(grad-c.grad) > 1e-15*math.Abs(c.grad) {
			t.Errorf("l = %g, x = %g: value %.17g, gradient %.17g; want %.17g, %.17g", c.l, c.x, val, grad, c.val, c.grad)
		}
	}
}

// TestStructShapes checks that misuse panics.
func TestStructShapes(t *testing.T) {
	tp := NewTape()
	tp.Reset(1)
	jet := tp.Input(NewMat(2, 3), false, NewMat(2, 3))
	plain := tp.Const(NewMat(2, 3))
	for name, f := range map[string]func(){
		"concat rows":      func() { tp.ConcatCols(plain, tp.Const(NewMat(3, 3))) },
		"slice empty":      func() { tp.SliceCols(jet, 2, 2) },
		"slice past end":   func() { tp.SliceCols(jet, 1, 4) },
		"bernoulli jet x":  func() { tp.BernoulliLogLik(jet, jet) },
		"bernoulli shapes": func() { tp.BernoulliLogLik(jet, tp.Const(NewMat(2, 2))) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if y := tp.ConcatCols(plain, jet); y.Blocks() != 2 || y.Cols() != 6 {
		t.Errorf("ConcatCols(plain, jet) is %d columns with %d blocks, want 6 and 2", y.Cols(), y.Blocks())
	}
}
