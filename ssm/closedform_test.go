package ssm

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/nn"
)

// diagGaussian is E(x) = ½Σᵢ λᵢ(xᵢ − μᵢ)², a Gaussian energy with diagonal
// precision, parameterised by λ directly.
type diagGaussian struct{ lambda, negMu *ad.Param }

func (g *diagGaussian) Params() []*ad.Param { return []*ad.Param{g.lambda, g.negMu} }
func (g *diagGaussian) Dim() int            { return g.lambda.Value.Cols }
func (g *diagGaussian) Energy(t *ad.Tape, x *ad.Node) *ad.Node {
	z := t.Apply(ad.Square, t.AddPrimal(x, t.Param(g.negMu)))
	return t.Scale(0.5, t.MatMulT(z, t.Param(g.lambda)))
}

// TestT2 checks that with a diagonal precision and Rademacher projections
// SSM-VR equals exact score matching to rounding, value and gradient.
func TestT2(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const d = 6
	g := &diagGaussian{
		lambda: &ad.Param{Name: "lambda", Value: ad.NewMat(1, d)},
		negMu:  &ad.Param{Name: "negmu", Value: ad.MatOf(adtest.RandMat(rng, 1, d, 1))},
	}
	for i := range g.lambda.Value.Data {
		g.lambda.Value.Data[i] = 0.5 + rng.Float64()
	}
	x := ad.MatOf(adtest.RandMat(rng, 50, d, 2))
	vr, _ := New("ssm-vr", g, Options{Projection: Rademacher})
	sm, _ := New("sm", g, Options{})
	wv, ws := vr.NewWorker(), sm.NewWorker()
	lv := wv.Eval(drawBatch(vr, x, 9), true)
	ls := ws.Eval(drawBatch(sm, x, 9), true)
	if math.Abs(lv-ls) > 1e-14*math.Abs(ls) {
		t.Errorf("SSM-VR loss %.17g, exact SM %.17g", lv, ls)
	}
	for k := range wv.Grads() {
		if e, at := fd.RelErr(wv.Grads()[k].Data, ws.Grads()[k].Data, 0); e > 1e-14 {
			t.Errorf("gradient %d: relative difference %.3g at %d", k, e, at)
		}
	}
	// With Gaussian projections the two differ: the test can fail.
	vg, _ := New("ssm-vr", g, Options{Projection: Gaussian})
	if l := vg.NewWorker().Eval(drawBatch(vg, x, 9), false); math.Abs(l-ls) < 1e-6*math.Abs(ls) {
		t.Errorf("Gaussian projections gave the exact SM loss %g: the comparison is vacuous", l)
	}
}

// TestT3 checks unbiasedness and the probe variance formulas on a Gaussian
// energy with a full precision Λ, where vᵀ(∇s)v = −vᵀΛv for every x.
func TestT3(t *testing.T) {
	const d, n = 5, 100000
	rng := rand.New(rand.NewPCG(5, 5))
	a := ad.MatOf(adtest.RandMat(rng, d, d, 1))
	lam := ad.NewMat(d, d) // Λ = AAᵀ/d + I, with a large diagonal
	for i := range d {
		for j := range d {
			s := 0.0
			for k := range d {
				s += a.At(i, k) * a.At(j, k)
			}
			lam.Set(i, j, s/d)
		}
		lam.Set(i, i, lam.At(i, i)+1)
	}
	g := nn.NewGaussianEnergy(d)
	if err := g.SetPrecision(lam); err != nil {
		t.Fatal(err)
	}
	x := ad.NewMat(n, d)
	x0 := ad.MatOf(adtest.RandMat(rng, 1, d, 1))
	for r := range n {
		copy(x.Row(r), x0.Data)
	}
	lam = g.Precision() // as the model represents it
	fro, diag, tr := 0.0, 0.0, 0.0
	for i := range d {
		for j := range d {
			fro += lam.At(i, j) * lam.At(i, j)
		}
		diag += lam.At(i, i) * lam.At(i, i)
		tr += lam.At(i, i)
	}
	sm, _ := New("sm", g, Options{})
	exactSM := sm.NewWorker().Eval(drawBatch(sm, x0, 0), false)
	for _, c := range []struct {
		p    Projection
		want float64 // Var(vᵀΛv)
	}{
		{Gaussian, 2 * fro},
		{Rademacher, 2 * (fro - diag)},
		{Sphere, 2 * d / float64(d+2) * (fro - tr*tr/d)},
	} {
		obj, _ := New("ssm", g, Options{Projection: c.p})
		w := obj.NewWorker()
		w.Eval(drawBatch(obj, x, uint64(c.p)+10), false)
		var loss, probe []float64
		for r := range n {
			l1, l2 := w.Terms().At(r, 0), w.Terms().At(r, 1)
			loss = append(loss, l1+l2)
			probe = append(probe, -l2) // vᵀΛv
		}
		m, v := meanVar(loss)
		if se := math.Sqrt(v / n); math.Abs(m-exactSM) > 4*se {
			t.Errorf("%v: mean SSM loss %.6g ± %.2g, exact SM %.6g", c.p, m, se, exactSM)
		}
		pm, pv := meanVar(probe)
		if math.Abs(pm-tr) > 4*math.Sqrt(pv/n) {
			t.Errorf("%v: mean probe %.6g, tr Λ = %.6g", c.p, pm, tr)
		}
		// The sample variance's relative standard error is about
		// √((κ−1)/n) for kurtosis κ; 3% is several of them here, while the
		// three formulas differ by more than 15% for this Λ.
		if math.Abs(pv-c.want) > 0.03*c.want {
			t.Errorf("%v: probe variance %.6g, formula %.6g", c.p, pv, c.want)
		}
		t.Logf("%v: mean loss %.5g (exact %.5g), probe variance %.5g (formula %.5g)", c.p, m, exactSM, pv, c.want)
	}
	if g := 2 * fro; math.Abs(2*(fro-diag)-g) < 0.15*g {
		t.Errorf("Λ's diagonal is too small for the variance formulas to be told apart")
	}
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}
