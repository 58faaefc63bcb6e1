package sde

import (
	"math"

	"scorematch/ad/rmath"
)

// VE is the variance-exploding SDE (the continuous limit of NCSN's noise
// levels):
//
//	σ(t) = σmin·(σmax/σmin)^t,  a(t) = 0,  g(t) = σ(t)·√(2 ln(σmax/σmin)),
//
// with kernel α(t) = 1, s(t) = σ(t) (the reference code's convention; see
// the package doc) and prior N(0, σmax²·I). Its discretisations are those
// of the NCSN chain between the levels σ(t) and σ(t − dt):
// Discretize gives fcoef = 0 and G = √(σ(t)² − σ(t−dt)²), and AncestralStep
// gives scale 1, scoreCoef = σ(t)² − σ(t−dt)² and
// std = √(σ(t−dt)²·(σ(t)² − σ(t−dt)²)/σ(t)²).
//
// The zero value is not usable; σmin is usually DefaultSigmaMin and σmax
// the largest distance between two data points (SigmaMaxHeuristic).
type VE struct {
	// SigmaMin is σmin = σ(0), finite and > 0.
	SigmaMin float64
	// SigmaMax is σmax = σ(1), finite and > σmin; 0 means not yet set
	// (Parse accepts it, FromData sets it, Validate refuses it).
	SigmaMax float64
}

// Kind returns "ve".
func (VE) Kind() string { return "ve" }

// String returns "ve:σmin:σmax".
func (v VE) String() string { return "ve:" + fmtFloat(v.SigmaMin) + ":" + fmtFloat(v.SigmaMax) }

// Validate returns a *ConfigError unless 0 < σmin < σmax are finite.
func (v VE) Validate() error { return v.validate(false) }

// validate is Validate, allowing σmax = 0 if unset is true.
func (v VE) validate(unset bool) error {
	if !(v.SigmaMin > 0) || !finite(v.SigmaMin) {
		return &ConfigError{Type: "VE", Field: "SigmaMin", Value: v.SigmaMin, Want: "finite and > 0"}
	}
	if unset && v.SigmaMax == 0 {
		return nil
	}
	if !(v.SigmaMax > v.SigmaMin) || !finite(v.SigmaMax) {
		return &ConfigError{Type: "VE", Field: "SigmaMax", Value: v.SigmaMax, Want: "finite and > SigmaMin = " + fmtFloat(v.SigmaMin)}
	}
	return nil
}

// T returns 1.
func (VE) T() float64 { return 1 }

// logRatio returns ln(σmax/σmin).
func (v VE) logRatio() float64 { return rmath.Log(v.SigmaMax) - rmath.Log(v.SigmaMin) }

// Sigma returns σ(t) = σmin·(σmax/σmin)^t.
func (v VE) Sigma(t float64) float64 { return v.SigmaMin * rmath.Exp(float64(t*v.logRatio())) }

// DriftCoef returns 0.
func (VE) DriftCoef(t float64) float64 { return 0 }

// Diffusion returns g(t) = σ(t)·√(2 ln(σmax/σmin)).
func (v VE) Diffusion(t float64) float64 { return v.Sigma(t) * math.Sqrt(2*v.logRatio()) }

// Marginal returns α = 1 and s = σ(t).
func (v VE) Marginal(t float64) (alpha, std float64) { return 1, v.Sigma(t) }

// PriorStd returns σmax.
func (v VE) PriorStd() float64 { return v.SigmaMax }

// PriorLogDensity returns log N(x; 0, σmax²·I).
func (v VE) PriorLogDensity(x []float64) float64 { return gaussLogDensity(x, v.SigmaMax) }

// levelGap returns σ(t)² − σ(t−dt)² = σ(t)²·(1 − e^{−2·dt·ln(σmax/σmin)}),
// accurate for small dt, and σ(t)².
func (v VE) levelGap(t, dt float64) (gap, s2 float64) {
	s := v.Sigma(t)
	s2 = s * s
	return s2 * -expm1(float64(-2*dt)*v.logRatio()), s2
}

// Discretize returns fcoef = 0 and G = √(σ(t)² − σ(t−dt)²).
func (v VE) Discretize(t, dt float64) (fcoef, G float64) {
	gap, _ := v.levelGap(t, dt)
	return 0, math.Sqrt(gap)
}

// AncestralStep returns scale = 1, scoreCoef = σ(t)² − σ(t−dt)² and
// std = √(σ(t−dt)²·(σ(t)² − σ(t−dt)²)/σ(t)²), the NCSN ancestral step of
// the reference code (whose last step, to σ = 0, has no noise; here the
// step ends at σ(t − dt) > 0).
func (v VE) AncestralStep(t, dt float64) (scale, scoreCoef, std float64) {
	gap, s2 := v.levelGap(t, dt)
	prev := s2 - gap
	return 1, gap, math.Sqrt(prev * (gap / s2))
}
