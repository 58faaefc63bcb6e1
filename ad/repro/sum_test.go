package repro

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
)

// TestSumChunkRangeScaled checks the chunk-order sum against the plain
// loop it stands for, over part counts around the kernel's batch of parts,
// empty parts, both scalings, and non-finite values.
func TestSumChunkRangeScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, chunks := range []int{0, 1, 2, 3, maxVectorParts, maxVectorParts + 1, 2*maxVectorParts + 5} {
		for _, sc := range []struct{ mul, div float64 }{{1, 0}, {1.0 / 128, 0}, {0, 3}} {
			const n, lo, width = 37, 5, 50
			parts := make([][]ad.Mat, chunks)
			for c := range parts {
				if c%7 == 3 {
					continue // an empty chunk
				}
				m := ad.NewMat(1, width)
				for j := range m.Data {
					m.Data[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6))
				}
				parts[c] = []ad.Mat{{}, m} // parameter 0 unused
			}
			want := make([]float64, n)
			for j := range want {
				s := 0.0
				for _, p := range parts {
					if len(p) > 1 {
						s += p[1].Data[lo+j]
					}
				}
				if sc.mul != 0 {
					s *= sc.mul
				} else {
					s /= sc.div
				}
				want[j] = s
			}
			got := make([]float64, n)
			if !SumChunkRangeScaled(got, parts, 1, lo, sc.mul, sc.div) {
				t.Errorf("%d chunks: finite sums reported non-finite", chunks)
			}
			for j := range got {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
					t.Fatalf("%d chunks, scale %v: element %d is %v, want %v", chunks, sc, j, got[j], want[j])
				}
			}
			if chunks > 1 && parts[0] != nil {
				parts[0][1].Data[lo+n/2] = math.Inf(-1)
				if SumChunkRangeScaled(got, parts, 1, lo, sc.mul, sc.div) {
					t.Errorf("%d chunks: an infinite part reported finite", chunks)
				}
			}
		}
	}
}

func TestSumChunks(t *testing.T) {
	a, b := ad.NewMat(2, 2), ad.NewMat(2, 2)
	copy(a.Data, []float64{1, 2, 3, 4})
	copy(b.Data, []float64{10, 20, 30, 40})
	dst := []ad.Mat{ad.NewMat(2, 2)}
	SumChunks(dst, [][]ad.Mat{{a}, nil, {b}})
	for i, want := range []float64{11, 22, 33, 44} {
		if dst[0].Data[i] != want {
			t.Errorf("element %d: %v, want %v", i, dst[0].Data[i], want)
		}
	}
}
