package fused

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// oracle is the loop of (*nn.Adam).Update written plainly, the definition
// that every implementation must reproduce bit for bit.
func oracle(pv, g, m, v []float64, b1, b2, wd, eps, stepSize, invBC2Sqrt float64) {
	for j := range pv {
		gj := g[j]
		if wd != 0 {
			gj += float64(wd * pv[j])
		}
		m[j] = float64(m[j]*b1) + float64((1-b1)*gj)
		v[j] = float64(v[j]*b2) + float64((1-b2)*gj*gj)
		denom := float64(math.Sqrt(v[j])*invBC2Sqrt) + eps
		pv[j] += -stepSize * m[j] / denom
	}
}

// coeffs returns the coefficients of a step as nn.Adam computes them.
func coeffs(b1, b2, wd, eps, stepSize, invBC2Sqrt float64) AdamCoeffs {
	return AdamCoeffs{B1: b1, B2: b2, OneMinusB1: 1 - b1, OneMinusB2: 1 - b2,
		WeightDecay: wd, StepSize: stepSize, InvBC2Sqrt: invBC2Sqrt, Eps: eps}
}

// step returns the coefficients of Adam's step t with learning rate lr.
func step(b1, b2, wd, eps, lr float64, t int) AdamCoeffs {
	return coeffs(b1, b2, wd, eps, lr/(1-math.Pow(b1, float64(t))), 1/math.Sqrt(1-math.Pow(b2, float64(t))))
}

// cases are the coefficients under test: PyTorch's defaults early and late
// in training, with and without weight decay, and edge values.
var cases = []struct {
	name string
	c    AdamCoeffs
}{
	{"default", step(0.9, 0.999, 0, 1e-8, 1e-3, 1)},
	{"default-t1000", step(0.9, 0.999, 0, 1e-8, 1e-3, 1000)},
	{"decay", step(0.9, 0.999, 0.01, 1e-8, 1e-3, 3)},
	{"decay-negzero", step(0.9, 0.999, math.Copysign(0, -1), 1e-8, 1e-3, 2)},
	{"zeros", coeffs(0, 0, 1e-4, 0, 0, 1)},
	{"huge", coeffs(0.5, 0.25, 1e300, 1e300, 1e300, 1e-300)},
	{"tiny", coeffs(0.999999, 0.125, 5e-324, 5e-324, 5e-324, 1e300)},
	{"odd", coeffs(0.3, 0.7, 0.1, 1e-3, 0.37, 0.71)},
}

// values returns n values of varied magnitudes: zeros of either sign,
// subnormals, tiny, ordinary and huge numbers and, if special, NaNs and
// infinities. With nonneg, the sign is mostly positive.
func values(r *rand.Rand, n int, special, nonneg bool) []float64 {
	x := make([]float64, n)
	for i := range x {
		var f float64
		switch k := r.IntN(10); {
		case k == 0:
			f = 0
		case k == 1:
			f = math.Float64frombits(r.Uint64() & (1<<52 - 1)) // subnormal
		case k == 2:
			f = math.Ldexp(1+r.Float64(), -1000-r.IntN(22))
		case k == 3:
			f = math.Ldexp(1+r.Float64(), 900+r.IntN(124))
		case k == 4 && special:
			f = [...]float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)]
		default:
			f = math.Ldexp(1+r.Float64(), r.IntN(60)-40)
		}
		if r.IntN(2) == 0 && (!nonneg || r.IntN(20) == 0) {
			f = -f
		}
		x[i] = f
	}
	return x
}

// sameBits reports whether a and b have the same bits, or are both NaN.
func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

// guard is the bit pattern written around the slices.
const guard = 0x7ff8_0000_dead_beef

// guarded returns a copy of x inside a buffer with margin guard values on
// either side, and the buffer.
func guarded(x []float64, margin int) (s, buf []float64) {
	buf = make([]float64, len(x)+2*margin)
	for i := range buf {
		buf[i] = math.Float64frombits(guard)
	}
	s = buf[margin : margin+len(x) : margin+len(x)]
	copy(s, x)
	return s, buf
}

// TestAdam runs two steps of every implementation available on random
// inputs of lengths 0…40 and 10007, with every set of coefficients, and
// checks p, m and v against the oracle bit for bit (the second step starts
// from moments that the first made NaN or infinite) and that nothing is
// written outside the slices.
func TestAdam(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int{10007}
	for n := 0; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, tc := range cases {
		for _, n := range lengths {
			p0, m0, v0 := values(r, n, false, false), values(r, n, false, false), values(r, n, false, true)
			g := [2][]float64{values(r, n, true, false), values(r, n, true, false)}
			want := [3][]float64{append([]float64(nil), p0...), append([]float64(nil), m0...), append([]float64(nil), v0...)}
			c := tc.c
			for _, gs := range g {
				oracle(want[0], gs, want[1], want[2], c.B1, c.B2, c.WeightDecay, c.Eps, c.StepSize, c.InvBC2Sqrt)
			}
			for i := range numImpls {
				if !available(i) {
					continue
				}
				margin := 1 + n%3
				var got, bufs [3][]float64
				for k, x := range [3][]float64{p0, m0, v0} {
					got[k], bufs[k] = guarded(x, margin)
				}
				gs, _ := guarded(g[0], margin)
				saved := impl
				impl = i
				name := Kernel()
				for _, gk := range g {
					copy(gs, gk)
					Adam(got[0], gs, got[1], got[2], c)
				}
				impl = saved
				for k, buf := range bufs {
					which := [...]string{"p", "m", "v"}[k]
					for j, x := range buf {
						if (j < margin || j >= margin+n) && math.Float64bits(x) != guard {
							t.Fatalf("%s %s n=%d: %s written at %d", name, tc.name, n, which, j-margin)
						}
					}
					for j := range got[k] {
						if !sameBits(got[k][j], want[k][j]) {
							t.Fatalf("%s %s n=%d: %s[%d] = %v (%#x), oracle %v (%#x); p %v, m %v, v %v, g %v, %v",
								name, tc.name, n, which, j, got[k][j], math.Float64bits(got[k][j]), want[k][j],
								math.Float64bits(want[k][j]), p0[j], m0[j], v0[j], g[0][j], g[1][j])
						}
					}
				}
			}
		}
	}
}

// TestAdamLengths checks that Adam panics on slices of different lengths.
func TestAdamLengths(t *testing.T) {
	x, y := make([]float64, 8), make([]float64, 7)
	for k := range 4 {
		s := [4][]float64{x, x, x, x}
		s[k] = y
		func() {
			defer func() {
				if e, _ := recover().(string); !strings.Contains(e, "differ") {
					t.Errorf("slice %d short: panic %q, want lengths differ", k, e)
				}
			}()
			Adam(s[0], s[1], s[2], s[3], cases[0].c)
		}()
	}
}

// TestKernel checks that the AVX2 kernel is in use wherever it can run
// (see bestImpl) and that Adam does not allocate.
func TestKernel(t *testing.T) {
	want := implGo
	if available(implAVX2) {
		want = implAVX2
	}
	if impl != want {
		t.Errorf("Kernel() = %q, want implementation %d", Kernel(), want)
	}
	p, g, m, v := make([]float64, 1001), make([]float64, 1001), make([]float64, 1001), make([]float64, 1001)
	if a := testing.AllocsPerRun(10, func() { Adam(p, g, m, v, cases[2].c) }); a != 0 {
		t.Errorf("Adam allocates %v times", a)
	}
}

// BenchmarkAdam measures an Adam step over 262144 parameters with every
// implementation available, without and with weight decay, in ns per
// parameter.
func BenchmarkAdam(b *testing.B) {
	const n = 1 << 18
	r := rand.New(rand.NewPCG(3, 4))
	p, g, m, v := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for j := range p {
		p[j], g[j], m[j] = r.NormFloat64(), 1e-2*r.NormFloat64(), 1e-3*r.NormFloat64()
		v[j] = 1e-4 * r.Float64()
	}
	saved := impl
	defer func() { impl = saved }()
	for i := range numImpls {
		if !available(i) {
			continue
		}
		impl = i
		for _, wd := range []float64{0, 0.01} {
			name := Kernel()
			if wd != 0 {
				name += "/decay"
			}
			b.Run(name, func(b *testing.B) {
				c := step(0.9, 0.999, wd, 1e-8, 1e-3, 10)
				b.ReportAllocs()
				for b.Loop() {
					Adam(p, g, m, v, c)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/param")
			})
		}
	}
}
