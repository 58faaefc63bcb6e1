package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// A packImpl is one way to pack a full panel of w rows, kc steps:
// d[p*w+r] = src[r*ld+p]. It reports false if it cannot (packAcrossGo is then
// the one to compare with).
type packImpl struct {
	name string
	pack func(w, kc int, src []float64, ld int, d []float64) bool
}

// packImpls lists packAcross and the assembly transposes this machine runs
// (packAsmImpls).
func packImpls() []packImpl {
	whole := packImpl{"packAcross", func(w, kc int, src []float64, ld int, d []float64) bool {
		packAcross(w, w, kc, src, ld, d)
		return true
	}}
	return append([]packImpl{whole}, packAsmImpls()...)
}

// specialGen returns mixed values with NaN, ±Inf, −0 and subnormals among
// them.
func specialGen(rng *rand.Rand) func() float64 {
	mixed := mixedGen(rng)
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0,
		5e-324, -4.9e-310, math.Float64frombits(0x7ff8_dead_beef_0001)}
	return func() float64 {
		if rng.IntN(4) == 0 {
			return specials[rng.IntN(len(specials))]
		}
		return mixed()
	}
}

// TestPackFull checks that every packImpl writes exactly the bits of
// packAcrossGo for full panels and nothing beyond the panel.
func TestPackFull(t *testing.T) {
	const guard = 8
	rng := rand.New(rand.NewPCG(3, 4))
	gen := specialGen(rng)
	kcs := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 64, 255, 256}
	for _, impl := range packImpls() {
		for _, w := range []int{8, 16} {
			for _, kc := range kcs {
				for _, pad := range []int{0, 1, 5} {
					ld := kc + pad
					src := make([]float64, (w-1)*ld+kc)
					for i := range src {
						src[i] = gen()
					}
					want := make([]float64, kc*w+guard)
					got := make([]float64, kc*w+guard)
					for i := range want {
						want[i] = gen()
					}
					copy(got, want)
					packAcrossGo(w, w, kc, src, ld, want)
					if !impl.pack(w, kc, src, ld, got) {
						continue
					}
					if i := sameBits(want, got); i >= 0 {
						t.Fatalf("%s w=%d kc=%d ld=%d: d[%d] = %v (%#x), want %v (%#x)", impl.name, w, kc, ld,
							i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
					}
				}
			}
		}
	}
}

// BenchmarkPackAcross packs all panels of a 256×k W (the B operand of the
// NT products of a training step) over kc = 256 steps, and reports the time
// per element.
func BenchmarkPackAcross(b *testing.B) {
	const rows, kc = 256, 256
	impls := append([]packImpl{{"go", func(w, kc int, src []float64, ld int, d []float64) bool {
		packAcrossGo(w, w, kc, src, ld, d)
		return true
	}}}, packImpls()...)
	for _, k := range []int{784, 256} {
		rng := rand.New(rand.NewPCG(1, 2))
		src := randSlice(rng, rows*k)
		d := make([]float64, rows*kc)
		for _, w := range []int{16, 8} {
			for _, impl := range impls {
				if !impl.pack(w, kc, src, k, d) {
					continue
				}
				b.Run(fmt.Sprintf("k=%d/w=%d/%s", k, w, impl.name), func(b *testing.B) {
					for b.Loop() {
						for i := 0; i < rows; i += w {
							impl.pack(w, kc, src[i*k:], k, d[i*kc:])
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*kc), "ns/elem")
				})
			}
		}
	}
}
