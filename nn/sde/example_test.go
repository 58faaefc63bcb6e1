package sde_test

import (
	"fmt"

	"scorematch/nn/sde"
)

// Parse reads an SDE as the command-line tool's -sde flag gives it, with
// the paper's defaults for the parameters left out.
func ExampleParse() {
	for _, text := range []string{"vp", "subvp:0.1:20", "ve:0.01:50"} {
		s, err := sde.Parse(text)
		if err != nil {
			fmt.Println(err)
			return
		}
		alpha, std := s.Marginal(1)
		fmt.Printf("%-12s prior std %g, α(1) = %.3g, s(1) = %.6g, sampling stops at t = %g\n", s, s.PriorStd(), alpha, std, sde.SampleEps(s))
	}
	_, err := sde.Parse("ve:1:0.5")
	fmt.Println(err)
	// Output:
	// vp:0.1:20    prior std 1, α(1) = 0.00657, s(1) = 0.999978, sampling stops at t = 0.001
	// subvp:0.1:20 prior std 1, α(1) = 0.00657, s(1) = 0.999957, sampling stops at t = 0.001
	// ve:0.01:50   prior std 50, α(1) = 1, s(1) = 50, sampling stops at t = 1e-05
	// sde: VE: SigmaMax = 0.5, want finite and > SigmaMin = 1
}
