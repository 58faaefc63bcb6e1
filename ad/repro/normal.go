package repro

import (
	"math"
	"math/rand/v2"

	"scorematch/ad/rmath"
)

// Normal returns a standard normal deviate drawn from r, with the same bits
// on every architecture. Draw every normal number of a result with it, not
// with r.NormFloat64, whose tail and acceptance tests call math.Log and
// math.Exp: on arm64 about 3% of its tail draws (those beyond 3.44, 0.06%
// of all) differ in the last bits from amd64's.
//
// It is the ziggurat method of Marsaglia and Tsang ("The Ziggurat Method
// for Generating Random Variables", J. Stat. Softw. 5(8), 2000) with 128
// layers, in the layout that rand.Rand.NormFloat64 uses: one Uint64 per
// attempt, its low 32 bits as a signed integer j and the next 7 as the
// layer i; x = j·wᵢ is returned when |j| < kᵢ (over 98% of draws), the
// base layer's tail is drawn by Marsaglia's exponential method, and a
// wedge is accepted by comparing one more uniform with the density in
// float32 as NormFloat64 does. The tables are computed at start-up with
// rmath from the constants of the paper; they are those of NormFloat64
// (TestZigguratTables shows that the last bits of exp and log cannot
// change them). So Normal returns NormFloat64's numbers, from the same
// generator state, except where rmath and the math package disagree: in
// the tail (beyond 3.44), where rmath.Log replaces math.Log, and in
// wedge tests decided by the last bit of the density.
func Normal(r *rand.Rand) float64 {
	for {
		u := r.Uint64()
		j := int32(u) // the low 32 bits, signed
		i := u >> 32 & 0x7f
		x := float64(j) * float64(zigW[i])
		a := uint32(j)
		if j < 0 {
			a = uint32(-j)
		}
		if a < zigK[i] {
			return x
		}
		if i == 0 {
			// The tail beyond zigR: x = −log(u₁)/zigR, accepted when
			// −2·log(u₂) ≥ x².
			for {
				x = float64(-rmath.Log(r.Float64()) * (1 / zigR))
				y := -rmath.Log(r.Float64())
				if y+y >= x*x {
					break
				}
			}
			if j > 0 {
				return zigR + x
			}
			return -zigR - x
		}
		if zigF[i]+float32(float32(r.Float64())*(zigF[i-1]-zigF[i])) < float32(rmath.Exp(-0.5*x*x)) {
			return x
		}
	}
}

// The ziggurat: 128 layers of equal area zigV under e^(−x²/2), the base
// layer's rectangle ending at zigR with the tail beyond it.
const (
	zigR = 3.442619855899
	zigV = 9.91256303526217e-3
	zigM = 1 << 31 // j's scale
)

var (
	zigK [128]uint32  // bounds on |j| below which x is inside the layer beneath: 2³¹·xᵢ₋₁/xᵢ
	zigW [128]float32 // xᵢ/2³¹: x = j·wᵢ
	zigF [128]float32 // e^(−xᵢ²/2)
)

func init() { zigK, zigW, zigF = zigTables(rmath.Exp, rmath.Log) }

// zigTables computes the tables from the layers' right edges xᵢ, from
// x₁₂₇ = zigR inwards: xᵢ = √(−2·log(zigV/xᵢ₊₁ + e^(−xᵢ₊₁²/2))).
func zigTables(exp, log func(float64) float64) (k [128]uint32, w, f [128]float32) {
	dn, tn := zigR, zigR
	q := zigV / exp(-0.5*dn*dn)
	k[0] = uint32(dn / q * zigM)
	w[0] = float32(q / zigM)
	w[127] = float32(dn / zigM)
	f[0] = 1
	f[127] = float32(exp(-0.5 * dn * dn))
	for i := 126; i >= 1; i-- {
		dn = math.Sqrt(-2 * log(zigV/dn+exp(-0.5*dn*dn)))
		k[i+1] = uint32(dn / tn * zigM)
		tn = dn
		f[i] = float32(exp(-0.5 * dn * dn))
		w[i] = float32(dn / zigM)
	}
	return k, w, f
}
