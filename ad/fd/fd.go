// Package fd computes derivatives by finite differences, to check the
// analytic derivatives of package ad, and of the code built on it, in the
// tests of every package (as gonum's diff/fd does for gonum).
//
// CentralDiff differentiates a scalar function of one variable; NumGrad
// differentiates a function of a slice with respect to every element, in
// place; RelErr compares a claimed derivative with a numerical one; and
// CheckGrad does both. The package depends on no other package of the
// module, so package ad's own tests can use it.
package fd

import "math"

// CentralDiff returns the derivative of f at x by the fourth-order central
// difference (8(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h. Its truncation
// error is O(h⁴), so with h near 1e-3 (relative to the scale of x) it agrees
// with an exact float64 derivative to about 1e-10 relative for smooth f.
func CentralDiff(f func(float64) float64, x, h float64) float64 {
	return (float64(8*(f(x+h)-f(x-h))) - (f(x+2*h) - f(x-2*h))) / (12 * h)
}

// DefaultStep is the relative step h that the tests of this module pass to
// NumGrad and CheckGrad: with the fourth-order central difference it
// balances truncation error, O(h⁴), against rounding error, O(ε/h).
const DefaultStep = 1e-3

// NumGrad sets grad[i] to the central difference (CentralDiff) of f with
// respect to x[i], for every i, with step h·max(1, |x[i]|). It perturbs x in
// place and restores it exactly; f must read x afresh on each call.
func NumGrad(f func() float64, x, grad []float64, h float64) {
	for i := range x {
		xi := x[i]
		step := h * math.Max(1, math.Abs(xi))
		grad[i] = CentralDiff(func(v float64) float64 {
			x[i] = v
			return f()
		}, xi, step)
		x[i] = xi
	}
}

// RelErr returns the largest relative difference between got and want,
// |got[i] − want[i]| / max(|got[i]|, |want[i]|, floor·max_j |want[j]|), and the
// index where it occurs. The floor (for example 1e-3) keeps entries that are
// zero up to rounding from dominating; a wrong derivative still shows an
// error of order one in every entry larger than the floor.
func RelErr(got, want []float64, floor float64) (maxErr float64, at int) {
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	at = -1
	for i := range got {
		den := math.Max(math.Max(math.Abs(got[i]), math.Abs(want[i])), floor*scale)
		e := math.Abs(got[i] - want[i])
		if den > 0 {
			e /= den
		}
		if e > maxErr || math.IsNaN(e) || at < 0 {
			maxErr, at = e, i
			if math.IsNaN(e) {
				return math.Inf(1), i
			}
		}
	}
	return maxErr, at
}

// CheckGrad compares grad, the claimed gradient of f at x, with NumGrad at
// step h and returns RelErr with floor 1e-3. It perturbs x in place and
// restores it.
func CheckGrad(f func() float64, x, grad []float64, h float64) (maxErr float64, at int) {
	num := make([]float64, len(x))
	NumGrad(f, x, num, h)
	return RelErr(grad, num, 1e-3)
}
