package vmath

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// function describes one exported function with its oracle.
type function struct {
	name   string
	fn     int
	call   func(x, f0, f1, f2, f3 []float64)
	oracle func(x float64) (f, scale [4]float64)
	// tol is the largest error accepted per output against oracle, and
	// exactTol against exactOracle, in ulps of max(|f|, scale) (see
	// oracle_test.go).
	tol, exactTol [4]float64
}

var functions = []function{
	{"exp", fnExp, Exp, expOracle, [4]float64{1, 1, 1, 1}, [4]float64{1, 1, 1, 1}},
	{"softplus", fnSoftplus, Softplus, softplusOracle, [4]float64{2, 3, 5, 5}, [4]float64{2, 2, 4, 6}},
	{"sigmoid", fnSigmoid, Sigmoid, sigmoidOracle, [4]float64{3, 5, 5, 4}, [4]float64{2, 4, 6, 4}},
	{"tanh", fnTanh, Tanh, tanhOracle, [4]float64{4, 6, 12, 9}, [4]float64{2, 5, 6, 6}},
	{"silu", fnSiLU, SiLU, siluOracle, [4]float64{4, 4, 4, 4}, [4]float64{3, 4, 6, 4}},
	{"elu", fnELU, ELU, eluOracle, [4]float64{1, 1, 1, 1}, [4]float64{1, 1, 1, 1}},
}

// specials are inputs at the edges of the ranges and branches.
var specials = []float64{
	0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
	0x1p-1022, -0x1p-1022, 0x1p-1023, -0x1p-1023, 1e-300, -1e-300,
	0x1p-54, -0x1p-54, 0x1p-53, -0x1p-53, 1e-10, -1e-10,
	0.3465735902799726, -0.3465735902799726, 0.34657359027997264, -0.34657359027997264,
	0.5, -0.5, 0.6931471805599453, -0.6931471805599453, 1, -1, 1.2784645427610738, -1.2784645427610738,
	0.881373587019543, -0.881373587019543, 0.8813735870195429, -0.8813735870195429, // e^-|x| = √2−1
	1.3169578969248166, -1.3169578969248166, 0.6584789484624083, -0.6584789484624083, // σ‴ = 0, tanh‴ = 0
	2, -2, 18, -18, 19.1, -19.1, 20, -20, 36.7, -36.7, 37, -37, 40, -40,
	700, -700, 708.39, -708.39, 709.78, -709.78, 709.782712893384, 709.7827128933841,
	709.8, -709.8, 710, -710, 744.44, -744.44, 745, -745, 745.1332191019411, -745.1332191019411,
	745.1332191019412, -745.1332191019412, 745.2, -745.2, 746, -746, 800, -800, 1e10, -1e10,
	math.MaxFloat64, -math.MaxFloat64,
}

// ulps returns the distance between a and b in units in the last place:
// the number of float64 values between them (0 for two NaNs; +Inf if only
// one is NaN).
func ulps(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		if math.IsNaN(a) && math.IsNaN(b) {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(float64(ordered(a) - ordered(b)))
}

// ordered maps float64 values to integers monotonically (±0 to 0).
func ordered(a float64) int64 {
	b := int64(math.Float64bits(a))
	if b < 0 {
		return math.MinInt64 - b
	}
	return b
}

// scaledErr returns |got − want| in ulps of max(|want|, scale), or ulps(got,
// want) when scale is 0 or the values are not finite.
func scaledErr(got, want, scale float64) float64 {
	if scale == 0 || math.IsInf(want, 0) || math.IsNaN(want) || math.IsNaN(got) || math.IsInf(got, 0) {
		return ulps(got, want)
	}
	_, e := math.Frexp(math.Max(math.Abs(want), scale))
	unit := math.Max(math.Ldexp(1, e-53), math.SmallestNonzeroFloat64)
	return math.Abs(got-want) / unit
}

// inputs returns n deterministic test inputs drawn from three distributions:
// uniform on [−50, 50], log-uniform magnitudes on [1e-320, 1e3] with either
// sign, and random bit patterns; the specials come first. They are the same
// on every architecture.
func inputs(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	x := append([]float64(nil), specials...)
	for len(x) < n {
		switch len(x) % 3 {
		case 0:
			x = append(x, float64(100*r.Float64())-50) // never fused
		case 1:
			v := math.Ldexp(1+r.Float64(), -1063+r.IntN(1073)) // exact on every GOARCH
			if r.IntN(2) == 0 {
				v = -v
			}
			x = append(x, v)
		default:
			x = append(x, math.Float64frombits(r.Uint64()))
		}
	}
	return x[:n]
}

// size returns the short count in -short mode and where math.FMA is
// emulated in software (as on 386 and wasm), the long one otherwise.
func size(long, short int) int {
	switch {
	case testing.Short():
		return short
	case runtime.GOARCH == "amd64", runtime.GOARCH == "arm64", runtime.GOARCH == "ppc64le",
		runtime.GOARCH == "s390x", runtime.GOARCH == "riscv64":
		return long
	}
	return short
}

// withImpl runs f with implementation i in use.
func withImpl(i int, f func()) {
	saved := impl
	impl = i
	defer func() { impl = saved }()
	f()
}

// implsAvailable lists the implementations that can run here.
func implsAvailable() []int {
	var is []int
	for i := range implNames {
		if available(i) {
			is = append(is, i)
		}
	}
	return is
}

// TestPrimitives checks exp, expm1 (on the negative axis) and log1p (on
// [0, 1]) against the math package, over the whole range and the edges.
func TestPrimitives(t *testing.T) {
	n := size(3_000_000, 300_000)
	r := rand.New(rand.NewPCG(1, 2))
	var maxExp, maxMathExp, maxExpm1, maxLog1p float64
	check := func(x float64) {
		e, kf, rh, tt := exp(x)
		if d := ulps(e, mathExp(x)); d > maxExp {
			maxExp = d
			if d > 1 {
				t.Errorf("exp(%v) = %v, want %v (%v ulps)", x, e, mathExp(x), d)
			}
		}
		if x < 709.4 { // math.Exp overflows early on amd64
			if d := ulps(e, math.Exp(x)); d > maxMathExp {
				maxMathExp = d
				if d > 2 {
					t.Errorf("exp(%v) = %v, math.Exp = %v (%v ulps)", x, e, math.Exp(x), d)
				}
			}
		}
		if x <= 0 {
			m := expm1(kf, rh, tt)
			if x == 0 {
				m = x // the callers' branch for ±0
			}
			if d := ulps(m, math.Expm1(x)); d > maxExpm1 {
				maxExpm1 = d
				if d > 1 {
					t.Errorf("expm1(%v) = %v, math.Expm1 = %v (%v ulps)", x, m, math.Expm1(x), d)
				}
			}
		}
	}
	for _, x := range specials {
		check(x)
	}
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			check(-745.2 + (709.8+745.2)*r.Float64())
		case 1:
			check(-math.Pow(10, -20+23*r.Float64()))
		default:
			check(-5 + 10*r.Float64())
		}
	}
	checkLog := func(e float64) {
		u := 1 + e
		l := log1pUnit(e, u, 1/u)
		if d := ulps(l, math.Log1p(e)); d > maxLog1p {
			maxLog1p = d
			if d > 1 {
				t.Errorf("log1p(%v) = %v, math.Log1p = %v (%v ulps)", e, l, math.Log1p(e), d)
			}
		}
	}
	for _, e := range []float64{0, math.SmallestNonzeroFloat64, 1e-300, 0x1p-53, 0x1p-52, sqrt2 - 1, 0.41421356237309503, 0.4142135623730951, 0.5, 1} {
		checkLog(e)
	}
	for i := 0; i < n/3; i++ {
		checkLog(r.Float64())
		checkLog(math.Pow(2, -60*r.Float64()))
	}
	t.Logf("max ulps: exp %v (math.Exp %v), expm1 %v (math.Expm1), log1p %v (math.Log1p)", maxExp, maxMathExp, maxExpm1, maxLog1p)
}

// TestAccuracy checks every function and output against the scalar
// formulas of ad/unary.go (see oracle_test.go).
func TestAccuracy(t *testing.T) {
	checkAccuracy(t, inputs(size(600_000, 60_000), 3), func(fn function, x float64) (f, scale [4]float64, tol [4]float64) {
		f, scale = fn.oracle(x)
		return f, scale, fn.tol
	})
}

// checkAccuracy compares the outputs of every function on x with those of
// oracle, fails where an error exceeds the oracle's tolerance, and logs the
// largest errors.
func checkAccuracy(t *testing.T, x []float64, oracle func(fn function, x float64) (f, scale, tol [4]float64)) {
	t.Helper()
	var f [4][]float64
	for k := range f {
		f[k] = make([]float64, len(x))
	}
	for _, fn := range functions {
		fn.call(x, f[0], f[1], f[2], f[3])
		var worst [4]float64
		for i, v := range x {
			want, scale, tol := oracle(fn, v)
			for k := range f {
				d := scaledErr(f[k][i], want[k], scale[k])
				worst[k] = math.Max(worst[k], d)
				if d > tol[k] {
					t.Errorf("%s f%d(%v) = %v, want %v (%.3g ulps, tolerance %v)", fn.name, k, v, f[k][i], want[k], d, tol[k])
				}
			}
		}
		t.Logf("%-8s max error (ulps): f0 %.3g, f1 %.3g, f2 %.3g, f3 %.3g", fn.name, worst[0], worst[1], worst[2], worst[3])
	}
}

// TestSpecialValues checks exact results at infinities, zeros, NaN, and
// the ends of the range of eˣ, including the sign of zero values.
func TestSpecialValues(t *testing.T) {
	inf, nan, negZero := math.Inf(1), math.NaN(), math.Copysign(0, -1)
	tests := []struct {
		fn   func(x, f0, f1, f2, f3 []float64)
		name string
		x    float64
		want [4]float64
	}{
		{Exp, "Exp", inf, [4]float64{inf, inf, inf, inf}},
		{Exp, "Exp", -inf, [4]float64{0, 0, 0, 0}},
		{Exp, "Exp", nan, [4]float64{nan, nan, nan, nan}},
		{Exp, "Exp", negZero, [4]float64{1, 1, 1, 1}},
		{Exp, "Exp", 1, [4]float64{math.E, math.E, math.E, math.E}},
		{Exp, "Exp", 709.79, [4]float64{inf, inf, inf, inf}},
		{Exp, "Exp", -745.13, [4]float64{5e-324, 5e-324, 5e-324, 5e-324}},
		{Exp, "Exp", -745.14, [4]float64{0, 0, 0, 0}},
		{Exp, "Exp", -740, [4]float64{4.1995579896506e-322, 4.1995579896506e-322, 4.1995579896506e-322, 4.1995579896506e-322}},
		{Softplus, "Softplus", inf, [4]float64{inf, 1, 0, negZero}},
		{Softplus, "Softplus", -inf, [4]float64{0, 0, 0, 0}},
		{Softplus, "Softplus", 0, [4]float64{math.Ln2, 0.5, 0.25, 0}},
		{Softplus, "Softplus", 800, [4]float64{800, 1, 0, negZero}},
		{Softplus, "Softplus", -800, [4]float64{0, 0, 0, 0}},
		{Softplus, "Softplus", nan, [4]float64{nan, nan, nan, nan}},
		{Sigmoid, "Sigmoid", inf, [4]float64{1, 0, negZero, 0}},
		{Sigmoid, "Sigmoid", -inf, [4]float64{0, 0, 0, 0}},
		{Sigmoid, "Sigmoid", 0, [4]float64{0.5, 0.25, 0, -0.125}},
		{Sigmoid, "Sigmoid", nan, [4]float64{nan, nan, nan, nan}},
		{Tanh, "Tanh", inf, [4]float64{1, 0, negZero, 0}},
		{Tanh, "Tanh", -inf, [4]float64{-1, 0, 0, 0}},
		{Tanh, "Tanh", 0, [4]float64{0, 1, negZero, -2}},
		{Tanh, "Tanh", negZero, [4]float64{negZero, 1, 0, -2}},
		{Tanh, "Tanh", 800, [4]float64{1, 0, negZero, 0}},
		{Tanh, "Tanh", nan, [4]float64{nan, nan, nan, nan}},
		{SiLU, "SiLU", 0, [4]float64{0, 0.5, 0.5, 0}},
		{SiLU, "SiLU", negZero, [4]float64{negZero, 0.5, 0.5, 0}},
		{SiLU, "SiLU", 800, [4]float64{800, 1, 0, 0}},
		{SiLU, "SiLU", -800, [4]float64{negZero, 0, 0, 0}},
		{SiLU, "SiLU", inf, [4]float64{inf, nan, nan, nan}},
		{SiLU, "SiLU", nan, [4]float64{nan, nan, nan, nan}},
		{ELU, "ELU", 0, [4]float64{0, 1, 1, 1}},
		{ELU, "ELU", negZero, [4]float64{negZero, 1, 1, 1}},
		{ELU, "ELU", 2, [4]float64{2, 1, 0, 0}},
		{ELU, "ELU", inf, [4]float64{inf, 1, 0, 0}},
		{ELU, "ELU", -inf, [4]float64{-1, 0, 0, 0}},
		{ELU, "ELU", -800, [4]float64{-1, 0, 0, 0}},
		{ELU, "ELU", 1e-300, [4]float64{1e-300, 1, 0, 0}},
		{ELU, "ELU", -1e-300, [4]float64{-1e-300, 1, 1, 1}},
		{ELU, "ELU", nan, [4]float64{nan, nan, nan, nan}},
	}
	for _, i := range implsAvailable() {
		withImpl(i, func() {
			for _, tt := range tests {
				x := make([]float64, 16) // vector loop and tail
				for j := range x {
					x[j] = tt.x
				}
				var f [4][]float64
				for k := range f {
					f[k] = make([]float64, len(x))
				}
				tt.fn(x, f[0], f[1], f[2], f[3])
				for k := range f {
					for j, got := range f[k] {
						w := tt.want[k]
						if !sameBits(got, w) && !(got == w && w != 0) {
							t.Errorf("%s %s(%v): f%d[%d] = %v, want %v", implNames[i], tt.name, tt.x, k, j, got, w)
							break
						}
					}
				}
			}
		})
	}
}
