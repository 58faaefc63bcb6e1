package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

// shifted returns the opB×opB matrix s·I, or s times the reversed identity
// when reversed is set (so that elimination has to interchange rows).
func shifted(s float64, reversed bool) Mat {
	m := NewMat(opB, opB)
	for i := range opB {
		j := i
		if reversed {
			j = opB - 1 - i
		}
		m.Set(i, j, s)
	}
	return m
}

var (
	diag4 = shifted(4, false)
	anti4 = shifted(4, true)
)

// jetA is an opB×opB jet A(x) = tanh(z1)·Wcᵀ + c, well conditioned for
// the weights of newOpParams.
func jetA(t *Tape, z1 *Node, p *opParams, c Mat) *Node {
	return t.AddPrimal(t.MatMulT(t.Apply(Tanh, z1), t.Param(p.wc)), t.Const(c))
}

// plainA is an opB×opB plain A = P(Wc·Wcᵀ + 4I) that depends on
// parameters only, P reversing the rows when reversed is set: a symmetric
// positive definite matrix, or a row permutation of one that elimination
// has to undo.
func plainA(t *Tape, p *opParams, reversed bool) *Node {
	a := t.Add(t.MatMulT(t.Param(p.wc), t.Param(p.wc)), t.Const(diag4))
	if reversed {
		a = t.MatMul(t.Const(shifted(1, true)), a)
	}
	return a
}

// solveCases are Solve with either operand a jet or plain, reduced to
// nodes of opB rows; X couples the rows, which the checks allow (their
// seeds of ones make them derivatives of the sum over rows).
func solveCases() []opCase {
	return []opCase{
		{"jet-jet", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Solve(jetA(t, z1, p, diag4), t.Apply(Softplus, z2))
		}},
		{"jet-jet-pivoting", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Tanh, t.Solve(jetA(t, z1, p, anti4), t.Mul(z1, z2)))
		}},
		{"jet-plain", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Solve(jetA(t, z1, p, anti4), t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))))
		}},
		{"plain-jet", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Solve(plainA(t, p, true), t.Apply(Softplus, z2))
		}},
		{"plain-plain", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			x := t.Solve(plainA(t, p, false), t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))))
			return t.Mul(t.Apply(Tanh, z1), t.AddPrimal(z2, x))
		}},
		{"one-column", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Solve(jetA(t, z1, p, diag4), t.SumRows(t.Mul(z1, z2)))
		}},
		// Operands linear in x have second coefficients marked zero, X₂ is
		// not zero: a wrong zero mask would make the next product skip it.
		{"linear-operands", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Tanh, t.MatMulT(t.Solve(t.MatMulT(z1, t.Param(p.wc)), z2), t.Param(p.wm)))
		}},
		{"twice", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			a := jetA(t, t.Mul(z1, z2), p, anti4)
			return t.Solve(a, t.Solve(a, t.Apply(Tanh, z2)))
		}},
		{"rhs-of-a", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			a := jetA(t, z1, p, diag4)
			return t.Solve(a, t.Mul(a, a))
		}},
	}
}

// TestSolveOps checks Solve as TestOps checks the other ops: input
// gradient (the primal sweep), both Taylor coefficients, the HVP (the dual
// rule) and the parameter gradient of a second-order loss (reverse over a
// jet of orders 2 and 1), then the reverse sweep over a jet of three
// directions of orders 2, 1, 2, each against central differences.
func TestSolveOps(t *testing.T) {
	for i, c := range solveCases() {
		t.Run(c.name, func(t *testing.T) { checkOpCase(t, c, rand.New(rand.NewPCG(14, uint64(i)))) })
	}
}

// checkOpCase runs checkFunc and checkJetReverse on the case's node,
// reduced to a per-row scalar by a random projection.
func checkOpCase(t *testing.T, c opCase, rng *rand.Rand) {
	t.Helper()
	p := newOpParams(rng)
	wout := &Param{Name: "wout", Value: NewMat(1, 0)}
	f := func(tp *Tape, x *Node) *Node {
		z1 := tp.Linear(x, tp.Param(p.w1), tp.Param(p.b1))
		z2 := tp.Linear(x, tp.Param(p.w2), tp.Param(p.b2))
		h := c.build(tp, z1, z2, p)
		if wout.Value.Cols != h.Cols() {
			wout.Value = MatOf(adtest.RandMat(rng, 1, h.Cols(), 1))
		}
		return tp.MatMulT(h, tp.Param(wout))
	}
	x := MatOf(adtest.RandMat(rng, opB, opD, 1))
	v := MatOf(adtest.RandMat(rng, opB, opD, 1))
	tp := NewTape()
	f(tp, tp.Input(x, false)) // sizes wout
	params := append(p.all(), wout)
	checkFunc(t, f, x, v, params)
	checkJetReverse(t, f, x, rng, params)
}

// checkJetReverse checks the reverse sweep over a jet of directions of
// orders 2, 1 and 2: the gradient of L = Σ f + Σ_d c_d·Σ f′_d + Σ f″_0 +
// Σ f″_2 with respect to x and every parameter, against central
// differences of L computed from the Taylor coefficients.
func checkJetReverse(t *testing.T, f Func, x Mat, rng *rand.Rand, params []*Param) {
	t.Helper()
	orders := []int{2, 1, 2}
	dirs := make([]Mat, len(orders))
	for d := range dirs {
		dirs[d] = MatOf(adtest.RandMat(rng, x.Rows, x.Cols, 1))
	}
	cs := []float64{0.7, -1.3, 0.4}
	xs := x.Clone()
	tp := NewTape()
	var in *Node
	loss := func(grad bool) float64 {
		tp.Reset(orders...)
		in = tp.Input(xs, grad, dirs...)
		out := f(tp, in)
		root := tp.Sum(tp.Deriv(out, 0, 0))
		for d, o := range orders {
			root = tp.AddScaled(1, root, cs[d], tp.Sum(tp.Deriv(out, d, 1)))
			if o == 2 {
				root = tp.Add(root, tp.Sum(tp.Deriv(out, d, 2)))
			}
		}
		if grad {
			tp.Backward(root)
		}
		return root.Value().Data[0]
	}
	loss(true)
	gx := in.AdjCoef(0).Clone().Data
	got := flatGrad(params, tp.Grad)
	num := make([]float64, len(xs.Data))
	fd.NumGrad(func() float64 { return loss(false) }, xs.Data, num, fd.DefaultStep)
	assertClose(t, "jet reverse: input gradient", gx, num, 1e-6)
	assertClose(t, "jet reverse: parameter gradient", got, paramNumGrad(params, func() float64 { return loss(false) }), 1e-6)
}

// randSystem returns a random n×n A, the rows of 2I + N(0, 1/n) entries in
// reverse order (well conditioned: its singular values lie in about
// [1, 3]; and elimination has to interchange rows), and an n×k B.
func randSystem(rng *rand.Rand, n, k int) (a, b Mat) {
	a = MatOf(adtest.RandMat(rng, n, n, 1/math.Sqrt(float64(n))))
	for i := range n {
		a.Data[(n-1-i)*n+i] += 2
	}
	return a, MatOf(adtest.RandMat(rng, n, k, 1))
}

// residual returns max |A·X − B| over the entries, with the products
// accumulated in float64.
func residual(a, x, b []float64, n, k int) float64 {
	r := append([]float64(nil), b...)
	mulSub(r, a, x, n, k, false)
	worst := 0.0
	for _, v := range r {
		worst = math.Max(worst, math.Abs(v))
	}
	return worst
}

// TestSolveResidual checks that X solves AX = B to rounding on a well
// conditioned random system of 60 unknowns, and that its Taylor
// coefficients satisfy the product rule A₀X₁ + A₁X₀ = B₁ and
// A₀X₂ + A₁X₁ + A₂X₀ = B₂ to the same accuracy.
func TestSolveResidual(t *testing.T) {
	const n, k = 60, 3
	rng := rand.New(rand.NewPCG(14, 100))
	tp := NewTape()
	tp.Reset(2)
	var blocks [2][3][]float64 // A's and B's three coefficients
	for i := range blocks {
		for j := range blocks[i] {
			a, b := randSystem(rng, n, k)
			blocks[i][j] = b.Data
			if i == 0 {
				blocks[i][j] = a.Data
			}
		}
	}
	leaf := func(c [3][]float64, cols int) *Node {
		m := tp.Input(MatOf(n, cols, c[0]), false, MatOf(n, cols, c[1]))
		copy(m.blk(2), c[2]) // a non-zero second coefficient
		m.zero = 0
		return m
	}
	a, b := leaf(blocks[0], n), leaf(blocks[1], k)
	x := tp.Solve(a, b)
	if r := residual(a.blk(0), x.blk(0), b.blk(0), n, k); r > 1e-12 {
		t.Errorf("max |AX − B| = %.3g, want ≤ 1e-12", r)
	}
	r1 := append([]float64(nil), b.blk(1)...)
	mulSub(r1, a.blk(1), x.blk(0), n, k, false)
	if r := residual(a.blk(0), x.blk(1), r1, n, k); r > 1e-12 {
		t.Errorf("first coefficient: max |A₀X₁ + A₁X₀ − B₁| = %.3g, want ≤ 1e-12", r)
	}
	r2 := append([]float64(nil), b.blk(2)...)
	mulSub(r2, a.blk(1), x.blk(1), n, k, false)
	mulSub(r2, a.blk(2), x.blk(0), n, k, false)
	if r := residual(a.blk(0), x.blk(2), r2, n, k); r > 1e-12 {
		t.Errorf("second coefficient: max |A₀X₂ + A₁X₁ + A₂X₀ − B₂| = %.3g, want ≤ 1e-12", r)
	}
}

// TestSolveTranspose checks the transposed solve of the reverse rule:
// Aᵀ·(A⁻ᵀR) = R to rounding, with row interchanges.
func TestSolveTranspose(t *testing.T) {
	const n, k = 40, 2
	rng := rand.New(rand.NewPCG(14, 101))
	a, r := randSystem(rng, n, k)
	lu, piv := a.Clone().Data, make([]float64, n)
	if !luFactor(lu, piv, n) {
		t.Fatal("a well-conditioned matrix was reported singular")
	}
	swaps := 0
	for j, p := range piv {
		if int(p) != j {
			swaps++
		}
	}
	if swaps == 0 {
		t.Error("no row interchanges: the test does not exercise pivoting")
	}
	w := r.Clone().Data
	luSolveT(lu, piv, n, w, k)
	at := NewMat(n, n)
	for i := range n {
		for j := range n {
			at.Set(i, j, a.At(j, i))
		}
	}
	if res := residual(at.Data, w, r.Data, n, k); res > 1e-12 {
		t.Errorf("max |AᵀW − R| = %.3g, want ≤ 1e-12", res)
	}
}

// TestSolveSingular checks that a singular A gives NaN for the solution,
// its Taylor coefficients and the adjoints of both operands, with no panic.
func TestSolveSingular(t *testing.T) {
	for _, a := range [][]float64{
		{1, 2, 2, 4}, // rank one: the second pivot is exactly zero
		{0, 0, 0, 0},
		{math.NaN(), 1, 1, 1},
	} {
		tp := NewTape()
		tp.Reset(2)
		am := tp.Input(MatOf(2, 2, a), true, MatOf(2, 2, []float64{1, 0, 0, 1}))
		bm := tp.Input(MatOf(2, 1, []float64{1, 1}), true, MatOf(2, 1, []float64{0, 1}))
		x := tp.Solve(am, bm)
		tp.Backward(tp.Sum(tp.Add(tp.Deriv(x, 0, 2), tp.Deriv(x, 0, 0))))
		for name, vals := range map[string][]float64{"X": x.Value().Data, "Ā": am.Adj().Data, "B̄": bm.Adj().Data} {
			for i, v := range vals {
				if !math.IsNaN(v) {
					t.Errorf("A = %v: %s[%d] = %v, want NaN", a, name, i, v)
				}
			}
		}
		if x.zero != 0 {
			t.Errorf("A = %v: blocks of NaN marked zero (mask %b)", a, x.zero)
		}
		hv := NewMat(2, 1)
		am0 := MatOf(2, 2, a)
		HVP(tp, func(tp *Tape, in *Node) *Node { return tp.Solve(tp.Const(am0), in) }, MatOf(2, 1, []float64{1, 2}), MatOf(2, 1, []float64{1, 0}), Mat{}, hv)
		if !math.IsNaN(hv.Data[0]) || !math.IsNaN(hv.Data[1]) {
			t.Errorf("A = %v: HVP through a singular solve is %v, want NaN", a, hv.Data)
		}
	}
}

// TestSolveShapes checks that misuse panics.
func TestSolveShapes(t *testing.T) {
	tp := NewTape()
	tp.Reset(1)
	sq := tp.Input(NewMat(3, 3), false, NewMat(3, 3))
	other := NewTape()
	for name, f := range map[string]func(){
		"A not square":      func() { tp.Solve(tp.Const(NewMat(3, 2)), tp.Const(NewMat(3, 1))) },
		"rows of B":         func() { tp.Solve(sq, tp.Const(NewMat(2, 1))) },
		"other tape":        func() { tp.Solve(sq, other.Const(NewMat(3, 1))) },
		"A of another tape": func() { other.Solve(sq, other.Const(NewMat(3, 1))) },
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
}

// TestSolveAllocs checks that recording, sweeping and differentiating the
// same solve on a reset tape allocates nothing.
func TestSolveAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(14, 102))
	p := newOpParams(rng)
	f := func(tp *Tape, x *Node) *Node {
		z1 := tp.Linear(x, tp.Param(p.w1), tp.Param(p.b1))
		z2 := tp.Linear(x, tp.Param(p.w2), tp.Param(p.b2))
		return tp.MatMulT(tp.Solve(jetA(tp, z1, p, anti4), tp.Apply(Softplus, z2)), tp.Param(p.wout))
	}
	x, v := MatOf(adtest.RandMat(rng, opB, opD, 1)), MatOf(adtest.RandMat(rng, opB, opD, 1))
	g, hv := NewMat(opB, opD), NewMat(opB, opD)
	tp := NewTape()
	so := NewSecondOrder()
	dirs, orders := []Mat{v, x}, []int{2, 1}
	for name, run := range map[string]func(){
		"grad": func() { InputGrad(tp, f, x, g) },
		"hvp":  func() { HVP(tp, f, x, v, g, hv) },
		"jet":  func() { so.Eval(f, x, dirs, orders, ssmJetLoss, halfSquaredNorm) },
	} {
		run()
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("%s: %v allocations per repeated pass, want 0", name, a)
		}
	}
}

// Solve a 2×2 system AX = B and differentiate Σ X with respect to A and
// B: B̄ = A⁻ᵀ1 and Ā = −B̄Xᵀ.
func ExampleTape_Solve() {
	t := NewTape()
	a := t.Var(MatOf(2, 2, []float64{2, 1, 1, 3}))
	b := t.Var(MatOf(2, 1, []float64{3, 5}))
	x := t.Solve(a, b)
	t.Backward(t.Sum(x))
	fmt.Printf("X = %.4f\n", x.Value().Data)
	fmt.Printf("B̄ = %.4f\n", b.Adj().Data)
	fmt.Printf("Ā = %.4f\n", a.Adj().Data)
	// Output:
	// X = [0.8000 1.4000]
	// B̄ = [0.4000 0.2000]
	// Ā = [-0.3200 -0.5600 -0.1600 -0.2800]
}

// solveCurvGraphs are energies through Solve and Transpose for the
// curvature sweeps: X = A⁻¹B couples the rows, so the sweeps' quantities
// are those of Σ_b E_b over every entry of x.
func solveCurvGraphs(p *opParams) []struct {
	name string
	f    Func
} {
	z1 := func(t *Tape, x *Node) *Node { return t.Linear(x, t.Param(p.w1), t.Param(p.b1)) }
	out := func(t *Tape, h *Node) *Node { return t.MatMulT(h, t.Param(p.wout)) }
	return []struct {
		name string
		f    Func
	}{
		{"solve", func(t *Tape, x *Node) *Node {
			return out(t, t.Apply(Softplus, t.Solve(plainA(t, p, true), t.Apply(Tanh, z1(t, x)))))
		}},
		{"transpose", func(t *Tape, x *Node) *Node {
			g := t.MatMul(t.Transpose(t.Apply(Tanh, z1(t, x))), plainA(t, p, false))
			return out(t, t.Transpose(t.Apply(Softplus, g)))
		}},
	}
}

// entryHessDiag returns the diagonal of the Hessian of Σ_b f_b over every
// entry of x, by a Hessian-vector product with each unit matrix.
func entryHessDiag(f Func, x Mat) Mat {
	tp := NewTape()
	out, v, hv := NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols)
	for i := range x.Data {
		clear(v.Data)
		v.Data[i] = 1
		HVP(tp, f, x, v, Mat{}, hv)
		out.Data[i] = hv.Data[i]
	}
	return out
}

// entryCPExpectation returns curvature propagation's E[u∘ũ] exactly, as
// the sum of u∘ũ over the unit matrices of every draw, one entry at a time
// (rows are not independent here).
func entryCPExpectation(f Func, x Mat) Mat {
	tp := NewTape()
	run := func(noise func(k, rows, cols int) Mat) (u, ut *Node) {
		tp.Reset()
		in := tp.Input(x, false)
		_, u, ut = tp.CurvatureProp(f(tp, in), in, noise)
		return u, ut
	}
	var sizes [][2]int
	run(func(_, rows, cols int) Mat { sizes = append(sizes, [2]int{rows, cols}); return NewMat(rows, cols) })
	mean := NewMat(x.Rows, x.Cols)
	for k, sz := range sizes {
		for e := range sz[0] * sz[1] {
			u, ut := run(func(k2, rows, cols int) Mat {
				m := NewMat(rows, cols)
				if k2 == k {
					m.Data[e] = 1
				}
				return m
			})
			for i := range mean.Data {
				mean.Data[i] += u.val.Data[i] * ut.val.Data[i]
			}
		}
	}
	return mean
}

// TestSolveCurvature checks the curvature rules of Solve and Transpose:
// curvature propagation's exact expectation equals the Hessian diagonal
// and its g the gradient; approximate backprop is exact through a solve
// with a diagonal A (whose energy has a diagonal Hessian); and the
// parameter gradients through both sweeps (A depends on parameters) match
// central differences.
func TestSolveCurvature(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	p := newOpParams(rng)
	x := MatOf(adtest.RandMat(rng, opB, opD, 1))
	for _, c := range solveCurvGraphs(p) {
		t.Run(c.name, func(t *testing.T) {
			assertClose(t, "E[u∘ũ]", entryCPExpectation(c.f, x).Data, entryHessDiag(c.f, x).Data, 1e-10)
			tp := NewTape()
			tp.Reset()
			in := tp.Input(x, false)
			g, _, _ := tp.CurvatureProp(c.f(tp, in), in, func(_, rows, cols int) Mat { return NewMat(rows, cols) })
			grad := NewMat(x.Rows, x.Cols)
			InputGrad(NewTape(), c.f, x, grad)
			assertClose(t, "gradient", g.val.Data, grad.Data, 1e-12)

			checkSweepGrads(t, rng, c.f, x, p.all(), grad)
		})
	}
	// A diagonal A: E = Σ softplus(A⁻¹x) has a diagonal Hessian, and
	// approximate backprop is exact.
	diag := MatOf(opB, opB, []float64{2, 0, 0, 0, -0.5, 0, 0, 0, 1.3})
	f := func(t *Tape, x *Node) *Node { return t.SumRows(t.Apply(Softplus, t.Solve(t.Const(diag), x))) }
	tp := NewTape()
	in := tp.Input(x, false)
	_, d := tp.ApproxHessianDiag(f(tp, in), in)
	assertClose(t, "approx-bp through a diagonal solve", d.val.Data, entryHessDiag(f, x).Data, 1e-12)

	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Solve") {
			t.Errorf("an input-dependent A: panic %v, want one naming Solve", r)
		}
	}()
	tp.Reset()
	in = tp.Input(MatOf(2, 2, []float64{2, 1, 1, 3}), false)
	tp.ApproxHessianDiag(tp.SumRows(tp.Solve(in, tp.Const(MatOf(2, 1, []float64{1, 1})))), in)
}
