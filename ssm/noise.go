package ssm

import (
	"fmt"
	"math"
	"math/rand/v2"
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
			v[i] = r.NormFloat64()
		}
	case Sphere:
		ss := 0.0
		for i := range v {
			v[i] = r.NormFloat64()
			ss += v[i] * v[i]
		}
		s := math.Sqrt(float64(len(v)) / ss)
		for i := range v {
			v[i] *= s
		}
	default:
		panic(fmt.Sprintf("ssm: unknown projection %d", int(p)))
	}
}

// A Stream derives the random numbers of one sample at one training step
// from (seed, step, sample) alone, so they do not depend on how a batch is
// split or scheduled. Reseeding reuses the generator: no allocation.
type Stream struct {
	pcg rand.PCG
	r   *rand.Rand
}

// NewStream returns a stream; call Seed before drawing.
func NewStream() *Stream {
	s := &Stream{}
	s.r = rand.New(&s.pcg)
	return s
}

// Seed positions the stream at the numbers of (seed, step, sample) and
// returns its generator.
func (s *Stream) Seed(seed, step uint64, sample int) *rand.Rand {
	s.pcg.Seed(seed, mix(step, uint64(sample)))
	return s.r
}

// mix combines two counters into one 64-bit PCG stream selector
// (splitmix64 finaliser over a pairing of the inputs).
func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ (b + 0x632be59bd9b4e019 + a<<6 + a>>2)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
