package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

// mlp is a test model: Linear layers with an activation between them.
type mlp struct {
	w, b []*Param
	act  *Elementwise
}

// newMLP returns an MLP with the given layer widths (sizes[0] inputs).
func newMLP(rng *rand.Rand, act *Elementwise, sizes ...int) *mlp {
	m := &mlp{act: act}
	for i := 1; i < len(sizes); i++ {
		w := &Param{Name: "w", Value: MatOf(adtest.RandMat(rng, sizes[i], sizes[i-1], 1/math.Sqrt(float64(sizes[i-1]))))}
		b := &Param{Name: "b", Value: MatOf(adtest.RandMat(rng, 1, sizes[i], 0.3))}
		m.w, m.b = append(m.w, w), append(m.b, b)
	}
	return m
}

func (m *mlp) params() []*Param {
	var ps []*Param
	for i := range m.w {
		ps = append(ps, m.w[i], m.b[i])
	}
	return ps
}

// forward records the MLP on t.
func (m *mlp) forward(t *Tape, x *Node) *Node {
	h := x
	for i := range m.w {
		h = t.Linear(h, t.Param(m.w[i]), t.Param(m.b[i]))
		if i < len(m.w)-1 {
			h = t.Apply(m.act, h)
		}
	}
	return h
}

// flatten returns views of every parameter's values and a copy of the
// gradients a tape accumulated for them, concatenated in order.
func flatGrad(ps []*Param, grad func(*Param) Mat) []float64 {
	var out []float64
	for _, p := range ps {
		g := grad(p)
		if len(g.Data) == 0 {
			g = NewMat(p.Value.Rows, p.Value.Cols)
		}
		out = append(out, g.Data...)
	}
	return out
}

// paramNumGrad is the central-difference gradient of f over every parameter.
func paramNumGrad(ps []*Param, f func() float64) []float64 {
	var out []float64
	for _, p := range ps {
		g := make([]float64, len(p.Value.Data))
		fd.NumGrad(f, p.Value.Data, g, fd.DefaultStep)
		out = append(out, g...)
	}
	return out
}

// batchNumDeriv returns the central difference in t of the vector function
// t ↦ f(x + t·v) (x, v shaped alike), with f returning a fresh slice.
func batchNumDeriv(x, v Mat, f func(Mat) []float64) []float64 {
	xt := x.Clone()
	at := func(s float64) []float64 {
		for i := range xt.Data {
			xt.Data[i] = x.Data[i] + s*v.Data[i]
		}
		return append([]float64(nil), f(xt)...)
	}
	h := fd.DefaultStep
	p1, m1, p2, m2 := at(h), at(-h), at(2*h), at(-2*h)
	out := make([]float64, len(p1))
	for i := range out {
		out[i] = (8*(p1[i]-m1[i]) - (p2[i] - m2[i])) / (12 * h)
	}
	return out
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e, at := fd.RelErr(got, want, 1e-3); e > tol {
		t.Errorf("%s: relative error %.3g at %d (got %.15g, want %.15g), tolerance %.1g", what, e, at, got[at], want[at], tol)
	}
}

// checkSweepGrads checks the parameter gradients of the losses built from
// both curvature sweeps of f at x, Σ C₀∘g + Σ C₁∘d (approximate backprop)
// and Σ C₀∘g + Σ C₁∘u + Σ C₂∘ũ (curvature propagation with fixed noise),
// with random weights C (terms that are nil left out), against central
// differences, and, unless grad is empty, each sweep's g against it to
// 1e-12. The difference step is 3e-6, smaller than the default: cp's
// √|D| factors of Apply's second-order term bend sharply where a unit's
// curvature D is small.
func checkSweepGrads(t *testing.T, rng *rand.Rand, f func(*Tape, *Node) *Node, x Mat, params []*Param, grad Mat) {
	t.Helper()
	var cs [3]Mat
	for j := range cs {
		cs[j] = MatOf(adtest.RandMat(rng, x.Rows, x.Cols, 1))
	}
	var noise []Mat
	draw := func(k, rows, cols int) Mat {
		for len(noise) <= k {
			noise = append(noise, MatOf(adtest.RandMat(rng, rows, cols, 1)))
		}
		return noise[k]
	}
	tp := NewTape()
	for _, cp := range []bool{false, true} {
		var g *Node
		loss := func() *Node {
			tp.Reset()
			in := tp.Input(x, false)
			e := f(tp, in)
			terms := make([]*Node, 0, 3)
			if cp {
				gx, u, ut := tp.CurvatureProp(e, in, draw)
				terms = append(terms, gx, u, ut)
			} else {
				gx, d := tp.ApproxHessianDiag(e, in)
				terms = append(terms, gx, d)
			}
			g = terms[0]
			l := tp.Sum(tp.Mul(g, tp.Const(cs[0])))
			for j, n := range terms[1:] {
				if n != nil {
					l = tp.Add(l, tp.Sum(tp.Mul(n, tp.Const(cs[j+1]))))
				}
			}
			return l
		}
		tp.Backward(loss())
		if len(grad.Data) > 0 {
			assertClose(t, fmt.Sprintf("gradient (cp %v)", cp), g.val.Data, grad.Data, 1e-12)
		}
		got := flatGrad(params, tp.Grad)
		want := make([]float64, 0, len(got))
		for _, p := range params {
			pg := make([]float64, len(p.Value.Data))
			fd.NumGrad(func() float64 { return loss().val.Data[0] }, p.Value.Data, pg, 3e-6)
			want = append(want, pg...)
		}
		assertClose(t, fmt.Sprintf("parameter gradient (cp %v)", cp), got, want, 1e-6)
	}
}
