package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad/adtest"
)

// A curvGraph is a per-sample energy for the curvature sweep tests, with
// its parameters and the shape of its input.
type curvGraph struct {
	name      string
	f         Func
	params    []*Param
	rows, dim int
	// fdRef: the graph has ops without jet rules; the reference Hessian
	// comes from central differences of the gradient.
	fdRef bool
}

func randParam(rng *rand.Rand, name string, r, c int, scale float64) *Param {
	return &Param{Name: name, Value: MatOf(adtest.RandMat(rng, r, c, scale))}
}

// curvGraphs returns the test energies: every op of the finite-difference
// table (ops_test.go) between two linear maps, an MLP, a NICE-like flow
// energy, a Gaussian kernel on learned features, a graph with fan-out and
// products of x-dependent nodes, and graphs for Sum, StopGradient and
// BernoulliLogLik.
func curvGraphs() []curvGraph {
	var gs []curvGraph
	for i, c := range opCases() {
		p := newOpParams(rand.New(rand.NewPCG(11, uint64(i))))
		gs = append(gs, curvGraph{"op/" + c.name, c.energy(p), p.all(), opB, opD, false})
	}
	rng := rand.New(rand.NewPCG(12, 1))

	m := newMLP(rng, Softplus, 4, 6, 5, 1)
	gs = append(gs, curvGraph{"mlp", m.forward, m.params(), 3, 4, false})

	// NICE-like: an additive coupling y2 = x2 + m(x1) with an MLP m, its
	// mirror image on the other half, a diagonal scaling, and the Gaussian
	// energy ½‖z‖².
	m1, m2 := newMLP(rng, Tanh, 2, 5, 2), newMLP(rng, Softplus, 2, 4, 2)
	scale := randParam(rng, "scale", 4, 4, 0)
	for i := range 4 {
		scale.Value.Set(i, i, 0.5+rng.Float64())
	}
	nice := func(t *Tape, x *Node) *Node {
		x1, x2 := t.SliceCols(x, 0, 2), t.SliceCols(x, 2, 4)
		y2 := t.AddScaled(1, x2, 1, m1.forward(t, x1))
		y1 := t.Sub(x1, m2.forward(t, y2))
		return t.HalfSquaredNorm(t.MatMul(t.ConcatCols(y2, y1), t.Param(scale)))
	}
	gs = append(gs, curvGraph{"nice", nice, append(append(m1.params(), m2.params()...), scale), 3, 4, false})

	// Gaussian kernel on features: φ = tanh(Wx + b), inducing points z
	// (M×F), E = Σ_m α_m exp(−‖φ − z_m‖²/(2s²)) + ‖x‖²/8.
	const nz, nf = 5, 3
	w, b := randParam(rng, "w", nf, 4, 0.7), randParam(rng, "b", 1, nf, 0.3)
	z, alpha := randParam(rng, "z", nz, nf, 0.8), randParam(rng, "alpha", nz, 1, 1)
	onesRow := MatOf(1, nf, []float64{1, 1, 1})
	onesM := MatOf(1, nz, []float64{1, 1, 1, 1, 1})
	kernel := func(t *Tape, x *Node) *Node {
		phi := t.Apply(Tanh, t.Linear(x, t.Param(w), t.Param(b)))
		zp := t.Param(z)
		zz := t.Scale(0.5, t.MatMulT(t.Const(onesRow), t.Mul(zp, zp)))              // ½‖z_m‖², 1×M
		half := t.AddPrimal(t.Sub(t.MatMul(t.HalfSquaredNorm(phi), t.Const(onesM)), // ½‖φ − z_m‖²
			t.MatMulT(phi, zp)), zz)
		k := t.Apply(Exp, t.Scale(-1/0.8, half))
		return t.Add(t.MatMul(k, t.Param(alpha)), t.HalfSquaredNorm(t.Scale(0.5, x)))
	}
	gs = append(gs, curvGraph{"kernel", kernel, []*Param{w, b, z, alpha}, 3, 4, false})

	// Fan-out and products of x-dependent nodes.
	w1, b1 := randParam(rng, "w1", 5, 4, 0.6), randParam(rng, "b1", 1, 5, 0.3)
	w2, b2 := randParam(rng, "w2", 5, 4, 0.6), randParam(rng, "b2", 1, 5, 0.3)
	wo := randParam(rng, "wo", 5, 1, 1)
	fanout := func(t *Tape, x *Node) *Node {
		h1 := t.Apply(Tanh, t.Linear(x, t.Param(w1), t.Param(b1)))
		h2 := t.Apply(Softplus, t.Linear(x, t.Param(w2), t.Param(b2)))
		p := t.Add(t.Mul(h1, h2), t.Mul(h2, h2))
		q := t.HalfSquaredNorm(t.Mul(h1, t.SliceCols(t.ConcatCols(x, h1), 2, 7)))
		return t.Add(t.MatMul(p, t.Param(wo)), q)
	}
	gs = append(gs, curvGraph{"fanout", fanout, []*Param{w1, b1, w2, b2, wo}, 3, 4, false})
	// ScaleRows by an x-dependent column: plain tapes only (no HVP).
	scaleRows := func(t *Tape, x *Node) *Node {
		h1 := t.Apply(Tanh, t.Linear(x, t.Param(w1), t.Param(b1)))
		h2 := t.Apply(Softplus, t.Linear(x, t.Param(w2), t.Param(b2)))
		c := t.SumRows(t.Mul(h2, t.SliceCols(t.ConcatCols(x, h1), 2, 7)))
		return t.Add(t.HalfSquaredNorm(t.ScaleRows(h1, c)), t.ScaleRows(c, c))
	}
	gs = append(gs, curvGraph{"scalerows", scaleRows, []*Param{w1, b1, w2, b2}, 3, 4, true})

	// Sum over a one-row batch, StopGradient, BernoulliLogLik.
	ws := randParam(rng, "ws", 3, 4, 0.6)
	sum := func(t *Tape, x *Node) *Node { return t.Sum(t.Apply(Exp, t.MatMulT(x, t.Param(ws)))) }
	gs = append(gs, curvGraph{"sum", sum, []*Param{ws}, 1, 4, false})
	stop := func(t *Tape, x *Node) *Node {
		h1 := t.Apply(Tanh, t.Linear(x, t.Param(w1), t.Param(b1)))
		h2 := t.Apply(Softplus, t.Linear(x, t.Param(w2), t.Param(b2)))
		return t.MatMul(t.Mul(t.StopGradient(h1), h2), t.Param(wo))
	}
	gs = append(gs, curvGraph{"stopgradient", stop, []*Param{w1, b1, w2, b2, wo}, 3, 4, false})
	targets := MatOf(3, 5, []float64{0, 1, 0.3, 1, 0, 1, 1, 0, 0.5, 0, 0.2, 0, 1, 1, 0.9})
	bern := func(t *Tape, x *Node) *Node {
		l := t.Linear(t.Apply(Tanh, t.Linear(x, t.Param(w1), t.Param(b1))), t.Param(randParamFixed), t.Param(b1))
		return t.BernoulliLogLik(l, t.Const(targets))
	}
	gs = append(gs, curvGraph{"bernoulli", bern, []*Param{w1, b1, randParamFixed}, 3, 4, false})
	bernBoth := func(t *Tape, x *Node) *Node {
		h := t.Linear(x, t.Param(w1), t.Param(b1))
		return t.BernoulliLogLik(t.Scale(2, t.Apply(Tanh, h)), t.Apply(Sigmoid, t.Linear(x, t.Param(w2), t.Param(b2))))
	}
	gs = append(gs, curvGraph{"bernoulli-targets", bernBoth, []*Param{w1, b1, w2, b2}, 3, 4, true})
	flip := func(t *Tape, x *Node) *Node {
		fl := t.emit(t.node(flipOp{}, x.rows, x.val.Cols, x.blocks), x, nil)
		return m.forward(t, t.Mul(fl, t.Apply(Tanh, x)))
	}
	gs = append(gs, curvGraph{"flip", flip, m.params(), 3, 4, false})
	return gs
}

// flipOp reverses the columns, y[:, j] = x[:, n−1−j]: an op defined here
// whose curvature rule builds its Jacobian as a scratch constant, as a
// column gather would.
type flipOp struct{}

func (flipOp) forward(y *Node) {
	n := y.val.Cols
	for r := range y.val.Rows {
		for j := range n {
			y.val.Data[r*n+j] = y.a.val.Data[r*n+n-1-j]
		}
	}
}

func (flipOp) backward(y *Node, nb int) {
	n := y.val.Cols
	for r := range nb * y.rows {
		for j := range n {
			y.a.adj.Data[r*n+n-1-j] += y.adj.Data[r*n+j]
		}
	}
}

func (o flipOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear with a 0/1 Jacobian P (P[j, n−1−j] = 1): v ↦ v·P, and
// squared alike.
func (flipOp) curv(s *curvSweep, y *Node) {
	n := y.val.Cols
	p := s.scratch(n, n)
	for j := range n {
		p.Set(j, n-1-j, 1)
	}
	pn := s.t.Const(p)
	s.linear(y, y.a, func(v *Node, _ bool) *Node { return s.t.MatMul(v, pn) })
}

// randParamFixed is a 5×5 weight of the Bernoulli test graph.
var randParamFixed = randParam(rand.New(rand.NewPCG(12, 2)), "wl", 5, 5, 0.8)

// refDiag returns the reference Hessian diagonal of g at x and the
// tolerance it allows.
func refDiag(g curvGraph, x Mat) (Mat, float64) {
	if !g.fdRef {
		return hessDiag(g.f, x), 1e-10
	}
	out, v := NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols)
	tp := NewTape()
	for i := range x.Cols {
		clear(v.Data)
		for r := range x.Rows {
			v.Set(r, i, 1)
		}
		d := batchNumDeriv(x, v, func(x Mat) []float64 {
			grad := NewMat(x.Rows, x.Cols)
			InputGrad(tp, g.f, x, grad)
			return grad.Data
		})
		for r := range x.Rows {
			out.Set(r, i, d[r*x.Cols+i])
		}
	}
	return out, 1e-8
}

// hessDiag returns diag ∇²f(x_b) for every row, from Hessian-vector
// products with the unit vectors.
func hessDiag(f Func, x Mat) Mat {
	tp := NewTape()
	out, v, hv := NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols)
	for i := range x.Cols {
		clear(v.Data)
		for r := range x.Rows {
			v.Set(r, i, 1)
		}
		HVP(tp, f, x, v, Mat{}, hv)
		for r := range x.Rows {
			out.Set(r, i, hv.At(r, i))
		}
	}
	return out
}

// cpRun records f at x on tp and runs curvature propagation with noise.
func cpRun(tp *Tape, f Func, x Mat, noise func(k, rows, cols int) Mat) (g, u, ut *Node) {
	tp.Reset()
	in := tp.Input(x, false)
	return tp.CurvatureProp(f(tp, in), in, noise)
}

// cpExpectation returns E[u∘ũ] of curvature propagation exactly: u and ũ
// are linear in the random vectors, so the expectation over any r with
// E[rrᵀ] = I is the sum of u∘ũ over the unit vectors. A unit vector sets
// one column of one draw on every row at once (the rows are independent).
func cpExpectation(f Func, x Mat) Mat {
	tp := NewTape()
	var shapes [][2]int
	cpRun(tp, f, x, func(_, rows, cols int) Mat {
		shapes = append(shapes, [2]int{rows, cols})
		return NewMat(rows, cols)
	})
	mean := NewMat(x.Rows, x.Cols)
	for k, sh := range shapes {
		for j := range sh[1] {
			_, u, ut := cpRun(tp, f, x, func(k2, rows, cols int) Mat {
				m := NewMat(rows, cols)
				if k2 == k {
					for r := range rows {
						m.Set(r, j, 1)
					}
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

// TestCurvaturePropExact checks every op's curvature propagation rule: the
// expectation of u∘ũ (exact, over unit vectors) equals the Hessian
// diagonal from Hessian-vector products, and g equals the input gradient.
func TestCurvaturePropExact(t *testing.T) {
	for i, c := range curvGraphs() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, uint64(i)))
			x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
			want, tol := refDiag(c, x)
			got := cpExpectation(c.f, x)
			assertClose(t, "E[u∘ũ]", got.Data, want.Data, tol)

			g, _, _ := cpRun(NewTape(), c.f, x, func(_, rows, cols int) Mat { return NewMat(rows, cols) })
			grad := NewMat(x.Rows, x.Cols)
			InputGrad(NewTape(), c.f, x, grad)
			assertClose(t, "gradient", g.val.Data, grad.Data, 1e-12)
		})
	}
}

// TestCurvaturePropUnbiased checks the mean of d̂ = u∘ũ over 10⁴
// Rademacher probes per sample against the exact Hessian diagonal, within
// 4 standard errors (estimated from the probes) for every element.
func TestCurvaturePropUnbiased(t *testing.T) {
	const probes = 10000
	for i, c := range curvGraphs() {
		switch c.name {
		case "mlp", "nice", "kernel", "fanout":
		default:
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(14, uint64(i)))
			x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
			want := hessDiag(c.f, x)
			xr := NewMat(probes*x.Rows, x.Cols)
			for p := range probes {
				copy(xr.Data[p*len(x.Data):], x.Data)
			}
			var draws []Mat
			_, u, ut := cpRun(NewTape(), c.f, xr, func(_, rows, cols int) Mat {
				m := NewMat(rows, cols)
				for j := range m.Data {
					m.Data[j] = float64(2*int(rng.Uint64()&1) - 1)
				}
				draws = append(draws, m)
				return m
			})
			n := len(x.Data)
			sum, sq := make([]float64, n), make([]float64, n)
			for j := range u.val.Data {
				d := u.val.Data[j] * ut.val.Data[j]
				sum[j%n] += d
				sq[j%n] += d * d
			}
			worst := 0.0
			for j := range n {
				mean := sum[j] / probes
				se := math.Sqrt((sq[j]/probes - mean*mean) / (probes - 1))
				z := math.Abs(mean-want.Data[j]) / se
				worst = max(worst, z)
				if z > 4 {
					t.Errorf("element %d: mean %.6g ± %.2g (SE), exact %.6g: %.1f standard errors", j, mean, se, want.Data[j], z)
				}
			}
			t.Logf("%d draws per probe; largest deviation %.2f standard errors", len(draws), worst)
		})
	}
}

// TestApproxHessianDiagExact checks approximate backprop where it must be
// exact: on graphs whose intermediate Hessians are diagonal (Σᵢ fᵢ(xᵢ)
// through element-wise ops, fan-out combined linearly) and on an MLP with
// one hidden layer (whose pre-activation Hessian is diagonal).
func TestApproxHessianDiagExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	c := MatOf(4, 4, []float64{1.5, 0, 0, 0, 0, -0.6, 0, 0, 0, 0, 0.9, 0, 0, 0, 0, 2.1}) // diagonal
	row := MatOf(adtest.RandMat(rng, 1, 4, 1))
	targets := MatOf(3, 4, []float64{0, 1, 0.3, 1, 0, 1, 1, 0, 0.5, 0, 0.2, 0})
	mlp := newMLP(rng, SiLU, 4, 7, 1)
	for _, g := range []struct {
		name string
		f    Func
	}{
		{"elementwise", func(t *Tape, x *Node) *Node {
			h := t.Apply(Tanh, t.AddPrimal(t.Scale(1.3, x), t.Const(row)))
			sq := t.Mul(h, h)
			e := t.Apply(Exp, t.Scale(-0.5, t.ConcatCols(t.SliceCols(x, 2, 4), t.SliceCols(x, 0, 2))))
			s := t.AddScaled(0.7, t.MatMul(sq, t.Const(c)), -1.1, t.Add(e, t.Apply(Softplus, x)))
			l := t.BernoulliLogLik(t.ScaleRows(x, t.Const(MatOf(3, 1, []float64{0.5, -1, 2}))), t.Const(targets))
			return t.Add(t.Add(t.SumRows(s), t.HalfSquaredNorm(t.Apply(Sigmoid, x))), l)
		}},
		{"mlp-one-hidden-layer", mlp.forward},
	} {
		t.Run(g.name, func(t *testing.T) {
			x := MatOf(adtest.RandMat(rng, 3, 4, 1))
			tp := NewTape()
			in := tp.Input(x, false)
			_, d := tp.ApproxHessianDiag(g.f(tp, in), in)
			want := hessDiag(g.f, x)
			assertClose(t, "approx-bp diagonal", d.val.Data, want.Data, 1e-12)
		})
	}
}

// TestCurvatureSweepGradients checks the parameter gradients through both
// sweeps against central differences: of Σ C₁∘g + Σ C₂∘d (approx-bp) and
// Σ C₁∘g + Σ C₂∘u + Σ C₃∘ũ (cp, with the same noise at every evaluation),
// with random weights C, so that every propagated quantity counts.
func TestCurvatureSweepGradients(t *testing.T) {
	for i, c := range curvGraphs() {
		if c.name == "stopgradient" {
			continue // by design, the parameters' effect through the stopped value is not differentiated
		}
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(16, uint64(i)))
			x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
			checkSweepGrads(t, rng, c.f, x, c.params, Mat{})
		})
	}
}

// noRuleOp is an identity op without a curvature rule.
type noRuleOp struct{}

func (noRuleOp) forward(y *Node)          { copy(y.val.Data, y.a.val.Data) }
func (noRuleOp) backward(y *Node, nb int) { addTo(y.a.adj.Data, y.adj.Data) }
func (noRuleOp) dual(y *Node)             { addTo(y.a.adj.Data, y.adj.Data) }

// TestCurvatureSweepMisuse checks the panics: an op without a rule (named),
// a jet tape, a weight that depends on the input, a non-column root.
func TestCurvatureSweepMisuse(t *testing.T) {
	x := MatOf(2, 3, []float64{1, 2, 3, 4, 5, 6})
	for _, c := range []struct {
		name, want string
		run        func(tp *Tape)
	}{
		{"no rule", "noRuleOp", func(tp *Tape) {
			in := tp.Input(x, false)
			h := tp.Apply(Tanh, in)
			y := tp.emit(tp.node(noRuleOp{}, 2, 3, 1), h, nil)
			tp.ApproxHessianDiag(tp.SumRows(y), in)
		}},
		{"jet tape", "plain tapes", func(tp *Tape) {
			tp.Reset(1)
			in := tp.Input(x, false, x)
			tp.ApproxHessianDiag(tp.SumRows(in), in)
		}},
		{"input-dependent weight", "depends on the input", func(tp *Tape) {
			in := tp.Input(x, false)
			tp.ApproxHessianDiag(tp.SumRows(tp.MatMulT(tp.Const(x), in)), in)
		}},
		{"input-dependent weight", "depends on the input", func(tp *Tape) {
			in := tp.Input(x, false)
			tp.CurvatureProp(tp.SumRows(tp.MatMul(tp.Const(MatOf(2, 2, x.Data[:4])), tp.Apply(Tanh, in))), in, nil)
		}},
		{"root", "B×1", func(tp *Tape) {
			in := tp.Input(x, false)
			tp.ApproxHessianDiag(tp.Apply(Tanh, in), in)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Errorf("panic %v, want one mentioning %q", r, c.want)
				}
			}()
			c.run(NewTape())
		})
	}
}

// TestCurvatureSweepAllocs checks that re-recording a model and both
// sweeps on the same tape allocates nothing.
func TestCurvatureSweepAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(17, 1))
	r := MatOf(adtest.RandMat(rng, 3, 7, 1))
	noise := func(_, rows, cols int) Mat { return MatOf(rows, cols, r.Data[:rows*cols]) }
	for _, c := range curvGraphs() {
		x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
		tp := NewTape()
		step := func() {
			for _, cp := range []bool{false, true} {
				tp.Reset()
				in := tp.Input(x, false)
				e := c.f(tp, in)
				var l *Node
				if cp {
					g, u, ut := tp.CurvatureProp(e, in, noise)
					l = tp.Sum(tp.HalfSquaredNorm(g))
					if u != nil {
						l = tp.Sub(l, tp.Sum(tp.Mul(u, ut)))
					}
				} else {
					g, d := tp.ApproxHessianDiag(e, in)
					l = tp.Sum(tp.HalfSquaredNorm(g))
					if d != nil {
						l = tp.Sub(l, tp.Sum(d))
					}
				}
				tp.Backward(l)
			}
		}
		step()
		if n := testing.AllocsPerRun(20, step); n != 0 {
			t.Errorf("%s: %v allocations per re-recorded step", c.name, n)
		}
	}
}

// ExampleTape_ApproxHessianDiag estimates the Hessian diagonal of
// E(x) = ½‖x‖² + Σᵢ exp(xᵢ), which is 1 + exp(xᵢ); approximate backprop is
// exact here, since every op acts element by element.
func ExampleTape_ApproxHessianDiag() {
	t := NewTape()
	x := t.Input(MatOf(1, 2, []float64{0, 1}), false)
	e := t.Add(t.HalfSquaredNorm(x), t.SumRows(t.Apply(Exp, x)))
	g, d := t.ApproxHessianDiag(e, x)
	fmt.Printf("gradient %.6f\ndiagonal %.6f\n", g.Value().Data, d.Value().Data)
	// Output:
	// gradient [1.000000 3.718282]
	// diagonal [2.000000 3.718282]
}

// ExampleTape_CurvatureProp averages u∘ũ over 10⁵ Rademacher probes (rows
// of one batch): the estimate of the Hessian diagonal 1 + exp(xᵢ) is
// unbiased, its noise comes from the products of different ops' probes.
func ExampleTape_CurvatureProp() {
	const probes = 100000
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(_, rows, cols int) Mat {
		r := NewMat(rows, cols)
		for i := range r.Data {
			r.Data[i] = float64(2*rng.IntN(2) - 1)
		}
		return r
	}
	xs := NewMat(probes, 2)
	for i := range probes {
		xs.Set(i, 1, 1) // every row is x = (0, 1)
	}
	t := NewTape()
	x := t.Input(xs, false)
	e := t.Add(t.HalfSquaredNorm(x), t.SumRows(t.Apply(Exp, x)))
	_, u, ut := t.CurvatureProp(e, x, noise)
	var mean [2]float64
	for i, v := range t.Mul(u, ut).Value().Data {
		mean[i%2] += v / probes
	}
	fmt.Printf("mean of u∘ũ %.2f, exact [2.00 %.2f]\n", mean, 1+math.E)
	// Output:
	// mean of u∘ũ [2.01 3.71], exact [2.00 3.72]
}
