package implicit

import (
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/sampler"
)

// testDecoder returns a Bernoulli decoder z (2) → 16 → xdim whose last
// layer is scaled up, so that p(x|z) varies sharply with z and the
// posterior is much narrower than the prior, and a few observations drawn
// from the model (z from the prior, then x ~ p(x|z)).
func testDecoder(t *testing.T, xdim, n int) (*BernoulliDecoder, [][]float64) {
	dec, err := NewBernoulliDecoder(2, xdim, []int{16}, "tanh", repro.New(7, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ps := dec.Params()
	for _, p := range ps[len(ps)-2:] {
		for i := range p.Value.Data {
			p.Value.Data[i] *= 8
		}
	}
	rng := repro.New(7, repro.Data, 0, 0)
	var xs [][]float64
	tp := ad.NewTape()
	for range n {
		z := ad.MatOf(1, 2, []float64{repro.Normal(rng), repro.Normal(rng)})
		tp.Reset()
		logits := dec.Net.Forward(tp, tp.Const(z)).Primal().Data
		x := make([]float64, xdim)
		for j, l := range logits {
			if rng.Float64() < 1/(1+math.Exp(-l)) {
				x[j] = 1
			}
		}
		xs = append(xs, x)
	}
	return dec, xs
}

// TestMarginalAISGrid is must-show 2 of issue 13: for a Bernoulli decoder
// with dim z = 2, log p(x) = log ∫ p(x|z)N(z; 0, I) dz by AIS over z (HMC
// transitions, the prior as the base) agrees with trapezoid quadrature on
// [−7, 7]² within 3 standard errors, for several x; the quadrature is
// converged (two grids agree to 1e-8).
func TestMarginalAISGrid(t *testing.T) {
	dec, xs := testDecoder(t, 8, 4)
	lo, hi := []float64{-7, -7}, []float64{7, 7}
	for i, x := range xs {
		d := dec.Joint(x)
		grid, err := sampler.GridLogZ(d, lo, hi, 561)
		if err != nil {
			t.Fatal(err)
		}
		coarse, err := sampler.GridLogZ(d, lo, hi, 401)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(grid-coarse) > 1e-8 {
			t.Errorf("x %d: quadrature not converged: %.10f on 561², %.10f on 401²", i, grid, coarse)
		}
		r, err := sampler.AIS{BaseScale: 1, Temps: 300, Step: 0.2, Leapfrog: 5, Chains: 128, Seed: uint64(i)}.Run(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("x %d %v: log p(x) grid %.5f, AIS %.5f ± %.5f (ESS %.0f of 128, accept %.2f), z-score %.2f",
			i, x, grid, r.LogZ, r.StdErr, r.WeightESS, r.AcceptRate, (r.LogZ-grid)/r.StdErr)
		if math.Abs(r.LogZ-grid) > 3*r.StdErr || !(r.StdErr < 0.1) {
			t.Errorf("x %d: AIS %.5f ± %.5f, grid %.5f: want within 3 standard errors, each < 0.1", i, r.LogZ, r.StdErr, grid)
		}
		// The prior is not the posterior: a single importance weight from
		// the prior (K = 1) would be far off, so AIS has work to do.
		if grid > -1 {
			t.Errorf("x %d: log p(x) = %.3f: the decoder is too flat for the test", i, grid)
		}
	}
}

// TestJointScore checks the joint density's score against central
// differences of its log-density, and its value at z = 0 by hand.
func TestJointScore(t *testing.T) {
	dec, xs := testDecoder(t, 5, 1)
	d := dec.Joint(xs[0])
	f := d.NewLogDensityFunc()
	z := ad.MatOf(3, 2, []float64{0.3, -0.7, 1.2, 0.4, -0.05, 0})
	lp, score := make([]float64, 3), ad.NewMat(3, 2)
	f(lp, score, z)
	lp2 := make([]float64, 3)
	f(lp2, ad.Mat{}, z)
	for b := range 3 {
		if lp[b] != lp2[b] {
			t.Errorf("row %d: log-density %v with the score, %v without", b, lp[b], lp2[b])
		}
		for j := range 2 {
			h := 1e-5
			at := func(s float64) float64 {
				zz := z.Clone()
				zz.Set(b, j, z.At(b, j)+s)
				out := make([]float64, 3)
				f(out, ad.Mat{}, zz)
				return out[b]
			}
			num := (at(h) - at(-h)) / (2 * h)
			if math.Abs(num-score.At(b, j)) > 1e-6*math.Max(1, math.Abs(num)) {
				t.Errorf("row %d coordinate %d: score %.10g, central difference %.10g", b, j, score.At(b, j), num)
			}
		}
	}
	// At z = 0: Σⱼ xⱼlⱼ − log(1+e^lⱼ) − log 2π.
	tp := ad.NewTape()
	tp.Reset()
	logits := dec.Net.Forward(tp, tp.Const(ad.NewMat(1, 2))).Primal().Data
	want := -math.Log(2 * math.Pi)
	for j, l := range logits {
		want += xs[0][j]*l - math.Log1p(math.Exp(l))
	}
	got := make([]float64, 1)
	f(got, ad.Mat{}, ad.NewMat(1, 2))
	if math.Abs(got[0]-want) > 1e-12*math.Abs(want) {
		t.Errorf("log p̃(0) = %.15g, want %.15g", got[0], want)
	}
}
