package ad

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"scorematch/ad/adtest"
)

// gatherCases are the column gathers, each built from the pre-activations
// z1, z2 (B×H, H = 5) of TestOps and reduced to a per-sample scalar by a
// random projection, as TestStructOps does.
func gatherCases() []opCase {
	return []opCase{
		{"permute", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Mul(t.PermuteCols(t.Apply(Tanh, z1), []int{3, 0, 4, 1, 2}), t.Apply(Softplus, z2))
		}},
		// NICE's split: even columns then odd ones, coupled additively.
		{"even-odd", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			h := t.PermuteCols(t.Apply(SiLU, z1), []int{0, 2, 4, 1, 3})
			a, b := t.SliceCols(h, 0, 2), t.SliceCols(h, 2, 5)
			return t.ConcatCols(a, t.Add(t.Apply(Tanh, t.GatherCols(a, []int{0, 1, 0})), b))
		}},
		{"permute-twice", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.PermuteCols(t.Apply(Sigmoid, t.PermuteCols(z1, []int{4, 3, 2, 1, 0})), []int{1, 2, 3, 4, 0})
		}},
		{"gather-repeats", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(Softplus, t.GatherCols(t.Mul(z1, z2), []int{2, 2, 0, 4, 2, 1, 0}))
		}},
		{"gather-subset", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Mul(t.GatherCols(t.Apply(Tanh, z1), []int{4, 1}), t.GatherCols(t.Apply(ELU, z2), []int{0, 3}))
		}},
		{"scatter", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Mul(t.ScatterCols(t.Apply(Tanh, z1), []int{6, 0, 2, 3, 1}, 7), t.Apply(Softplus, t.GatherCols(z2, []int{0, 1, 2, 3, 4, 0, 1})))
		}},
		// Columns sent to one place add up; column 1 of the result is zero.
		{"scatter-sums", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Apply(SiLU, t.ScatterCols(t.Mul(z1, z2), []int{0, 2, 0, 2, 2}, 3))
		}},
		// The scatter's operand has another consumer: adjoints add up.
		{"scatter-fanout", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			h := t.Apply(Tanh, z1)
			return t.Mul(t.ScatterCols(h, []int{1, 2, 3, 4, 0}, 5), h)
		}},
		{"gather-scatter", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.ScatterCols(t.Apply(Tanh, t.GatherCols(z1, []int{4, 4, 0})), []int{1, 0, 1}, 2)
		}},
		// A plain operand (built from parameters only) next to a jet.
		{"gather-plain", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			c := t.GatherCols(t.Apply(Sigmoid, t.MatMulT(t.Param(p.wc), t.Param(p.wm))), []int{4, 0, 0, 2, 1})
			return t.Apply(Tanh, t.AddPrimal(t.Mul(z1, z2), c))
		}},
	}
}

// TestGatherOps checks GatherCols, ScatterCols and PermuteCols at every order: input
// gradient, both Taylor coefficients, the HVP (the dual rule) and the
// parameter gradient of a second-order loss (reverse over the jet), each
// against central differences. Each case's result h is reduced to a
// per-sample scalar by Σⱼ tanh(h_j + j/2), a different curve for every
// column. (TestPermuteExact checks the values themselves.)
func TestGatherOps(t *testing.T) {
	for i, c := range gatherCases() {
		rng := rand.New(rand.NewPCG(5, uint64(i)))
		p := newOpParams(rng)
		x := MatOf(adtest.RandMat(rng, opB, opD, 1))
		v := MatOf(adtest.RandMat(rng, opB, opD, 1))
		f := func(tp *Tape, x *Node) *Node {
			z1 := tp.Linear(x, tp.Param(p.w1), tp.Param(p.b1))
			z2 := tp.Linear(x, tp.Param(p.w2), tp.Param(p.b2))
			h := c.build(tp, z1, z2, p)
			w := NewMat(1, h.Cols())
			for j := range w.Data {
				w.Data[j] = 0.5 * float64(j+1)
			}
			return tp.SumRows(tp.Apply(Tanh, tp.AddPrimal(h, tp.Const(w))))
		}
		t.Run(c.name, func(t *testing.T) { checkFunc(t, f, x, v, p.all()) })
	}
}

// TestPermuteExact checks values and structure without differences: every
// block is gathered, the inverse permutation restores x bit for bit, a
// plain operand gives a plain node, zero blocks stay known, and the
// adjoint of a gather that takes a column twice is the sum of both.
func TestPermuteExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	x := MatOf(adtest.RandMat(rng, 3, 6, 1))
	v := MatOf(adtest.RandMat(rng, 3, 6, 1))
	perm := []int{0, 2, 4, 1, 3, 5}
	inv := make([]int, len(perm))
	for j, c := range perm {
		inv[c] = j
	}
	tp := NewTape()
	tp.Reset(2)
	in := tp.Input(x, false, v)
	y := tp.PermuteCols(in, perm)
	if y.Blocks() != 3 || y.Cols() != 6 || y.Rows() != 3 {
		t.Fatalf("PermuteCols of a 3-block 3×6 jet is %d×%d with %d blocks", y.Rows(), y.Cols(), y.Blocks())
	}
	for k := range 3 {
		for r := range 3 {
			for j, c := range perm {
				if got, want := y.Coef(k).At(r, j), in.Coef(k).At(r, c); got != want {
					t.Fatalf("block %d (%d, %d) = %g, want x's (%d, %d) = %g", k, r, j, got, r, c, want)
				}
			}
		}
	}
	if y.zero != in.zero || y.zero == 0 {
		t.Errorf("zero mask %b, want the input's %b (its second coefficient is zero)", y.zero, in.zero)
	}
	back := tp.PermuteCols(y, inv)
	if !adtest.SameBits(back.Value().Data, in.Value().Data) {
		t.Errorf("PermuteCols(PermuteCols(x, perm), inverse) differs from x")
	}
	if p := tp.GatherCols(tp.Const(x), []int{1, 1}); p.Blocks() != 1 {
		t.Errorf("a gather of a plain node has %d blocks, want 1", p.Blocks())
	}

	// Adjoints: Σ over the gathered columns with weights w_j; column 2 is
	// taken twice, column 0 never.
	tp.Reset()
	xin := tp.Input(x, true)
	cols := []int{2, 5, 2, 1}
	w := []float64{1.5, -2, 0.25, 3}
	out := tp.SumRows(tp.MatMulT(tp.GatherCols(xin, cols), tp.Const(MatOf(1, 4, w))))
	tp.Backward(tp.Sum(out))
	want := make([]float64, 6)
	for j, c := range cols {
		want[c] += w[j]
	}
	for r := range 3 {
		if got := xin.Adj().Row(r); !slices.Equal(got, want) {
			t.Errorf("adjoint of row %d is %v, want %v", r, got, want)
		}
	}
}

// TestScatterExact checks ScatterCols without differences: it is the
// transpose of GatherCols (⟨scatter(x), w⟩ = ⟨x, gather(w)⟩ bit for bit
// with integer values), columns sent to one place add in order, the others
// are zero, and its adjoint gathers.
func TestScatterExact(t *testing.T) {
	x := MatOf(2, 4, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	cols := []int{3, 0, 3, 1}
	tp := NewTape()
	tp.Reset()
	xin := tp.Input(x, true)
	y := tp.ScatterCols(xin, cols, 5)
	want := []float64{2, 4, 0, 1 + 3, 0, 6, 8, 0, 5 + 7, 0}
	if !slices.Equal(y.Value().Data, want) {
		t.Fatalf("ScatterCols = %v, want %v", y.Value().Data, want)
	}
	w := MatOf(2, 5, []float64{1, -2, 3, 5, 7, -1, 2, 4, -3, 6})
	tp.Backward(tp.Sum(tp.Mul(y, tp.Const(w))))
	g := tp.GatherCols(tp.Const(w), cols).Value().Data
	if !slices.Equal(xin.Adj().Data, g) {
		t.Errorf("adjoint of ScatterCols %v, want GatherCols of the seed %v", xin.Adj().Data, g)
	}
	var lhs, rhs float64
	for i, v := range y.Value().Data {
		lhs += v * w.Data[i]
	}
	for i, v := range x.Data {
		rhs += v * g[i]
	}
	if lhs != rhs {
		t.Errorf("⟨scatter(x), w⟩ = %g, ⟨x, gather(w)⟩ = %g", lhs, rhs)
	}
}

// TestGatherShapes checks that misuse panics with a message naming the op.
func TestGatherShapes(t *testing.T) {
	tp := NewTape()
	tp.Reset(1)
	jet := tp.Input(NewMat(2, 3), false, NewMat(2, 3))
	for name, c := range map[string]struct {
		f    func()
		want string
	}{
		"gather none":        {func() { tp.GatherCols(jet, nil) }, "GatherCols"},
		"gather negative":    {func() { tp.GatherCols(jet, []int{0, -1}) }, "GatherCols"},
		"gather past end":    {func() { tp.GatherCols(jet, []int{3}) }, "GatherCols"},
		"permute short":      {func() { tp.PermuteCols(jet, []int{0, 1}) }, "PermuteCols"},
		"permute repeat":     {func() { tp.PermuteCols(jet, []int{0, 1, 1}) }, "PermuteCols"},
		"permute past end":   {func() { tp.PermuteCols(jet, []int{0, 3, 1}) }, "PermuteCols"},
		"permute negative":   {func() { tp.PermuteCols(jet, []int{0, -1, 1}) }, "PermuteCols"},
		"scatter short":      {func() { tp.ScatterCols(jet, []int{0, 1}, 3) }, "ScatterCols"},
		"scatter past end":   {func() { tp.ScatterCols(jet, []int{0, 1, 3}, 3) }, "ScatterCols"},
		"scatter negative":   {func() { tp.ScatterCols(jet, []int{0, -1, 1}, 3) }, "ScatterCols"},
		"permute other tape": {func() { NewTape().PermuteCols(jet, []int{0, 1, 2}) }, "different tapes"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg, _ := r.(string); !strings.Contains(msg, c.want) {
					t.Fatalf("panic %v, want one naming %q", r, c.want)
				}
			}()
			c.f()
		})
	}
}

// TestGatherAllocs checks that re-recording gathers and scatters on a tape
// allocates nothing.
func TestGatherAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	x := MatOf(adtest.RandMat(rng, 4, 6, 1))
	v := MatOf(adtest.RandMat(rng, 4, 6, 1))
	perm, even := []int{5, 4, 3, 2, 1, 0}, []int{0, 2, 4}
	tp := NewTape()
	run := func() {
		tp.Reset(2)
		in := tp.Input(x, true, v)
		y := tp.Apply(Tanh, tp.ScatterCols(tp.GatherCols(tp.PermuteCols(in, perm), even), even, 6))
		tp.Backward(tp.Sum(tp.SumRows(tp.Deriv(tp.SumRows(y), 0, 2))))
	}
	run()
	if n := testing.AllocsPerRun(10, run); n != 0 {
		t.Errorf("%v allocations per re-recorded step, want 0", n)
	}
}

// gatherCurvGraphs are energies built with gathers, scatters and
// permutations, for the curvature sweeps: a NICE flow's energy as package
// nn records it (even/odd gathers, two additive couplings, a diagonal
// scaling through exp(2s)), a gather with repeats feeding a scatter that
// sums, and a permutation between MLPs.
func gatherCurvGraphs() []curvGraph {
	rng := rand.New(rand.NewPCG(17, 1))
	m1, m2 := newMLP(rng, Softplus, 2, 5, 2), newMLP(rng, Tanh, 2, 4, 2)
	s := randParam(rng, "s", 1, 4, 0.3)
	nice := func(t *Tape, x *Node) *Node {
		a, b := t.GatherCols(x, []int{0, 2}), t.GatherCols(x, []int{1, 3})
		b = t.Add(b, m1.forward(t, a))
		a = t.Add(a, m2.forward(t, b))
		w := t.Apply(Exp, t.Scale(2, t.Param(s)))
		return t.Scale(0.5, t.MatMulT(t.Apply(Square, t.ConcatCols(a, b)), w))
	}
	m3, m4 := newMLP(rng, SiLU, 4, 5), newMLP(rng, Softplus, 4, 6, 1)
	sums := func(t *Tape, x *Node) *Node {
		g := t.GatherCols(t.Apply(Tanh, m3.forward(t, x)), []int{2, 2, 0, 4, 1})
		return m4.forward(t, t.ScatterCols(t.Apply(Softplus, g), []int{1, 0, 1, 3, 0}, 4))
	}
	m5, m6 := newMLP(rng, Tanh, 4, 4), newMLP(rng, ELU, 4, 5, 1)
	perm := func(t *Tape, x *Node) *Node {
		return m6.forward(t, t.PermuteCols(t.Apply(Tanh, m5.forward(t, x)), []int{2, 0, 3, 1}))
	}
	return []curvGraph{
		{"nice", nice, append(append(m1.params(), m2.params()...), s), 3, 4, false},
		{"gather-scatter", sums, append(m3.params(), m4.params()...), 3, 4, false},
		{"permute", perm, append(m5.params(), m6.params()...), 3, 4, false},
	}
}

// TestGatherCurvature checks the curvature rule of gathers and scatters:
// curvature propagation's exact expectation (over unit vectors) against
// the Hessian diagonal to 1e-10, both sweeps' gradient against the input
// gradient to 1e-12, and the parameter gradient of Σ C₁∘g + Σ C₂∘u +
// Σ C₃∘ũ (fixed noise) and of Σ C₁∘g + Σ C₂∘d (approx-bp) against central
// differences.
func TestGatherCurvature(t *testing.T) {
	for i, c := range gatherCurvGraphs() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(18, uint64(i)))
			x := MatOf(adtest.RandMat(rng, c.rows, c.dim, 1))
			assertClose(t, "E[u∘ũ]", cpExpectation(c.f, x).Data, hessDiag(c.f, x).Data, 1e-10)
			grad := NewMat(x.Rows, x.Cols)
			InputGrad(NewTape(), c.f, x, grad)
			checkSweepGrads(t, rng, c.f, x, c.params, grad)
		})
	}
}

// TestGatherApproxBPExact checks approximate backprop where it must be
// exact: an energy Σ f(x_σ(j)) + Σ h(x_k) through a permutation, a gather
// with repeats and a scatter to distinct columns is a sum of functions of
// one element each, so its Hessian is diagonal.
func TestGatherApproxBPExact(t *testing.T) {
	f := func(t *Tape, x *Node) *Node {
		p := t.Apply(Softplus, t.PermuteCols(x, []int{3, 0, 2, 1}))
		g := t.Apply(Tanh, t.ScatterCols(t.GatherCols(x, []int{1, 3, 3}), []int{4, 0, 2}, 5))
		return t.Add(t.SumRows(p), t.HalfSquaredNorm(g))
	}
	x := MatOf(adtest.RandMat(rand.New(rand.NewPCG(19, 1)), 3, 4, 1))
	tp := NewTape()
	in := tp.Input(x, false)
	_, d := tp.ApproxHessianDiag(f(tp, in), in)
	assertClose(t, "approx-bp diagonal", d.Value().Data, hessDiag(f, x).Data, 1e-12)
}

// ExampleTape_GatherCols splits the columns of x into its even and odd
// ones, as a NICE flow does, puts them back with ScatterCols, and shows
// that the gradient of a gather is the scatter of the seed.
func ExampleTape_GatherCols() {
	t := NewTape()
	x := t.Input(MatOf(1, 4, []float64{10, 11, 12, 13}), true)
	even, odd := []int{0, 2}, []int{1, 3}
	a, b := t.GatherCols(x, even), t.GatherCols(x, odd)
	back := t.Add(t.ScatterCols(a, even, 4), t.ScatterCols(b, odd, 4))
	fmt.Println("even", a.Value().Data, "odd", b.Value().Data, "back", back.Value().Data)
	fmt.Println("permuted", t.PermuteCols(x, []int{0, 2, 1, 3}).Value().Data)

	// E = 1·a₀ + 2·a₁ + 3·b₀ + 4·b₁ over the halves: ∇ₓE = (1, 3, 2, 4).
	w := t.Const(MatOf(1, 4, []float64{1, 2, 3, 4}))
	t.Backward(t.Sum(t.MatMulT(t.ConcatCols(a, b), w)))
	fmt.Println("gradient", x.Adj().Data)
	// Output:
	// even [10 12] odd [11 13] back [10 11 12 13]
	// permuted [10 12 11 13]
	// gradient [1 3 2 4]
}
