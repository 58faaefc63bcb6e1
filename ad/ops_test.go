package ad

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

func TestElementwiseDerivatives(t *testing.T) {
	generic := []float64{-3.1, -1.2, -0.37, 0.05, 0.61, 1.4, 2.9}
	large := []float64{-745, -200, -40, -20, 20, 40, 200, 745}
	for _, f := range []*Elementwise{Square, Exp, Log, Sigmoid, Softplus, Tanh, SiLU, ELU} {
		t.Run(f.Name, func(t *testing.T) {
			xs := generic
			switch f {
			case Log:
				xs = []float64{0.03, 0.4, 1.1, 7, 300}
			case Exp:
				xs = append(generic, -40, -20, 20, 40)
			case Softplus, Sigmoid, Tanh, SiLU:
				xs = append(generic, large...)
			}
			for _, x := range xs {
				d := evalAt(f, x)
				for k := 1; k <= 3; k++ {
					num := fd.CentralDiff(func(y float64) float64 { return evalAt(f, y)[k-1] }, x, 1e-3*math.Min(1, math.Abs(x)))
					// Relative error, with an absolute floor of 1e-12 for
					// derivatives that underflow in the tails.
					if err := math.Abs(d[k] - num); err > 1e-6*math.Max(math.Abs(d[k]), math.Abs(num))+1e-12 || math.IsNaN(d[k]) {
						t.Errorf("%s at x=%g: derivative %d is %.15g, central difference %.15g", f.Name, x, k, d[k], num)
					}
				}
			}
		})
	}
}

func evalAt(f *Elementwise, x float64) [4]float64 {
	var r [4]float64
	f.Eval([]float64{x}, r[0:1], r[1:2], r[2:3], r[3:4])
	return r
}

// TestElementwiseTails checks values where naive formulas overflow or lose
// all digits.
func TestElementwiseTails(t *testing.T) {
	e40 := math.Exp(-40)
	for _, c := range []struct {
		f         *Elementwise
		x         float64
		want      [4]float64
		checkDeri int // how many entries of want to check
	}{
		{Softplus, -40, [4]float64{e40 / (1 + e40)}, 1},
		{Softplus, 800, [4]float64{800, 1, 0}, 3},
		{Softplus, -800, [4]float64{0, 0, 0}, 3},
		{Sigmoid, -40, [4]float64{1 / (1 + 1/e40), e40 / ((1 + e40) * (1 + e40))}, 2},
		{Sigmoid, 800, [4]float64{1, 0, 0, 0}, 4},
		{Tanh, 1e-9, [4]float64{1e-9, 1, -2e-9}, 3},
		{Tanh, -400, [4]float64{-1, 0, 0, 0}, 4},
		{SiLU, -800, [4]float64{0, 0, 0, 0}, 4},
		{Exp, 50, [4]float64{math.Exp(50), math.Exp(50)}, 2},
	} {
		got := evalAt(c.f, c.x)
		for k := 0; k < c.checkDeri; k++ {
			if math.Abs(got[k]-c.want[k]) > 1e-14*math.Abs(c.want[k]) || math.IsNaN(got[k]) {
				t.Errorf("%s(%g): derivative %d = %.17g, want %.17g", c.f.Name, c.x, k, got[k], c.want[k])
			}
		}
	}
}

// opCase builds a B×H (or B×1) jet node from two pre-activations z1, z2 of
// x, so that every op sees inputs that depend on x and on parameters.
type opCase struct {
	name  string
	build func(t *Tape, z1, z2 *Node, p *opParams) *Node
}

type opParams struct {
	w1, b1, w2, b2, wm, bb, wout, wout1, wc, wc1 *Param
}

const (
	opB = 3 // batch
	opD = 4 // input dimension
	opH = 5 // hidden width
)

func newOpParams(rng *rand.Rand) *opParams {
	return &opParams{
		w1: &Param{Name: "w1", Value: MatOf(adtest.RandMat(rng, opH, opD, 0.6))}, b1: &Param{Name: "b1", Value: MatOf(adtest.RandMat(rng, 1, opH, 0.3))},
		w2: &Param{Name: "w2", Value: MatOf(adtest.RandMat(rng, opH, opD, 0.6))}, b2: &Param{Name: "b2", Value: MatOf(adtest.RandMat(rng, 1, opH, 0.3))},
		wm: &Param{Name: "wm", Value: MatOf(adtest.RandMat(rng, opH, opH, 0.5))}, bb: &Param{Name: "bb", Value: MatOf(adtest.RandMat(rng, 1, opH, 0.5))},
		wout: &Param{Name: "wout", Value: MatOf(adtest.RandMat(rng, 1, opH, 1))}, wout1: &Param{Name: "wout1", Value: MatOf(adtest.RandMat(rng, 1, 1, 1))},
		wc: &Param{Name: "wc", Value: MatOf(adtest.RandMat(rng, opB, opH, 1))}, wc1: &Param{Name: "wc1", Value: MatOf(adtest.RandMat(rng, opB, 1, 1))},
	}
}

func (p *opParams) all() []*Param {
	return []*Param{p.w1, p.b1, p.w2, p.b2, p.wm, p.bb, p.wout, p.wout1, p.wc, p.wc1}
}

func opCases() []opCase {
	cases := []opCase{
		{"add", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Add(t.Apply(Tanh, z1), t.Apply(Softplus, z2)) }},
		{"sub", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Sub(t.Apply(Tanh, z1), t.Apply(Softplus, z2)) }},
		{"mul", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Mul(t.Apply(Tanh, z1), t.Apply(Softplus, z2)) }},
		{"mul-self", func(t *Tape, z1, z2 *Node, p *opParams) *Node { h := t.Apply(Tanh, z1); return t.Mul(h, h) }},
		{"scale", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Scale(-1.7, t.Apply(Tanh, z1)) }},
		{"sumrows", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.SumRows(t.Mul(t.Apply(Tanh, z1), z2)) }},
		{"matmul", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.MatMul(t.Apply(Tanh, z1), t.Param(p.wm)) }},
		{"matmulT", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.MatMulT(t.Apply(Tanh, z1), t.Param(p.wm)) }},
		{"addbias", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.AddPrimal(t.Apply(Tanh, z1), t.Param(p.bb)) }},
		{"addprimal", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.AddPrimal(t.Apply(Tanh, z1), t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))))
		}},
		{"scalerows", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.ScaleRows(t.Apply(Tanh, z1), t.Apply(Softplus, t.Param(p.wc1)))
		}},
		{"log", func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Apply(Log, t.Apply(Softplus, z2)) }},
		{"addscaled", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.AddScaled(-0.7, t.Apply(Tanh, z1), 1.9, t.Apply(Softplus, z2))
		}},
		{"halfsquarednorm", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.HalfSquaredNorm(t.Mul(t.Apply(Tanh, z1), z2))
		}},
	}
	for _, f := range []*Elementwise{Square, Exp, Sigmoid, Softplus, Tanh, SiLU, ELU} {
		cases = append(cases, opCase{f.Name, func(t *Tape, z1, z2 *Node, p *opParams) *Node { return t.Apply(f, z1) }})
	}
	// Large |x|: shift the pre-activations to about −25 (exp: +25), where the
	// value and all its derivatives are of one scale, so central differences
	// resolve them; saturating tails are checked by TestElementwiseTails.
	for _, f := range []*Elementwise{Exp, Sigmoid, Softplus, SiLU} {
		shift := -25.0
		if f == Exp {
			shift = 25
		}
		row := MatOf(1, opH, []float64{shift, shift, shift, shift, shift})
		cases = append(cases, opCase{f.Name + "-large", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(f, t.AddPrimal(z1, t.Const(row)))
		}})
	}
	return cases
}

// energy returns the per-sample scalar wout·op(z1, z2) of the case, with
// z1 and z2 two affine maps of x.
func (c opCase) energy(p *opParams) Func {
	return func(t *Tape, x *Node) *Node {
		z1 := t.Linear(x, t.Param(p.w1), t.Param(p.b1))
		z2 := t.Linear(x, t.Param(p.w2), t.Param(p.b2))
		h := c.build(t, z1, z2, p)
		if h.Cols() == 1 {
			return t.MatMulT(h, t.Param(p.wout1))
		}
		return t.MatMulT(h, t.Param(p.wout))
	}
}

// TestOps checks every op through a per-sample scalar f(x) = wout·op(z1, z2):
// its input gradient, its Taylor coefficients, its Hessian-vector product
// and the parameter gradient of a second-order loss, each against central
// finite differences.
func TestOps(t *testing.T) {
	for i, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(i)))
			p := newOpParams(rng)
			f := c.energy(p)
			x := MatOf(adtest.RandMat(rng, opB, opD, 1))
			v := MatOf(adtest.RandMat(rng, opB, opD, 1))
			checkFunc(t, f, x, v, p.all())
		})
	}
}

// checkFunc runs the four derivative checks on a per-sample scalar f.
func checkFunc(t *testing.T, f Func, x, v Mat, params []*Param) {
	t.Helper()
	tp := NewTape()
	values := func(x Mat) []float64 { tp.Reset(); return f(tp, tp.Input(x, false)).Primal().Data }
	grads := func(x Mat) []float64 {
		g := NewMat(x.Rows, x.Cols)
		InputGrad(tp, f, x, g)
		return g.Data
	}

	// First derivative: ∇ₓ Σ_b f(x_b).
	g := grads(x)
	num := make([]float64, len(x.Data))
	xs := x.Clone()
	fd.NumGrad(func() float64 { return sum(values(xs)) }, xs.Data, num, fd.DefaultStep)
	assertClose(t, "input gradient", g, num, 1e-6)

	// Taylor coefficients along v: f'(t) and f''(t) of t ↦ f(x + t v).
	jets := func(x Mat) (d1, d2 []float64) {
		tp.Reset(2)
		out := f(tp, tp.Input(x, false, v))
		return append([]float64(nil), tp.Deriv(out, 0, 1).val.Data...), append([]float64(nil), tp.Deriv(out, 0, 2).val.Data...)
	}
	d1, d2 := jets(x)
	assertClose(t, "first Taylor coefficient", d1, batchNumDeriv(x, v, values), 1e-6)
	assertClose(t, "second Taylor coefficient", d2, batchNumDeriv(x, v, func(x Mat) []float64 { a, _ := jets(x); return a }), 1e-6)

	// Hessian-vector product against the central difference of the gradient.
	hv := NewMat(x.Rows, x.Cols)
	HVP(tp, f, x, v, Mat{}, hv)
	assertClose(t, "HVP", hv.Data, batchNumDeriv(x, v, grads), 1e-6)

	// Parameter gradient of an SSM-VR-like loss: mean_b(−D2 + ½D1²) + ½ mean_b ‖g_b‖².
	so := NewSecondOrder()
	eval := func() float64 {
		return so.Eval(f, x, []Mat{v}, []int{2}, ssmJetLoss, halfSquaredNorm)
	}
	eval()
	got := flatGrad(params, so.Grad)
	assertClose(t, "parameter gradient", got, paramNumGrad(params, eval), 1e-6)
}

func ssmJetLoss(t *Tape, d *Derivs) *Node {
	b := float64(d.F.Rows())
	return t.Scale(1/b, t.Sum(t.Sub(t.Scale(0.5, t.Apply(Square, d.D1[0])), d.D2[0])))
}

func halfSquaredNorm(t *Tape, g *Node) *Node {
	return t.Scale(0.5/float64(g.Rows()), t.Sum(t.Apply(Square, g)))
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestDerivative checks f′ and f″ as functions: their values and their first
// derivatives against central differences, and NaN where they are unknown.
func TestDerivative(t *testing.T) {
	for _, f := range []*Elementwise{Softplus, Tanh, SiLU, Sigmoid} {
		for k := 1; k <= 2; k++ {
			df := Derivative(f, k)
			for _, x := range []float64{-2.3, -0.4, 0.7, 1.9} {
				got, base := evalAt(df, x), evalAt(f, x)
				if got[0] != base[k] || got[1] != base[k+1] {
					t.Errorf("%s at %g: (%g, %g), want (%g, %g)", df.Name, x, got[0], got[1], base[k], base[k+1])
				}
				num := fd.CentralDiff(func(y float64) float64 { return evalAt(df, y)[0] }, x, 1e-3)
				if math.Abs(got[1]-num) > 1e-8*math.Max(1, math.Abs(num)) {
					t.Errorf("%s at %g: derivative %g, central difference %g", df.Name, x, got[1], num)
				}
				if !math.IsNaN(got[3]) || k == 2 && !math.IsNaN(got[2]) {
					t.Errorf("%s at %g: unknown derivatives are %v, want NaN", df.Name, x, got[2:])
				}
			}
		}
	}
}

// TestFusedOpsBits checks that HalfSquaredNorm and AddScaled give the bits of
// the ops they fuse, in values, jets and adjoints.
func TestFusedOpsBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 7))
	x, v, c := MatOf(adtest.RandMat(rng, 6, 9, 1)), MatOf(adtest.RandMat(rng, 6, 9, 1)), MatOf(adtest.RandMat(rng, 6, 9, 1))
	run := func(fused bool) []float64 {
		tp := NewTape()
		tp.Reset(2, 1)
		in := tp.Input(x, true, v, c)
		h, e := tp.Apply(Tanh, in), tp.Apply(Sigmoid, in)
		var r, y *Node
		if fused {
			r = tp.AddScaled(0.3, e, -0.09, h)
			y = tp.HalfSquaredNorm(r)
		} else {
			r = tp.Sub(tp.Scale(0.3, e), tp.Scale(0.09, h))
			y = tp.Scale(0.5, tp.SumRows(tp.Apply(Square, r)))
		}
		tp.Backward(tp.Sum(tp.Add(tp.Deriv(y, 0, 2), tp.Add(tp.Deriv(y, 1, 1), tp.Deriv(y, 0, 0)))))
		return append(append([]float64(nil), y.val.Data...), in.adj.Data...)
	}
	got, want := run(true), run(false)
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("element %d: fused %v, composed %v", i, got[i], want[i])
		}
	}
}
