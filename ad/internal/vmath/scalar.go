package vmath

import (
	"math"
	"math/big"
	"sync"
)

// The scalar elementary functions below are those of package ad/rmath,
// which exports them. They follow the contract of the package (the same
// bits on every architecture; products that reach an addition rounded
// explicitly with float64(…), math.FMA where a fused operation is meant),
// have no assembly (they are off the hot paths) and allocate nothing,
// except Sin and Cos beyond |x| = 2²⁰ (see trigReduceBig). Their accuracy
// is stated in doc.go.

// Constants of the scalar functions.
const (
	ln2Hi42   = 0x1.62e42fefa38p-1    // ln 2 rounded to 42 bits: k·ln2Hi42 is exact for |k| < 2¹¹
	ln2Lo42   = 5.497923018708371e-14 // ln 2 − ln2Hi42, rounded
	invLn10Hi = 0.4342944819032518    // 1/ln 10, rounded
	invLn10Lo = 1.098319650216765e-17 // 1/ln 10 − invLn10Hi, rounded

	twoOverPi = 0.6366197723675814 // 2/π, rounded
	// π/2 = pio2a + pio2b + pio2c + pio2d to about 2⁻¹⁵⁶; the first three
	// have at most 33 significant bits, so that k·pio2a, k·pio2b and
	// k·pio2c are exact for |k| < 2²⁰.
	pio2a   = 0x1.921fb544p0
	pio2b   = 0x1.0b4611a6p-34
	pio2c   = 0x1.3198a2ep-69
	pio2d   = 0x1.b839a252049c1p-104
	trigBig = 0x1p20 // Sin and Cos reduce |x| ≥ trigBig with math/big

	// Taylor coefficients of sin r = r + r³·S(r²) and cos r = 1 − r²/2 +
	// r⁴·C(r²) (±1/n!, rounded); on |r| ≤ π/4 the first omitted terms are
	// below 2⁻⁶² relative.
	sin3  = -0.16666666666666666
	sin5  = 0.008333333333333333
	sin7  = -0.0001984126984126984
	sin9  = 2.7557319223985893e-06
	sin11 = -2.505210838544172e-08
	sin13 = 1.6059043836821613e-10
	sin15 = -7.647163731819816e-13
	sin17 = 2.8114572543455206e-15
	cos4  = 0.041666666666666664
	cos6  = -0.001388888888888889
	cos8  = 2.48015873015873e-05
	cos10 = -2.755731922398589e-07
	cos12 = 2.08767569878681e-09
	cos14 = -1.1470745597729725e-11
	cos16 = 4.779477332387385e-14
	cos18 = -1.5619206968586225e-16

	// Taylor coefficients 2/(2n+3), rounded, of R(z) = (2·atanh(s)/s − 2)/z,
	// z = s²; on z ≤ 0.0295 the first omitted term is below 2⁻⁵⁹.
	atanh0  = 0.6666666666666666
	atanh1  = 0.4
	atanh2  = 0.2857142857142857
	atanh3  = 0.2222222222222222
	atanh4  = 0.18181818181818182
	atanh5  = 0.15384615384615385
	atanh6  = 0.13333333333333333
	atanh7  = 0.11764705882352941
	atanh8  = 0.10526315789473684
	atanh9  = 0.09523809523809523
	atanh10 = 0.08695652173913043
)

// ExpScalar returns eˣ: the value Exp computes for x.
func ExpScalar(x float64) float64 {
	e, _, _, _ := exp(x)
	return e
}

// LogScalar returns the natural logarithm of x: −Inf for ±0, NaN for
// x < 0 and NaN, +Inf for +Inf.
func LogScalar(x float64) float64 {
	switch {
	case x > 0 && x <= math.MaxFloat64:
		hi, _ := logExt(x)
		return hi
	case x == 0:
		return math.Inf(-1)
	case x > 0: // +Inf
		return x
	}
	return math.NaN()
}

// Log10Scalar returns log₁₀ x, with the special cases of LogScalar. It is
// exact at the powers of ten.
func Log10Scalar(x float64) float64 {
	if !(x > 0 && x <= math.MaxFloat64) {
		return LogScalar(x)
	}
	hi, lo := logExt(x)
	r := float64(hi * invLn10Hi)
	re := math.FMA(hi, invLn10Hi, -r) // exact
	return r + (re + (float64(hi*invLn10Lo) + float64(lo*invLn10Hi)))
}

// logExt returns log x as hi + lo with hi = hi + lo rounded, for finite
// x > 0. With x = 2ᵏ·(1+f), 1+f in [√½, √2] (f exact), and s = f/(2+f),
// log(1+f) = 2·atanh(s) = 2s + s³·R(s²), R the Taylor series. s is
// carried in double-double arithmetic, s + sl, from the exact rounding
// error of 2 + f and the exact remainder of the division; k·ln 2 is
// k·ln2Hi42 (exact) + k·ln2Lo42, and k·ln2Hi42 + 2s is split exactly into
// its rounded value and error. Only the small terms are rounded before
// the final sum: s³·R(s²) is below s/40.
func logExt(x float64) (hi, lo float64) {
	b := math.Float64bits(x)
	k := int(b>>52) - 1023
	if b>>52 == 0 { // subnormal: scale into the normal range
		b = math.Float64bits(x * 0x1p54)
		k = int(b>>52) - 1023 - 54
	}
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // [1, 2)
	if m > sqrt2 {
		m *= 0.5
		k++
	}
	f := m - 1 // exact
	kf := float64(k)
	u := 2 + f
	ue := (2 - u) + f // 2 + f = u + ue exactly
	s := f / u
	rem := math.FMA(-s, u, f) // f − s·u, exact
	sl := (rem - float64(s*ue)) / u
	z := s * s
	q := math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(atanh10, z, atanh9), z, atanh8), z, atanh7), z, atanh6), z, atanh5)
	q = math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(q, z, atanh4), z, atanh3), z, atanh2), z, atanh1), z, atanh0)
	t := float64(float64(s*z) * q)
	a := float64(kf * ln2Hi42)
	sum, se := twoSum(a, 2*s)
	lo = se + ((float64(2*sl) + t) + float64(kf*ln2Lo42))
	hi = sum + lo
	lo -= hi - sum
	return hi, lo
}

// PowScalar returns xʸ, with the special cases of math.Pow. For an
// integer y it multiplies by repeated squaring (on the mantissa, scaling
// by powers of two apart) as math.Pow does, which gives math.Pow's bits on
// every architecture where math.Pow is written in Go; otherwise, for
// x > 0, it is e^(y·log x) with log x and the product in double-double
// arithmetic.
func PowScalar(x, y float64) float64 {
	switch {
	case y == 0 || x == 1:
		return 1
	case y == 1:
		return x
	case math.IsNaN(x) || math.IsNaN(y):
		return math.NaN()
	case x == 0:
		switch {
		case y < 0:
			if oddInt(y) {
				return math.Copysign(math.Inf(1), x)
			}
			return math.Inf(1)
		case y > 0:
			if oddInt(y) {
				return x
			}
			return 0
		}
	case math.IsInf(y, 0):
		switch {
		case x == -1:
			return 1
		case (math.Abs(x) < 1) == math.IsInf(y, 1):
			return 0
		default:
			return math.Inf(1)
		}
	case math.IsInf(x, 0):
		if math.IsInf(x, -1) {
			return PowScalar(1/x, -y) // (−0)^−y
		}
		if y < 0 {
			return 0
		}
		return math.Inf(1)
	case y == 0.5:
		return math.Sqrt(x)
	case y == -0.5:
		return 1 / math.Sqrt(x)
	}
	if y == math.Trunc(y) {
		return powInt(x, y)
	}
	if x < 0 {
		return math.NaN()
	}
	hi, lo := logExt(x)
	p := float64(y * hi)
	pe := math.FMA(y, hi, -p) + float64(y*lo) // y·log x = p + pe
	e, _, _, _ := exp(p)
	return math.FMA(e, pe, e) // eᵖ·(1 + pe)
}

// oddInt reports whether y is an odd integer.
func oddInt(y float64) bool {
	if math.Abs(y) >= 1<<53 { // even, if an integer
		return false
	}
	return y == math.Trunc(y) && int64(y)&1 == 1
}

// powInt returns xʸ for an integer y by repeated squaring from the lowest
// bit of |y|: x = m·2ᵉ with |m| in [½, 1); the product accumulates the
// mantissas, rounded at every multiplication, and the exponents apart, so
// that nothing overflows before the final scaling. Beyond 2⁶³ every y is
// even and xʸ is 0, 1 or +Inf.
func powInt(x, y float64) float64 {
	if math.Abs(y) >= 1<<63 {
		switch {
		case x == -1:
			return 1
		case (math.Abs(x) < 1) == (y > 0):
			return 0
		default:
			return math.Inf(1)
		}
	}
	m, e := math.Frexp(x)
	p, pe := 1.0, 0
	for n := uint64(math.Abs(y)); n != 0; n >>= 1 {
		if e < -1<<12 || 1<<12 < e {
			// The result certainly overflows or underflows; its sign is
			// that of p, set by the lowest bit.
			pe += e
			break
		}
		if n&1 == 1 {
			p *= m
			pe += e
		}
		m = float64(m * m) // m + m below is not to be fused
		e <<= 1
		if m < 0.5 {
			m += m
			e--
		}
	}
	if y < 0 {
		p = 1 / p
		pe = -pe
	}
	return math.Ldexp(p, pe)
}

// SinScalar returns sin x: ±0 for ±0, NaN for ±Inf and NaN.
func SinScalar(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case ax < 0x1p-26: // sin x rounds to x (±0 included)
		return x
	case !(ax <= math.MaxFloat64):
		return math.NaN()
	}
	rh, rl, q := trigReduce(ax)
	var s float64
	switch q {
	case 0:
		s = sinKernel(rh, rl)
	case 1:
		s = cosKernel(rh, rl)
	case 2:
		s = -sinKernel(rh, rl)
	default:
		s = -cosKernel(rh, rl)
	}
	if x < 0 {
		s = -s
	}
	return s
}

// CosScalar returns cos x: NaN for ±Inf and NaN.
func CosScalar(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case ax < 0x1p-27: // cos x rounds to 1
		return 1
	case !(ax <= math.MaxFloat64):
		return math.NaN()
	}
	rh, rl, q := trigReduce(ax)
	switch q {
	case 0:
		return cosKernel(rh, rl)
	case 1:
		return -sinKernel(rh, rl)
	case 2:
		return -cosKernel(rh, rl)
	}
	return sinKernel(rh, rl)
}

// trigReduce returns r = rh + rl = x − k·π/2 (|r| ≤ π/4 and a rounding)
// and k mod 4, for finite x ≥ 2⁻²⁷, where k is the integer nearest
// x·2/π. Below 2²⁰ it subtracts k·π/2 in four parts (Cody and Waite): the
// first difference is exact (Sterbenz), the next two products are exact
// and their subtractions are carried in double-double arithmetic.
func trigReduce(x float64) (rh, rl float64, q uint) {
	if x >= trigBig {
		return trigReduceBig(x)
	}
	k := math.Round(x * twoOverPi)
	t := math.FMA(-k, pio2a, x) // exact
	s1, e1 := twoSum(t, -float64(k*pio2b))
	s2, e2 := twoSum(s1, -float64(k*pio2c))
	rl = (e1 + e2) - float64(k*pio2d)
	rh = s2 + rl
	rl -= rh - s2
	return rh, rl, uint(k) & 3
}

// twoSum returns a + b rounded and its rounding error (Knuth).
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	return s, (a - (s - bb)) + (b - bb)
}

// sinKernel returns sin(rh + rl) for |rh| ≤ π/4 and |rl| ≤ ulp(rh):
// rh + (rh³·S(rh²) + rl·(1 − rh²/2)).
func sinKernel(rh, rl float64) float64 {
	z := rh * rh
	p := math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(sin17, z, sin15), z, sin13), z, sin11), z, sin9), z, sin7), z, sin5), z, sin3)
	c := float64(rl * (1 - float64(0.5*z)))
	return rh + math.FMA(float64(rh*z), p, c)
}

// cosKernel returns cos(rh + rl) for |rh| ≤ π/4 and |rl| ≤ ulp(rh):
// 1 − rh²/2 + (rh⁴·C(rh²) − rh·rl), with rh²/2 = h + he exactly and
// 1 − h split exactly into its rounded value and error.
func cosKernel(rh, rl float64) float64 {
	z := rh * rh
	p := math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(math.FMA(cos18, z, cos16), z, cos14), z, cos12), z, cos10), z, cos8), z, cos6), z, cos4)
	hr := 0.5 * rh // exact
	h := float64(hr * rh)
	he := math.FMA(hr, rh, -h)
	w := 1 - h
	tail := math.FMA(float64(z*z), p, -float64(rh*rl))
	return w + ((((1 - w) - h) - he) + tail)
}

// The reduction of large arguments: π/2 and 2/π to bigPrec bits, computed
// once from Machin's formula π/4 = 4·atan(1/5) − atan(1/239) in math/big
// (whose arithmetic is exact integer arithmetic, the same everywhere).
const bigPrec = 1280

var (
	bigOnce               sync.Once
	bigPio2, bigTwoOverPi *big.Float
	bigHalf               = big.NewFloat(0.5)
)

func initBig() {
	p := bigPrec + 64
	pi := new(big.Float).SetPrec(uint(p)).Mul(big.NewFloat(16), bigAtanInv(5, p))
	pi.Sub(pi, new(big.Float).SetPrec(uint(p)).Mul(big.NewFloat(4), bigAtanInv(239, p)))
	bigPio2 = new(big.Float).SetPrec(bigPrec).Quo(pi, big.NewFloat(2))
	bigTwoOverPi = new(big.Float).SetPrec(bigPrec).Quo(big.NewFloat(2), pi)
}

// bigAtanInv returns atan(1/n) = Σ (−1)ʲ / ((2j+1)·n^(2j+1)) to prec bits.
func bigAtanInv(n int64, prec int) *big.Float {
	sum := new(big.Float).SetPrec(uint(prec))
	pow := new(big.Float).SetPrec(uint(prec)).Quo(big.NewFloat(1), big.NewFloat(float64(n))) // n^-(2j+1)
	n2 := big.NewFloat(float64(n * n))
	term := new(big.Float).SetPrec(uint(prec))
	eps := new(big.Float).SetMantExp(big.NewFloat(1), -prec-8)
	for j := int64(0); pow.Cmp(eps) > 0; j++ {
		term.Quo(pow, big.NewFloat(float64(2*j+1)))
		if j&1 == 0 {
			sum.Add(sum, term)
		} else {
			sum.Sub(sum, term)
		}
		pow.Quo(pow, n2)
	}
	return sum
}

// trigReduceBig is trigReduce for x ≥ 2²⁰, in math/big: k·π/2 for k up to
// 2¹⁰²⁴ needs π/2 to more than 1100 bits.
func trigReduceBig(x float64) (rh, rl float64, q uint) {
	bigOnce.Do(initBig)
	bx := new(big.Float).SetPrec(bigPrec).SetFloat64(x)
	kf := new(big.Float).SetPrec(bigPrec).Mul(bx, bigTwoOverPi)
	kf.Add(kf, bigHalf)
	k, _ := kf.Int(nil) // ⌊x·2/π + ½⌋, x > 0
	kf.SetInt(k)
	r := kf.Mul(kf, bigPio2)
	r.Sub(bx, r)
	rh, _ = r.Float64()
	r.Sub(r, new(big.Float).SetFloat64(rh))
	rl, _ = r.Float64()
	return rh, rl, k.Bit(0) | k.Bit(1)<<1
}

// HypotScalar returns √(p² + q²) without undue overflow or underflow, as
// |p|·√(1 + (q/p)²) with |p| ≥ |q|: +Inf if p or q is ±Inf, else NaN if
// one is NaN.
func HypotScalar(p, q float64) float64 {
	p, q = math.Abs(p), math.Abs(q)
	switch {
	case math.IsInf(p, 1) || math.IsInf(q, 1):
		return math.Inf(1)
	case math.IsNaN(p) || math.IsNaN(q):
		return math.NaN()
	}
	if p < q {
		p, q = q, p
	}
	if p == 0 {
		return 0
	}
	q /= p
	return p * math.Sqrt(1+float64(q*q))
}
