package ad

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWeightCache checks that tapes sharing weight transposes compute the
// same bits as tapes without, and that Invalidate picks up changed weights.
func TestWeightCache(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	m := newMLP(rng, Tanh, 37, 45, 19, 1)
	x, v := randMat(rng, 13, 37, 1), randMat(rng, 13, 37, 1)
	cache := NewWeightCache()
	eval := func(c *WeightCache) (float64, []float64) {
		so := NewSecondOrder()
		so.UseWeightCache(c)
		loss := so.Eval(m.forward, x, []Mat{v}, []int{2}, ssmJetLoss, halfSquaredNorm)
		return loss, flatGrad(m.params(), so.Grad)
	}
	for round := range 2 {
		want, wantGrad := eval(nil)
		got, gotGrad := eval(cache)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("round %d: loss %v with the cache, %v without", round, got, want)
		}
		for i := range gotGrad {
			if math.Float64bits(gotGrad[i]) != math.Float64bits(wantGrad[i]) {
				t.Fatalf("round %d: gradient %d is %v with the cache, %v without", round, i, gotGrad[i], wantGrad[i])
			}
		}
		for _, p := range m.params() { // a step changes the weights
			for i := range p.Value.Data {
				p.Value.Data[i] += 0.01 * rng.NormFloat64()
			}
		}
		cache.Invalidate()
	}
	if len(cache.entries) != 3 {
		t.Errorf("%d cached transposes, want one per weight (3)", len(cache.entries))
	}
}

// TestTransposeRange checks that ranges covering a parameter in any split
// give its transpose.
func TestTransposeRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	p := &Param{Name: "w", Value: randMat(rng, 7, 5, 1)}
	c := NewWeightCache()
	for _, cuts := range [][]int{{0, 35}, {0, 3, 4, 17, 35}, {0, 5, 10, 34, 35}, {0, 1, 2, 3, 33, 35}, {0, 6, 8, 9, 35}} {
		c.Invalidate()
		for k := len(cuts) - 1; k > 0; k-- {
			c.TransposeRange(p, cuts[k-1], cuts[k])
		}
		c.Validate()
		got := c.transpose(p)
		for i := range 7 {
			for j := range 5 {
				if got.At(j, i) != p.Value.At(i, j) {
					t.Fatalf("cuts %v: transpose (%d, %d) is %v, want %v", cuts, j, i, got.At(j, i), p.Value.At(i, j))
				}
			}
		}
		p.Value.Data[rng.IntN(35)] += 1 // must show up after the next refresh
	}
}
