package linalg

import (
	"math"

	"scorematch/ad/rmath"
)

// SymEigen computes the eigen-decomposition a = Σⱼ vals[j]·vⱼvⱼᵀ of the
// symmetric n×n matrix a, destroying a. On return vals holds the eigenvalues
// in decreasing order and row j of the n×n matrix vecs, vecs[j*n:(j+1)*n],
// the unit eigenvector vⱼ of vals[j]. For n = 0 it does nothing.
//
// Method: Householder reduction to a tridiagonal T = QᵀAQ, then the QL
// algorithm with implicit Wilkinson shifts on T, applying every Givens
// rotation to the rows of Qᵀ. Both phases cost O(n³) (about 4n³/3 + 3n³
// flops for the vectors) and work on contiguous rows. An eigenvalue that
// has not converged after 60 QL iterations is left as it stands.
//
// It panics if len(vals) is not n or len(vecs) or len(a) is not n*n.
func SymEigen(vals, vecs, a []float64, n int) {
	checkLen("SymEigen", "vals", vals, n)
	checkLen("SymEigen", "vecs", vecs, n*n)
	checkLen("SymEigen", "a", a, n*n)
	if n == 0 {
		return
	}
	d := vals
	e := make([]float64, n)
	qt := vecs // Qᵀ, then the eigenvectors as rows
	for i := range n {
		clear(qt[i*n : (i+1)*n])
		qt[i*n+i] = 1
	}
	v := make([]float64, n)
	p := make([]float64, n)
	for k := 0; k+2 < n; k++ {
		// Householder vector v for column k below the diagonal.
		m := n - k - 1
		x := v[:m]
		norm := 0.0
		for i := range m {
			x[i] = a[(k+1+i)*n+k]
			norm = rmath.Hypot(norm, x[i])
		}
		if norm == 0 {
			continue
		}
		alpha := -math.Copysign(norm, x[0])
		x[0] -= alpha
		vn := 0.0
		for _, t := range x {
			vn = rmath.Hypot(vn, t)
		}
		if vn == 0 {
			continue
		}
		for i := range x {
			x[i] /= vn
		}
		// A₂₂ ← H A₂₂ H with H = I − 2vvᵀ: p = A₂₂v, q = p − (vᵀp)v,
		// A₂₂ ← A₂₂ − 2vqᵀ − 2qvᵀ.
		q := p[:m]
		kk := 0.0
		for i := range m {
			row := a[(k+1+i)*n+k+1 : (k+1+i)*n+n]
			s := 0.0
			for j, t := range x {
				s += float64(row[j] * t)
			}
			q[i] = s
			kk += float64(x[i] * s)
		}
		for i := range q {
			q[i] -= float64(kk * x[i])
		}
		for i := range m {
			row := a[(k+1+i)*n+k+1 : (k+1+i)*n+n]
			xi, qi := x[i], q[i]
			for j := range row {
				row[j] -= float64(2 * (float64(xi*q[j]) + float64(qi*x[j])))
			}
		}
		a[(k+1)*n+k], a[k*n+k+1] = alpha, alpha
		for i := k + 2; i < n; i++ {
			a[i*n+k], a[k*n+i] = 0, 0
		}
		// Qᵀ ← H Qᵀ on rows k+1, ..., n−1: Qᵀ ← Qᵀ − 2v(vᵀQᵀ).
		w := p[:n]
		clear(w)
		for i, t := range x {
			row := qt[(k+1+i)*n : (k+2+i)*n]
			for j, r := range row {
				w[j] += float64(t * r)
			}
		}
		for i, t := range x {
			row := qt[(k+1+i)*n : (k+2+i)*n]
			for j := range row {
				row[j] -= float64(2 * t * w[j])
			}
		}
	}
	for i := range n {
		d[i] = a[i*n+i]
		if i+1 < n {
			e[i] = a[(i+1)*n+i] // couples i and i+1
		}
	}
	e[n-1] = 0

	// Implicit QL on the tridiagonal (d, e).
	for l := 0; l < n; l++ {
		for iter := 0; ; iter++ {
			m := l
			for ; m < n-1; m++ {
				dd := math.Abs(d[m]) + math.Abs(d[m+1])
				if math.Abs(e[m]) <= 1e-16*dd {
					break
				}
			}
			if m == l || iter == 60 {
				break
			}
			// Wilkinson shift from the leading 2×2 block.
			g := (d[l+1] - d[l]) / (2 * e[l])
			r := rmath.Hypot(g, 1)
			g = d[m] - d[l] + e[l]/(g+math.Copysign(r, g))
			s, c, pp := 1.0, 1.0, 0.0
			deflated := false
			for i := m - 1; i >= l; i-- {
				f, b := s*e[i], float64(c*e[i])
				r = rmath.Hypot(f, g)
				e[i+1] = r
				if r == 0 {
					d[i+1] -= pp
					e[m] = 0
					deflated = true
					break
				}
				s, c = f/r, g/r
				g = d[i+1] - pp
				r = float64((d[i]-g)*s) + float64(2*c*b)
				pp = float64(s * r)
				d[i+1] = g + pp
				g = float64(c*r) - b
				ri, rj := qt[i*n:(i+1)*n], qt[(i+1)*n:(i+2)*n]
				for k := range ri {
					t := rj[k]
					rj[k] = float64(s*ri[k]) + float64(c*t)
					ri[k] = float64(c*ri[k]) - float64(s*t)
				}
			}
			if deflated {
				continue
			}
			d[l] -= pp
			e[l] = g
			e[m] = 0
		}
	}
	// Sort eigenpairs by decreasing eigenvalue (selection sort on rows).
	for i := range n {
		best := i
		for j := i + 1; j < n; j++ {
			if d[j] > d[best] {
				best = j
			}
		}
		if best != i {
			d[i], d[best] = d[best], d[i]
			ri, rb := qt[i*n:(i+1)*n], qt[best*n:(best+1)*n]
			for k := range ri {
				ri[k], rb[k] = rb[k], ri[k]
			}
		}
	}
}
