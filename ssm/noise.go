package ssm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad/repro"
)

// A Projection is the distribution of the random vectors v that slice the
// scores. All three have E[vvᵀ] = I, so every sliced loss is an unbiased
// estimate of its exact counterpart.
type Projection int

const (
	// Rademacher draws each coordinate uniformly from {−1, +1}.
	Rademacher Projection = iota
	// Gaussian draws v ~ N(0, I).
	Gaussian
	// Sphere draws v uniformly on the sphere of radius √D.
	Sphere
)

var projectionNames = [...]string{"rademacher", "gaussian", "sphere"}

// String returns the projection's name as the tool spells it.
func (p Projection) String() string {
	if p < 0 || int(p) >= len(projectionNames) {
		return fmt.Sprintf("Projection(%d)", int(p))
	}
	return projectionNames[p]
}

// ParseProjection returns the projection named s ("rademacher", "gaussian"
// or "sphere").
func ParseProjection(s string) (Projection, error) {
	for i, n := range projectionNames {
		if s == n {
			return Projection(i), nil
		}
	}
	return 0, fmt.Errorf("unknown projection %q (want rademacher, gaussian or sphere)", s)
}

// Draw fills v with one projection vector drawn from r.
func (p Projection) Draw(v []float64, r *rand.Rand) {
	switch p {
	case Rademacher:
		for i := range v {
			v[i] = float64(1 - 2*int(r.Uint64()&1))
		}
	case Gaussian:
		for i := range v {
			v[i] = repro.Normal(r)
		}
	case Sphere:
		ss := 0.0
		for i := range v {
			v[i] = repro.Normal(r)
			ss += float64(v[i] * v[i])
		}
		s := math.Sqrt(float64(len(v)) / ss)
		for i := range v {
			v[i] *= s
		}
	default:
		panic(fmt.Sprintf("ssm: unknown projection %d", int(p)))
	}
}
