// Package sde provides the forward diffusions of score-based generative
// modelling through stochastic differential equations (Song, Sohl-Dickstein,
// Kingma, Kumar, Ermon & Poole, ICLR 2021) as values: the variance-exploding
// (VE), variance-preserving (VP) and sub-variance-preserving (SubVP) SDEs
//
//	dx = a(t)·x dt + g(t) dw,  t ∈ [0, T], T = 1,
//
// whose drift is linear in x, so that the perturbation kernel is Gaussian:
// x_t = α(t)·x₀ + s(t)·z with z ~ N(0, I). Each SDE gives its drift and
// diffusion coefficients, the kernel's α(t) and s(t) (Marginal), its prior
// p_T = N(0, PriorStd()²·I), and the coefficients of one step of the
// discretisations that the reverse-time samplers of package sampler use
// (Discretize for reverse diffusion and, for VE and VP, Ancestral).
//
// # Conventions
//
// The formulas and defaults are those of the paper and of its reference
// code (score_sde, sde_lib.py), with one difference of form: the reference
// discretises [0, 1] into a fixed grid of N levels, where this package's
// discretisations take the step's end points t and t − dt, so that a sampler
// may choose any grid. On the reference's grid the two agree up to the
// reference's rounding of t to a level.
//
// The VE kernel's standard deviation is σ(t) itself, as in the reference
// code, not √(σ(t)² − σmin²), the exact standard deviation of x_t − x₀ under
// the SDE started at x₀: p_t is p₀ convolved with N(0, σ(t)²I), which is
// the law at t of the SDE started from p₀ convolved with N(0, σmin²I). With
// σmin = 0.01 the difference is immaterial for data of unit scale.
//
// # Defaults
//
// VE: σmin = 0.01 and σmax given, or from the data by SigmaMaxHeuristic
// (the paper's "technique 1": σmax as large as the largest distance between
// two training points). VP and sub-VP: β(t) linear from βmin = 0.1 to
// βmax = 20. Training draws t uniformly from [TrainEps, T] with
// TrainEps = 1e-5; samplers stop at SampleEps: 1e-5 for VE and 1e-3 for
// VP and sub-VP, where the kernel of a VP SDE is too narrow for a trained
// score below that.
//
// Every exponential and logarithm goes through package ad/rmath, and no
// multiply-add is left for the compiler to fuse, so the values have the
// same bits on every architecture.
package sde

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// An SDE is a forward diffusion dx = a(t)·x dt + g(t) dw on [0, T] whose
// drift is linear in x, with the Gaussian perturbation kernel
// x_t = α(t)·x₀ + s(t)·z. Its methods are pure functions of t; an SDE whose
// Validate fails gives meaningless values.
type SDE interface {
	// Kind returns "ve", "vp" or "subvp".
	Kind() string
	// String returns the SDE in the form Parse reads, such as
	// "ve:0.01:50", "vp:0.1:20" or "subvp:0.1:20".
	String() string
	// Validate returns a *ConfigError for parameters outside their range.
	Validate() error
	// T returns the end time, 1.
	T() float64
	// DriftCoef returns a(t), the drift being f(x, t) = a(t)·x.
	DriftCoef(t float64) float64
	// Diffusion returns g(t).
	Diffusion(t float64) float64
	// Marginal returns α(t) and s(t), the scale and standard deviation of
	// the perturbation kernel: x_t | x₀ ~ N(α(t)·x₀, s(t)²·I).
	Marginal(t float64) (alpha, std float64)
	// PriorStd returns the standard deviation of the prior
	// p_T = N(0, PriorStd()²·I).
	PriorStd() float64
	// PriorLogDensity returns the normalised log N(x; 0, PriorStd()²·I).
	PriorLogDensity(x []float64) float64
	// Discretize returns the coefficients of one step of the SDE's
	// discretisation between t − dt and t: the forward step is
	//
	//	x_t ≈ x_{t−dt} + fcoef·x_{t−dt} + G·z,
	//
	// and the reverse-diffusion step from t to t − dt (the reference's
	// ReverseDiffusionPredictor) is
	//
	//	x_{t−dt} ≈ x_t − fcoef·x_t + G²·∇log p_t(x_t) + G·z,  z ~ N(0, I).
	//
	// It requires 0 < dt ≤ t. VP's coefficients are NaN when β(t)·dt ≥ 1.
	Discretize(t, dt float64) (fcoef, G float64)
}

// Ancestral is implemented by the SDEs that have an ancestral sampling
// step (Ho et al.'s for VP, the NCSN chain for VE): the step from t to
// t − dt is
//
//	x_{t−dt} = scale·x_t + scoreCoef·∇log p_t(x_t) + std·z,  z ~ N(0, I).
//
// SubVP has none (as in the reference code).
type Ancestral interface {
	SDE
	// AncestralStep returns the coefficients of the step from t to t − dt,
	// 0 < dt ≤ t. VP's are NaN when β(t)·dt ≥ 1.
	AncestralStep(t, dt float64) (scale, scoreCoef, std float64)
}

// TrainEps is the smallest time drawn in training: t ~ U[TrainEps, T].
const TrainEps = 1e-5

// SampleEps returns the time at which the reverse-time samplers stop by
// default: 1e-5 for VE and 1e-3 for VP and sub-VP (the reference code's
// defaults).
func SampleEps(s SDE) float64 {
	if s.Kind() == "ve" {
		return 1e-5
	}
	return 1e-3
}

// The defaults of Parse.
const (
	DefaultSigmaMin = 0.01 // VE's σmin
	DefaultBetaMin  = 0.1  // VP's and sub-VP's βmin
	DefaultBetaMax  = 20   // VP's and sub-VP's βmax
)

// Parse reads an SDE written as
//
//	ve               VE with σmin = 0.01 and σmax = 0, to be set from the data (FromData)
//	ve:σmin:σmax     VE with the given levels (σmax = 0: from the data)
//	vp               VP with β from 0.1 to 20
//	vp:βmin:βmax     VP with the given β range
//	subvp            sub-VP with β from 0.1 to 20
//	subvp:βmin:βmax  sub-VP with the given β range
//
// and checks its parameters as Validate does (allowing VE's σmax = 0).
// Malformed text is an error; parameters outside their range are a
// *ConfigError. Parse(s.String()) returns s.
func Parse(text string) (SDE, error) {
	kind, rest, hasArgs := strings.Cut(text, ":")
	var a, b float64
	if hasArgs {
		sa, sb, ok := strings.Cut(rest, ":")
		if !ok || strings.Contains(sb, ":") {
			return nil, fmt.Errorf("sde: %q: want kind or kind:a:b with two numbers", text)
		}
		var err error
		if a, err = strconv.ParseFloat(sa, 64); err != nil {
			return nil, fmt.Errorf("sde: %q: bad number %q", text, sa)
		}
		if b, err = strconv.ParseFloat(sb, 64); err != nil {
			return nil, fmt.Errorf("sde: %q: bad number %q", text, sb)
		}
	}
	var s SDE
	switch kind {
	case "ve":
		if !hasArgs {
			a, b = DefaultSigmaMin, 0
		}
		v := VE{SigmaMin: a, SigmaMax: b}
		if err := v.validate(true); err != nil {
			return nil, err
		}
		return v, nil
	case "vp":
		if !hasArgs {
			a, b = DefaultBetaMin, DefaultBetaMax
		}
		s = VP{BetaMin: a, BetaMax: b}
	case "subvp":
		if !hasArgs {
			a, b = DefaultBetaMin, DefaultBetaMax
		}
		s = SubVP{BetaMin: a, BetaMax: b}
	default:
		return nil, fmt.Errorf("sde: %q: unknown kind %q, want ve, vp or subvp", text, kind)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// FromData returns s with an unset VE σmax (zero) replaced by
// SigmaMaxHeuristic(x), and s unchanged otherwise.
func FromData(s SDE, x ad.Mat) SDE {
	if v, ok := s.(VE); ok && v.SigmaMax == 0 {
		v.SigmaMax = SigmaMaxHeuristic(x)
		return v
	}
	return s
}

// ExactHeuristicRows is the largest number of rows for which
// SigmaMaxHeuristic computes the largest pairwise distance exactly.
const ExactHeuristicRows = 4096

// SigmaMaxHeuristic returns the paper's choice of σmax for data x (one
// point per row): the largest Euclidean distance between two rows. It is
// exact, at O(n²D) cost, for at most ExactHeuristicRows rows; for more it
// returns the upper bound 2·maxᵢ ‖xᵢ − x̄‖ (at most twice the exact value,
// and never below it, as the heuristic wants σmax at least that large) in
// O(nD). It panics if x has fewer than two rows, and returns 0 if they
// coincide.
func SigmaMaxHeuristic(x ad.Mat) float64 {
	n := x.Rows
	if n < 2 || len(x.Data) != n*x.Cols {
		panic(fmt.Sprintf("sde: SigmaMaxHeuristic: x is %d×%d with %d elements, want ≥ 2 rows", n, x.Cols, len(x.Data)))
	}
	best := 0.0
	if n <= ExactHeuristicRows {
		for i := range n {
			for j := i + 1; j < n; j++ {
				best = math.Max(best, sqDist(x.Row(i), x.Row(j)))
			}
		}
		return math.Sqrt(best)
	}
	mean := make([]float64, x.Cols)
	for i := range n {
		for j, v := range x.Row(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		best = math.Max(best, sqDist(x.Row(i), mean))
	}
	return 2 * math.Sqrt(best)
}

// sqDist returns ‖a − b‖².
func sqDist(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += float64(d * d)
	}
	return s
}

// SamplePrior sets every row b of dst to a draw from the prior
// N(0, PriorStd()²·I), from the stream (seed, repro.Start, 0, b), so that
// a row's draw does not depend on the other rows.
func SamplePrior(s SDE, dst ad.Mat, seed uint64) {
	std := s.PriorStd()
	st := repro.NewStream()
	for b := range dst.Rows {
		rng := st.Seed(seed, repro.Start, 0, uint64(b))
		fillNormal(dst.Row(b), std, rng)
	}
}

// fillNormal sets row to independent N(0, std²) draws.
func fillNormal(row []float64, std float64, rng *rand.Rand) {
	for i := range row {
		row[i] = std * repro.Normal(rng)
	}
}

// gaussLogDensity returns log N(x; 0, std²I).
func gaussLogDensity(x []float64, std float64) float64 {
	q := 0.0
	for _, v := range x {
		u := v / std
		q += float64(u * u)
	}
	d := float64(len(x))
	return float64(float64(-0.5*d)*rmath.Log(float64(2*math.Pi)*float64(std*std))) - float64(0.5*q)
}

// expm1 returns eˣ − 1 accurately for small |x| from rmath's Exp and Log
// (Kahan's (u − 1)·x/log u with u = eˣ).
func expm1(x float64) float64 {
	u := rmath.Exp(x)
	switch {
	case u == 1:
		return x
	case u-1 == -1:
		return -1
	case math.IsInf(u, 1):
		return u
	}
	return (u - 1) * (x / rmath.Log(u))
}

// fmtFloat formats v so that strconv.ParseFloat gives it back exactly.
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
