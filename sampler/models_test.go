package sampler

import (
	"math"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/nn"
)

// nnGaussian returns nn's Gaussian energy with the mean and covariance of
// g, and the log normaliser of exp(−E).
func nnGaussian(t *testing.T, g *Mixture) (*nn.GaussianEnergy, float64) {
	prec, logDetCov := invert(t, g.Cov())
	e := nn.NewGaussianEnergy(g.Dim())
	e.SetMean(g.Mean())
	if err := e.SetPrecision(prec); err != nil {
		t.Fatal(err)
	}
	return e, 0.5*float64(g.Dim())*math.Log(2*math.Pi) + 0.5*logDetCov
}

// TestFromEnergyGaussian checks log p̃ = −E and the score of nn's Gaussian
// energy against the analytic Gaussian, and its log Z by AIS (5-D, within 3
// standard errors) and quadrature (2-D, within 1e-6).
func TestFromEnergyGaussian(t *testing.T) {
	g := corrGaussian(t, 5)
	e, logZ := nnGaussian(t, g)
	d := FromEnergy(e)
	x := normalMat(newRand(70), 9, 5, 1.5)
	got, want := EvalLogDensity(d, x), EvalLogDensity(g, x)
	for i := range got {
		if math.Abs(got[i]-(want[i]+logZ)) > 1e-10*math.Max(1, math.Abs(got[i])) {
			t.Errorf("log p̃[%d] = %v, want %v", i, got[i], want[i]+logZ)
		}
	}
	if e, at := fd.RelErr(EvalScore(d, x).Data, EvalScore(g, x).Data, 1e-3); e > 1e-10 {
		t.Errorf("score differs by %.2g at %d", e, at)
	}

	r, err := AIS{BaseScale: 2, Temps: 500, Step: 0.2, Leapfrog: 5, Chains: 256, Seed: 71}.Run(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nn.GaussianEnergy 5-D: AIS log Z = %.4f ± %.4f, truth %.4f", r.LogZ, r.StdErr, logZ)
	if math.Abs(r.LogZ-logZ) > 3*r.StdErr || r.StdErr > 0.1 {
		t.Errorf("AIS log Z = %.4f ± %.4f, want %.4f", r.LogZ, r.StdErr, logZ)
	}

	g2 := corrGaussian(t, 2)
	e2, logZ2 := nnGaussian(t, g2)
	z, err := GridLogZ(FromEnergy(e2), []float64{-10, -10}, []float64{10, 10}, 201)
	if err != nil || math.Abs(z-logZ2) > 1e-6 {
		t.Errorf("grid log Z = %v, %v; want %v", z, err, logZ2)
	}
	// Held-out log-likelihood of the normalised model equals the exact one.
	y := ad.NewMat(50, 2)
	g2.Sample(y, newRand(72))
	exact := 0.0
	for _, v := range EvalLogDensity(g2, y) {
		exact += v / 50
	}
	if ll := LogLikelihood(FromEnergy(e2), y, z); math.Abs(ll-exact) > 1e-6 {
		t.Errorf("log-likelihood %v, want %v", ll, exact)
	}
}

// TestFromEnergyMLP checks the energy adapter's score against the numerical
// gradient of its log-density.
func TestFromEnergyMLP(t *testing.T) {
	m, err := nn.NewEnergyMLP(3, []int{16, 16}, "softplus", newRand(73))
	if err != nil {
		t.Fatal(err)
	}
	d := FromEnergy(m)
	x := normalMat(newRand(74), 4, 3, 1)
	lp := make([]float64, 4)
	s := ad.NewMat(4, 3)
	f := d.NewLogDensityFunc()
	f(lp, s, x)
	s2 := ad.NewMat(4, 3)
	d.NewScoreFunc()(s2, x)
	if e, _ := fd.RelErr(s2.Data, s.Data, 0); e != 0 {
		t.Errorf("ScoreFunc and LogDensityFunc differ by %v", e)
	}
	one := make([]float64, 1)
	for b := range 4 {
		row := x.Row(b)
		xm := ad.MatOf(1, 3, row)
		logp := func() float64 { f(one, ad.Mat{}, xm); return one[0] }
		if logp() != lp[b] {
			t.Errorf("row %d: log p̃ alone %v, with the score %v", b, logp(), lp[b])
		}
		if e, at := fd.CheckGrad(logp, row, s.Row(b), fd.DefaultStep); e > 1e-7 {
			t.Errorf("row %d: score off by %.2g at %d", b, e, at)
		}
	}
}

// TestFromScoreModels checks the score-net adapters against direct
// evaluation on a tape.
func TestFromScoreModels(t *testing.T) {
	sm, err := nn.NewScoreMLP(3, []int{8}, "tanh", newRand(75))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := nn.NewNCSN(3, []int{8}, "softplus", newRand(76))
	if err != nil {
		t.Fatal(err)
	}
	x := normalMat(newRand(77), 6, 3, 1)
	tp := ad.NewTape()

	want := sm.Score(tp, tp.Input(x, false)).Primal().Clone()
	got := ad.NewMat(6, 3)
	FromScore(sm).NewScoreFunc()(got, x)
	if e, _ := fd.RelErr(got.Data, want.Data, 0); e != 0 {
		t.Errorf("FromScore differs by %v", e)
	}

	sig := ad.MatOf(6, 1, []float64{0.7, 0.7, 0.7, 0.7, 0.7, 0.7})
	tp.Reset()
	want = cm.CondScore(tp, tp.Input(x, false), sig).Primal().Clone()
	f := FromCondScore(cm).NewCondScoreFunc()
	f(got.RowRange(0, 2), x.RowRange(0, 2), 0.3) // a different batch size first
	got = ad.NewMat(6, 3)
	f(got, x, 0.7)
	if e, _ := fd.RelErr(got.Data, want.Data, 0); e != 0 {
		t.Errorf("FromCondScore differs by %v", e)
	}
	mustPanic(t, "nil", func() { FromScore(nil) })
}

// TestModelsDeterministic runs samplers on nn models at GOMAXPROCS 1, 2
// and 8 and requires bit-identical results.
func TestModelsDeterministic(t *testing.T) {
	em, _ := nn.NewEnergyMLP(2, []int{16}, "softplus", newRand(78))
	sm, _ := nn.NewScoreMLP(2, []int{16}, "tanh", newRand(79))
	cm, _ := nn.NewNCSN(2, []int{16}, "softplus", newRand(80))
	run := func() []float64 {
		var out []float64
		x := normalMat(newRand(81), 29, 2, 1)
		if err := (Langevin{Step: 0.01, Steps: 20, Seed: 1}).Run(FromScore(sm), x); err != nil {
			t.Fatal(err)
		}
		out = append(out, x.Data...)
		if err := (AnnealedLangevin{Sigmas: GeometricSigmas(2, 0.5, 3), Step: 0.01, Steps: 5, Seed: 1}).Run(FromCondScore(cm), x); err != nil {
			t.Fatal(err)
		}
		out = append(out, x.Data...)
		tr, _, err := HMC{Step: 0.1, Leapfrog: 3, Warmup: 5, Draws: 5, Seed: 1}.Run(FromEnergy(em), x)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, tr.Data...)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref []float64
	for _, p := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(p)
		got := run()
		if ref == nil {
			ref = got
			continue
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
				t.Fatalf("GOMAXPROCS %d: value %d is %v, want %v", p, i, got[i], ref[i])
			}
		}
	}
}

// TestModelEvaluatorAllocs checks that the adapters' evaluators allocate
// nothing once warm.
func TestModelEvaluatorAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	em, _ := nn.NewEnergyMLP(2, []int{16}, "softplus", newRand(82))
	cm, _ := nn.NewNCSN(2, []int{16}, "softplus", newRand(83))
	x := normalMat(newRand(84), 32, 2, 1)
	dst := ad.NewMat(32, 2)
	lp := make([]float64, 32)
	f := FromEnergy(em).NewLogDensityFunc()
	s := FromEnergy(em).NewScoreFunc()
	c := FromCondScore(cm).NewCondScoreFunc()
	for name, fn := range map[string]func(){
		"energy log-density": func() { f(lp, dst, x) },
		"energy only":        func() { f(lp, ad.Mat{}, x) },
		"energy score":       func() { s(dst, x) },
		"cond score":         func() { c(dst, x, 0.5) },
	} {
		fn()
		if a := testing.AllocsPerRun(10, fn); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}
