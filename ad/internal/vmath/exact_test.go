package vmath

import (
	"math"
	"testing"
)

// Double-double versions of the functions, exact to about 2⁻¹⁰⁰ relative
// (for |x| ≤ 700, where no intermediate result is subnormal), to measure the
// error of the implementation alone.

func ddLdexp(a dd, k int) dd { return dd{math.Ldexp(a.hi, k), math.Ldexp(a.lo, k)} }

func ddNeg(a dd) dd { return dd{-a.hi, -a.lo} }

func ddDiv(a, b dd) dd {
	q := dd{a.hi / b.hi, 0}
	for range 2 {
		r := ddAdd(a, ddNeg(ddMul(q, b)))
		q = ddAdd(q, dd{r.hi / b.hi, 0})
	}
	return q
}

func (a dd) float() float64 { return a.hi + a.lo }

// ddExp returns eˣ.
func ddExp(x float64) dd {
	k, s := ddExpParts(x)
	return ddLdexp(ddAdd(dd{1, 0}, s), k)
}

// ddExpm1 returns eˣ − 1 as (2ᵏ − 1) + 2ᵏ·(eʳ − 1), without cancellation.
func ddExpm1(x float64) dd {
	k, s := ddExpParts(x)
	p := math.Ldexp(1, k)
	return ddAdd(ddAdd(dd{p, 0}, dd{-1, 0}), ddLdexp(s, k))
}

// ddLog1p returns log(1+e) for e ≥ 0 by a Newton step from math.Log1p.
func ddLog1p(e dd) dd {
	y := math.Log1p(e.float())
	t := ddMul(ddAdd(dd{1, 0}, e), ddExp(-y)) // (1+e)·e^-y − 1 is the correction
	return ddAdd(dd{y, 0}, ddAdd(t, dd{-1, 0}))
}

// exactOracle returns f, f′, f″, f‴ of function fn at x, rounded from
// double-double values, and the natural scale of the errors of the
// package's formulas where they add terms of either sign (see
// oracle_test.go).
func exactOracle(fn int, x float64) (f, scale [4]float64) {
	one := dd{1, 0}
	if fn == fnExp {
		e := ddExp(x).float()
		return [4]float64{e, e, e, e}, scale
	}
	if fn == fnELU {
		if x > 0 {
			return [4]float64{x, 1, 0, 0}, scale
		}
		e := ddExp(x).float()
		return [4]float64{ddExpm1(x).float(), e, e, e}, scale
	}
	if fn == fnTanh {
		a := -2 * math.Abs(x)
		m := ddExpm1(a)
		den := ddAdd(dd{2, 0}, m)
		t := ddDiv(ddNeg(m), den)
		if x < 0 {
			t = ddNeg(t)
		}
		s2 := ddDiv(ddMul(dd{4, 0}, ddExp(a)), ddMul(den, den))
		t2 := ddMul(t, t)
		f3 := ddMul(ddAdd(ddMul(dd{6, 0}, t2), dd{-2, 0}), s2)
		f = [4]float64{t.float(), s2.float(), ddMul(dd{-2, 0}, ddMul(t, s2)).float(), f3.float()}
		scale[3] = (6*t2.float() + 2) * s2.float()
		return f, scale
	}
	e := ddExp(-math.Abs(x))
	u := ddAdd(one, e)
	s, sm := ddDiv(one, u), ddDiv(e, u)
	delta := ddDiv(ddExpm1(-math.Abs(x)), u) // σ(−x) − σ(x) for x ≥ 0
	if x < 0 {
		s, sm, delta = sm, s, ddNeg(delta)
	}
	d := ddMul(s, sm)
	d2 := ddMul(d, delta)
	d3 := ddMul(d, ddAdd(one, ddMul(dd{-6, 0}, d)))
	dv, sc3 := d.float(), d.float()*(1+6*d.float())
	xd := dd{x, 0}
	switch fn {
	case fnSigmoid:
		return [4]float64{s.float(), dv, d2.float(), d3.float()}, [4]float64{0, 0, 0, sc3}
	case fnSoftplus:
		f0 := ddLog1p(e)
		if x > 0 {
			f0 = ddAdd(xd, f0)
		}
		return [4]float64{f0.float(), s.float(), dv, d2.float()}, scale
	}
	// SiLU
	ax, ad2 := math.Abs(x), math.Abs(d2.float())
	f = [4]float64{
		ddMul(xd, s).float(),
		ddAdd(s, ddMul(xd, d)).float(),
		ddAdd(ddMul(dd{2, 0}, d), ddMul(xd, d2)).float(),
		ddAdd(ddMul(dd{3, 0}, d2), ddMul(xd, d3)).float(),
	}
	scale = [4]float64{0, s.float() + ax*dv, 2*dv + ax*ad2, 3*ad2 + ax*sc3}
	return f, scale
}

// TestExactAccuracy measures the error of every function and output
// against double-double evaluations of the same mathematical formulas, for
// finite |x| ≤ 700, and checks it against the bounds stated in doc.go.
func TestExactAccuracy(t *testing.T) {
	var x []float64
	for _, v := range inputs(size(300_000, 30_000), 5) {
		if math.Abs(v) <= 700 {
			x = append(x, v)
		}
	}
	checkAccuracy(t, x, func(fn function, x float64) (f, scale, tol [4]float64) {
		f, scale = exactOracle(fn.fn, x)
		return f, scale, fn.exactTol
	})
}
