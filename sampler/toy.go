package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// A Distribution can be sampled. The distributions of this package also
// implement LogDensity and, for Gaussian mixtures, CondScoreSource, unless
// their doc says otherwise; use a type assertion to find out.
type Distribution interface {
	// Dim returns the dimension D.
	Dim() int
	// Sample sets every row of dst (B×D) to an independent draw from rng.
	// It panics if dst does not have D columns.
	Sample(dst ad.Mat, rng *rand.Rand)
}

// A Dataset is a named toy distribution for the command-line tool.
type Dataset struct {
	// Name is the short name LookupDataset accepts.
	Name string
	// Description says what the distribution is, in one line.
	Description string
	// Dist samples the distribution; type-assert it to LogDensity or
	// CondScoreSource for its density and scores where they exist.
	Dist Distribution
}

// Datasets returns the built-in toy distributions, in a fixed order, as
// fresh values.
func Datasets() []Dataset {
	return []Dataset{
		{"ncsn", "0.2·N((−5,−5), I) + 0.8·N((5,5), I): the NCSN pair of modes with unequal weights", NCSNMixture()},
		{"8gaussians", "8 Gaussians (std 0.5) equally spaced on a circle of radius 4", EightGaussians()},
		{"grid", "5×5 grid of Gaussians (std 0.3) at {−4, −2, 0, 2, 4}²", Grid()},
		{"banana", "banana: x₁ = 2z₁, x₂ = z₂ + ¼(x₁² − 4), z ~ N(0, I)", NewBanana(2, 0.25)},
		{"moons", "two interleaved half circles with noise 0.1 (samples only, no density)", TwoMoons(0.1)},
	}
}

// LookupDataset returns the built-in dataset with the given name.
func LookupDataset(name string) (Dataset, error) {
	for _, d := range Datasets() {
		if d.Name == name {
			return d, nil
		}
	}
	return Dataset{}, fmt.Errorf("sampler: unknown dataset %q", name)
}

// EightGaussians returns the equal-weight mixture of 8 Gaussians with
// standard deviation 0.5 centred at 4(cos kπ/4, sin kπ/4), k = 0, ..., 7.
func EightGaussians() *Mixture {
	means := make([][]float64, 8)
	for k := range means {
		a := float64(k) * math.Pi / 4
		means[k] = []float64{4 * rmath.Cos(a), 4 * rmath.Sin(a)}
	}
	return mustMixture(isotropic(means, nil, 0.5))
}

// Grid returns the equal-weight mixture of 25 Gaussians with standard
// deviation 0.3 centred on the grid {−4, −2, 0, 2, 4}².
func Grid() *Mixture {
	var means [][]float64
	for i := range 5 {
		for j := range 5 {
			means = append(means, []float64{float64(2*i - 4), float64(2*j - 4)})
		}
	}
	return mustMixture(isotropic(means, nil, 0.3))
}

// A Banana is the law of x = (a·z₁, z₂ + b(x₁² − a²)) for z ~ N(0, I₂): a
// Gaussian bent into a parabola. The map has unit Jacobian up to the factor
// a, so the density is exact:
//
//	log p(x) = −log(2πa) − x₁²/(2a²) − ½(x₂ − b(x₁² − a²))².
//
// Its mean is 0 and its covariance diag(a², 1 + 2a⁴b²). It has no closed-form
// noise-conditional score.
type Banana struct {
	a, b float64
}

// NewBanana returns the banana with scale a > 0 and bend b. It panics if a
// is not finite and positive or b is not finite.
func NewBanana(a, b float64) *Banana {
	if !(a > 0) || math.IsInf(a, 0) || math.IsNaN(b) || math.IsInf(b, 0) {
		panic(fmt.Sprintf("sampler: NewBanana(%v, %v): want a finite a > 0 and a finite b", a, b))
	}
	return &Banana{a: a, b: b}
}

// Dim returns 2.
func (*Banana) Dim() int { return 2 }

// Mean returns (0, 0).
func (*Banana) Mean() []float64 { return []float64{0, 0} }

// Cov returns diag(a², 1 + 2a⁴b²).
func (g *Banana) Cov() ad.Mat {
	a2 := float64(g.a * g.a)
	return ad.MatOf(2, 2, []float64{a2, 0, 0, 1 + float64(2*a2*a2*g.b*g.b)})
}

// Sample sets every row of dst to an independent draw.
func (g *Banana) Sample(dst ad.Mat, rng *rand.Rand) {
	checkCols("Banana.Sample", dst, 2)
	for b := range dst.Rows {
		x1 := g.a * repro.Normal(rng)
		x2 := repro.Normal(rng) + float64(g.b*(float64(x1*x1)-float64(g.a*g.a)))
		dst.Set(b, 0, x1)
		dst.Set(b, 1, x2)
	}
}

// eval returns log p(x) and sets score, if not nil, to its gradient.
func (g *Banana) eval(x, score []float64) float64 {
	a2 := float64(g.a * g.a)
	r := x[1] - float64(g.b*(float64(x[0]*x[0])-a2))
	if score != nil {
		score[0] = -x[0]/a2 + float64(2*g.b*x[0]*r)
		score[1] = -r
	}
	return -rmath.Log(2*math.Pi*g.a) - 0.5*x[0]*x[0]/a2 - float64(0.5*r*r)
}

// NewScoreFunc returns an evaluator of the exact score.
func (g *Banana) NewScoreFunc() ScoreFunc {
	return func(dst, x ad.Mat) {
		checkPair("Banana score", dst, x, 2)
		for b := range x.Rows {
			g.eval(x.Row(b), dst.Row(b))
		}
	}
}

// NewLogDensityFunc returns an evaluator of the normalised log-density and
// the exact score.
func (g *Banana) NewLogDensityFunc() LogDensityFunc {
	return func(logp []float64, score, x ad.Mat) {
		checkLogDensity("Banana log-density", logp, score, x, 2)
		for b := range x.Rows {
			var s []float64
			if len(score.Data) > 0 {
				s = score.Row(b)
			}
			logp[b] = g.eval(x.Row(b), s)
		}
	}
}

// Moons is the two-moons distribution: with probability ½ each, a point
// (cos t, sin t) of the upper half circle or (1 − cos t, ½ − sin t) of the
// lower one, t uniform on [0, π], plus N(0, noise²I), then shifted by
// (−½, −¼) and scaled by 2, so that it is centred near the origin within
// about [−3, 3]×[−2, 2]. It has no closed-form density: it implements
// Distribution only, for training and for sample-based metrics such as MMD.
type Moons struct {
	noise float64
}

// TwoMoons returns the two-moons distribution with the given noise standard
// deviation. It panics if noise is negative or not finite.
func TwoMoons(noise float64) *Moons {
	if !(noise >= 0) || math.IsInf(noise, 0) {
		panic(fmt.Sprintf("sampler: TwoMoons(%v): want a finite noise ≥ 0", noise))
	}
	return &Moons{noise: noise}
}

// Dim returns 2.
func (*Moons) Dim() int { return 2 }

// Sample sets every row of dst to an independent draw.
func (m *Moons) Sample(dst ad.Mat, rng *rand.Rand) {
	checkCols("Moons.Sample", dst, 2)
	for b := range dst.Rows {
		t := math.Pi * rng.Float64()
		x, y := rmath.Cos(t), rmath.Sin(t)
		if rng.IntN(2) == 1 {
			x, y = 1-x, 0.5-y
		}
		x += float64(m.noise * repro.Normal(rng))
		y += float64(m.noise * repro.Normal(rng))
		dst.Set(b, 0, 2*(x-0.5))
		dst.Set(b, 1, 2*(y-0.25))
	}
}
