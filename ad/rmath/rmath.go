// Package rmath is reproducible math: the elementary functions that this
// module's results depend on, with the same bits on every architecture
// (amd64 with or without assembly, 386, arm64, ppc64le, riscv64, s390x,
// js/wasm), for the same arguments.
//
// The math package does not promise that: math.Exp and math.Log have
// assembly on amd64 and math.Exp on arm64 and s390x, other functions are
// written in Go but compiled with fused multiply-adds where the CPU has
// them (arm64, ppc64le, riscv64, s390x), and math.Hypot has assembly on
// 386 and amd64. Use this package wherever such a value reaches a result:
// weights, samples, printed numbers, files. The correctly rounded
// functions of package math (Sqrt, Abs, Floor, Ceil, Trunc, Round,
// Copysign, Ldexp, Frexp, Max, Min, FMA) are the same everywhere and need
// no replacement; neither does math.Pow10.
//
// The functions are those of package ad/internal/vmath (the vectorised
// activations' package, whose exponential Exp is), in Go with explicit
// roundings and no assembly, tested against double-double and math/big
// evaluations and by a hash of their outputs on every architecture. Their
// errors, in units in the last place: Exp within 1 ulp; Log and Log10
// within 0.54 ulp (correctly rounded for 99.6% and 99.9% of random
// arguments); Sin and Cos within 0.72 ulp on the whole range; Pow within
// 1 ulp where |y·ln x| ≤ 1, 1.5 where |y·ln x| ≤ 32 and 10 up to overflow,
// and for integer y the bits of math.Pow's repeated squaring; Hypot
// within 2 ulps (the bits of math.Hypot on amd64). They do not allocate,
// except Sin and Cos of |x| ≥ 2²⁰, which reduce the argument in math/big.
// None is on a hot path; the element-wise functions of package ad are the
// vectorised ones.
//
// Random normal deviates with the same bits everywhere are
// repro.Normal's (package ad/repro): rand.Rand.NormFloat64 calls
// math.Log and math.Exp.
package rmath

import "scorematch/ad/internal/vmath"

// Exp returns eˣ: +Inf above about 709.78, 0 below about −745.13, NaN for
// NaN.
func Exp(x float64) float64 { return vmath.ExpScalar(x) }

// Log returns the natural logarithm of x: −Inf for ±0, NaN for x < 0 and
// NaN, +Inf for +Inf.
func Log(x float64) float64 { return vmath.LogScalar(x) }

// Log10 returns the decimal logarithm of x, with the special cases of Log.
// It is exact at the powers of ten.
func Log10(x float64) float64 { return vmath.Log10Scalar(x) }

// Pow returns xʸ, with the special cases of math.Pow.
func Pow(x, y float64) float64 { return vmath.PowScalar(x, y) }

// Sin returns the sine of x (radians): ±0 for ±0, NaN for ±Inf and NaN.
func Sin(x float64) float64 { return vmath.SinScalar(x) }

// Cos returns the cosine of x (radians): NaN for ±Inf and NaN.
func Cos(x float64) float64 { return vmath.CosScalar(x) }

// Hypot returns √(p² + q²) without undue overflow or underflow: +Inf if p
// or q is ±Inf, else NaN if either is NaN.
func Hypot(p, q float64) float64 { return vmath.HypotScalar(p, q) }
