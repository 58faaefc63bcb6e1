package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

// testNCSN returns an NCSN with perturbed parameters (sigma.weight nonzero),
// a batch, directions and per-sample noise levels.
func testNCSN(t *testing.T) (m *NCSN, x, v, sigma ad.Mat) {
	rng := rand.New(rand.NewPCG(11, 12))
	m, err := NewNCSN(3, []int{5, 4}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, rng, 0.3)
	x, v = ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	sigma = ad.MatOf(4, 1, []float64{0.05, 0.3, 1, 2.5})
	return m, x, v, sigma
}

func TestNCSNStructure(t *testing.T) {
	n, err := NewNCSN(3, []int{5, 4}, "", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewScoreMLP(3, []int{5, 4}, "", rand.New(rand.NewPCG(1, 2)))
	var names []string
	for _, p := range n.Params() {
		names = append(names, p.Name)
	}
	want := []string{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "sigma.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("parameters %v, want %v", names, want)
	}
	for i, p := range s.Params() {
		if !slices.Equal(p.Value.Data, n.Params()[i].Value.Data) {
			t.Errorf("%s differs from NewScoreMLP's with the same seed", p.Name)
		}
	}
	w := n.Params()[6].Value
	if w.Rows != 1 || w.Cols != 5 || slices.ContainsFunc(w.Data, func(v float64) bool { return v != 0 }) {
		t.Errorf("sigma.weight is %d×%d %v, want 1×5 zeros", w.Rows, w.Cols, w.Data)
	}
	if n.Dim() != 3 || !slices.Equal(n.Hidden(), []int{5, 4}) || n.Activation() != "softplus" {
		t.Errorf("Dim %d, Hidden %v, Activation %q", n.Dim(), n.Hidden(), n.Activation())
	}
	if _, err := NewNCSN(3, nil, "", rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("NewNCSN with no hidden layer: no error")
	}
}

// TestNCSNForward checks h(x, σ) against a direct evaluation of the formula.
func TestNCSNForward(t *testing.T) {
	m, x, _, sigma := testNCSN(t)
	tape := ad.NewTape()
	got := m.CondScore(tape, tape.Input(x, false), sigma).Primal()
	ps := m.Params()
	for b := range x.Rows {
		h := x.Row(b)
		for l := 0; l < 3; l++ {
			w, bias := ps[2*l].Value, ps[2*l+1].Value
			next := make([]float64, w.Rows)
			for i := range w.Rows {
				s := bias.Data[i]
				for j := range w.Cols {
					s += w.At(i, j) * h[j]
				}
				if l == 0 {
					s += math.Log(sigma.Data[b]) * ps[6].Value.Data[i]
				}
				if l < 2 {
					s = math.Log1p(math.Exp(s))
				}
				next[i] = s
			}
			h = next
		}
		for j, v := range h {
			if want := v / sigma.Data[b]; !relClose(got.At(b, j), want, 1e-13) {
				t.Errorf("h(x_%d, σ)[%d] = %g, want %g", b, j, got.At(b, j), want)
			}
		}
	}
}

// TestNCSNDerivatives checks the jet's directional derivatives of h against
// finite differences in x, and the parameter gradients of a loss built from
// h and its derivatives (the form of an SSE objective) against finite
// differences in every parameter.
func TestNCSNDerivatives(t *testing.T) {
	m, x, v, sigma := testNCSN(t)
	tape := ad.NewTape()
	rng := rand.New(rand.NewPCG(13, 14))
	r0, r1, r2 := ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	// record runs a 2-jet pass along v at x and returns h's value and its
	// first and second derivatives along v as plain nodes.
	record := func() (h, d1, d2 *ad.Node) {
		tape.Reset(2)
		out := m.CondScore(tape, tape.Input(x, false, v), sigma)
		return tape.Deriv(out, 0, 0), tape.Deriv(out, 0, 1), tape.Deriv(out, 0, 2)
	}
	plain := func(s float64) ad.Mat { // h(x + s v)
		xs := x.Clone()
		for i := range xs.Data {
			xs.Data[i] += s * v.Data[i]
		}
		t2 := ad.NewTape()
		return m.CondScore(t2, t2.Input(xs, false), sigma).Primal().Clone()
	}
	firstAt := func(s float64) ad.Mat { // vᵀ∇h at x + s v, from the jet
		saved := x.Clone()
		for i := range x.Data {
			x.Data[i] += s * v.Data[i]
		}
		_, d1, _ := record()
		out := d1.Value().Clone()
		copy(x.Data, saved.Data)
		return out
	}
	_, d1, d2 := record()
	d1v, d2v := d1.Value().Clone(), d2.Value().Clone()
	for i := range d1v.Data {
		num1 := fd.CentralDiff(func(s float64) float64 { return plain(s).Data[i] }, 0, 1e-3)
		num2 := fd.CentralDiff(func(s float64) float64 { return firstAt(s).Data[i] }, 0, 1e-3)
		if !relClose(d1v.Data[i], num1, 1e-7) && math.Abs(d1v.Data[i]-num1) > 1e-9 {
			t.Errorf("vᵀ∇h[%d] = %g, finite difference %g", i, d1v.Data[i], num1)
		}
		if !relClose(d2v.Data[i], num2, 1e-7) && math.Abs(d2v.Data[i]-num2) > 1e-9 {
			t.Errorf("vᵀ∇²h v[%d] = %g, finite difference %g", i, d2v.Data[i], num2)
		}
	}

	// loss = Σ r0∘h + Σ r1∘(vᵀ∇h) + Σ r2∘(vᵀ∇²h v) + ½Σ (vᵀ∇h)².
	loss := func() *ad.Node {
		h, d1, d2 := record()
		l := tape.Add(tape.Sum(tape.Mul(h, tape.Const(r0))), tape.Sum(tape.Mul(d1, tape.Const(r1))))
		l = tape.Add(l, tape.Sum(tape.Mul(d2, tape.Const(r2))))
		return tape.Add(l, tape.Scale(0.5, tape.Sum(tape.Apply(ad.Square, d1))))
	}
	tape.Backward(loss())
	for _, p := range m.Params() {
		g := tape.Grad(p).Clone()
		f := func() float64 { return loss().Primal().Data[0] }
		if e, at := fd.CheckGrad(f, p.Value.Data, g.Data, fd.DefaultStep); e > 1e-6 {
			t.Errorf("%s: gradient error %g at %d", p.Name, e, at)
		}
	}
}

func TestNCSNPanics(t *testing.T) {
	m, x, _, _ := testNCSN(t)
	tape := ad.NewTape()
	mustPanic(t, "sigma is 3×1, want 4×1", func() { m.CondScore(tape, tape.Input(x, false), ad.NewMat(3, 1)) })
	mustPanic(t, "noise levels must be positive", func() {
		m.CondScore(tape, tape.Input(x, false), ad.MatOf(4, 1, []float64{1, 1, 0, 1}))
	})
}
