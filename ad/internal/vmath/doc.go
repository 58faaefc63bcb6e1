// Package vmath implements element-wise activation functions with their
// first three derivatives (Exp, Softplus, Sigmoid, Tanh, SiLU, ELU) over
// float64 slices, vectorised on amd64, and SumScale, the element-wise sum
// of several slices in a fixed order followed by a scaling, which reduces
// the per-chunk gradients of a batch (sum_amd64.s holds its AVX2 and
// AVX-512 kernels, written by hand; the same contract applies). It also
// holds the scalar elementary functions that package ad/rmath exports
// (ExpScalar, LogScalar, Log10Scalar, PowScalar, SinScalar, CosScalar,
// HypotScalar; scalar.go), in Go only: they are off the hot paths.
//
// # Numerical contract
//
// Every function produces the same bits on every architecture, with every
// implementation and in the purego build (up to the sign and payload of
// NaNs, which IEEE 754 leaves unspecified). To that end none of them calls
// the math package's elementary functions, whose results differ between
// architectures. They are built from the basic operations +, −, ×, ÷ (each
// rounded once, with Go's implicit fusion of a*b+c forbidden by explicit
// float64 conversions where it could apply), math.FMA where a fused
// multiply-add is meant, comparisons and selects, and integer operations on
// the bit patterns. The assembly performs the same operations in the same
// order, lane by lane (VFMADD for math.FMA, VMULPD then VADDPD for a
// separately rounded product and sum, VDIVPD for a division, compares and
// blends or VMINPD/VMAXPD with the operand order that mirrors the Go
// comparison, NaN included; a select between constants may be an AND with
// the comparison mask, which gives the same values). TestGolden and
// TestScalarGolden check hashes of the outputs on fixed sets of inputs;
// they pass on amd64 with every implementation, 386, arm64, ppc64le,
// riscv64, s390x and js/wasm.
//
// A nil output is neither computed nor written, and the value of an output
// does not depend on which others are requested.
//
// # Algorithms
//
// eᵃ: a is clamped to [−746, 710] (a NaN stays NaN), k = round(a/ln 2) is
// obtained by adding 1.5·2⁵² in an FMA, and r = a − k·ln 2 with ln 2 in two
// parts (the first step, an FMA, is exact). eʳ = 1 + r + r²P(r), P of
// degree 10 (a Chebyshev fit on |r| ≤ 0.3466) evaluated by Estrin's scheme,
// with 1 + r split exactly (Fast2Sum) so that the sum is rounded once. 2ᵏ
// is applied as 2^⌊k/2⌋ and then 2^(k−⌊k/2⌋), both normal and taken from
// the bits of the shifted k, so that subnormal results are rounded once
// and overflow gives +Inf.
//
// eᵃ − 1 (a ≤ 0) comes from the same reduction as (2ᵏ−1) + 2ᵏ·(r +
// r²P(r)) in one FMA: for k = 0 it is r + r²P(r), free of cancellation.
//
// log(1+e) for e ∈ [0, 1] (Softplus): u = 1 + e = c·(1+f) with c = 2 if
// u > √2 and 1 otherwise (f exact); log(1+f) = 2·atanh(s), s = (u−c)/(u+c),
// is f − f²/2 + s·(f²/2 + s²Q(s²)) with Q of degree 6; then log c and the
// rounding error of u, (e − (u−1))/u, are added.
//
// σ(x) and σ(−x) are p = 1/(1+e) and e·p with e = e^-|x|: one exp and one
// division, shared by all outputs of Sigmoid, Softplus and SiLU.
// σ(−x) − σ(x), in the higher derivatives, is ∓expm1(−|x|)·p rather than a
// difference. Tanh takes m = expm1(−2|x|) and e^(−2|x|) from one
// reduction: tanh|x| = −m/(2+m) (one division and a Newton correction of
// the quotient) and sech²x = 4e^(−2|x|)·(1/(2+m))².
//
// # Accuracy
//
// Measured over millions of points spread over the whole range plus the
// edges (TestPrimitives, TestExactAccuracy, TestAccuracy), in ulps (units
// in the last place):
//
//   - eˣ on [−745.2, 709.8] is within 1 ulp of the exact value (computed
//     in double-double arithmetic), and within 2 ulps of math.Exp on amd64,
//     whose assembly errs by more than 1 ulp at some points and overflows
//     above 709.43; eˣ − 1 on x ≤ 0 is within 1 ulp of math.Expm1 and
//     log(1+e) on [0, 1] within 1 ulp of math.Log1p.
//   - Against double-double evaluations of the same formulas (|x| ≤ 700,
//     TestExactAccuracy), the largest errors for f, f′, f″, f‴ are: Exp and
//     ELU 1, 1, 1, 1; Softplus 2, 2, 4, 6; Sigmoid 2, 4, 6, 4; SiLU 3, 4,
//     6, 4; Tanh 2, 5, 6, 5.5. The derivatives are products of several
//     rounded factors, whence a few ulps. For f‴ of Sigmoid and Tanh and
//     for f′…f‴ of SiLU, which add terms of either sign, an ulp is that of
//     the larger of the value and the sum of the terms' magnitudes.
//   - Against the formulas of ad/unary.go evaluated with the math package
//     (TestAccuracy; the numbers bound the sum of two errors): Exp and ELU
//     1, 1, 1, 1; Softplus 2, 2, 4, 4; Sigmoid 2, 4, 4, 3.5; SiLU 3, 3, 4,
//     3; Tanh 3, 6, 10, 7.5 (f‴ of Softplus and f″ of Sigmoid on the
//     natural scale there, as ad/unary.go subtracts σ(x) from σ(−x)).
//     Where ad/unary.go cancels, this package does not: σ(−x) − σ(x) and
//     sech²x keep their relative accuracy for large |x| (ad/unary.go
//     returns sech²x = 0 beyond |x| ≈ 19).
//   - The scalar functions, against double-double or math/big values
//     (scalar_test.go): log x and log₁₀ x (the whole range) within 0.54
//     ulp, correctly rounded in 99.6% and 99.9% of random arguments; sin x
//     and cos x (the whole range) within 0.72 ulp, correctly rounded in
//     99%; xʸ for non-integer y within 1 ulp where |y·ln x| ≤ 1, 1.5 ulps
//     where |y·ln x| ≤ 32 and 10 ulps up to overflow (the error of log x
//     times |y|), for integer y the bits of math.Pow (an error growing
//     with log₂|y|); hypot within 2 ulps. eˣ is the element-wise Exp.
//
// The scalar functions:
//
//   - log x: x = 2ᵏ·(1+f) with 1+f in [√½, √2]; log(1+f) = 2·atanh(s) =
//     2s + s³·R(s²), s = f/(2+f) carried in double-double arithmetic (the
//     rounding error of 2+f and the remainder of the division are exact),
//     R the Taylor series of degree 10, and k·ln 2 with ln 2 in two parts
//     (k times the first, of 42 bits, is exact); only the terms below s/40
//     are rounded before the final sum. log₁₀ x multiplies that sum, in
//     double-double, by 1/ln 10 in two parts.
//   - xʸ: for an integer y, repeated squaring of the mantissa from the
//     lowest bit of |y|, exponents apart (the algorithm of math.Pow, whose
//     bits it reproduces on every architecture where math.Pow is written
//     in Go); otherwise e^(y·log x) with the product y·(hi + lo) kept in
//     two parts, e^(p + pe) = eᵖ·(1 + pe).
//   - sin x and cos x: k = round(x·2/π), r = x − k·π/2 with π/2 in four
//     parts (Cody and Waite; the first three of 33 bits, so that their
//     products with k < 2²⁰ are exact), carried in double-double; beyond
//     |x| = 2²⁰ the reduction is done in math/big with π from Machin's
//     formula to 1280 bits. sin r and cos r are Taylor polynomials (to r¹⁷
//     and r¹⁸) on |r| ≤ π/4, with the low part of r and the rounding error
//     of r²/2 added back.
//   - hypot(p, q) = |p|·√(1 + (q/p)²) with |p| ≥ |q| (the bits of
//     math.Hypot on amd64).
//
// # Implementations
//
// Following the pattern of the standard library's math package, a pure-Go
// reference is always compiled in. On amd64 (without the purego build tag)
// an AVX-512 kernel (8 lanes) or an AVX2+FMA kernel (4 lanes) is used when
// the CPU and operating system support it, as reported by package
// ad/internal/cpu at start-up. The assembly, generated by asm_gen.go from
// one description for both instruction sets, processes the largest multiple
// of its width; the reference, being bit-identical, does the rest. Kernel
// reports which implementation is active.
//
// The functions do not allocate and are safe for concurrent use as long as
// the outputs of concurrent calls do not overlap each other or any input.
package vmath
