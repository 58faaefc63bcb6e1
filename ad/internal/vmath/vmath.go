package vmath

import "fmt"

// Exp sets f0[i], f1[i], f2[i] and f3[i] to eˣ for x = x[i]: the function
// and its derivatives coincide. It overflows to +Inf above about 709.78 and
// underflows gradually to 0 below about −745.13.
//
// As for every function of the package, a nil output is neither computed
// nor written, and a non-nil output must have the length of x and must not
// overlap x or another output.
func Exp(x, f0, f1, f2, f3 []float64) { apply(fnExp, x, f0, f1, f2, f3) }

// Softplus sets f0[i] … f3[i] to log(1+eˣ) = max(x,0) + log1p(e^-|x|) and
// its first three derivatives σ(x), σ(x)σ(−x) and σ(x)σ(−x)(σ(−x)−σ(x)) at
// x = x[i], where σ is the logistic sigmoid. It neither overflows nor
// cancels for any x.
func Softplus(x, f0, f1, f2, f3 []float64) { apply(fnSoftplus, x, f0, f1, f2, f3) }

// Sigmoid sets f0[i] … f3[i] to the logistic sigmoid σ(x) = 1/(1+e⁻ˣ) and
// its first three derivatives d = σ(x)σ(−x), d·(σ(−x)−σ(x)) and d·(1−6d) at
// x = x[i]. σ(x) and σ(−x) are computed without cancellation for any x, and
// σ(−x)−σ(x) = −tanh(x/2) from expm1.
func Sigmoid(x, f0, f1, f2, f3 []float64) { apply(fnSigmoid, x, f0, f1, f2, f3) }

// Tanh sets f0[i] … f3[i] to tanh x and its first three derivatives
// sech²x, −2·tanh x·sech²x and (6·tanh²x − 2)·sech²x at x = x[i]. With
// m = expm1(−2|x|), tanh|x| = −m/(2+m) and sech²x = 4e^(−2|x|)/(2+m)² are
// free of cancellation.
func Tanh(x, f0, f1, f2, f3 []float64) { apply(fnTanh, x, f0, f1, f2, f3) }

// SiLU sets f0[i] … f3[i] to the swish function x·σ(x) and its first three
// derivatives σ + xσ′, 2σ′ + xσ″ and 3σ″ + xσ‴ at x = x[i] (see Sigmoid).
// As these formulas say, the derivatives at ±Inf and the value at −Inf are
// NaN (∞·0).
func SiLU(x, f0, f1, f2, f3 []float64) { apply(fnSiLU, x, f0, f1, f2, f3) }

// ELU sets f0[i] … f3[i] to the exponential linear unit (α = 1) and its first
// three derivatives at x = x[i]: x, 1, 0, 0 for x > 0 and eˣ−1, eˣ, eˣ, eˣ
// otherwise (the second derivative jumps at 0). ELU(−0) = −0.
func ELU(x, f0, f1, f2, f3 []float64) { apply(fnELU, x, f0, f1, f2, f3) }

// Kernel reports the implementation in use: "avx512", "avx2-fma" or
// "purego". All of them produce the same bits.
func Kernel() string { return implNames[impl] }

// The functions, numbered as the assembly expects them.
const (
	fnExp = iota
	fnSoftplus
	fnSigmoid
	fnTanh
	fnSiLU
	fnELU
)

var fnNames = [...]string{"Exp", "Softplus", "Sigmoid", "Tanh", "SiLU", "ELU"}

// The implementations.
const (
	implGo = iota
	implAVX2
	implAVX512
)

var implNames = [...]string{"purego", "avx2-fma", "avx512"}

// impl is the implementation in use, the best one available. Tests switch
// it to compare the implementations.
var impl = bestImpl()

// apply checks the lengths, runs the assembly over the largest multiple of
// its vector width and the reference over the rest.
func apply(fn int, x, f0, f1, f2, f3 []float64) {
	for k, f := range [4][]float64{f0, f1, f2, f3} {
		if f != nil && len(f) != len(x) {
			panic(fmt.Sprintf("vmath.%s: len(f%d) = %d, want len(x) = %d", fnNames[fn], k, len(f), len(x)))
		}
	}
	n := 0
	switch impl {
	case implAVX2:
		n = len(x) &^ 3
		if n > 0 {
			kernelAVX2(fn, n, &x[0], first(f0), first(f1), first(f2), first(f3))
		}
	case implAVX512:
		n = len(x) &^ 7
		if n > 0 {
			kernelAVX512(fn, n, &x[0], first(f0), first(f1), first(f2), first(f3))
		}
	}
	if n < len(x) {
		reference(fn, x[n:], from(f0, n), from(f1, n), from(f2, n), from(f3, n))
	}
}

// first returns &f[0], or nil for an empty f.
func first(f []float64) *float64 {
	if len(f) == 0 {
		return nil
	}
	return &f[0]
}

// from returns f[n:], or nil for a nil f.
func from(f []float64, n int) []float64 {
	if f == nil {
		return nil
	}
	return f[n:]
}

// reference runs the pure-Go implementation of fn.
func reference(fn int, x, f0, f1, f2, f3 []float64) {
	switch fn {
	case fnExp:
		expGo(x, f0, f1, f2, f3)
	case fnSoftplus:
		softplusGo(x, f0, f1, f2, f3)
	case fnSigmoid:
		sigmoidGo(x, f0, f1, f2, f3)
	case fnTanh:
		tanhGo(x, f0, f1, f2, f3)
	case fnSiLU:
		siluGo(x, f0, f1, f2, f3)
	case fnELU:
		eluGo(x, f0, f1, f2, f3)
	}
}
