package sampler

import (
	"math"
	"runtime"
	"slices"
	"testing"

	"scorematch/ad"
)

// upperFraction returns the fraction of rows in the (5,5) mode's half plane
// x₁ + x₂ > 0.
func upperFraction(x ad.Mat) float64 {
	n := 0
	for b := range x.Rows {
		if x.At(b, 0)+x.At(b, 1) > 0 {
			n++
		}
	}
	return float64(n) / float64(x.Rows)
}

// TestT6 is T6 of the design notes. Chains start uniform on [−8,8]², whose
// halves the score's basins split about evenly, and plain Langevin cannot
// cross the barrier between the modes; annealing starts from σ = 20, where
// the smoothed density is unimodal and the weights 0.2/0.8 show. The
// binomial standard error of a fraction is about 0.013 for 1280 chains, so
// the bands are ±4–5 standard errors around 0.51 and 0.80.
func TestT6(t *testing.T) {
	m := NCSNMixture()
	x0 := uniformMat(newRand(7), 1280, 2, -8, 8)

	x := x0.Clone()
	if err := (Langevin{Step: 0.1, Steps: 1000, Seed: 1}).Run(m, x); err != nil {
		t.Fatal(err)
	}
	plain := upperFraction(x)

	x = x0.Clone()
	al := AnnealedLangevin{Sigmas: GeometricSigmas(20, 1, 10), Step: 0.1, Steps: 100, Seed: 1}
	if err := al.Run(m, x); err != nil {
		t.Fatal(err)
	}
	annealed := upperFraction(x)
	t.Logf("fraction in the (5,5) mode: Langevin %.3f, annealed Langevin %.3f", plain, annealed)
	if plain < 0.45 || plain > 0.57 {
		t.Errorf("Langevin leaves %.3f in the (5,5) mode, want 0.45–0.57", plain)
	}
	if annealed < 0.75 || annealed > 0.85 {
		t.Errorf("annealed Langevin puts %.3f in the (5,5) mode, want 0.75–0.85", annealed)
	}
}

// TestLangevinStationary checks that unadjusted Langevin with a small step
// samples a 2-D Gaussian: its O(ε) bias on the variance is (for N(0, s²))
// s²/(1 − ε/(4s²)) − s², below 1.3% here, inside the tolerance.
func TestLangevinStationary(t *testing.T) {
	g, err := NewGaussianTarget([]float64{1, -1}, ad.MatOf(2, 2, []float64{1, 0.5, 0.5, 2}))
	if err != nil {
		t.Fatal(err)
	}
	x := ad.NewMat(4000, 2)
	if err := (Langevin{Step: 0.05, Steps: 400, Seed: 3}).Run(g, x); err != nil {
		t.Fatal(err)
	}
	mean, cov, pv := moments(x, nil)
	mu, want := g.Mean(), g.Cov()
	for i := range 2 {
		if se := math.Sqrt(want.At(i, i) / 4000); math.Abs(mean[i]-mu[i]) > 4.5*se {
			t.Errorf("mean[%d] = %.3f, want %.3f", i, mean[i], mu[i])
		}
		for j := range 2 {
			tol := 4.5*math.Sqrt(pv.At(i, j)/4000) + 0.02*want.At(i, i)
			if math.Abs(cov.At(i, j)-want.At(i, j)) > tol {
				t.Errorf("cov[%d,%d] = %.3f, want %.3f ± %.3f", i, j, cov.At(i, j), want.At(i, j), tol)
			}
		}
	}
}

func TestLangevinDiverges(t *testing.T) {
	g := NCSNMixture()
	x := ad.NewMat(4, 2)
	if err := (Langevin{Step: 10, Steps: 2000, Seed: 1}).Run(g, x); err == nil {
		t.Error("no error for a diverging chain")
	}
}

func TestGeometricSigmas(t *testing.T) {
	s := GeometricSigmas(20, 1, 10)
	if len(s) != 10 || s[0] != 20 || s[9] != 1 {
		t.Fatalf("GeometricSigmas(20, 1, 10) = %v", s)
	}
	r := s[1] / s[0]
	for i := 1; i < len(s); i++ {
		if math.Abs(s[i]/s[i-1]-r) > 1e-12 {
			t.Errorf("ratio %d = %v, want %v", i, s[i]/s[i-1], r)
		}
	}
	if got := GeometricSigmas(3, 3, 1); !slices.Equal(got, []float64{3}) {
		t.Errorf("GeometricSigmas(3, 3, 1) = %v", got)
	}
	mustPanic(t, "lo > hi", func() { GeometricSigmas(1, 2, 3) })
	mustPanic(t, "n = 0", func() { GeometricSigmas(2, 1, 0) })
}

// TestSamplerPanics checks the programmer errors: a shape mismatch, and an
// evaluator's panic, re-raised in the caller. (Bad settings are errors:
// TestConfigErrors.)
func TestSamplerPanics(t *testing.T) {
	g := NCSNMixture()
	x := ad.NewMat(3, 2)
	mustPanic(t, "columns", func() { Langevin{Step: 1, Steps: 1}.Run(g, ad.NewMat(3, 3)) })
	mustPanic(t, "evaluator panic reaches the caller", func() {
		Langevin{Step: 1, Steps: 1}.Run(badScore{}, x)
	})
}

// badScore panics when evaluated.
type badScore struct{}

func (badScore) Dim() int { return 2 }
func (badScore) NewScoreFunc() ScoreFunc {
	return func(dst, x ad.Mat) { panic("bad score") }
}

// TestDeterministic runs every sampler at GOMAXPROCS 1, 2 and 8 and
// requires bit-identical results.
func TestDeterministic(t *testing.T) {
	g := corrGaussian(t, 3)
	m := NCSNMixture()
	runs := map[string]func() []float64{
		"langevin": func() []float64 {
			x := uniformMat(newRand(8), 37, 2, -8, 8)
			if err := (Langevin{Step: 0.1, Steps: 50, Seed: 9}).Run(m, x); err != nil {
				t.Fatal(err)
			}
			return x.Data
		},
		"annealed": func() []float64 {
			x := uniformMat(newRand(8), 37, 2, -8, 8)
			if err := (AnnealedLangevin{Sigmas: GeometricSigmas(10, 1, 4), Step: 0.1, Steps: 10, Seed: 9}).Run(m, x); err != nil {
				t.Fatal(err)
			}
			return x.Data
		},
		"mala": func() []float64 {
			x := normalMat(newRand(8), 13, 3, 1)
			tr, st, err := MALA{Step: 0.3, Warmup: 20, Draws: 20, Seed: 9, Chunks: 5}.Run(g, x)
			if err != nil {
				t.Fatal(err)
			}
			return append(append(tr.Data, st.StepSize...), st.ChainAcceptRate...)
		},
		"hmc": func() []float64 {
			x := normalMat(newRand(8), 13, 3, 1)
			tr, st, err := HMC{Step: 0.3, Leapfrog: 5, Jitter: 0.1, Warmup: 20, Draws: 20, Seed: 9}.Run(g, x)
			if err != nil {
				t.Fatal(err)
			}
			return append(append(tr.Data, st.StepSize...), st.ChainAcceptRate...)
		},
		"ais": func() []float64 {
			r, err := AIS{BaseScale: 2, Temps: 20, Step: 0.3, Leapfrog: 3, Chains: 21, Seed: 9}.Run(g)
			if err != nil {
				t.Fatal(err)
			}
			return append(r.LogWeights, r.Steps...)
		},
		"mmd": func() []float64 {
			x, y := normalMat(newRand(8), 30, 2, 1), normalMat(newRand(9), 30, 2, 1)
			r := MMDTest(x, y, 50, 9)
			return []float64{r.MMD2, r.PValue}
		},
		"score": func() []float64 {
			return EvalScore(m, uniformMat(newRand(8), 37, 2, -8, 8)).Data
		},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for name, run := range runs {
		var ref []float64
		for _, procs := range []int{1, 2, 8} {
			runtime.GOMAXPROCS(procs)
			got := run()
			if ref == nil {
				ref = got
				continue
			}
			if len(got) != len(ref) {
				t.Fatalf("%s: GOMAXPROCS %d: %d values, want %d", name, procs, len(got), len(ref))
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
					t.Errorf("%s: GOMAXPROCS %d: value %d is %v, want %v", name, procs, i, got[i], ref[i])
					break
				}
			}
		}
	}
}
