package sampler

import (
	"math"
	"testing"

	"scorematch/ad"
)

// TestModeWeights checks that samples of a mixture fall in its modes in
// proportion to its weights, and that rows are assigned to the nearest
// well-separated mode.
func TestModeWeights(t *testing.T) {
	m := NCSNMixture()
	w := m.Weights()
	if math.Abs(w[0]-0.2) > 1e-15 || math.Abs(w[1]-0.8) > 1e-15 {
		t.Fatalf("weights %v, want 0.2, 0.8", w)
	}
	x := ad.NewMat(20000, 2)
	m.Sample(x, newRand(7))
	got := m.ModeWeights(x)
	// Binomial standard error √(0.16/20000) ≈ 0.0028: 5 of them.
	if math.Abs(got[0]-0.2) > 0.014 || math.Abs(got[1]-0.8) > 0.014 {
		t.Errorf("mode weights %v of samples, want 0.2, 0.8 within 0.014", got)
	}
	pts := ad.NewMat(3, 2)
	copy(pts.Data, []float64{-5, -5, 5, 5, 4, 6})
	if got := m.ModeWeights(pts); got[0] != 1.0/3 || got[1] != 2.0/3 {
		t.Errorf("mode weights %v of three points, want 1/3, 2/3", got)
	}
}
