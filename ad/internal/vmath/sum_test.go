package vmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sumSpecials are the values that sumInputs mixes in: signed zeros,
// NaN, infinities, subnormals, and values large enough that a sum of two
// overflows.
var sumSpecials = []float64{
	0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
	5e-324, -5e-324, 0x1p-1030, -0x1p-1050, 0x1p-1022,
	math.MaxFloat64, -math.MaxFloat64, 1e308, -1.5e308, 0x1p1000,
}

// sumInputs returns n values: ordinary numbers of every magnitude, with one
// in every `every` (when every > 0) drawn from sumSpecials.
func sumInputs(r *rand.Rand, n, every int) []float64 {
	x := make([]float64, n)
	for j := range x {
		switch {
		case every > 0 && r.IntN(every) == 0:
			x[j] = sumSpecials[r.IntN(len(sumSpecials))]
		case j%2 == 0:
			x[j] = 100*r.Float64() - 50
		default:
			x[j] = math.Ldexp(r.Float64()-0.5, r.IntN(2100)-1070)
		}
	}
	return x
}

// sumOracle is the loop of SumScale's documentation, written out element by
// element.
func sumOracle(dst []float64, parts [][]float64, mul, div float64) bool {
	finite := true
	for j := range dst {
		s := 0.0
		for _, p := range parts {
			s += p[j]
		}
		if mul != 0 {
			s *= mul
		} else {
			s /= div
		}
		dst[j] = s
		if math.IsNaN(s) || math.IsInf(s, 0) {
			finite = false
		}
	}
	return finite
}

// TestSumScale checks every implementation available (the reference, AVX2,
// AVX-512) bit for bit against the documented loop, with its finiteness
// flag, for lengths 0…70 and 1000, 0…5 parts, scales by multiplication
// and by division, and inputs with and without special values; the parts
// are longer than dst and dst is surrounded by guard cells.
func TestSumScale(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	scales := []struct{ mul, div float64 }{{1, 0}, {1.0 / 128, 0}, {0.1, 7}, {0, 3}, {0, 128}, {-2, 0}}
	lengths := make([]int, 0, 72)
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1000)
	const margin = 9
	for _, every := range []int{0, 40, 3} { // no specials, a few, many
		for _, n := range lengths {
			for np := 0; np <= 5; np++ {
				parts := make([][]float64, np)
				for k := range parts {
					parts[k] = sumInputs(r, n+r.IntN(3), every)
				}
				for _, sc := range scales {
					want := make([]float64, n)
					wantFinite := sumOracle(want, parts, sc.mul, sc.div)
					for _, i := range implsAvailable() {
						buf := make([]float64, n+2*margin)
						for j := range buf {
							buf[j] = math.Float64frombits(guard)
						}
						dst := buf[margin : margin+n : margin+n]
						var finite bool
						withImpl(i, func() { finite = SumScale(dst, parts, sc.mul, sc.div) })
						name := fmt.Sprintf("%s n=%d parts=%d mul=%v div=%v specials=1/%d", implNames[i], n, np, sc.mul, sc.div, every)
						if finite != wantFinite {
							t.Errorf("%s: finite = %v, want %v", name, finite, wantFinite)
						}
						for j, v := range buf {
							if j < margin || j >= margin+n {
								if math.Float64bits(v) != guard {
									t.Fatalf("%s: written outside dst at %d", name, j-margin)
								}
							} else if !sameBits(v, want[j-margin]) {
								t.Fatalf("%s: dst[%d] = %v (%#x), want %v (%#x)", name, j-margin,
									v, math.Float64bits(v), want[j-margin], math.Float64bits(want[j-margin]))
							}
						}
					}
				}
			}
		}
	}
}

// TestSumScaleEdges checks the signed zeros, the empty sum and the
// finiteness flag on hand-picked cases with every implementation.
func TestSumScaleEdges(t *testing.T) {
	negZero := math.Copysign(0, -1)
	rep := func(v float64) []float64 { // 21 copies: vector blocks and a tail
		x := make([]float64, 21)
		for j := range x {
			x[j] = v
		}
		return x
	}
	tests := []struct {
		name       string
		parts      [][]float64
		mul, div   float64
		want       float64
		wantFinite bool
	}{
		{"no parts ×1", nil, 1, 0, 0, true},
		{"no parts ×-1", nil, -1, 0, negZero, true},
		{"no parts ÷-3", nil, 0, -3, negZero, true},
		{"-0 alone gives +0", [][]float64{rep(negZero)}, 1, 0, 0, true},
		{"-0 + -0 gives +0", [][]float64{rep(negZero), rep(negZero)}, 1, 0, 0, true},
		{"overflow", [][]float64{rep(math.MaxFloat64), rep(math.MaxFloat64)}, 1, 0, math.Inf(1), false},
		{"overflow undone by scaling is still Inf", [][]float64{rep(math.MaxFloat64), rep(math.MaxFloat64)}, 0.5, 0, math.Inf(1), false},
		{"division by 0", [][]float64{rep(1)}, 0, 0, math.Inf(1), false},
		{"0/0", [][]float64{rep(0)}, 0, 0, math.NaN(), false},
		{"Inf - Inf", [][]float64{rep(math.Inf(1)), rep(math.Inf(-1))}, 1, 0, math.NaN(), false},
		{"subnormal halved", [][]float64{rep(5e-324), rep(5e-324), rep(5e-324)}, 0, 2, 1e-323, true},
		{"underflow to 0", [][]float64{rep(5e-324)}, 0.25, 0, 0, true},
	}
	for _, tt := range tests {
		for _, i := range implsAvailable() {
			dst := make([]float64, 21)
			var finite bool
			withImpl(i, func() { finite = SumScale(dst, tt.parts, tt.mul, tt.div) })
			if finite != tt.wantFinite {
				t.Errorf("%s %s: finite = %v, want %v", implNames[i], tt.name, finite, tt.wantFinite)
			}
			for j, v := range dst {
				if !sameBits(v, tt.want) {
					t.Errorf("%s %s: dst[%d] = %v (%#x), want %v", implNames[i], tt.name, j, v, math.Float64bits(v), tt.want)
					break
				}
			}
		}
	}
}

// TestSumScaleContinued checks that a sum split over several calls, each
// after the first taking dst as its parts[0] and only the last scaling,
// gives the bits of one call, with every implementation; signed zeros
// included, as the continuation relies on 0 + s = s.
func TestSumScaleContinued(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	const n = 45
	all := make([][]float64, 11)
	for k := range all {
		all[k] = sumInputs(r, n, 4)
		for j := range all[k] {
			if r.IntN(3) == 0 {
				all[k][j] = math.Copysign(0, -1)
			}
		}
	}
	for _, i := range implsAvailable() {
		for np := 1; np <= len(all); np++ {
			for group := 2; group <= 4; group++ {
				for _, sc := range []struct{ mul, div float64 }{{0.25, 0}, {0, 3}} {
					want := make([]float64, n)
					withImpl(i, func() { SumScale(want, all[:np], sc.mul, sc.div) })
					dst := make([]float64, n)
					var buf [4][]float64
					withImpl(i, func() {
						// First call: parts[0:group]; then dst and the next
						// group-1 parts; only the last call scales.
						k := min(group, np)
						mul, div := 1.0, 0.0
						if k == np {
							mul, div = sc.mul, sc.div
						}
						SumScale(dst, all[:k], mul, div)
						for k < np {
							m := min(k+group-1, np)
							buf[0] = dst
							copy(buf[1:], all[k:m])
							if m == np {
								mul, div = sc.mul, sc.div
							}
							SumScale(dst, buf[:1+m-k], mul, div)
							k = m
						}
					})
					for j := range dst {
						if !sameBits(dst[j], want[j]) {
							t.Fatalf("%s parts=%d group=%d mul=%v: dst[%d] = %v (%#x), one call %v (%#x)", implNames[i], np, group, sc.mul,
								j, dst[j], math.Float64bits(dst[j]), want[j], math.Float64bits(want[j]))
						}
					}
				}
			}
		}
	}
}

// TestSumScaleOneBad checks that a single non-finite element anywhere in a
// long range clears the flag, with every implementation.
func TestSumScaleOneBad(t *testing.T) {
	const n = 75
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for at := range n {
			p := make([]float64, n)
			p[at] = bad
			for _, i := range implsAvailable() {
				dst := make([]float64, n)
				var finite bool
				withImpl(i, func() { finite = SumScale(dst, [][]float64{make([]float64, n), p}, 0, 3) })
				if finite {
					t.Fatalf("%s: %v at %d of %d: reported finite", implNames[i], bad, at, n)
				}
			}
		}
	}
}

// TestSumScalePanics checks the message for a part shorter than dst.
func TestSumScalePanics(t *testing.T) {
	defer func() {
		want := "vmath.SumScale: len(parts[1]) = 3, want at least len(dst) = 4"
		if r := recover(); fmt.Sprint(r) != want {
			t.Errorf("panic %v, want %q", r, want)
		}
	}()
	SumScale(make([]float64, 4), [][]float64{make([]float64, 4), make([]float64, 3)}, 1, 0)
}

// TestSumScaleAllocs checks that SumScale does not allocate.
func TestSumScaleAllocs(t *testing.T) {
	dst := make([]float64, 1001)
	parts := [][]float64{make([]float64, 1001), make([]float64, 1001)}
	for _, i := range implsAvailable() {
		withImpl(i, func() {
			if a := testing.AllocsPerRun(10, func() { SumScale(dst, parts, 0, 3) }); a != 0 {
				t.Errorf("%s: %v allocations per call", implNames[i], a)
			}
		})
	}
}

// BenchmarkSumScale measures the sum of 2 parts of 512 elements (a piece
// of the trainer's reduction, in L1) and of 262144 elements (2 MiB each),
// scaled by multiplication and by division, with every implementation, in
// ns per element.
func BenchmarkSumScale(b *testing.B) {
	for _, n := range []int{512, 262144} {
		parts := [][]float64{sumInputs(rand.New(rand.NewPCG(1, 2)), n, 0), sumInputs(rand.New(rand.NewPCG(3, 4)), n, 0)}
		dst := make([]float64, n)
		for _, sc := range []struct {
			name     string
			mul, div float64
		}{{"mul", 1.0 / 128, 0}, {"div", 0, 100}} {
			for _, i := range implsAvailable() {
				b.Run(fmt.Sprintf("parts=2/n=%d/%s/%s", n, sc.name, implNames[i]), func(b *testing.B) {
					b.ReportAllocs()
					withImpl(i, func() {
						for b.Loop() {
							SumScale(dst, parts, sc.mul, sc.div)
						}
					})
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
				})
			}
		}
	}
}
