package sampler

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"scorematch/ad"
)

// checkChains compares the trace's mean and covariance with the exact ones.
// Error bars use the ESS: a mean's standard error is sqrt(Σᵢᵢ/ESSᵢ), a
// covariance entry's is sqrt(Var(yᵢⱼ)/ESS(yᵢⱼ)) for the product series
// yᵢⱼ = (xᵢ − μᵢ)(xⱼ − μⱼ), whose mean is Σᵢⱼ. With 65 statistics, a bound of
// 4.5 standard errors fails a correct sampler with probability below 1e-3.
func checkChains(t *testing.T, tr *Trace, mu []float64, cov ad.Mat) {
	t.Helper()
	d := tr.Dim
	ess := tr.ESS()
	x := tr.Samples()
	mean, sc, pv := moments(x, mu)
	prod := &Trace{Draws: tr.Draws, Chains: tr.Chains, Dim: d * d, Data: make([]float64, x.Rows*d*d)}
	for b := range x.Rows {
		r := x.Row(b)
		for i := range d {
			for j := range d {
				prod.Data[b*d*d+i*d+j] = (r[i] - mu[i]) * (r[j] - mu[j])
			}
		}
	}
	pess := prod.ESS()
	minESS := math.Inf(1)
	for i := range d {
		minESS = math.Min(minESS, ess[i])
		se := math.Sqrt(cov.At(i, i) / ess[i])
		if math.Abs(mean[i]-mu[i]) > 4.5*se {
			t.Errorf("mean[%d] = %.4f, want %.4f ± %.4f (ESS %.0f)", i, mean[i], mu[i], 4.5*se, ess[i])
		}
		for j := range d {
			k := i*d + j
			se := math.Sqrt(pv.Data[k] / pess[k])
			if math.Abs(sc.Data[k]-cov.Data[k]) > 4.5*se {
				t.Errorf("cov[%d,%d] = %.4f, want %.4f ± %.4f (ESS %.0f)", i, j, sc.Data[k], cov.Data[k], 4.5*se, pess[k])
			}
		}
	}
	t.Logf("%d draws × %d chains, smallest ESS of a coordinate %.0f", tr.Draws, tr.Chains, minESS)
	if minESS < 500 {
		t.Errorf("smallest ESS %.0f: the test has no power", minESS)
	}
}

func TestMALAGaussian(t *testing.T) {
	g := corrGaussian(t, 10)
	x := normalMat(newRand(10), 64, 10, 2)
	tr, st, err := MALA{Step: 0.1, Warmup: 500, Draws: 800, Thin: 5, Seed: 11}.Run(g, x)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MALA acceptance %.3f (target 0.574), step sizes %.3f–%.3f", st.AcceptRate, slices.Min(st.StepSize), slices.Max(st.StepSize))
	if math.Abs(st.AcceptRate-0.574) > 0.1 {
		t.Errorf("acceptance %.3f, adaptation aimed at 0.574", st.AcceptRate)
	}
	checkChains(t, tr, g.Mean(), g.Cov())
}

func TestHMCGaussian(t *testing.T) {
	g := corrGaussian(t, 10)
	x := normalMat(newRand(12), 32, 10, 2)
	tr, st, err := HMC{Step: 0.1, Leapfrog: 10, Jitter: 0.2, Warmup: 300, Draws: 500, Seed: 13}.Run(g, x)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HMC acceptance %.3f (target 0.8), step sizes %.3f–%.3f", st.AcceptRate, slices.Min(st.StepSize), slices.Max(st.StepSize))
	if math.Abs(st.AcceptRate-0.8) > 0.1 {
		t.Errorf("acceptance %.3f, adaptation aimed at 0.8", st.AcceptRate)
	}
	checkChains(t, tr, g.Mean(), g.Cov())
}

// TestMCMCRejectsBadStart checks the error for a start outside the support.
func TestMCMCRejectsBadStart(t *testing.T) {
	x := ad.MatOf(2, 2, []float64{0, 0, math.Inf(1), 0})
	if _, _, err := (MALA{Step: 0.1, Draws: 1}).Run(NCSNMixture(), x); err == nil {
		t.Error("MALA: no error")
	}
	if _, _, err := (HMC{Step: 0.1, Leapfrog: 1, Draws: 1}).Run(NCSNMixture(), x); err == nil {
		t.Error("HMC: no error")
	}
}

// TestESS checks the estimator on AR(1) chains xₜ = φxₜ₋₁ + √(1−φ²)zₜ,
// whose integrated autocorrelation time is (1+φ)/(1−φ), and on independent
// draws (τ = 1). With 8 chains of 5000 draws the estimate of τ has a
// relative error of a few percent; the test allows 15%.
func TestESS(t *testing.T) {
	for _, phi := range []float64{0, 0.5, 0.9, -0.3} {
		t.Run(fmt.Sprint(phi), func(t *testing.T) {
			const chains, draws = 8, 5000
			tr := &Trace{Draws: draws, Chains: chains, Dim: 1, Data: make([]float64, chains*draws)}
			for c := range chains {
				rng := newRand(uint64(100 + c))
				x := rng.NormFloat64()
				for i := range draws {
					tr.Data[i*chains+c] = x
					x = phi*x + math.Sqrt(1-phi*phi)*rng.NormFloat64()
				}
			}
			tau := (1 + phi) / (1 - phi)
			want := chains * draws / tau
			got := tr.ESS()[0]
			t.Logf("φ = %v: ESS %.0f, want %.0f", phi, got, want)
			if math.Abs(got/want-1) > 0.15 {
				t.Errorf("ESS = %.0f, want %.0f ± 15%%", got, want)
			}
		})
	}
	short := &Trace{Draws: 3, Chains: 2, Dim: 1, Data: make([]float64, 6)}
	if e := short.ESS()[0]; !math.IsNaN(e) {
		t.Errorf("ESS of 3 draws = %v, want NaN", e)
	}
}
