package rmath_test

import (
	"fmt"

	"scorematch/ad/rmath"
)

// The functions give the same bits on every architecture; where the math
// package's own functions are correctly rounded, they agree with them.
func Example() {
	fmt.Println(rmath.Exp(1), rmath.Log(10), rmath.Log10(1000))
	fmt.Println(rmath.Sin(1), rmath.Cos(1), rmath.Pow(2, 0.5), rmath.Pow(1.5, 3))
	fmt.Println(rmath.Hypot(3, 4), rmath.Log(0), rmath.Pow(-2, 0.5))
	// Output:
	// 2.718281828459045 2.302585092994046 3
	// 0.8414709848078965 0.5403023058681398 1.4142135623730951 3.375
	// 5 -Inf NaN
}
