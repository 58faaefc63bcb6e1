package vmath

import "math"

// The scalar formulas of ad/unary.go, on the math package, as the oracle of
// the accuracy tests. Each returns f, f′, f″, f‴ at x and, for every output,
// the natural scale of its rounding errors: the sum of the magnitudes of the
// terms that the formula adds, where it adds terms of either sign (0 where
// the value itself is the scale).

// sigmoidsOracle returns σ(x) and σ(−x), each computed without cancellation.
func sigmoidsOracle(x float64) (s, sm float64) {
	e := mathExp(-math.Abs(x))
	p, q := 1/(1+e), e/(1+e)
	if x >= 0 {
		return p, q
	}
	return q, p
}

// mathExp is eˣ computed in double-double arithmetic (to about 2⁻¹⁰⁰) and
// rounded: the math.Exp of amd64 (an assembly routine) errs by more than
// 1 ulp at some points and overflows above about 709.43 instead of 709.78.
func mathExp(x float64) float64 {
	switch {
	case math.IsNaN(x) || x > 710:
		return x + math.Inf(1)
	case x < -746:
		return 0
	}
	k, s := ddExpParts(x)
	e := ddAdd(dd{1, 0}, s)
	return math.Ldexp(e.hi+e.lo, k)
}

// ddExpParts returns k and eʳ − 1 in double-double arithmetic, where
// eˣ = 2ᵏ·eʳ and |r| ≤ 0.35 (x finite, |x| < 750).
func ddExpParts(x float64) (int, dd) {
	k := math.Round(x / ln2Hi)
	rh := math.FMA(-k, ln2Hi, x) // exact
	p := float64(-k * ln2Lo)
	r := ddAdd(dd{rh, 0}, dd{p, math.FMA(-k, ln2Lo, -p)})
	sum, term := dd{0, 0}, dd{1, 0}
	for n := 1.0; n < 27; n++ {
		term = ddMul(term, r)
		q := term.hi / n
		term = fastSum(q, (math.FMA(-q, n, term.hi)+term.lo)/n)
		sum = ddAdd(sum, term)
	}
	return int(k), sum
}

// dd is the unevaluated sum hi + lo of two float64s, |lo| ≤ ulp(hi)/2.
// As in reference.go, products are rounded explicitly with float64(…) so
// that no architecture fuses them into an addition.
type dd struct{ hi, lo float64 }

func fastSum(a, b float64) dd {
	s := a + b
	return dd{s, b - (s - a)}
}

func ddAdd(a, b dd) dd {
	s := a.hi + b.hi
	bb := s - a.hi
	e := (a.hi - (s - bb)) + (b.hi - bb)
	return fastSum(s, e+a.lo+b.lo)
}

func ddMul(a, b dd) dd {
	p := float64(a.hi * b.hi)
	e := math.FMA(a.hi, b.hi, -p)
	return fastSum(p, e+float64(a.hi*b.lo)+float64(a.lo*b.hi))
}

func expOracle(x float64) (f, scale [4]float64) {
	e := mathExp(x)
	return [4]float64{e, e, e, e}, scale
}

func sigmoidOracle(x float64) (f, scale [4]float64) {
	s, sm := sigmoidsOracle(x)
	d := s * sm
	f = [4]float64{s, d, d * (sm - s), d * (1 - 6*d)}
	scale = [4]float64{0, 0, d * (sm + s), d * (1 + 6*d)}
	return f, scale
}

func softplusOracle(x float64) (f, scale [4]float64) {
	s, sm := sigmoidsOracle(x)
	d := s * sm
	f = [4]float64{math.Max(x, 0) + math.Log1p(mathExp(-math.Abs(x))), s, d, d * (sm - s)}
	scale = [4]float64{0, 0, 0, d * (sm + s)}
	return f, scale
}

// tanhOracle differs from ad/unary.go in one place: sech²x is computed
// from e^(−2|x|) instead of 1 + expm1(−2|x|), which loses all relative
// accuracy as |x| grows (and is 0 beyond |x| ≈ 19).
func tanhOracle(x float64) (f, scale [4]float64) {
	m := math.Expm1(-2 * math.Abs(x))
	t := -m / (2 + m)
	if x < 0 {
		t = -t
	}
	s2 := 4 * mathExp(-2*math.Abs(x)) / ((2 + m) * (2 + m))
	f = [4]float64{t, s2, -2 * t * s2, (6*t*t - 2) * s2}
	scale = [4]float64{0, 0, 0, (6*t*t + 2) * s2}
	return f, scale
}

func siluOracle(x float64) (f, scale [4]float64) {
	s, sm := sigmoidsOracle(x)
	d := s * sm
	d2, d3 := d*(sm-s), d*(1-6*d)
	f = [4]float64{x * s, s + x*d, 2*d + x*d2, 3*d2 + x*d3}
	ax := math.Abs(x)
	scale = [4]float64{0, s + ax*d, 2*d + ax*d, 3*d + ax*d*(1+6*d)}
	return f, scale
}

func eluOracle(x float64) (f, scale [4]float64) {
	if x > 0 {
		return [4]float64{x, 1, 0, 0}, scale
	}
	e := mathExp(x)
	return [4]float64{math.Expm1(x), e, e, e}, scale
}
