package sampler

import (
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/ad/fd"
	"scorematch/nn/sde"
)

// skewMixture is a 2-D mixture of three unequal, correlated Gaussians:
// weights 0.5, 0.3, 0.2, full covariances.
func skewMixture(t testing.TB) *Mixture {
	m, err := NewMixture([]Component{
		{Weight: 0.5, Mean: []float64{-2, 0}, Cov: ad.MatOf(2, 2, []float64{0.5, 0.3, 0.3, 0.4})},
		{Weight: 0.3, Mean: []float64{2, 1.5}, Cov: ad.MatOf(2, 2, []float64{0.3, -0.1, -0.1, 0.2})},
		{Weight: 0.2, Mean: []float64{1, -2.5}, Cov: ad.MatOf(2, 2, []float64{0.2, 0, 0, 0.6})},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testSDEs are the three SDEs with the paper's settings (VE's σmax 20,
// above the largest distance between the modes of the test mixtures).
var testSDEs = []sde.SDE{
	sde.VE{SigmaMin: 0.01, SigmaMax: 20},
	sde.VP{BetaMin: 0.1, BetaMax: 20},
	sde.SubVP{BetaMin: 0.1, BetaMax: 20},
}

// TestPerturbedMixture checks, for every SDE at times from 0 to 1, that
// log p_t is the log-density of the mixture At(t) (built from the kernel
// directly), that the score is its gradient (central differences of
// LogDensity, 1e-7 relative), that the exact divergence is the trace of the
// Jacobian of the score (central differences, 1e-7), and that a probe's
// quadratic form vᵀ(∇s)v is the derivative of vᵀs(x + εv) in ε; with the
// probes √D·eᵢ the Hutchinson mean is the trace exactly.
func TestPerturbedMixture(t *testing.T) {
	m := skewMixture(t)
	xs := [][]float64{{-2, 0.1}, {0.3, 0.7}, {1.9, 1.2}, {3, -3}, {-4, 5}}
	for _, s := range testSDEs {
		p := NewPerturbedMixture(m, s)
		for _, tt := range []float64{0, 1e-3, 0.05, 0.3, 0.7, 1} {
			at := EvalLogDensity(p.At(tt), ad.MatOf(len(xs), 2, flatten(xs)))
			x := ad.MatOf(len(xs), 2, flatten(xs))
			times := []float64{tt, tt, tt, tt, tt}
			score := ad.NewMat(len(xs), 2)
			p.NewTimeScoreFunc()(score, x, times)
			score2 := ad.NewMat(len(xs), 2)
			div := make([]float64, len(xs))
			df := p.NewDivScoreFunc()
			df(score2, div, x, times, nil)
			probes := []ad.Mat{ad.NewMat(len(xs), 2), ad.NewMat(len(xs), 2)}
			for b := range len(xs) {
				probes[0].Set(b, 0, math.Sqrt2)
				probes[1].Set(b, 1, math.Sqrt2)
			}
			hdiv := make([]float64, len(xs))
			df(ad.NewMat(len(xs), 2), hdiv, x, times, probes)
			v := []float64{0.6, -0.8}
			qdiv := make([]float64, len(xs))
			vm := ad.MatOf(len(xs), 2, flatten([][]float64{v, v, v, v, v}))
			df(ad.NewMat(len(xs), 2), qdiv, x, times, []ad.Mat{vm})
			for b, xb := range xs {
				lp := p.LogDensity(xb, tt)
				if math.Abs(lp-at[b]) > 1e-12*math.Max(1, math.Abs(lp)) {
					t.Errorf("%v t=%v x=%v: log p_t %v, At(t) gives %v", s, tt, xb, lp, at[b])
				}
				// Score against the gradient of LogDensity.
				y := append([]float64(nil), xb...)
				num := make([]float64, 2)
				fd.NumGrad(func() float64 { return p.LogDensity(y, tt) }, y, num, fd.DefaultStep)
				if e, _ := fd.RelErr(score.Row(b), num, 1e-3); e > 1e-7 {
					t.Errorf("%v t=%v x=%v: score %v, finite differences %v (rel. err. %.1e)", s, tt, xb, score.Row(b), num, e)
				}
				if score2.At(b, 0) != score.At(b, 0) || score2.At(b, 1) != score.At(b, 1) {
					t.Errorf("%v t=%v: the divergence evaluator's score differs", s, tt)
				}
				// Divergence against the trace of the Jacobian of the score.
				one := ad.NewMat(1, 2)
				scoreAt := func(z []float64, i int) float64 {
					p.NewTimeScoreFunc()(one, ad.MatOf(1, 2, z), []float64{tt})
					return one.At(0, i)
				}
				tr := 0.0
				for i := range 2 {
					z := append([]float64(nil), xb...)
					tr += fd.CentralDiff(func(u float64) float64 { z[i] = u; return scoreAt(z, i) }, xb[i], fd.DefaultStep)
				}
				if math.Abs(div[b]-tr) > 1e-7*math.Max(1, math.Abs(tr)) {
					t.Errorf("%v t=%v x=%v: divergence %v, finite differences %v", s, tt, xb, div[b], tr)
				}
				if math.Abs(hdiv[b]-div[b]) > 1e-12*math.Max(1, math.Abs(div[b])) {
					t.Errorf("%v t=%v x=%v: probes √2·eᵢ give %v, the trace is %v", s, tt, xb, hdiv[b], div[b])
				}
				// vᵀ(∇s)v = d/dε vᵀs(x + εv).
				q := fd.CentralDiff(func(e float64) float64 {
					z := []float64{xb[0] + e*v[0], xb[1] + e*v[1]}
					return v[0]*scoreAt(z, 0) + v[1]*scoreAt(z, 1)
				}, 0, fd.DefaultStep)
				if math.Abs(qdiv[b]-q) > 1e-7*math.Max(1, math.Abs(q)) {
					t.Errorf("%v t=%v x=%v: vᵀ(∇s)v = %v, finite differences %v", s, tt, xb, qdiv[b], q)
				}
			}
		}
	}
}

// TestPerturbedMixtureTimes checks that rows at different times in one
// batch get the scores of their own times.
func TestPerturbedMixtureTimes(t *testing.T) {
	p := NewPerturbedMixture(NCSNMixture(), testSDEs[1])
	x := ad.MatOf(3, 2, []float64{1, 2, 1, 2, 1, 2})
	times := []float64{0.9, 0.01, 0.5}
	got := ad.NewMat(3, 2)
	p.NewTimeScoreFunc()(got, x, times)
	for b, tt := range times {
		one := ad.NewMat(1, 2)
		p.NewTimeScoreFunc()(one, x.RowRange(b, b+1), []float64{tt})
		if one.At(0, 0) != got.At(b, 0) || one.At(0, 1) != got.At(b, 1) {
			t.Errorf("row %d at t=%v: %v in the batch, %v alone", b, tt, got.Row(b), one.Row(0))
		}
	}
	mustPanic(t, "times", func() { p.NewTimeScoreFunc()(got, x, times[:2]) })
	mustPanic(t, "div", func() { p.NewDivScoreFunc()(got, make([]float64, 2), x, times, nil) })
	mustPanic(t, "probe", func() { p.NewDivScoreFunc()(got, make([]float64, 3), x, times, []ad.Mat{ad.NewMat(2, 2)}) })
	mustPanic(t, "nil SDE", func() { NewPerturbedMixture(NCSNMixture(), nil) })
	mustPanic(t, "invalid SDE", func() { NewPerturbedMixture(NCSNMixture(), sde.VE{SigmaMin: 0.01}) })
}

// flatten concatenates rows.
func flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}
