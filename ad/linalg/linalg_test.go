package linalg_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad/linalg"
)

// spd returns the n×n matrix c·AAᵀ/n + shift·I for a standard normal A:
// symmetric positive definite for shift > 0.
func spd(rng *rand.Rand, n int, shift float64) []float64 {
	a := make([]float64, n*n)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	s := make([]float64, n*n)
	for i := range n {
		for j := range n {
			v := 0.0
			for k := range n {
				v += a[i*n+k] * a[j*n+k]
			}
			s[i*n+j] = v / float64(n)
		}
		s[i*n+i] += shift
	}
	return s
}

// corr returns the n×n covariance sᵢsⱼρ^|i−j| with scales sᵢ from lo to hi.
func corr(n int, rho, lo, hi float64) []float64 {
	c := make([]float64, n*n)
	for i := range n {
		si := lo + (hi-lo)*float64(i)/float64(max(n-1, 1))
		for j := range n {
			sj := lo + (hi-lo)*float64(j)/float64(max(n-1, 1))
			c[i*n+j] = si * sj * math.Pow(rho, math.Abs(float64(i-j)))
		}
	}
	return c
}

// rbf returns the RBF kernel matrix exp(−‖xᵢ − xⱼ‖²/2) of m standard
// normal points in the plane: positive semi-definite, with eigenvalues that
// decay fast.
func rbf(rng *rand.Rand, m int) []float64 {
	x := make([]float64, 2*m)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	k := make([]float64, m*m)
	for i := range m {
		for j := range m {
			dx, dy := x[2*i]-x[2*j], x[2*i+1]-x[2*j+1]
			k[i*m+j] = math.Exp(-(dx*dx + dy*dy) / 2)
		}
	}
	return k
}

func maxAbs(a []float64) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

type spdCase struct {
	name string
	n    int
	a    []float64
}

func spdCases() []spdCase {
	rng := rand.New(rand.NewPCG(1, 2))
	cs := []spdCase{
		{"1×1", 1, []float64{4}},
		{"identity", 3, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}},
		{"diagonal", 3, []float64{9, 0, 0, 0, 0.25, 0, 0, 0, 1e6}},
		{"correlated", 6, corr(6, 0.7, 0.5, 1.5)},
		{"strongly correlated", 8, corr(8, 0.99, 1, 1)},
	}
	for _, n := range []int{2, 5, 17, 64} {
		cs = append(cs, spdCase{fmt.Sprint("random", n), n, spd(rng, n, 0.5)})
	}
	return cs
}

// TestCholesky checks that l is lower-triangular and l·lᵀ reconstructs a,
// that factoring in place gives the same bits, and that a's upper triangle
// is not read.
func TestCholesky(t *testing.T) {
	for _, c := range spdCases() {
		n := c.n
		l := make([]float64, n*n)
		for i := range l {
			l[i] = math.NaN() // every entry must be written
		}
		if err := linalg.Cholesky(l, c.a, n); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tol := 4e-16 * float64(n) * maxAbs(c.a)
		for i := range n {
			for j := range n {
				if j > i {
					if l[i*n+j] != 0 {
						t.Fatalf("%s: l[%d][%d] = %v above the diagonal", c.name, i, j, l[i*n+j])
					}
					continue
				}
				s := 0.0
				for k := range n {
					s += l[i*n+k] * l[j*n+k]
				}
				if d := math.Abs(s - c.a[i*n+j]); d > tol {
					t.Fatalf("%s: (l·lᵀ − a)[%d][%d] = %.3g, tolerance %.3g", c.name, i, j, d, tol)
				}
			}
			if !(l[i*n+i] > 0) {
				t.Fatalf("%s: l[%d][%d] = %v, want > 0", c.name, i, i, l[i*n+i])
			}
		}

		// In place, with garbage above the diagonal.
		in := append([]float64(nil), c.a...)
		for i := range n {
			for j := i + 1; j < n; j++ {
				in[i*n+j] = math.NaN()
			}
		}
		if err := linalg.Cholesky(in, in, n); err != nil {
			t.Fatalf("%s in place: %v", c.name, err)
		}
		for i := range l {
			if math.Float64bits(in[i]) != math.Float64bits(l[i]) {
				t.Fatalf("%s: in place differs at %d: %v, want %v", c.name, i, in[i], l[i])
			}
		}
	}
}

// TestCholeskyFails checks the error, and its pivot, for matrices that are
// not positive definite.
func TestCholeskyFails(t *testing.T) {
	for _, c := range []struct {
		name  string
		n     int
		a     []float64
		pivot int
		value float64 // NaN: the pivot is NaN
	}{
		{"indefinite", 2, []float64{1, 2, 2, 1}, 1, -3},
		{"negative", 2, []float64{-1, 0, 0, 1}, 0, -1},
		{"zero", 1, []float64{0}, 0, 0},
		{"singular", 2, []float64{1, 1, 1, 1}, 1, 0},
		{"NaN", 2, []float64{math.NaN(), 0, 0, 1}, 0, math.NaN()},
		{"NaN below", 2, []float64{1, 0, math.NaN(), 1}, 1, math.NaN()},
		{"infinite", 2, []float64{1, 0, 0, math.Inf(1)}, 1, math.Inf(1)},
	} {
		l := make([]float64, c.n*c.n)
		err := linalg.Cholesky(l, c.a, c.n)
		var npd *linalg.NotPositiveDefiniteError
		if !errors.As(err, &npd) {
			t.Errorf("%s: error %v, want a *NotPositiveDefiniteError", c.name, err)
			continue
		}
		if npd.Pivot != c.pivot || !(npd.Value == c.value || math.IsNaN(c.value) && math.IsNaN(npd.Value)) {
			t.Errorf("%s: pivot %d is %v, want %d is %v", c.name, npd.Pivot, npd.Value, c.pivot, c.value)
		}
	}
}

// TestSolve checks the residuals of the triangular solves and of the
// solution of a·x = b through the Cholesky factor, out of place and in
// place.
func TestSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range spdCases() {
		n := c.n
		l := make([]float64, n*n)
		if err := linalg.Cholesky(l, c.a, n); err != nil {
			t.Fatal(err)
		}
		b := make([]float64, n)
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		u := make([]float64, n)
		linalg.SolveLower(u, l, b, n)
		w := make([]float64, n)
		linalg.SolveLowerT(w, l, u, n)
		for i := range n {
			lu, ltw, aw := 0.0, 0.0, 0.0
			for k := range n {
				lu += l[i*n+k] * u[k]
				ltw += l[k*n+i] * w[k]
				aw += c.a[i*n+k] * w[k]
			}
			if d := math.Abs(lu - b[i]); d > 1e-13 {
				t.Errorf("%s: (l·u − b)[%d] = %.3g", c.name, i, d)
			}
			if d := math.Abs(ltw - u[i]); d > 1e-13*(1+math.Abs(u[i])) {
				t.Errorf("%s: (lᵀ·w − u)[%d] = %.3g", c.name, i, d)
			}
			if d := math.Abs(aw - b[i]); d > 1e-10 {
				t.Errorf("%s: (a·x − b)[%d] = %.3g", c.name, i, d)
			}
		}
		x := append([]float64(nil), b...)
		linalg.SolveLower(x, l, x, n)
		linalg.SolveLowerT(x, l, x, n)
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(w[i]) {
				t.Fatalf("%s: in place differs at %d: %v, want %v", c.name, i, x[i], w[i])
			}
		}
	}
}

// TestLogDetCholesky compares with the log of the product of the
// eigenvalues.
func TestLogDetCholesky(t *testing.T) {
	for _, c := range spdCases() {
		n := c.n
		l := make([]float64, n*n)
		if err := linalg.Cholesky(l, c.a, n); err != nil {
			t.Fatal(err)
		}
		got := linalg.LogDetCholesky(l, n)
		vals, vecs := make([]float64, n), make([]float64, n*n)
		linalg.SymEigen(vals, vecs, append([]float64(nil), c.a...), n)
		want := 0.0
		for _, v := range vals {
			want += math.Log(v)
		}
		if d := math.Abs(got - want); d > 1e-10*(1+math.Abs(want)) {
			t.Errorf("%s: log det = %v, want %v", c.name, got, want)
		}
	}
}

// TestSymEigen checks A·vⱼ = λⱼvⱼ, orthonormality and the order, on random
// symmetric matrices, a kernel matrix and matrices with repeated or zero
// eigenvalues.
func TestSymEigen(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 0x5eed))
	type tc struct {
		name string
		n    int
		a    []float64
	}
	var cases []tc
	for _, n := range []int{1, 2, 3, 7, 40, 120} {
		a := make([]float64, n*n)
		for i := range n {
			for j := 0; j <= i; j++ {
				v := rng.NormFloat64()
				a[i*n+j], a[j*n+i] = v, v
			}
		}
		cases = append(cases, tc{fmt.Sprint("random", n), n, a})
	}
	eye := make([]float64, 25)
	for i := range 5 {
		eye[i*5+i] = 1
	}
	cases = append(cases, tc{"identity", 5, eye})
	cases = append(cases, tc{"diag repeated", 4, []float64{2, 0, 0, 0, 0, -1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0}})
	cases = append(cases, tc{"rank one", 3, []float64{1, 2, 3, 2, 4, 6, 3, 6, 9}})
	cases = append(cases, tc{"kernel", 60, rbf(rng, 60)})
	for _, c := range cases {
		n := c.n
		work := append([]float64(nil), c.a...)
		vals, vecs := make([]float64, n), make([]float64, n*n)
		linalg.SymEigen(vals, vecs, work, n)
		tol := 1e-12 * float64(n) * math.Max(maxAbs(c.a), 1)
		for j := range n {
			if j > 0 && vals[j] > vals[j-1] {
				t.Errorf("%s: eigenvalues not decreasing at %d: %v", c.name, j, vals)
			}
			v := vecs[j*n : (j+1)*n]
			for i := range n {
				av := 0.0
				for k := range n {
					av += c.a[i*n+k] * v[k]
				}
				if math.Abs(av-vals[j]*v[i]) > tol {
					t.Fatalf("%s: (Av − λv)[%d] = %.3g for eigenpair %d", c.name, i, av-vals[j]*v[i], j)
				}
			}
			for k := range n {
				dot := 0.0
				for i := range n {
					dot += v[i] * vecs[k*n+i]
				}
				want := 0.0
				if k == j {
					want = 1
				}
				if math.Abs(dot-want) > 1e-12*float64(n) {
					t.Fatalf("%s: v%d·v%d = %v", c.name, j, k, dot)
				}
			}
		}
	}
	linalg.SymEigen(nil, nil, nil, 0) // n = 0 does nothing
}

// TestShapePanics checks that a slice of the wrong length panics with a
// message naming the routine and the argument.
func TestShapePanics(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
		want string
	}{
		{"Cholesky", func() { linalg.Cholesky(make([]float64, 3), make([]float64, 4), 2) }, "linalg: Cholesky: len(l) = 3, want 4"},
		{"SolveLower", func() { linalg.SolveLower(make([]float64, 2), make([]float64, 4), make([]float64, 1), 2) }, "linalg: SolveLower: len(b) = 1, want 2"},
		{"SolveLowerT", func() { linalg.SolveLowerT(make([]float64, 1), make([]float64, 4), make([]float64, 2), 2) }, "linalg: SolveLowerT: len(dst) = 1, want 2"},
		{"LogDetCholesky", func() { linalg.LogDetCholesky(make([]float64, 5), 2) }, "linalg: LogDetCholesky: len(l) = 5, want 4"},
		{"SymEigen", func() { linalg.SymEigen(make([]float64, 2), make([]float64, 4), make([]float64, 2), 2) }, "linalg: SymEigen: len(a) = 2, want 4"},
	} {
		func() {
			defer func() {
				if r := recover(); r != c.want {
					t.Errorf("%s: panic %v, want %q", c.name, r, c.want)
				}
			}()
			c.f()
		}()
	}
}
