package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad/adtest"
)

// sqDistCases are SqDist with a jet p against plain q (a parameter, or
// computed from parameters), a p linear in x (its second coefficient is
// marked zero, D₂ = P₁·P₁ is not), two distances in a row, and a plain p
// beside a jet (q's gradient from block 0 alone). wc is opB×opH: three
// points of opH features.
func sqDistCases() []opCase {
	return []opCase{
		{"jet-param", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Exp, t.Scale(-0.3, t.SqDist(t.Apply(Tanh, z1), t.Param(p.wc))))
		}},
		{"jet-computed-q", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			q := t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm)))
			return t.Apply(Softplus, t.SqDist(t.Mul(z1, z2), q))
		}},
		{"linear-p", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Tanh, t.Scale(0.2, t.SqDist(z1, t.Param(p.wc))))
		}},
		{"twice", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			d := t.SqDist(t.Apply(Tanh, z2), t.Param(p.wc))
			return t.Apply(Tanh, t.Scale(0.1, t.SqDist(d, t.Transpose(t.Param(p.wc)))))
		}},
		{"plain-p", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			plain := t.SqDist(t.Apply(Sigmoid, t.Param(p.wc)), t.Param(p.wc))
			return t.Mul(t.AddPrimal(t.SqDist(z1, t.Param(p.wc)), plain), t.SqDist(z2, t.Apply(Tanh, t.Param(p.wc))))
		}},
	}
}

// TestSqDistOps checks SqDist as TestOps checks the other ops: input
// gradient, both Taylor coefficients, the HVP (the dual rule) and the
// parameter gradients (q's included) of a second-order loss, then the
// reverse sweep over a jet of three directions of orders 2, 1, 2, each
// against central differences.
func TestSqDistOps(t *testing.T) {
	for i, c := range sqDistCases() {
		t.Run(c.name, func(t *testing.T) { checkOpCase(t, c, rand.New(rand.NewPCG(21, uint64(i)))) })
	}
}

// TestSqDistValue checks values against the definition, summed in
// float64, and that rows far from the origin but close to each other keep
// their distance: with entries near 1e8 the expansion ‖p‖² − 2p·q + ‖q‖²
// loses every digit, the sum of squared differences none.
func TestSqDistValue(t *testing.T) {
	tp := NewTape()
	p := tp.Const(MatOf(2, 3, []float64{1, 2, 3, 1e8 + 1, 1e8, -1e8}))
	q := tp.Const(MatOf(3, 3, []float64{0, 0, 0, 1, 2, 3.5, 1e8, 1e8 + 2, -1e8}))
	got := tp.SqDist(p, q)
	want := make([]float64, 6)
	pv, qv := p.Value(), q.Value()
	for b := range 2 {
		for m := range 3 {
			s := 0.0
			for i := range 3 {
				d := pv.At(b, i) - qv.At(m, i)
				s += float64(d * d)
			}
			want[b*3+m] = s
		}
	}
	if got.Rows() != 2 || got.Cols() != 3 {
		t.Fatalf("SqDist is %d×%d, want 2×3", got.Rows(), got.Cols())
	}
	for i, w := range want {
		if got.Value().Data[i] != w {
			t.Errorf("D[%d] = %v, want %v", i, got.Value().Data[i], w)
		}
	}
	if d := got.Value().At(1, 2); d != 5 {
		t.Errorf("distance of nearby far rows = %v, want 5", d)
	}
}

// ExampleTape_SqDist computes the squared distances of two points to
// three and differentiates their sum: p̄_b = 2 Σₘ (p_b − q_m).
func ExampleTape_SqDist() {
	t := NewTape()
	p := t.Var(MatOf(2, 2, []float64{0, 0, 1, 2}))
	q := t.Const(MatOf(3, 2, []float64{1, 0, 0, 1, 1, 1}))
	d := t.SqDist(p, q)
	t.Backward(t.Sum(d))
	fmt.Println("D =", d.Value().Data)
	fmt.Println("p̄ =", p.Adj().Data)
	// Output:
	// D = [1 1 2 4 2 1]
	// p̄ = [-4 -4 2 8]
}

// kernelEnergy returns E = Σₘ wₘ exp(−c‖φ(x) − zₘ‖²) + ‖x‖²/8 on the
// features φ (nil: the input itself), a Gaussian kernel sum as DKEF
// records it.
func kernelEnergy(phi func(*Tape, *Node) *Node, z, w *Param, c float64) Func {
	return func(t *Tape, x *Node) *Node {
		f := x
		if phi != nil {
			f = phi(t, x)
		}
		k := t.Apply(Exp, t.Scale(-c, t.SqDist(f, t.Param(z))))
		return t.Add(t.MatMul(k, t.Param(w)), t.HalfSquaredNorm(t.Scale(0.5, x)))
	}
}

// sqDistCurvGraphs are kernel energies through SqDist for the curvature
// sweeps: on tanh features of one layer, on an MLP's features with a skip
// layer (two consumers of x), and on x itself.
func sqDistCurvGraphs() []curvGraph {
	rng := rand.New(rand.NewPCG(22, 1))
	const nz, nf = 5, 3
	w, b := randParam(rng, "w", nf, 4, 0.7), randParam(rng, "b", 1, nf, 0.3)
	z, alpha := randParam(rng, "z", nz, nf, 0.8), randParam(rng, "alpha", nz, 1, 1)
	layer := func(t *Tape, x *Node) *Node { return t.Apply(Tanh, t.Linear(x, t.Param(w), t.Param(b))) }
	m := newMLP(rng, Softplus, 4, 5, nf)
	skip := randParam(rng, "skip", nf, 4, 0.5)
	z2, alpha2 := randParam(rng, "z2", nz, nf, 0.8), randParam(rng, "alpha2", nz, 1, 1)
	net := func(t *Tape, x *Node) *Node { return t.Add(m.forward(t, x), t.MatMulT(x, t.Param(skip))) }
	z3, alpha3 := randParam(rng, "z3", nz, 4, 0.8), randParam(rng, "alpha3", nz, 1, 1)
	return []curvGraph{
		{"layer", kernelEnergy(layer, z, alpha, 0.6), []*Param{w, b, z, alpha}, 3, 4, false},
		{"net-skip", kernelEnergy(net, z2, alpha2, 0.4), append(m.params(), skip, z2, alpha2), 3, 4, false},
		{"input", kernelEnergy(nil, z3, alpha3, 0.3), []*Param{z3, alpha3}, 3, 4, false},
	}
}

// TestSqDistCurvature checks the curvature rule of SqDist: curvature
// propagation's exact expectation over unit vectors against the Hessian
// diagonal to 1e-10, both sweeps' gradient against the input gradient to
// 1e-12, and the parameter gradients (q's included) of Σ C₁∘g + Σ C₂∘u +
// Σ C₃∘ũ (fixed noise) and of Σ C₁∘g + Σ C₂∘d against central
// differences.
func TestSqDistCurvature(t *testing.T) {
	for i, c := range sqDistCurvGraphs() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(23, uint64(i)))
			x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
			assertClose(t, "E[u∘ũ]", cpExpectation(c.f, x).Data, hessDiag(c.f, x).Data, 1e-10)
			grad := NewMat(x.Rows, x.Cols)
			InputGrad(NewTape(), c.f, x, grad)
			checkSweepGrads(t, rng, c.f, x, c.params, grad)
		})
	}
}

// TestSqDistApproxBP checks approximate backprop through SqDist against
// hand computations. On x itself a kernel sum is a sum of functions of
// the distances, each of one row, so the diagonal is exact. On one layer
// of features φ = tanh(Wx + b) it is the reference's rule (the sliced
// score matching code's Kernel_approx_bp): the exact diagonal in φ-space,
//
//	H_i = Σₘ wₘkₘ(4c²(φᵢ − z_mi)² − 2c),  g_i = −2c Σₘ wₘkₘ(φᵢ − z_mi),
//
// then through tanh (f′²H + f″g) and the layer (Σᵢ W_ij²·), with the cross
// terms between features dropped only there.
func TestSqDistApproxBP(t *testing.T) {
	graphs := sqDistCurvGraphs()
	rng := rand.New(rand.NewPCG(24, 1))
	x := MatOf(adtest.RandMat(rng, 3, 4, 1))
	in := graphs[2]
	tp := NewTape()
	xin := tp.Input(x, false)
	_, d := tp.ApproxHessianDiag(in.f(tp, xin), xin)
	assertClose(t, "approx-bp on the input", d.Value().Data, hessDiag(in.f, x).Data, 1e-12)

	w, b, z, alpha := graphs[0].params[0].Value, graphs[0].params[1].Value, graphs[0].params[2].Value, graphs[0].params[3].Value
	const c = 0.6
	tp.Reset()
	xin = tp.Input(x, false)
	_, d = tp.ApproxHessianDiag(graphs[0].f(tp, xin), xin)
	want := NewMat(3, 4)
	nf := w.Rows
	for r := range 3 {
		for i := range nf {
			a := b.Data[i]
			for j := range 4 {
				a += w.At(i, j) * x.At(r, j)
			}
			phi := math.Tanh(a)
			var h, g float64
			for m := range z.Rows {
				dist := 0.0
				for k := range nf {
					pk := math.Tanh(rowDot(w, k, x, r) + b.Data[k])
					dist += (pk - z.At(m, k)) * (pk - z.At(m, k))
				}
				wk := alpha.Data[m] * math.Exp(-c*dist)
				diff := phi - z.At(m, i)
				h += wk * (4*c*c*diff*diff - 2*c)
				g += wk * (-2 * c * diff)
			}
			f1 := 1 - phi*phi
			da := f1*f1*h + g*(-2*phi*f1)
			for j := range 4 {
				want.Data[r*4+j] += w.At(i, j) * w.At(i, j) * da
			}
		}
		for j := range 4 {
			want.Data[r*4+j] += 0.25 // ‖x‖²/8
		}
	}
	assertClose(t, "approx-bp on one layer", d.Value().Data, want.Data, 1e-10)
}

// rowDot returns Σⱼ W[k][j]·x[r][j].
func rowDot(w Mat, k int, x Mat, r int) float64 {
	s := 0.0
	for j := range x.Cols {
		s += w.At(k, j) * x.At(r, j)
	}
	return s
}

// TestSqDistShapes checks the panics of misuse.
func TestSqDistShapes(t *testing.T) {
	tp := NewTape()
	tp.Reset(1)
	jet := tp.Input(NewMat(3, 2), false, NewMat(3, 2))
	other := NewTape()
	for name, f := range map[string]func(){
		"columns": func() { tp.SqDist(jet, tp.Const(NewMat(4, 3))) },
		"jet q":   func() { tp.SqDist(tp.Const(NewMat(2, 2)), jet) },
		"other q": func() { tp.SqDist(jet, other.Const(NewMat(4, 2))) },
		"other p": func() { other.SqDist(jet, other.Const(NewMat(4, 2))) },
		"x-dependent q in a sweep": func() {
			sw := NewTape()
			in := sw.Input(NewMat(2, 2), false)
			sw.ApproxHessianDiag(sw.SumRows(sw.SqDist(sw.Const(NewMat(2, 2)), in)), in)
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "SqDist") && !strings.Contains(fmt.Sprint(r), "tape") {
					t.Errorf("%s: panic %v, want one naming SqDist", name, r)
				}
			}()
			f()
		}()
	}
}

// TestSqDistAllocs checks that recording, sweeping and differentiating
// the same distances on a reset tape allocates nothing: the input
// gradient, an HVP, a second-order jet loss and both curvature sweeps.
func TestSqDistAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(25, 1))
	c := sqDistCurvGraphs()[1]
	x, v := MatOf(adtest.RandMat(rng, 3, 4, 1)), MatOf(adtest.RandMat(rng, 3, 4, 1))
	r := MatOf(adtest.RandMat(rng, 3, 7, 1))
	noise := func(_, rows, cols int) Mat { return MatOf(rows, cols, r.Data[:rows*cols]) }
	g, hv := NewMat(3, 4), NewMat(3, 4)
	tp := NewTape()
	so := NewSecondOrder()
	sweep := func(cp bool) {
		tp.Reset()
		in := tp.Input(x, false)
		e := c.f(tp, in)
		var l *Node
		if cp {
			g, u, ut := tp.CurvatureProp(e, in, noise)
			l = tp.Sub(tp.Sum(tp.HalfSquaredNorm(g)), tp.Sum(tp.Mul(u, ut)))
		} else {
			g, d := tp.ApproxHessianDiag(e, in)
			l = tp.Sub(tp.Sum(tp.HalfSquaredNorm(g)), tp.Sum(d))
		}
		tp.Backward(l)
	}
	passes := []struct {
		name string
		run  func()
	}{
		{"input gradient", func() { InputGrad(tp, c.f, x, g) }},
		{"HVP", func() { HVP(tp, c.f, x, v, g, hv) }},
		{"second-order jet loss", func() { so.Eval(c.f, x, []Mat{v, x}, []int{2, 1}, ssmJetLoss, halfSquaredNorm) }},
		{"approximate backprop", func() { sweep(false) }},
		{"curvature propagation", func() { sweep(true) }},
	}
	for _, p := range passes {
		p.run()
		if n := testing.AllocsPerRun(20, p.run); n != 0 {
			t.Errorf("%s: %v allocations per re-recorded pass, want 0", p.name, n)
		}
	}
}
