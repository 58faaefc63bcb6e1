package sampler

import (
	"math"
	"testing"

	"scorematch/ad"
)

// TestAISGaussian estimates log Z of the 10-D Gaussian energy
// E = ½(x−μ)ᵀΛ(x−μ) with a correlated Λ and compares it with
// (D/2)log 2π − ½ log det Λ: within 3 standard errors, and the standard
// error must be small enough (< 0.05) for that to mean something. Over 30
// seeds the z-scores of this set-up had mean 0.03 and rms 0.80, so the
// standard error is honest.
func TestAISGaussian(t *testing.T) {
	prec, _ := invert(t, corrCov(10, 0.7, 0.5, 1.5))
	e := &quadEnergy{mu: []float64{1, -1, 0.5, 0, 0, 2, -2, 0, 1, 0}, prec: prec}
	truth := e.logZ(t)
	a := AIS{BaseScale: 2, Temps: 1000, Step: 0.2, Leapfrog: 5, Chains: 256, Seed: 14}
	maxErr := 0.05
	if testing.Short() {
		a.Temps, a.Chains, maxErr = 500, 128, 0.1
	}
	r, err := a.Run(e)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("AIS log Z = %.4f ± %.4f, truth %.4f (weight ESS %.0f of %d, acceptance %.3f, steps %.3f → %.3f)",
		r.LogZ, r.StdErr, truth, r.WeightESS, a.Chains, r.AcceptRate, r.Steps[0], r.Steps[len(r.Steps)-1])
	if math.Abs(r.LogZ-truth) > 3*r.StdErr {
		t.Errorf("log Z = %.4f ± %.4f, want %.4f", r.LogZ, r.StdErr, truth)
	}
	if !(r.StdErr < maxErr) {
		t.Errorf("standard error %.3g too large", r.StdErr)
	}
}

// TestAISWeightsExact: with K = 1 there are no transitions and the weights
// are plain importance weights p̃(x)/π₀(x) of base samples, so
// log Ẑ is the log-mean-exp of those, computed here independently.
func TestAISWeightsExact(t *testing.T) {
	g, err := NewGaussianTarget([]float64{0.3, -0.2}, ad.MatOf(2, 2, []float64{1, 0.3, 0.3, 0.8}))
	if err != nil {
		t.Fatal(err)
	}
	d := shifted{g, 1.5}
	r, err := AIS{BaseScale: 1.5, Temps: 1, Step: 1, Leapfrog: 1, Chains: 4000, Seed: 2}.Run(d)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.LogZ-1.5) > 3*r.StdErr || r.StdErr > 0.05 {
		t.Errorf("log Z = %.4f ± %.4f, want 1.5", r.LogZ, r.StdErr)
	}
	if r.WeightESS < 1 || r.WeightESS > 4000 {
		t.Errorf("weight ESS %v", r.WeightESS)
	}
}

func TestAISSchedule(t *testing.T) {
	b, err := AIS{Temps: 10}.schedule()
	if err != nil || len(b) != 11 || b[0] != 0 || b[10] != 1 {
		t.Fatalf("schedule %v", b)
	}
	for i := 1; i < len(b); i++ {
		if !(b[i] > b[i-1]) {
			t.Fatalf("schedule not increasing: %v", b)
		}
	}
	custom := []float64{0, 0.5, 1}
	if got, _ := (AIS{Betas: custom}).schedule(); &got[0] != &custom[0] {
		t.Error("custom schedule not used")
	}
}

// TestGridLogZMixture integrates an unnormalised 2-D mixture, the mixture
// density times e^c, whose log Z is c, within 1e-6.
func TestGridLogZMixture(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *Mixture
		box  float64
	}{
		{"ncsn", NCSNMixture(), 14},
		{"grid", Grid(), 7},
	} {
		d := shifted{c.m, -3.7}
		got, err := GridLogZ(d, []float64{-c.box, -c.box}, []float64{c.box, c.box}, 301)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: grid log Z = %.10f, want -3.7", c.name, got)
		if math.Abs(got+3.7) > 1e-6 {
			t.Errorf("%s: log Z = %.10f, want -3.7", c.name, got)
		}
	}
	// One dimension, and a coarse grid that must show its error.
	g1, _ := NewGaussianTarget([]float64{0.5}, ad.MatOf(1, 1, []float64{0.25}))
	if z, err := GridLogZ(shifted{g1, 2}, []float64{-5}, []float64{6}, 200); err != nil || math.Abs(z-2) > 1e-9 {
		t.Errorf("1-D log Z = %v, %v; want 2", z, err)
	}
	if z, _ := GridLogZ(g1, []float64{-5}, []float64{6}, 12); math.Abs(z) < 1e-6 {
		t.Errorf("a 1-point-per-σ grid gave log Z = %v: suspiciously exact", z)
	}
	if _, err := GridLogZ(corrGaussian(t, 3), []float64{0, 0, 0}, []float64{1, 1, 1}, 10); err == nil {
		t.Error("D = 3: no error")
	}
	mustPanic(t, "box", func() { GridLogZ(g1, []float64{1}, []float64{1}, 10) })
}

func TestLogLikelihood(t *testing.T) {
	g := corrGaussian(t, 4)
	x := ad.NewMat(5, 4)
	g.Sample(x, newRand(15))
	lp := EvalLogDensity(g, x)
	want := 0.0
	for _, v := range lp {
		want += v
	}
	want /= 5
	if got := LogLikelihood(shifted{g, 2}, x, 2); math.Abs(got-want) > 1e-12 {
		t.Errorf("LogLikelihood = %v, want %v", got, want)
	}
}
