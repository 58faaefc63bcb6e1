package sampler_test

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/sampler"
)

// bumps is a family of 1-D Gaussian bumps p̃ₘ(x) = exp(−(x − m)²/2), whose
// normalising constants are all √(2π).
type bumps int

func (bumps) Dim() int   { return 1 }
func (n bumps) Len() int { return int(n) }

func (bumps) NewFamilyFunc() sampler.FamilyFunc {
	return func(logp []float64, score, x ad.Mat, member []int) {
		for b, m := range member {
			d := x.At(b, 0) - float64(m)
			logp[b] = -d * d / 2
			if len(score.Data) > 0 {
				score.Set(b, 0, -d)
			}
		}
	}
}

// Normalising constants of many targets at once: one evaluation covers
// the chains of all the members, and member i's result is that of Run on
// sampler.Member(f, i) with the seed Seed + i, bit for bit.
func ExampleAIS_RunFamily() {
	f := bumps(3)
	a := sampler.AIS{BaseScale: 3, Temps: 200, Step: 0.5, Leapfrog: 5, Chains: 256, Seed: 1}
	res, err := a.RunFamily(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, r := range res {
		alone := a
		alone.Seed += uint64(i)
		r1, _ := alone.Run(sampler.Member(f, i))
		fmt.Printf("member %d: within 3 standard errors of log √(2π): %v, same bits as Run: %v\n",
			i, math.Abs(r.LogZ-0.5*math.Log(2*math.Pi)) < 3*r.StdErr, r.LogZ == r1.LogZ)
	}
	// Output:
	// member 0: within 3 standard errors of log √(2π): true, same bits as Run: true
	// member 1: within 3 standard errors of log √(2π): true, same bits as Run: true
	// member 2: within 3 standard errors of log √(2π): true, same bits as Run: true
}
