package sampler

import (
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/ad/fd"
)

// analytic is what the tests need of an analytic distribution.
type analytic interface {
	Distribution
	LogDensity
	Mean() []float64
	Cov() ad.Mat
}

func analyticCases(t *testing.T) []struct {
	name string
	d    analytic
} {
	twoFull, err := NewMixture([]Component{
		{Weight: 1, Mean: []float64{-1, 2, 0}, Cov: ad.MatOf(3, 3, []float64{2, 0.5, 0.1, 0.5, 1, -0.3, 0.1, -0.3, 0.7})},
		{Weight: 3, Mean: []float64{2, 0, 1}, Cov: corrCov(3, -0.5, 0.4, 1.2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		d    analytic
	}{
		{"gaussian10", corrGaussian(t, 10)},
		{"mixture3", twoFull},
		{"ncsn", NCSNMixture()},
		{"8gaussians", EightGaussians()},
		{"grid", Grid()},
		{"banana", NewBanana(2, 0.25)},
	}
}

// TestSampleMoments checks that sample means and covariances of n = 20000
// independent draws match the exact moments within 4.5 Monte Carlo standard
// errors: sqrt(Σᵢᵢ/n) for a mean, sqrt(Var((xᵢ−μᵢ)(xⱼ−μⱼ))/n) for a
// covariance entry about the exact mean.
func TestSampleMoments(t *testing.T) {
	const n = 20000
	for _, c := range analyticCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dim := c.d.Dim()
			x := ad.NewMat(n, dim)
			c.d.Sample(x, newRand(1))
			mu, cov := c.d.Mean(), c.d.Cov()
			mean, sc, pv := moments(x, mu)
			for i := range dim {
				se := math.Sqrt(cov.At(i, i) / n)
				if math.Abs(mean[i]-mu[i]) > 4.5*se {
					t.Errorf("mean[%d] = %.4f, want %.4f ± %.4f", i, mean[i], mu[i], 4.5*se)
				}
				for j := range dim {
					se := math.Sqrt(pv.At(i, j) / n)
					if math.Abs(sc.At(i, j)-cov.At(i, j)) > 4.5*se {
						t.Errorf("cov[%d,%d] = %.4f, want %.4f ± %.4f", i, j, sc.At(i, j), cov.At(i, j), 4.5*se)
					}
				}
			}
		})
	}
}

// TestScoreIsGradient checks every analytic score against the central
// difference of its log-density, and ScoreFunc against LogDensityFunc.
func TestScoreIsGradient(t *testing.T) {
	for _, c := range analyticCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dim := c.d.Dim()
			x := ad.NewMat(5, dim)
			c.d.Sample(x, newRand(2))
			// Move some points off the bulk, where responsibilities mix.
			for i := range dim {
				x.Data[i] *= 0.5
			}
			lp := make([]float64, x.Rows)
			score := ad.NewMat(x.Rows, dim)
			f := c.d.NewLogDensityFunc()
			f(lp, score, x)
			s2 := ad.NewMat(x.Rows, dim)
			c.d.NewScoreFunc()(s2, x)
			if e, at := fd.RelErr(s2.Data, score.Data, 0); e != 0 {
				t.Errorf("ScoreFunc and LogDensityFunc differ at %d: %v vs %v", at, s2.Data[at], score.Data[at])
			}
			one := make([]float64, 1)
			for b := range x.Rows {
				row := x.Row(b)
				xm := ad.MatOf(1, dim, row)
				logp := func() float64 { f(one, ad.Mat{}, xm); return one[0] }
				if e, at := fd.CheckGrad(logp, row, score.Row(b), fd.DefaultStep); e > 1e-7 {
					t.Errorf("row %d: score differs from the numerical gradient by %.2g at %d", b, e, at)
				}
			}
		})
	}
}

// TestCondScore checks the noise-conditional score of a mixture against the
// score of the mixture built with covariances Σₖ + σ²I, and σ = 0 against
// the plain score.
func TestCondScore(t *testing.T) {
	comps := []Component{
		{Weight: 0.3, Mean: []float64{-1, 2}, Cov: ad.MatOf(2, 2, []float64{2, 0.5, 0.5, 1})},
		{Weight: 0.7, Mean: []float64{2, 0}, Cov: ad.MatOf(2, 2, []float64{0.5, -0.2, -0.2, 0.3})},
	}
	m, err := NewMixture(comps)
	if err != nil {
		t.Fatal(err)
	}
	x := uniformMat(newRand(3), 7, 2, -4, 4)
	cs := m.NewCondScoreFunc()
	got, want := ad.NewMat(7, 2), ad.NewMat(7, 2)
	for _, sigma := range []float64{0, 0.3, 2, 0.3} {
		conv := make([]Component, len(comps))
		for k, c := range comps {
			cov := c.Cov.Clone()
			cov.Data[0] += sigma * sigma
			cov.Data[3] += sigma * sigma
			conv[k] = Component{Weight: c.Weight, Mean: c.Mean, Cov: cov}
		}
		mc, err := NewMixture(conv)
		if err != nil {
			t.Fatal(err)
		}
		cs(got, x, sigma)
		mc.NewScoreFunc()(want, x)
		if e, at := fd.RelErr(got.Data, want.Data, 1e-3); e > 1e-12 {
			t.Errorf("σ = %v: conditional score off by %.2g at %d", sigma, e, at)
		}
	}
}

// TestNormalised integrates every 2-D analytic density on a grid: log Z
// must be 0 within 1e-6 (the quadrature error is far below that, see
// GridLogZ).
func TestNormalised(t *testing.T) {
	cases := []struct {
		name   string
		d      LogDensity
		lo, hi []float64
	}{
		{"ncsn", NCSNMixture(), []float64{-14, -14}, []float64{14, 14}},
		{"8gaussians", EightGaussians(), []float64{-9, -9}, []float64{9, 9}},
		{"grid", Grid(), []float64{-7, -7}, []float64{7, 7}},
		{"banana", NewBanana(2, 0.25), []float64{-18, -12}, []float64{18, 85}},
	}
	for _, c := range cases {
		logZ, err := GridLogZ(c.d, c.lo, c.hi, 401)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(logZ) > 1e-6 {
			t.Errorf("%s: log ∫p = %.3g, want 0", c.name, logZ)
		}
	}
}

func TestMixtureErrors(t *testing.T) {
	eye := ad.MatOf(2, 2, []float64{1, 0, 0, 1})
	for _, c := range []struct {
		name  string
		comps []Component
	}{
		{"not PD", []Component{{Weight: 1, Mean: []float64{0, 0}, Cov: ad.MatOf(2, 2, []float64{1, 2, 2, 1})}}},
		{"asymmetric", []Component{{Weight: 1, Mean: []float64{0, 0}, Cov: ad.MatOf(2, 2, []float64{1, 0.5, 0, 1})}}},
		{"zero weight", []Component{{Weight: 0, Mean: []float64{0, 0}, Cov: eye}}},
		{"NaN weight", []Component{{Weight: math.NaN(), Mean: []float64{0, 0}, Cov: eye}}},
	} {
		if _, err := NewMixture(c.comps); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	mustPanic(t, "no components", func() { NewMixture(nil) })
	mustPanic(t, "shape", func() { NewGaussianTarget([]float64{0, 0, 0}, eye) })
	mustPanic(t, "sample shape", func() { NCSNMixture().Sample(ad.NewMat(2, 3), newRand(1)) })
	mustPanic(t, "score shape", func() { NCSNMixture().NewScoreFunc()(ad.NewMat(2, 2), ad.NewMat(3, 2)) })
	mustPanic(t, "negative sigma", func() { NCSNMixture().NewCondScoreFunc()(ad.NewMat(2, 2), ad.NewMat(2, 2), -1) })
	mustPanic(t, "banana", func() { NewBanana(0, 1) })
	mustPanic(t, "moons", func() { TwoMoons(-1) })
}

func TestDatasets(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Datasets() {
		if d.Name == "" || d.Description == "" || d.Dist == nil || seen[d.Name] {
			t.Errorf("bad dataset %+v", d)
		}
		seen[d.Name] = true
		x := ad.NewMat(100, d.Dist.Dim())
		d.Dist.Sample(x, newRand(4))
		if err := checkFinite(d.Name, x); err != nil {
			t.Error(err)
		}
		got, err := LookupDataset(d.Name)
		if err != nil || got.Name != d.Name {
			t.Errorf("LookupDataset(%q) = %v, %v", d.Name, got.Name, err)
		}
	}
	if _, ok := any(TwoMoons(0.1)).(LogDensity); ok {
		t.Error("the two moons must not claim a density")
	}
	if _, err := LookupDataset("nope"); err == nil {
		t.Error("LookupDataset(nope): no error")
	}
}

// TestMoonsShape checks the moons' construction: noiseless points lie on
// the two unit half circles (after undoing the shift and scale).
func TestMoonsShape(t *testing.T) {
	x := ad.NewMat(1000, 2)
	TwoMoons(0).Sample(x, newRand(5))
	upper := 0
	for b := range x.Rows {
		u, v := x.At(b, 0)/2+0.5, x.At(b, 1)/2+0.25
		r1 := math.Hypot(u, v)
		r2 := math.Hypot(1-u, 0.5-v)
		switch {
		case math.Abs(r1-1) < 1e-12 && v >= 0:
			upper++
		case math.Abs(r2-1) < 1e-12 && v <= 0.5:
		default:
			t.Fatalf("point (%v, %v) is on neither moon", u, v)
		}
	}
	if upper < 430 || upper > 570 {
		t.Errorf("%d of 1000 points on the upper moon, want about 500", upper)
	}
}

// TestEvaluatorAllocs checks that the analytic evaluators allocate nothing
// per call.
func TestEvaluatorAllocs(t *testing.T) {
	m := Grid()
	x := uniformMat(newRand(6), 64, 2, -5, 5)
	dst := ad.NewMat(64, 2)
	lp := make([]float64, 64)
	s, f, c := m.NewScoreFunc(), m.NewLogDensityFunc(), m.NewCondScoreFunc()
	sigma := 0.5
	for name, fn := range map[string]func(){
		"score":      func() { s(dst, x) },
		"logdensity": func() { f(lp, dst, x) },
		"cond":       func() { sigma = 1.5 - sigma; c(dst, x, sigma) },
	} {
		if a := testing.AllocsPerRun(20, fn); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}
