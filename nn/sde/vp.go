package sde

import (
	"math"

	"scorematch/ad/rmath"
)

// VP is the variance-preserving SDE (the continuous limit of DDPM):
//
//	β(t) = βmin + t·(βmax − βmin),  a(t) = −½β(t),  g(t) = √β(t),
//
// with kernel α(t) = e^{−½B(t)}, s(t) = √(1 − e^{−B(t)}), where
// B(t) = ∫₀ᵗ β = βmin·t + ½t²(βmax − βmin), and prior N(0, I). Its
// discretisations are DDPM's with βᵢ = β(t)·dt (the reference code's
// βᵢ = β(tᵢ)/N on its grid of N levels): Discretize gives
// fcoef = √(1 − βᵢ) − 1 and G = √βᵢ, AncestralStep gives
// scale = 1/√(1 − βᵢ), scoreCoef = βᵢ/√(1 − βᵢ) and std = √βᵢ; both are NaN
// when βᵢ ≥ 1 (too few steps).
type VP struct {
	// BetaMin is βmin = β(0), finite and ≥ 0.
	BetaMin float64
	// BetaMax is βmax = β(1), finite, > 0 and ≥ βmin.
	BetaMax float64
}

// Kind returns "vp".
func (VP) Kind() string { return "vp" }

// String returns "vp:βmin:βmax".
func (v VP) String() string { return "vp:" + fmtFloat(v.BetaMin) + ":" + fmtFloat(v.BetaMax) }

// Validate returns a *ConfigError unless 0 ≤ βmin ≤ βmax are finite and
// βmax > 0.
func (v VP) Validate() error { return validateBeta("VP", v.BetaMin, v.BetaMax) }

// validateBeta checks a β range.
func validateBeta(typ string, lo, hi float64) error {
	if !(lo >= 0) || !finite(lo) {
		return &ConfigError{Type: typ, Field: "BetaMin", Value: lo, Want: "finite and ≥ 0"}
	}
	if !(hi >= lo) || !(hi > 0) || !finite(hi) {
		return &ConfigError{Type: typ, Field: "BetaMax", Value: hi, Want: "finite, > 0 and ≥ BetaMin = " + fmtFloat(lo)}
	}
	return nil
}

// T returns 1.
func (VP) T() float64 { return 1 }

// Beta returns β(t) = βmin + t·(βmax − βmin).
func (v VP) Beta(t float64) float64 { return beta(v.BetaMin, v.BetaMax, t) }

// IntBeta returns B(t) = ∫₀ᵗ β = βmin·t + ½t²·(βmax − βmin).
func (v VP) IntBeta(t float64) float64 { return intBeta(v.BetaMin, v.BetaMax, t) }

// DriftCoef returns a(t) = −½β(t).
func (v VP) DriftCoef(t float64) float64 { return -0.5 * v.Beta(t) }

// Diffusion returns g(t) = √β(t).
func (v VP) Diffusion(t float64) float64 { return math.Sqrt(v.Beta(t)) }

// Marginal returns α = e^{−½B(t)} and s = √(1 − e^{−B(t)}).
func (v VP) Marginal(t float64) (alpha, std float64) {
	b := v.IntBeta(t)
	return rmath.Exp(-0.5 * b), math.Sqrt(-expm1(-b))
}

// PriorStd returns 1.
func (VP) PriorStd() float64 { return 1 }

// PriorLogDensity returns log N(x; 0, I).
func (VP) PriorLogDensity(x []float64) float64 { return gaussLogDensity(x, 1) }

// Discretize returns fcoef = √(1 − βᵢ) − 1 and G = √βᵢ with βᵢ = β(t)·dt,
// or NaNs if βᵢ ≥ 1.
func (v VP) Discretize(t, dt float64) (fcoef, G float64) {
	bi := float64(v.Beta(t) * dt)
	if !(bi < 1) {
		return math.NaN(), math.NaN()
	}
	r := math.Sqrt(1 - bi)
	return -bi / (r + 1), math.Sqrt(bi)
}

// AncestralStep returns DDPM's step with βᵢ = β(t)·dt: scale = 1/√(1 − βᵢ),
// scoreCoef = βᵢ/√(1 − βᵢ) and std = √βᵢ, or NaNs if βᵢ ≥ 1.
func (v VP) AncestralStep(t, dt float64) (scale, scoreCoef, std float64) {
	bi := float64(v.Beta(t) * dt)
	if !(bi < 1) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	r := math.Sqrt(1 - bi)
	return 1 / r, bi / r, math.Sqrt(bi)
}

// SubVP is the sub-variance-preserving SDE of the paper, whose kernel
// variance is below VP's at every t:
//
//	a(t) = −½β(t),  g(t) = √(β(t)·(1 − e^{−2B(t)})),
//
// with β and B as for VP, kernel α(t) = e^{−½B(t)}, s(t) = 1 − e^{−B(t)}
// (the square of VP's s), and prior N(0, I). Its Discretize is the
// Euler–Maruyama step, fcoef = a(t)·dt and G = g(t)·√dt (the reference's
// default); it has no ancestral step.
type SubVP struct {
	// BetaMin is βmin = β(0), finite and ≥ 0.
	BetaMin float64
	// BetaMax is βmax = β(1), finite, > 0 and ≥ βmin.
	BetaMax float64
}

// Kind returns "subvp".
func (SubVP) Kind() string { return "subvp" }

// String returns "subvp:βmin:βmax".
func (v SubVP) String() string { return "subvp:" + fmtFloat(v.BetaMin) + ":" + fmtFloat(v.BetaMax) }

// Validate returns a *ConfigError unless 0 ≤ βmin ≤ βmax are finite and
// βmax > 0.
func (v SubVP) Validate() error { return validateBeta("SubVP", v.BetaMin, v.BetaMax) }

// T returns 1.
func (SubVP) T() float64 { return 1 }

// Beta returns β(t) = βmin + t·(βmax − βmin).
func (v SubVP) Beta(t float64) float64 { return beta(v.BetaMin, v.BetaMax, t) }

// IntBeta returns B(t) = ∫₀ᵗ β = βmin·t + ½t²·(βmax − βmin).
func (v SubVP) IntBeta(t float64) float64 { return intBeta(v.BetaMin, v.BetaMax, t) }

// DriftCoef returns a(t) = −½β(t).
func (v SubVP) DriftCoef(t float64) float64 { return -0.5 * v.Beta(t) }

// Diffusion returns g(t) = √(β(t)·(1 − e^{−2B(t)})).
func (v SubVP) Diffusion(t float64) float64 {
	return math.Sqrt(v.Beta(t) * -expm1(-2*v.IntBeta(t)))
}

// Marginal returns α = e^{−½B(t)} and s = 1 − e^{−B(t)}.
func (v SubVP) Marginal(t float64) (alpha, std float64) {
	b := v.IntBeta(t)
	return rmath.Exp(-0.5 * b), -expm1(-b)
}

// PriorStd returns 1.
func (SubVP) PriorStd() float64 { return 1 }

// PriorLogDensity returns log N(x; 0, I).
func (SubVP) PriorLogDensity(x []float64) float64 { return gaussLogDensity(x, 1) }

// Discretize returns the Euler–Maruyama coefficients fcoef = a(t)·dt and
// G = g(t)·√dt.
func (v SubVP) Discretize(t, dt float64) (fcoef, G float64) {
	return v.DriftCoef(t) * dt, v.Diffusion(t) * math.Sqrt(dt)
}

// beta returns lo + t·(hi − lo).
func beta(lo, hi, t float64) float64 { return float64(t*(hi-lo)) + lo }

// intBeta returns lo·t + ½t²·(hi − lo).
func intBeta(lo, hi, t float64) float64 { return float64(lo*t) + float64(0.5*t*t*(hi-lo)) }
