package fd_test

import (
	"fmt"

	"scorematch/ad/fd"
)

// Check a hand-written gradient of f(x) = x₀²x₁ + 3x₁ against finite
// differences.
func ExampleCheckGrad() {
	x := []float64{1.5, -2}
	f := func() float64 { return x[0]*x[0]*x[1] + 3*x[1] }
	grad := []float64{2 * x[0] * x[1], x[0]*x[0] + 3}
	maxErr, _ := fd.CheckGrad(f, x, grad, fd.DefaultStep)
	fmt.Println(maxErr < 1e-10)

	grad[1] = x[0] * x[0] // forgot the 3
	maxErr, at := fd.CheckGrad(f, x, grad, fd.DefaultStep)
	fmt.Printf("%.2f at %d\n", maxErr, at)
	// Output:
	// true
	// 0.57 at 1
}
