package nn

import (
	"math/rand/v2"
	"testing"

	"scorematch/ad"
)

// TestAtNoiseLevel checks that the fixed-σ net gives h(x, σ) of the
// noise-conditional model, bit for bit, for any batch size.
func TestAtNoiseLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 5))
	m, err := NewNCSN(3, []int{6}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] = rng.NormFloat64()
		}
	}
	s := AtNoiseLevel(m, 0.7)
	for _, rows := range []int{4, 1, 4} {
		x := ad.NewMat(rows, 3)
		for i := range x.Data {
			x.Data[i] = rng.NormFloat64()
		}
		t1, t2 := ad.NewTape(), ad.NewTape()
		got := s.Score(t1, t1.Input(x, false)).Primal()
		col := ad.NewMat(rows, 1)
		for i := range col.Data {
			col.Data[i] = 0.7
		}
		want := m.CondScore(t2, t2.Input(x, false), col).Primal()
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Fatalf("%d rows: element %d is %v, want %v", rows, i, got.Data[i], want.Data[i])
			}
		}
	}
	if len(s.Params()) != len(m.Params()) || s.Dim() != 3 {
		t.Error("the fixed-σ net does not share the model's parameters and dimension")
	}
}
