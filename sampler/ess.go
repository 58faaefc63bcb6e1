package sampler

import (
	"math"

	"scorematch/ad/rmath"
)

// ESS returns the effective sample size of every coordinate of the trace,
// from the chains' autocorrelations, by the multi-chain estimator of
// Gelman et al. (Bayesian Data Analysis, 3rd ed., §11.5) with Geyer's (1992)
// initial monotone sequence, as Stan computes it. With M chains of N draws,
// chain means x̄_c, within-chain variance W (mean of the chains' unbiased
// variances), between-chain variance B/N (variance of the chain means) and
// var⁺ = ((N−1)/N)W + B/N:
//
//	ρ̂_t = 1 − (W − mean_c γ̂_c(t)) / var⁺,  γ̂_c(t) = (1/N)Σᵢ (xᵢ − x̄_c)(xᵢ₊ₜ − x̄_c),
//
// ρ̂₀ = 1, the pairs Pₖ = ρ̂₂ₖ + ρ̂₂ₖ₊₁ are summed while positive and made
// non-increasing, and
//
//	ESS = MN / τ̂,  τ̂ = −1 + 2 Σₖ Pₖ,
//
// capped at MN·log₁₀(MN) (antithetic chains can make τ̂ small). The
// estimator needs N ≥ 4; with fewer draws, or for a coordinate that does not
// vary, ESS is NaN. Its cost per coordinate is O(MN) per lag up to the
// truncation lag.
func (t *Trace) ESS() []float64 {
	m, n, d := t.Chains, t.Draws, t.Dim
	out := make([]float64, d)
	if n < 4 || m < 1 {
		for j := range out {
			out[j] = math.NaN()
		}
		return out
	}
	// series[c*n+i] is coordinate j of chain c at draw i, centred per chain.
	series := make([]float64, m*n)
	means := make([]float64, m)
	for j := range d {
		w, grand := 0.0, 0.0
		for c := range m {
			x := series[c*n : (c+1)*n]
			mean := 0.0
			for i := range n {
				x[i] = t.Data[(i*m+c)*d+j]
				mean += x[i]
			}
			mean /= float64(n)
			v := 0.0
			for i := range x {
				x[i] -= mean
				v += float64(x[i] * x[i])
			}
			means[c] = mean
			grand += mean
			w += v / float64(n-1)
		}
		w /= float64(m)
		grand /= float64(m)
		between := 0.0
		if m > 1 {
			for _, mu := range means {
				between += float64((mu - grand) * (mu - grand))
			}
			between /= float64(m - 1)
		}
		varPlus := float64(float64(n-1)/float64(n)*w) + between
		if !(varPlus > 0) {
			out[j] = math.NaN()
			continue
		}
		rho := func(lag int) float64 {
			if lag == 0 {
				return 1
			}
			s := 0.0
			for c := range m {
				x := series[c*n : (c+1)*n]
				g := 0.0
				for i := 0; i+lag < n; i++ {
					g += float64(x[i] * x[i+lag])
				}
				s += g / float64(n)
			}
			return 1 - (w-s/float64(m))/varPlus
		}
		tau := -1.0
		prev := math.Inf(1)
		for k := 0; 2*k+1 < n; k++ {
			p := rho(2*k) + rho(2*k+1)
			if p < 0 {
				break
			}
			p = math.Min(p, prev)
			prev = p
			tau += 2 * p
		}
		total := float64(m * n)
		ess := total / tau
		if !(tau > 0) || ess > total*rmath.Log10(total) {
			ess = total * rmath.Log10(total)
		}
		out[j] = ess
	}
	return out
}
