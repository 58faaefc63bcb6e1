package linalg_test

import (
	"fmt"
	"math"

	"scorematch/ad/linalg"
)

// Solve a·x = b for a symmetric positive definite a through its Cholesky
// factor, and compute log det a.
func Example() {
	const n = 2
	a := []float64{
		4, 2,
		2, 3,
	}
	l := make([]float64, n*n)
	if err := linalg.Cholesky(l, a, n); err != nil {
		fmt.Println(err)
		return
	}
	x := []float64{2, 1}           // b
	linalg.SolveLower(x, l, x, n)  // l⁻¹b
	linalg.SolveLowerT(x, l, x, n) // l⁻ᵀl⁻¹b = a⁻¹b
	fmt.Printf("l = %.4f\n", l)
	fmt.Printf("x = %.4f\n", x)
	fmt.Printf("det a = %.4f\n", math.Exp(linalg.LogDetCholesky(l, n)))

	err := linalg.Cholesky(l, []float64{1, 2, 2, 1}, n)
	fmt.Println(err)
	// Output:
	// l = [2.0000 0.0000 1.0000 1.4142]
	// x = [0.5000 0.0000]
	// det a = 8.0000
	// linalg: matrix is not positive definite (pivot 1 is -3)
}

// The eigenvalues of a symmetric matrix come in decreasing order, each
// with its unit eigenvector as a row of vecs.
func ExampleSymEigen() {
	const n = 2
	a := []float64{
		2, 1,
		1, 2,
	}
	vals, vecs := make([]float64, n), make([]float64, n*n)
	linalg.SymEigen(vals, vecs, a, n) // destroys a
	fmt.Printf("λ = %.4f\n", vals)
	fmt.Printf("|v₀| = %.4f\n", []float64{math.Abs(vecs[0]), math.Abs(vecs[1])})
	// Output:
	// λ = [3.0000 1.0000]
	// |v₀| = [0.7071 0.7071]
}
