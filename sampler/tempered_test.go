package sampler

import (
	"math"
	"testing"

	"scorematch/ad"
)

// TestTempered checks the tempered score, and that annealed Langevin with it
// on N(0, I) ends near N(0, I): the last level is temperature 1.
func TestTempered(t *testing.T) {
	g, err := NewGaussianTarget([]float64{1, -1}, ad.MatOf(2, 2, []float64{1, 0, 0, 1}))
	if err != nil {
		t.Fatal(err)
	}
	x := ad.MatOf(1, 2, []float64{0.3, 0.7})
	want := EvalScore(g, x)
	got := ad.NewMat(1, 2)
	Tempered(g, 0.5).NewCondScoreFunc()(got, x, 2) // T = 16
	for i := range got.Data {
		if math.Abs(got.Data[i]-want.Data[i]/16) > 1e-15 {
			t.Errorf("tempered score %v, want %v/16", got.Data, want.Data)
		}
	}
	n := 4000
	xs := ad.NewMat(n, 2)
	a := AnnealedLangevin{Sigmas: GeometricSigmas(3, 1, 5), Step: 0.05, Steps: 200, Seed: 1}
	if err := a.Run(Tempered(g, 1), xs); err != nil {
		t.Fatal(err)
	}
	// ULA with step 0.05 on N(μ, I) has stationary variance 1/(1 − ε/4) ≈ 1.013.
	for j, mu := range []float64{1, -1} {
		m, v := 0.0, 0.0
		for i := range n {
			m += xs.At(i, j) / float64(n)
		}
		for i := range n {
			v += (xs.At(i, j) - m) * (xs.At(i, j) - m) / float64(n-1)
		}
		if math.Abs(m-mu) > 4*math.Sqrt(1.0/float64(n)) || math.Abs(v-1.013) > 0.1 {
			t.Errorf("coordinate %d: mean %.3f (want %g), variance %.3f (want 1.013)", j, m, mu, v)
		}
	}
}
