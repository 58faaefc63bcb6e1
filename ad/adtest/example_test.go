package adtest_test

import (
	"fmt"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/adtest"
)

// The matrix helpers return a shape and data, the arguments of ad.MatOf.
func ExampleRandMat() {
	rng := rand.New(rand.NewPCG(1, 2))
	x := ad.MatOf(adtest.RandMat(rng, 2, 3, 1))
	fmt.Println(x.Rows, x.Cols, len(x.Data))
	// Output: 2 3 6
}
