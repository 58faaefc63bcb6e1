package sampler

import (
	"fmt"
	"math"
	"testing"
)

// TestSymEigen checks A·vⱼ = λⱼvⱼ, orthonormality and the order, on random
// symmetric matrices, a kernel matrix and matrices with repeated or zero
// eigenvalues.
func TestSymEigen(t *testing.T) {
	rng := newRand(30)
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
	k, _ := gram(normalMat(rng, 60, 2, 1), 1)
	cases = append(cases, tc{"kernel", 60, k.Data})
	for _, c := range cases {
		n := c.n
		work := append([]float64(nil), c.a...)
		vals, vecs := make([]float64, n), make([]float64, n*n)
		symEigen(vals, vecs, work, n)
		scale := 0.0
		for _, v := range c.a {
			scale = math.Max(scale, math.Abs(v))
		}
		tol := 1e-12 * float64(n) * math.Max(scale, 1)
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
}

func TestCholesky(t *testing.T) {
	a := corrCov(6, 0.7, 0.5, 1.5)
	l := make([]float64, 36)
	if !cholesky(l, a.Data, 6) {
		t.Fatal("not positive definite")
	}
	for i := range 6 {
		for j := range 6 {
			s := 0.0
			for k := range 6 {
				s += l[i*6+k] * l[j*6+k]
			}
			if math.Abs(s-a.At(i, j)) > 1e-14 {
				t.Fatalf("LLᵀ[%d,%d] = %v, want %v", i, j, s, a.At(i, j))
			}
		}
	}
	if cholesky(l, []float64{1, 2, 2, 1}, 2) {
		t.Error("indefinite matrix accepted")
	}
	if cholesky(l, []float64{math.NaN(), 0, 0, 1}, 2) {
		t.Error("NaN accepted")
	}
}
