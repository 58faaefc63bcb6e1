package linalg

import (
	"fmt"
	"math"

	"scorematch/ad/rmath"
)

// A NotPositiveDefiniteError is returned by Cholesky for a matrix that is
// not numerically positive definite.
type NotPositiveDefiniteError struct {
	// Pivot is the first column j whose pivot failed.
	Pivot int
	// Value is that pivot, a[j][j] − Σₖ l[j][k]² over k < j: zero,
	// negative, infinite or NaN.
	Value float64
}

func (e *NotPositiveDefiniteError) Error() string {
	return fmt.Sprintf("linalg: matrix is not positive definite (pivot %d is %g)", e.Pivot, e.Value)
}

// Cholesky sets l to the lower-triangular Cholesky factor of the symmetric
// n×n matrix a, so that a = l·lᵀ, and zeroes l's strict upper triangle.
// Only a's lower triangle (diagonal included) is read. l and a may be the
// same slice.
//
// Column by column, for j = 0, ..., n−1,
//
//	l[j][j] = √(a[j][j] − Σₖ l[j][k]²),  l[i][j] = (a[i][j] − Σₖ l[i][k]·l[j][k]) / l[j][j],
//
// with each sum subtracted term by term in increasing k < j.
//
// If a pivot (the argument of the square root) is not finite and > 0,
// Cholesky stops and returns a *NotPositiveDefiniteError, leaving l
// unspecified. It panics if len(l) or len(a) is not n*n.
func Cholesky(l, a []float64, n int) error {
	checkLen("Cholesky", "l", l, n*n)
	checkLen("Cholesky", "a", a, n*n)
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= float64(l[j*n+k] * l[j*n+k])
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return &NotPositiveDefiniteError{Pivot: j, Value: d}
		}
		d = math.Sqrt(d)
		l[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= float64(l[i*n+k] * l[j*n+k])
			}
			l[i*n+j] = s / d
		}
	}
	for i := range n {
		clear(l[i*n+i+1 : i*n+n])
	}
	return nil
}

// SolveLower sets dst to l⁻¹b for a lower-triangular n×n l with a nonzero
// diagonal (forward substitution); l's strict upper triangle is not read.
// dst and b may be the same slice. It panics if len(l) is not n*n or
// len(dst) or len(b) is not n.
func SolveLower(dst, l, b []float64, n int) {
	checkLen("SolveLower", "l", l, n*n)
	checkLen("SolveLower", "dst", dst, n)
	checkLen("SolveLower", "b", b, n)
	for i := range n {
		s := b[i]
		row := l[i*n : i*n+i]
		for k, lik := range row {
			s -= float64(lik * dst[k])
		}
		dst[i] = s / l[i*n+i]
	}
}

// SolveLowerT sets dst to l⁻ᵀb for a lower-triangular n×n l with a nonzero
// diagonal (back substitution with lᵀ); l's strict upper triangle is not
// read. dst and b may be the same slice. After Cholesky, SolveLower and
// then SolveLowerT solve a·x = b. It panics if len(l) is not n*n or
// len(dst) or len(b) is not n.
func SolveLowerT(dst, l, b []float64, n int) {
	checkLen("SolveLowerT", "l", l, n*n)
	checkLen("SolveLowerT", "dst", dst, n)
	checkLen("SolveLowerT", "b", b, n)
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= float64(l[k*n+i] * dst[k])
		}
		dst[i] = s / l[i*n+i]
	}
}

// LogDetCholesky returns log det(l·lᵀ) = 2 Σᵢ log l[i][i] for a Cholesky
// factor l (n×n, positive diagonal). It panics if len(l) is not n*n.
func LogDetCholesky(l []float64, n int) float64 {
	checkLen("LogDetCholesky", "l", l, n*n)
	s := 0.0
	for i := range n {
		s += rmath.Log(l[i*n+i])
	}
	return 2 * s
}

// checkLen panics with a clear message if len(s) != want.
func checkLen(fn, name string, s []float64, want int) {
	if len(s) != want {
		panic(fmt.Sprintf("linalg: %s: len(%s) = %d, want %d", fn, name, len(s), want))
	}
}
