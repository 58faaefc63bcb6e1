package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
)

// randGaussian returns a Gaussian with a random lower-triangular L (positive
// diagonal) and mean.
func randGaussian(rng *rand.Rand, d int) *GaussianEnergy {
	g := NewGaussianEnergy(d)
	l := g.Params()[0].Value
	for i := range d {
		for j := 0; j <= i; j++ {
			l.Set(i, j, 0.5*rng.NormFloat64())
		}
		l.Set(i, i, 1+0.3*rng.Float64())
	}
	mu := make([]float64, d)
	for i := range mu {
		mu[i] = rng.NormFloat64()
	}
	g.SetMean(mu)
	return g
}

func TestGaussianEnergy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const d = 4
	g := randGaussian(rng, d)
	lam, mu := g.Precision(), g.Mean()
	x := ad.MatOf(adtest.RandMat(rng, 5, d, 2))
	e := energies(g, x)
	grad := ad.NewMat(5, d)
	ad.InputGrad(ad.NewTape(), g.Energy, x, grad)
	for b := range x.Rows {
		want := 0.0
		for i := range d {
			gi := 0.0 // (Λ(x−μ))_i
			for j := range d {
				gi += lam.At(i, j) * (x.At(b, j) - mu[j])
				want += 0.5 * (x.At(b, i) - mu[i]) * lam.At(i, j) * (x.At(b, j) - mu[j])
			}
			if !relClose(grad.At(b, i), gi, 1e-12) {
				t.Errorf("∇E(x_%d)[%d] = %g, want Λ(x−μ) = %g", b, i, grad.At(b, i), gi)
			}
		}
		if !relClose(e[b], want, 1e-12) {
			t.Errorf("E(x_%d) = %.17g, want ½(x−μ)ᵀΛ(x−μ) = %.17g", b, e[b], want)
		}
	}
	// Λ = LLᵀ and symmetric.
	l := g.Params()[0].Value
	for i := range d {
		for j := range d {
			s := 0.0
			for k := range d {
				s += l.At(i, k) * l.At(j, k)
			}
			if !relClose(lam.At(i, j), s, 1e-14) || lam.At(i, j) != lam.At(j, i) {
				t.Errorf("Precision[%d][%d] = %g, want %g", i, j, lam.At(i, j), s)
			}
		}
	}
}

// TestGaussianParamGrad checks the parameter gradients against finite
// differences and that L's strictly upper part gets a zero gradient and
// stays zero through optimiser steps.
func TestGaussianParamGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d = 3
	g := randGaussian(rng, d)
	x := ad.MatOf(adtest.RandMat(rng, 6, d, 1.5))
	tape := ad.NewTape()
	loss := func() float64 {
		tape.Reset()
		return tape.Sum(g.Energy(tape, tape.Input(x, false))).Primal().Data[0]
	}
	tape.Reset()
	tape.Backward(tape.Sum(g.Energy(tape, tape.Input(x, false))))
	gl, gmu := tape.Grad(g.Params()[0]).Clone(), tape.Grad(g.Params()[1]).Clone()
	for i := range d {
		for j := i + 1; j < d; j++ {
			if gl.At(i, j) != 0 {
				t.Errorf("∂E/∂L[%d][%d] = %g above the diagonal, want 0", i, j, gl.At(i, j))
			}
		}
	}
	if e, at := fd.CheckGrad(loss, g.Params()[1].Value.Data, gmu.Data, fd.DefaultStep); e > 1e-8 {
		t.Errorf("mu: gradient error %g at %d", e, at)
	}
	if e, at := fd.CheckGrad(loss, g.Params()[0].Value.Data, gl.Data, fd.DefaultStep); e > 1e-8 {
		t.Errorf("L: gradient error %g at %d", e, at)
	}

	for _, opt := range []Optimizer{NewAdam(), func() Optimizer { o := NewSGD(0.1); o.WeightDecay = 0.1; o.Momentum = 0.9; return o }(), NewRMSProp()} {
		for range 3 {
			opt.Step(g.Params(), []ad.Mat{gl, gmu})
		}
		l := g.Params()[0].Value
		for i := range d {
			for j := i + 1; j < d; j++ {
				if l.At(i, j) != 0 {
					t.Errorf("%T: L[%d][%d] = %g after steps, want 0", opt, i, j, l.At(i, j))
				}
			}
		}
	}
}

func TestGaussianSetPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := randGaussian(rng, 4)
	lam := src.Precision()
	g := NewGaussianEnergy(4)
	if err := g.SetPrecision(lam); err != nil {
		t.Fatal(err)
	}
	got := g.Precision()
	for i := range lam.Data {
		if !relClose(got.Data[i], lam.Data[i], 1e-13) && math.Abs(got.Data[i]-lam.Data[i]) > 1e-14 {
			t.Errorf("Precision()[%d] = %g, want %g", i, got.Data[i], lam.Data[i])
		}
	}
	// The factor is src's L up to rounding (Cholesky with a positive diagonal is unique).
	for i, v := range g.Params()[0].Value.Data {
		if w := src.Params()[0].Value.Data[i]; math.Abs(v-w) > 1e-12 {
			t.Errorf("L[%d] = %g, want %g", i, v, w)
		}
	}
	for _, tc := range []struct {
		name string
		p    []float64
		want string
	}{
		{"asymmetric", []float64{2, 1, 0, 2}, "not symmetric"},
		{"indefinite", []float64{1, 2, 2, 1}, "not positive definite"},
		{"singular", []float64{1, 1, 1, 1}, "not positive definite"},
		{"nan", []float64{1, 0, 0, nan()}, "not"},
	} {
		g := NewGaussianEnergy(2)
		before := g.Params()[0].Value.Clone()
		err := g.SetPrecision(ad.MatOf(2, 2, tc.p))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		for i, v := range g.Params()[0].Value.Data {
			if v != before.Data[i] {
				t.Errorf("%s: L changed on error", tc.name)
			}
		}
	}
	mustPanic(t, "precision is 3×3, want 2×2", func() { NewGaussianEnergy(2).SetPrecision(ad.NewMat(3, 3)) })
	mustPanic(t, "3 values for dimension 2", func() { NewGaussianEnergy(2).SetMean(make([]float64, 3)) })
	mustPanic(t, "dimension must be ≥ 1", func() { NewGaussianEnergy(0) })
}

func nan() float64 { return math.NaN() }
