package implicit_test

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ssm/implicit"
)

// The entropy gradient of a Gaussian encoder through the surrogate, with
// the exact score, against the closed form ∇_φ Σ log σ_φ(x): antithetic
// noise ±ε with εεᵀ averaging to I makes the two agree to rounding.
func ExampleEntropyGrad() {
	enc, err := implicit.NewGaussianEncoder(3, 2, []int{8}, "tanh", 0, repro.New(1, repro.Init, 0, 0))
	if err != nil {
		panic(err)
	}
	x := implicit.Repeat(ad.MatOf(1, 3, []float64{0.5, -1, 2}), 4)
	eps := ad.MatOf(4, 2, []float64{math.Sqrt2, 0, -math.Sqrt2, 0, 0, math.Sqrt2, 0, -math.Sqrt2})
	est, err := implicit.New("exact", implicit.Config{Score: enc.Score})
	if err != nil {
		panic(err)
	}
	grads := implicit.EntropyGrad(enc, est, x, eps, 0)

	t := ad.NewTape()
	t.Reset()
	t.Backward(t.Sum(enc.LogStdSum(t, t.Const(x.RowRange(0, 1)))))
	p := enc.LogStd.Params()[0] // the first weight of log σ's net
	i := len(enc.Mean.Params())
	fmt.Printf("surrogate %.12f, closed form %.12f\n", grads[i].Data[0], t.Grad(p).Data[0])
	// Output: surrogate 0.014343016374, closed form 0.014343016374
}
