package vmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad/adtest"
)

// The oracles of the scalar functions: double-double evaluations (exact to
// about 2⁻¹⁰⁰ relative) for Log, Log10 and Pow, math/big for Sin, Cos and
// Hypot.

// ddLog returns log x for finite x > 0: with x = 2ᵏ·m, m in [1, 2),
// log m = y + log(m·e^-y) ≈ y + (m·e^-y − 1) for y = math.Log(m), one
// Newton step in double-double arithmetic, plus k·ln 2.
func ddLog(x float64) dd {
	m, k := math.Frexp(x)
	m, k = 2*m, k-1
	y := math.Log(m)
	t := ddMul(dd{m, 0}, ddExp(-y))
	l := ddAdd(dd{y, 0}, ddAdd(t, dd{-1, 0}))
	return ddAdd(l, ddMul(dd{float64(k), 0}, dd{ln2Hi, ln2Lo}))
}

// ddExpOf returns e^(a.hi + a.lo) = e^a.hi·(1 + a.lo) for |a.lo| < 2⁻⁵⁰
// and a.hi < 709 (no overflow in the double-double value).
func ddExpOf(a dd) dd {
	return ddMul(ddExp(a.hi), ddAdd(dd{1, 0}, dd{a.lo, 0}))
}

// bigSinCos returns sin x and cos x as double-doubles rounded from 320-bit
// values: x is
// reduced by the package's π/2 (checked against π's digits by TestBigPi)
// and the Taylor series summed in math/big.
func bigSinCos(x float64) (s, c dd) {
	bigOnce.Do(initBig)
	const prec = 320
	bx := new(big.Float).SetPrec(bigPrec).SetFloat64(x)
	k := new(big.Float).SetPrec(bigPrec).Mul(bx, bigTwoOverPi)
	if k.Sign() >= 0 {
		k.Add(k, bigHalf)
	} else {
		k.Sub(k, bigHalf)
	}
	ki, _ := k.Int(nil) // rounded to nearest
	r := new(big.Float).SetPrec(bigPrec).SetInt(ki)
	r.Mul(r, bigPio2)
	r.Sub(bx, r)
	r.SetPrec(prec)
	sin, cos := new(big.Float).SetPrec(prec), new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).Set(r) // r^n/n!
	r2 := new(big.Float).SetPrec(prec).Mul(r, r)
	eps := new(big.Float).SetMantExp(big.NewFloat(1), -prec-10)
	for n := int64(1); ; n += 2 {
		if n%4 == 1 {
			sin.Add(sin, term)
		} else {
			sin.Sub(sin, term)
		}
		term.Mul(term, r)
		term.Quo(term, big.NewFloat(float64(n+1))) // r^(n+1)/(n+1)!
		if n%4 == 1 {
			cos.Sub(cos, term)
		} else {
			cos.Add(cos, term)
		}
		term.Mul(term, r)
		term.Quo(term, big.NewFloat(float64(n+2)))
		if new(big.Float).Abs(term).Cmp(eps) < 0 && r2.Cmp(big.NewFloat(4)) < 0 {
			break
		}
	}
	q := new(big.Int).And(ki, big.NewInt(3)).Int64() // the two's complement bits: k mod 4 ≥ 0
	switch q {
	case 1:
		sin, cos = cos, sin.Neg(sin)
	case 2:
		sin.Neg(sin)
		cos.Neg(cos)
	case 3:
		sin, cos = cos.Neg(cos), sin
	}
	return bigDD(sin), bigDD(cos)
}

// bigDD returns v as hi + lo, hi = v rounded.
func bigDD(v *big.Float) dd {
	hi, _ := v.Float64()
	lo, _ := new(big.Float).Sub(v, new(big.Float).SetFloat64(hi)).Float64()
	return dd{hi, lo}
}

// bigHypot returns √(p² + q²) correctly rounded.
func bigHypot(p, q float64) dd {
	bp, bq := new(big.Float).SetPrec(2200).SetFloat64(p), new(big.Float).SetPrec(2200).SetFloat64(q)
	bp.Mul(bp, bp)
	bq.Mul(bq, bq)
	bp.Add(bp, bq)
	return bigDD(new(big.Float).SetPrec(200).Sqrt(bp))
}

// errULP returns |got − want| in ulps of want (as a real number).
func errULP(got float64, want dd) float64 {
	if math.IsInf(got, 0) || math.IsNaN(got) {
		if got == want.hi {
			return 0
		}
		return math.Inf(1)
	}
	d := ddAdd(dd{got, 0}, ddNeg(want)).float()
	_, e := math.Frexp(want.hi)
	return math.Abs(d) / math.Max(math.Ldexp(1, e-53), math.SmallestNonzeroFloat64)
}

// accuracy accumulates the largest error and the share of correctly
// rounded results.
type accuracy struct {
	name      string
	max, argx float64
	n, cr     int
}

func (a *accuracy) add(x, got float64, want dd) {
	e := errULP(got, want)
	if e > a.max {
		a.max, a.argx = e, x
	}
	a.n++
	if got == want.float() {
		a.cr++
	}
}

func (a *accuracy) check(t *testing.T, tol float64) {
	t.Helper()
	t.Logf("%s: %d points, max error %.3f ulp (at %v), correctly rounded %.4f%%", a.name, a.n, a.max, a.argx, 100*float64(a.cr)/float64(a.n))
	if !(a.max <= tol) {
		t.Errorf("%s: error %.3f ulp at %v, want ≤ %v", a.name, a.max, a.argx, tol)
	}
}

// positives returns n positive finite test inputs: log-uniform over the
// whole range (subnormals included), uniform on (0, 1), and close to 1.
func positives(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 17))
	x := []float64{math.SmallestNonzeroFloat64, 0x1p-1022, 0x1p-1023, 1e-300, 0.5, 1, 2, math.Sqrt2, 1.4142135623730951,
		math.Nextafter(1.4142135623730951, 2), 0.7071067811865476, math.Nextafter(1, 0), math.Nextafter(1, 2), 10, 1e22, math.MaxFloat64}
	for len(x) < n {
		switch len(x) % 3 {
		case 0:
			x = append(x, math.Float64frombits(r.Uint64N(0x7ff0000000000000-1)+1))
		case 1:
			x = append(x, r.Float64())
		default:
			x = append(x, 1+math.Ldexp(2*r.Float64()-1, -r.IntN(60)))
		}
	}
	return x[:n]
}

// TestScalarLog measures LogScalar and Log10Scalar against double-double
// evaluations, and checks the special cases and the powers of ten.
func TestScalarLog(t *testing.T) {
	lg, lg10 := accuracy{name: "Log"}, accuracy{name: "Log10"}
	invLn10 := ddDiv(dd{1, 0}, ddLog(10))
	for _, x := range positives(size(2_000_000, 200_000), 1) {
		if x == 0 {
			continue
		}
		l := ddLog(x)
		lg.add(x, LogScalar(x), l)
		lg10.add(x, Log10Scalar(x), ddMul(l, invLn10))
	}
	lg.check(t, 0.54)
	lg10.check(t, 0.54)
	// The nearest float64 to 10ⁿ is within 2⁻⁵³ relative, so its log₁₀ is
	// within 5e-17 of n, and rounds to n.
	for n := -307; n <= 308; n++ {
		if got := Log10Scalar(math.Pow10(n)); got != float64(n) {
			t.Errorf("Log10(1e%d) = %v", n, got)
		}
	}
	for _, c := range []struct{ x, log float64 }{
		{0, math.Inf(-1)}, {math.Copysign(0, -1), math.Inf(-1)}, {math.Inf(1), math.Inf(1)}, {1, 0},
		{-1, math.NaN()}, {math.Inf(-1), math.NaN()}, {math.NaN(), math.NaN()}, {-math.SmallestNonzeroFloat64, math.NaN()},
	} {
		if got := LogScalar(c.x); !sameBits(got, c.log) {
			t.Errorf("Log(%v) = %v, want %v", c.x, got, c.log)
		}
		if got := Log10Scalar(c.x); !sameBits(got, c.log) {
			t.Errorf("Log10(%v) = %v, want %v", c.x, got, c.log)
		}
	}
}

// TestScalarExp checks that ExpScalar is the element-wise Exp.
func TestScalarExp(t *testing.T) {
	x := inputs(size(100_000, 10_000), 19)
	f := make([]float64, len(x))
	Exp(x, f, nil, nil, nil)
	for i, v := range x {
		if got := ExpScalar(v); !sameBits(got, f[i]) {
			t.Fatalf("ExpScalar(%v) = %v, Exp gives %v", v, got, f[i])
		}
	}
}

// TestScalarPow measures PowScalar against double-double evaluations of
// e^(y·log x), checks it against math.Pow, bit for bit, for integer
// exponents, and checks the special cases against math.Pow.
func TestScalarPow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	acc := []accuracy{{name: "Pow, |y·log x| ≤ 1"}, {name: "Pow, |y·log x| ≤ 32"}, {name: "Pow, |y·log x| ≤ 709"}}
	xs := positives(size(400_000, 40_000), 2)
	for i, x := range xs {
		l := ddLog(x)
		// y with |y·log x| up to 700, log-uniform in size, either sign
		ymax := 700 / math.Max(math.Abs(l.hi), 1e-300)
		y := math.Min(ymax, math.Ldexp(1, 10)) * math.Ldexp(r.Float64(), -r.IntN(30))
		if i%2 == 1 {
			y = -y
		}
		if y == math.Trunc(y) {
			continue
		}
		p := ddMul(dd{y, 0}, l)
		if p.hi > 709 || p.hi < -708 {
			continue
		}
		b := 2
		switch {
		case math.Abs(p.hi) <= 1:
			b = 0
		case math.Abs(p.hi) <= 32:
			b = 1
		}
		acc[b].add(x, PowScalar(x, y), ddExpOf(p))
	}
	for i, tol := range []float64{1, 1.5, 10} {
		acc[i].check(t, tol)
	}

	// Integer exponents: math.Pow's repeated squaring, bit for bit, where
	// math.Pow is written in Go (everywhere but s390x).
	if runtime.GOARCH != "s390x" {
		for i := range size(400_000, 40_000) {
			x := math.Float64frombits(r.Uint64())
			if i%2 == 0 {
				x = math.Ldexp(1+r.Float64(), r.IntN(40)-20)
				if r.IntN(2) == 0 {
					x = -x
				}
			}
			y := float64(r.IntN(1<<uint(r.IntN(25))) - 1<<10)
			if i%7 == 0 {
				y = math.Ldexp(float64(r.IntN(1<<20)), r.IntN(60))
			}
			if got, want := PowScalar(x, y), math.Pow(x, y); !sameBits(got, want) {
				t.Fatalf("Pow(%v, %v) = %v, math.Pow %v", x, y, got, want)
			}
		}
	}

	sp := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 2, -2, 3, -3, 2.5, -2.5, 1e300, -1e300,
		0x1p63, -0x1p63, 0x1p53, math.Inf(1), math.Inf(-1), math.NaN(), 0.9, 1.1}
	for _, x := range sp {
		for _, y := range sp {
			got, want := PowScalar(x, y), math.Pow(x, y)
			if y != math.Trunc(y) && x > 0 && !math.IsInf(x, 0) && !math.IsInf(y, 0) && want != 0 && !math.IsInf(want, 0) {
				continue // finite and non-zero: measured above
			}
			if !sameBits(got, want) {
				t.Errorf("Pow(%v, %v) = %v, math.Pow %v", x, y, got, want)
			}
		}
	}
}

// ulp returns the spacing of the float64 values at |v|.
func ulp(v float64) float64 {
	_, e := math.Frexp(v)
	return math.Ldexp(1, e-53)
}

// TestBigPi checks the package's π/2, from Machin's formula, against the
// digits of π.
func TestBigPi(t *testing.T) {
	bigOnce.Do(initBig)
	const pi = "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798214808651328230664709384460955058223172535940812848111745028410270193852110555964462294895493038196"
	got := new(big.Float).SetPrec(bigPrec).Mul(bigPio2, big.NewFloat(2)).Text('f', len(pi)-2)
	if !strings.HasPrefix(got, pi[:len(pi)-1]) {
		t.Errorf("π = %s…, want %s…", got[:60], pi[:60])
	}
	prod := new(big.Float).SetPrec(bigPrec).Mul(bigPio2, bigTwoOverPi)
	if d, _ := prod.Sub(prod, big.NewFloat(1)).Float64(); math.Abs(d) > 0x1p-1270 {
		t.Errorf("π/2 · 2/π − 1 = %g", d)
	}
}

// TestScalarSinCos measures SinScalar and CosScalar against math/big over
// [−2π, 2π], up to 2²⁰, near multiples of π/2 and over the whole range.
func TestScalarSinCos(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var x []float64
	for k := 1; k < 2000; k++ {
		v := float64(k) * math.Pi / 2
		x = append(x, v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)))
	}
	x = append(x, math.Pi, math.Pi/2, math.Pi/4, math.Nextafter(math.Pi/4, 1), 0x1p-26, 0x1p-27, 1e-8, 0x1p20,
		math.Nextafter(0x1p20, 0), 1e22, math.MaxFloat64, 6381956970095103*0x1p797)
	n := size(100_000, 10_000)
	for len(x) < n {
		switch len(x) % 4 {
		case 0, 1:
			x = append(x, float64(4*math.Pi*r.Float64())-2*math.Pi)
		case 2:
			x = append(x, math.Ldexp(1+r.Float64(), r.IntN(46)-26))
		default:
			if len(x)%32 == 3 {
				x = append(x, math.Ldexp(1+r.Float64(), 20+r.IntN(1004)))
			} else {
				x = append(x, math.Ldexp(1+r.Float64(), -r.IntN(30)))
			}
		}
	}
	sin, cos := accuracy{name: "Sin"}, accuracy{name: "Cos"}
	for i, v := range x {
		if i%2 == 1 {
			v = -v
		}
		s, c := bigSinCos(v)
		sin.add(v, SinScalar(v), s)
		cos.add(v, CosScalar(v), c)
	}
	sin.check(t, 0.8)
	cos.check(t, 0.8)
	for _, c := range []struct{ x, sin, cos float64 }{
		{0, 0, 1}, {math.Copysign(0, -1), math.Copysign(0, -1), 1}, {math.Inf(1), math.NaN(), math.NaN()},
		{math.Inf(-1), math.NaN(), math.NaN()}, {math.NaN(), math.NaN(), math.NaN()},
	} {
		if got := SinScalar(c.x); !sameBits(got, c.sin) {
			t.Errorf("Sin(%v) = %v, want %v", c.x, got, c.sin)
		}
		if got := CosScalar(c.x); !sameBits(got, c.cos) {
			t.Errorf("Cos(%v) = %v, want %v", c.x, got, c.cos)
		}
	}
}

// TestScalarHypot measures HypotScalar against math/big, compares it with
// math.Hypot on amd64, and checks the special cases.
func TestScalarHypot(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	acc := accuracy{name: "Hypot"}
	for range size(200_000, 20_000) {
		p := math.Ldexp(2*r.Float64()-1, r.IntN(2100)-1070)
		q := math.Ldexp(2*r.Float64()-1, r.IntN(2100)-1070)
		if r.IntN(2) == 0 {
			q = math.Ldexp(p, r.IntN(60)-30) * (2*r.Float64() - 1)
		}
		if math.IsInf(p, 0) || math.IsInf(q, 0) {
			continue
		}
		got := HypotScalar(p, q)
		acc.add(p, got, bigHypot(p, q))
		// math.Hypot has assembly on amd64 computing the same formula:
		// ad/linalg's eigensolver kept its bits there. (386's, on the x87,
		// differs for subnormal arguments.)
		if runtime.GOARCH == "amd64" && !sameBits(got, math.Hypot(p, q)) {
			t.Fatalf("Hypot(%v, %v) = %v, math.Hypot %v", p, q, got, math.Hypot(p, q))
		}
	}
	acc.check(t, 2)
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range [][3]float64{{0, 0, 0}, {-3, 4, 5}, {inf, nan, inf}, {nan, -inf, inf}, {nan, 1, nan}, {1, nan, nan}, {-0.0, -0.0, 0}} {
		if got := HypotScalar(c[0], c[1]); !sameBits(got, c[2]) {
			t.Errorf("Hypot(%v, %v) = %v, want %v", c[0], c[1], got, c[2])
		}
	}
}

// scalarGoldenHash is the FNV-64a hash of the outputs of the scalar
// functions on the inputs of TestScalarGolden: every architecture must
// reproduce it.
const scalarGoldenHash = 0x473f6626f7f4176e

// TestScalarGolden hashes the outputs (NaNs canonicalised) of every scalar
// function on a fixed input set and compares the hash with the one
// recorded. Run on other architectures (GOARCH=arm64, 386, wasm), it
// checks that they produce the same bits.
func TestScalarGolden(t *testing.T) {
	x := inputs(4_000, 23)
	h := adtest.NewHash()
	put := func(v float64) { h.Add(v) }
	for i, v := range x {
		w := x[(i*7919+13)%len(x)]
		put(ExpScalar(v))
		put(LogScalar(v))
		put(Log10Scalar(v))
		put(SinScalar(v))
		put(CosScalar(v))
		put(HypotScalar(v, w))
		put(PowScalar(v, w))
		put(PowScalar(math.Abs(v), math.Mod(w, 16)))
		put(PowScalar(v, math.Round(math.Mod(w, 40))))
	}
	if got := h.Sum64(); got != scalarGoldenHash {
		t.Errorf("hash %#016x, want %#016x", got, uint64(scalarGoldenHash))
	}
}
