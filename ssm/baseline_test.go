package ssm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/nn"
)

// mlpBaselineReference is the MLP-only recursion that approx-bp and cp
// used before they became sweeps over the tape, kept verbatim in effect:
// the same ops in the same order. It returns the loss, the per-sample
// terms and the parameter gradients (copies).
func mlpBaselineReference(e *nn.EnergyMLP, cp bool, m int, b *Batch) (float64, []float64, [][]float64) {
	ws, bs, act := e.Layers()
	d1, d2 := ad.Derivative(act, 1), ad.Derivative(act, 2)
	sqrtAbs := ad.Pointwise("sqrtabs", func(v float64) (f0, f1, f2, f3 float64) { return refSqrtDerivs(v, false) })
	signSqrt := ad.Pointwise("signsqrt", func(v float64) (f0, f1, f2, f3 float64) { return refSqrtDerivs(v, true) })
	layers := len(ws)
	xr := ad.NewMat(m*b.X.Rows, b.X.Cols)
	for i := range m {
		copy(xr.Data[i*len(b.X.Data):], b.X.Data)
	}
	n := xr.Rows
	t := ad.NewTape()
	z, h := make([]*ad.Node, layers), make([]*ad.Node, layers)
	h[0] = t.Input(xr, false)
	for l := range layers {
		z[l] = t.Linear(h[l], t.Param(ws[l]), t.Param(bs[l]))
		if l+1 < layers {
			h[l+1] = t.Apply(act, z[l])
		}
	}
	ones := ad.NewMat(n, 1)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	g := t.Const(ones)
	var d, u, ut *ad.Node
	for l := layers - 1; l >= 0; l-- {
		wl := t.Param(ws[l])
		gh := t.MatMul(g, wl)
		switch {
		case !cp && d != nil:
			d = t.MatMul(d, t.Mul(wl, wl))
		case u != nil:
			u, ut = t.MatMul(u, wl), t.MatMul(ut, wl)
		}
		if l == 0 {
			g = gh
			break
		}
		fp := t.Apply(d1, z[l-1])
		dz := t.Mul(t.Apply(d2, z[l-1]), gh)
		g = t.Mul(fp, gh)
		if !cp {
			if d == nil {
				d = dz
			} else {
				d = t.Add(dz, t.Mul(t.Apply(ad.Square, fp), d))
			}
		} else {
			r := t.Const(b.R[l-1])
			su, sut := t.Mul(t.Apply(sqrtAbs, dz), r), t.Mul(t.Apply(signSqrt, dz), r)
			if u == nil {
				u, ut = su, sut
			} else {
				u, ut = t.Add(t.Mul(fp, u), su), t.Add(t.Mul(fp, ut), sut)
			}
		}
	}
	var tr *ad.Node
	switch {
	case !cp && d != nil:
		tr = t.SumRows(d)
	case cp && u != nil:
		tr = t.SumRows(t.Mul(u, ut))
	default:
		tr = t.Scale(0, t.SumRows(g))
	}
	l1 := t.HalfSquaredNorm(g)
	l2 := t.Scale(-1, tr)
	root := t.Scale(1/float64(m), t.Sum(t.Add(l1, l2)))
	t.Backward(root)
	terms := make([]float64, 2*b.X.Rows)
	for j, nd := range []*ad.Node{l1, l2} {
		for r, v := range nd.Primal().Data {
			terms[(r%b.X.Rows)*2+j] += v / float64(m)
		}
	}
	var grads [][]float64
	for _, p := range e.Params() {
		grads = append(grads, append([]float64(nil), t.Grad(p).Data...))
	}
	return root.Primal().Data[0], terms, grads
}

func refSqrtDerivs(v float64, signed bool) (f0, f1, f2, f3 float64) {
	a := math.Abs(v)
	r := math.Sqrt(a)
	s := 1.0
	if v < 0 {
		s = -1
	}
	if signed {
		return s * r, 1 / (2 * r), -s / (4 * r * a), 3 / (8 * r * a * a)
	}
	return r, s / (2 * r), -1 / (4 * r * a), 3 * s / (8 * r * a * a)
}

// TestBaselineMLPBits checks that approx-bp and cp, now sweeps over the
// tape, give an MLP the bits of the MLP-only recursion they replaced: loss,
// per-sample terms and every parameter gradient, with the same random
// vectors for cp. (cp on an ELU net with hidden layers is left out: there
// the old recursion's gradient was NaN wherever a unit's curvature was
// exactly zero, as it is for every positive pre-activation; the sweeps
// give 0.)
func TestBaselineMLPBits(t *testing.T) {
	for i, c := range []struct {
		name   string
		hidden []int
		act    string
		m      int
	}{
		{"approx-bp", []int{7}, "softplus", 1},
		{"approx-bp", []int{7, 5}, "tanh", 1},
		{"approx-bp", []int{7, 5, 4}, "silu", 1},
		{"approx-bp", nil, "silu", 1},
		{"cp", []int{7}, "softplus", 1},
		{"cp", []int{7, 5}, "tanh", 2},
		{"cp", []int{6, 6, 6}, "silu", 3},
		{"cp", nil, "elu", 3},
	} {
		t.Run(fmt.Sprintf("%s/%v/%s", c.name, c.hidden, c.act), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, uint64(i)))
			e, err := nn.NewEnergyMLP(4, c.hidden, c.act, rng)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := New(c.name, e, Options{M: c.m})
			if err != nil {
				t.Fatal(err)
			}
			b := drawBatch(obj, ad.MatOf(adtest.RandMat(rng, 6, 4, 1)), uint64(i))
			w := obj.NewWorker()
			loss := w.Eval(b, true)
			wantLoss, wantTerms, wantGrads := mlpBaselineReference(e, c.name == "cp", c.m, b)
			if !adtest.SameBits([]float64{loss}, []float64{wantLoss}) {
				t.Errorf("loss %.17g, the MLP recursion gives %.17g", loss, wantLoss)
			}
			if !adtest.SameBits(w.Terms().Data, wantTerms) {
				t.Errorf("terms %v, the MLP recursion gives %v", w.Terms().Data, wantTerms)
			}
			for j, g := range w.Grads() {
				if !adtest.SameBits(g.Data, wantGrads[j]) {
					t.Errorf("gradient of %s: %v, the MLP recursion gives %v", e.Params()[j].Name, g.Data, wantGrads[j])
				}
			}
		})
	}
}

// niceEnergy is a NICE-like energy built from ad ops for the tests: one
// additive coupling y₂ = x₂ + m(x₁) with an MLP m, a diagonal scaling
// exp(s), and E = ½‖z‖² (up to the log-determinant, constant in x).
type niceEnergy struct {
	w1, b1, w2, b2, s *ad.Param
	dim               int
	eye, ones         ad.Mat // I and a column of ones, D×D and D×1
}

func newNICEEnergy(rng *rand.Rand, dim, width int) *niceEnergy {
	h := dim / 2
	p := func(name string, r, c int, scale float64) *ad.Param {
		return &ad.Param{Name: name, Value: ad.MatOf(adtest.RandMat(rng, r, c, scale))}
	}
	n := &niceEnergy{w1: p("w1", width, h, 0.8), b1: p("b1", 1, width, 0.3), w2: p("w2", dim-h, width, 0.8), b2: p("b2", 1, dim-h, 0.3), s: p("s", 1, dim, 0.3), dim: dim}
	n.eye, n.ones = ad.NewMat(dim, dim), ad.NewMat(dim, 1)
	for i := range dim {
		n.eye.Set(i, i, 1)
		n.ones.Data[i] = 1
	}
	return n
}

func (n *niceEnergy) Params() []*ad.Param { return []*ad.Param{n.w1, n.b1, n.w2, n.b2, n.s} }
func (n *niceEnergy) Dim() int            { return n.dim }

func (n *niceEnergy) Energy(t *ad.Tape, x *ad.Node) *ad.Node {
	h := n.dim / 2
	x1, x2 := t.SliceCols(x, 0, h), t.SliceCols(x, h, n.dim)
	m := t.Linear(t.Apply(ad.Softplus, t.Linear(x1, t.Param(n.w1), t.Param(n.b1))), t.Param(n.w2), t.Param(n.b2))
	y := t.ConcatCols(x1, t.AddScaled(1, x2, 1, m))
	// z = y·diag(exp(s)), the diagonal built from s by products with
	// constants.
	scale := t.Mul(t.Const(n.eye), t.MatMul(t.Const(n.ones), t.Apply(ad.Exp, t.Param(n.s))))
	return t.HalfSquaredNorm(t.MatMul(y, scale))
}

// TestBaselineGeneralEnergies checks approx-bp and cp on energies other
// than MLPs: on a Gaussian energy ½‖(x−μ)L‖², whose Hessian diagonal
// approx-bp finds exactly, approx-bp equals exact score matching in loss
// and gradient; on a NICE-like energy both losses' parameter gradients
// match central differences.
func TestBaselineGeneralEnergies(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	gauss := nn.NewGaussianEnergy(4)
	for _, p := range gauss.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += 0.4 * rng.NormFloat64()
		}
	}
	x := ad.MatOf(adtest.RandMat(rng, 5, 4, 1))
	eval := func(name string, m nn.Model, opts Options) (float64, []float64) {
		obj, err := New(name, m, opts)
		if err != nil {
			t.Fatal(err)
		}
		w := obj.NewWorker()
		l := w.Eval(drawBatch(obj, x, 3), true)
		var g []float64
		for _, gr := range w.Grads() {
			g = append(g, gr.Data...)
		}
		return l, g
	}
	la, ga := eval("approx-bp", gauss, Options{})
	ls, gs := eval("sm", gauss, Options{})
	if math.Abs(la-ls) > 1e-12*math.Abs(ls) {
		t.Errorf("Gaussian: approx-bp loss %.15g, exact SM %.15g", la, ls)
	}
	if e, at := fd.RelErr(ga, gs, 1e-3); e > 1e-12 {
		t.Errorf("Gaussian: approx-bp gradient differs from exact SM's by %.3g at %d", e, at)
	}

	checkBaselineGrads(t, newNICEEnergy(rng, 4, 6), x)
}

// checkBaselineGrads checks approx-bp's and cp's (M = 2) parameter
// gradients of energy e on data x against central differences of their
// losses, with the same random vectors.
func checkBaselineGrads(t *testing.T, e nn.Energy, x ad.Mat) {
	t.Helper()
	for _, name := range []string{"approx-bp", "cp"} {
		obj, err := New(name, e, Options{M: 2})
		if err != nil {
			t.Fatal(err)
		}
		b := drawBatch(obj, x, 4)
		w := obj.NewWorker()
		w.Eval(b, true)
		var got, want []float64
		for _, g := range w.Grads() {
			got = append(got, g.Data...)
		}
		for _, p := range e.Params() {
			g := make([]float64, len(p.Value.Data))
			// A small step: cp's √|D| bends sharply where a unit's
			// curvature D is small.
			fd.NumGrad(func() float64 { return w.Eval(b, false) }, p.Value.Data, g, 3e-6)
			want = append(want, g...)
		}
		if e, at := fd.RelErr(got, want, 1e-3); e > 1e-6 {
			t.Errorf("%s: parameter gradient relative error %.3g at %d (%.12g vs %.12g)", name, e, at, got[at], want[at])
		}
	}
}

// TestBaselineStepAllocs checks that a steady-state training step of
// approx-bp and cp on a non-MLP energy allocates nothing.
func TestBaselineStepAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	rng := rand.New(rand.NewPCG(22, 1))
	nice := newNICEEnergy(rng, 6, 8)
	for _, name := range []string{"approx-bp", "cp"} {
		obj, err := New(name, nice, Options{M: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkStepAllocs(t, name, obj, ad.MatOf(adtest.RandMat(rng, 40, 6, 1)))
	}
}

// TestBaselineCPUnbiased checks curvature propagation on non-MLP energies
// of package nn (a DKEF and a NICE flow with perturbed weights): the mean of d̂ = u∘ũ over 10⁴ Rademacher probes per sample is
// within 4 standard errors (estimated from the probes) of the exact
// Hessian diagonal from Hessian-vector products, for every element; the
// expectation over unit probes equals it to 1e-10; and both baselines'
// parameter gradients match central differences.
func TestBaselineCPUnbiased(t *testing.T) {
	const probes = 10000
	rng := rand.New(rand.NewPCG(23, 1))
	dkef, err := nn.NewDKEF(nn.DKEFConfig{Dim: 3, Inducing: 6, Features: 4}, ad.MatOf(adtest.RandMat(rng, 6, 3, 1)), rng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dkef.Alpha().Value.Data {
		dkef.Alpha().Value.Data[i] = rng.NormFloat64()
	}
	nice, err := nn.NewNICE(nn.NICEConfig{Dim: 4, Couplings: 4, Hidden: []int{6}}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nice.Params() { // scales and biases away from their zero start
		for i := range p.Value.Data {
			p.Value.Data[i] += 0.3 * rng.NormFloat64()
		}
	}
	for _, e := range []nn.Energy{dkef, nice} {
		t.Run(fmt.Sprintf("%T", e), func(t *testing.T) {
			d := e.Dim()
			x := ad.MatOf(adtest.RandMat(rng, 2, d, 1))
			exact := ad.NewMat(2, d)
			v, hv := ad.NewMat(2, d), ad.NewMat(2, d)
			for i := range d {
				clear(v.Data)
				v.Set(0, i, 1)
				v.Set(1, i, 1)
				ad.HVP(ad.NewTape(), e.Energy, x, v, ad.Mat{}, hv)
				exact.Set(0, i, hv.At(0, i))
				exact.Set(1, i, hv.At(1, i))
			}
			xr := ad.NewMat(probes*2, d)
			for p := range probes {
				copy(xr.Data[p*2*d:], x.Data)
			}
			tp := ad.NewTape()
			tp.FreezeParams(true)
			in := tp.Input(xr, false)
			_, u, ut := tp.CurvatureProp(e.Energy(tp, in), in, func(_, rows, cols int) ad.Mat {
				r := ad.NewMat(rows, cols)
				for j := range r.Data {
					r.Data[j] = float64(2*int(rng.Uint64()&1) - 1)
				}
				return r
			})
			n := 2 * d
			sum, sq := make([]float64, n), make([]float64, n)
			for j, a := range u.Value().Data {
				p := a * ut.Value().Data[j]
				sum[j%n] += p
				sq[j%n] += p * p
			}
			worst, relSE := 0.0, 0.0
			for j := range n {
				mean := sum[j] / probes
				se := math.Sqrt((sq[j]/probes - mean*mean) / (probes - 1))
				z := math.Abs(mean-exact.Data[j]) / se
				worst, relSE = max(worst, z), max(relSE, se/math.Abs(exact.Data[j]))
				if z > 4 {
					t.Errorf("element %d: mean %.6g ± %.2g (SE), exact %.6g: %.1f standard errors", j, mean, se, exact.Data[j], z)
				}
			}
			t.Logf("largest deviation %.2f standard errors; largest standard error %.2g of the exact value", worst, relSE)

			// Exactly: u and ũ are linear in the probes, so E[u∘ũ] is the
			// sum of u∘ũ over unit probes, one column of one draw at a time
			// (on every row at once: the rows are independent).
			var widths []int
			draw, col := -1, -1
			unit := func(k, rows, cols int) ad.Mat {
				if draw < 0 {
					widths = append(widths, cols)
				}
				r := ad.NewMat(rows, cols)
				for i := 0; k == draw && i < rows; i++ {
					r.Set(i, col, 1)
				}
				return r
			}
			sweep := func() (u, ut *ad.Node) {
				tp.Reset()
				in := tp.Input(x, false)
				_, u, ut = tp.CurvatureProp(e.Energy(tp, in), in, unit)
				return u, ut
			}
			sweep()
			expect := make([]float64, n)
			for draw = range widths {
				for col = range widths[draw] {
					u, ut := sweep()
					for j, a := range u.Value().Data {
						expect[j] += a * ut.Value().Data[j]
					}
				}
			}
			if e, at := fd.RelErr(expect, exact.Data, 1e-3); e > 1e-10 {
				t.Errorf("E[u∘ũ] over unit probes: relative error %.3g at %d (%.15g vs %.15g)", e, at, expect[at], exact.Data[at])
			}

			checkBaselineGrads(t, e, ad.MatOf(adtest.RandMat(rng, 4, d, 1)))
		})
	}
}
