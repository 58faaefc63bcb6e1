package repro

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/ad/rmath"
)

// TestNormalLikeNormFloat64 draws from Normal and rand.Rand.NormFloat64 on
// generators in the same state: they must agree on every draw except the
// tail's (|x| > zigR), where rmath.Log replaces math.Log. The tables are
// therefore those of NormFloat64.
func TestNormalLikeNormFloat64(t *testing.T) {
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	a, b := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	tails, differ := 0, 0
	for i := range n {
		x, y := Normal(a), b.NormFloat64()
		if math.Abs(y) > zigR {
			tails++
			if x != y {
				differ++
			}
			if math.Abs(x-y) > 1e-14 {
				t.Fatalf("draw %d, in the tail: Normal %v, NormFloat64 %v", i, x, y)
			}
			continue
		}
		if x != y {
			t.Fatalf("draw %d: Normal %v, NormFloat64 %v", i, x, y)
		}
	}
	t.Logf("%d draws, %d in the tail, %d of them differ in the last bits", n, tails, differ)
}

// TestZigguratTables recomputes the tables with exp and log perturbed by
// ±4 ulps: they do not change, so their values do not depend on the
// last bits of exp and log (those of any accurate implementation give
// the same tables).
func TestZigguratTables(t *testing.T) {
	for _, d := range []float64{-4, 4} {
		bump := func(v float64) float64 { return v + d*0x1p-52*math.Abs(v) }
		k, w, f := zigTables(func(x float64) float64 { return bump(rmath.Exp(x)) }, func(x float64) float64 { return bump(rmath.Log(x)) })
		if k != zigK || w != zigW || f != zigF {
			t.Errorf("tables computed with exp and log off by %v ulps differ", d)
		}
		k, w, f = zigTables(math.Exp, math.Log)
		if k != zigK || w != zigW || f != zigF {
			t.Errorf("tables computed with the math package differ")
		}
	}
}

// normalGoldenHash is the FNV-64a hash of the draws of TestNormalGolden.
const normalGoldenHash = 0x3cea40e470bcd4f0

// TestNormalGolden hashes 200 000 draws (some 120 from the tail): every
// architecture must reproduce the hash.
func TestNormalGolden(t *testing.T) {
	r := New(7, Data, 0, 0)
	h := adtest.NewHash()
	for range 200_000 {
		h.Add(Normal(r))
	}
	if got := h.Sum64(); got != normalGoldenHash {
		t.Errorf("hash %#016x, want %#016x", got, uint64(normalGoldenHash))
	}
}

// TestNormalMoments checks the first four moments of 10⁶ draws.
func TestNormalMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1_000_000
	var m [5]float64
	for range n {
		x := Normal(r)
		p := 1.0
		for k := 1; k <= 4; k++ {
			p *= x
			m[k] += p / n
		}
	}
	for k, c := range []struct{ want, tol float64 }{{0, 0}, {0, 0.005}, {1, 0.005}, {0, 0.02}, {3, 0.03}} {
		if k > 0 && math.Abs(m[k]-c.want) > c.tol {
			t.Errorf("E[x^%d] = %v, want %v ± %v", k, m[k], c.want, c.tol)
		}
	}
}
