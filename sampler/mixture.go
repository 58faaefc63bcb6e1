package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/linalg"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// A Component is one Gaussian of a mixture: weight, mean and covariance.
type Component struct {
	// Weight is the unnormalised mixture weight, finite and > 0.
	Weight float64
	// Mean is the component mean (length D).
	Mean []float64
	// Cov is the D×D symmetric positive definite covariance.
	Cov ad.Mat
}

// A Mixture is a finite mixture of Gaussians Σₖ wₖ N(μₖ, Σₖ) on R^D with
// normalised weights. A single Gaussian is a mixture of one component
// (NewGaussianTarget). Its log-density is normalised, its score exact, and
// so is its noise-conditional score: p convolved with N(0, σ²I) is the
// mixture with covariances Σₖ + σ²I. A Mixture is immutable and safe for
// concurrent use; its evaluators are not (see ScoreSource).
type Mixture struct {
	dim  int
	logw []float64 // log of the normalised weights
	cw   []float64 // cumulative normalised weights, for sampling
	mean [][]float64
	cov  [][]float64 // D×D row-major
	base []gaussFactor
}

// gaussFactor is a Gaussian's Cholesky factor and log normaliser.
type gaussFactor struct {
	l       []float64 // lower Cholesky factor of the covariance
	logNorm float64   // −(D/2)log 2π − ½ log det Σ
}

// factor fills f from cov + s2·I and reports whether that is positive
// definite. f.l must have room for D×D values.
func (f *gaussFactor) factor(cov []float64, s2 float64, d int) bool {
	copy(f.l, cov)
	for i := range d {
		f.l[i*d+i] += s2
	}
	if linalg.Cholesky(f.l, f.l, d) != nil {
		return false
	}
	f.logNorm = float64(-0.5*float64(d)*rmath.Log(2*math.Pi)) - float64(0.5*linalg.LogDetCholesky(f.l, d))
	return true
}

// NewGaussianTarget returns the Gaussian distribution N(mean, cov), a
// target for the samplers and estimators of this package (not to be
// confused with nn.GaussianEnergy, a trainable energy model), as a one-component
// Mixture. It panics if cov is not len(mean)×len(mean) or mean is empty,
// and returns an error if cov is not symmetric positive definite.
func NewGaussianTarget(mean []float64, cov ad.Mat) (*Mixture, error) {
	return NewMixture([]Component{{Weight: 1, Mean: mean, Cov: cov}})
}

// NewMixture returns the mixture of the given components, whose weights are
// normalised to sum to one. It copies its inputs. It panics if there are no
// components or their shapes disagree, and returns an error if a weight is
// not finite and positive or a covariance is not symmetric positive
// definite.
func NewMixture(comps []Component) (*Mixture, error) {
	if len(comps) == 0 {
		panic("sampler: NewMixture: no components")
	}
	d := len(comps[0].Mean)
	if d == 0 {
		panic("sampler: NewMixture: empty mean")
	}
	m := &Mixture{dim: d}
	total := 0.0
	for k, c := range comps {
		if len(c.Mean) != d || c.Cov.Rows != d || c.Cov.Cols != d || len(c.Cov.Data) != d*d {
			panic(fmt.Sprintf("sampler: NewMixture: component %d has a mean of length %d and a %d×%d covariance, want %d and %d×%d", k, len(c.Mean), c.Cov.Rows, c.Cov.Cols, d, d, d))
		}
		if !(c.Weight > 0) || math.IsInf(c.Weight, 0) {
			return nil, fmt.Errorf("sampler: mixture component %d has weight %v, want finite and > 0", k, c.Weight)
		}
		for i := range d {
			for j := range i {
				a, b := c.Cov.At(i, j), c.Cov.At(j, i)
				if math.Abs(a-b) > 1e-12*math.Max(math.Abs(a), math.Abs(b)) {
					return nil, fmt.Errorf("sampler: mixture component %d: covariance is not symmetric: (%d,%d) = %v, (%d,%d) = %v", k, i, j, a, j, i, b)
				}
			}
		}
		f := gaussFactor{l: make([]float64, d*d)}
		if !f.factor(c.Cov.Data, 0, d) {
			return nil, fmt.Errorf("sampler: mixture component %d: covariance is not positive definite", k)
		}
		total += c.Weight
		m.mean = append(m.mean, append([]float64(nil), c.Mean...))
		m.cov = append(m.cov, append([]float64(nil), c.Cov.Data...))
		m.base = append(m.base, f)
	}
	if math.IsInf(total, 0) {
		return nil, errors.New("sampler: mixture weights overflow")
	}
	acc := 0.0
	for _, c := range comps {
		w := c.Weight / total
		acc += w
		m.logw = append(m.logw, rmath.Log(w))
		m.cw = append(m.cw, acc)
	}
	m.cw[len(m.cw)-1] = 1
	return m, nil
}

// mustMixture wraps NewMixture for the built-in distributions.
func mustMixture(comps []Component) *Mixture {
	m, err := NewMixture(comps)
	if err != nil {
		panic(err)
	}
	return m
}

// isotropic returns the components N(μ, std²I) of equal weight for the rows
// of means.
func isotropic(means [][]float64, weights []float64, std float64) []Component {
	comps := make([]Component, len(means))
	for k, mu := range means {
		d := len(mu)
		cov := ad.NewMat(d, d)
		for i := range d {
			cov.Set(i, i, std*std)
		}
		w := 1.0
		if weights != nil {
			w = weights[k]
		}
		comps[k] = Component{Weight: w, Mean: mu, Cov: cov}
	}
	return comps
}

// NCSNMixture returns the mixture 0.2·N((−5,−5), I) + 0.8·N((5,5), I) of
// the NCSN paper (Song & Ermon 2019), on which plain Langevin dynamics
// misses the mixture weights and annealed Langevin dynamics recovers them.
func NCSNMixture() *Mixture {
	return mustMixture(isotropic([][]float64{{-5, -5}, {5, 5}}, []float64{0.2, 0.8}, 1))
}

// Dim returns the dimension D.
func (m *Mixture) Dim() int { return m.dim }

// Components returns the number of components.
func (m *Mixture) Components() int { return len(m.mean) }

// Mean returns the mixture mean Σₖ wₖμₖ.
func (m *Mixture) Mean() []float64 {
	mu := make([]float64, m.dim)
	for k, mk := range m.mean {
		w := rmath.Exp(m.logw[k])
		for i, v := range mk {
			mu[i] += float64(w * v)
		}
	}
	return mu
}

// Cov returns the mixture covariance Σₖ wₖ(Σₖ + μₖμₖᵀ) − μμᵀ.
func (m *Mixture) Cov() ad.Mat {
	d := m.dim
	mu := m.Mean()
	c := ad.NewMat(d, d)
	for k, mk := range m.mean {
		w := rmath.Exp(m.logw[k])
		for i := range d {
			for j := range d {
				c.Data[i*d+j] += float64(w * (m.cov[k][i*d+j] + float64((mk[i]-mu[i])*(mk[j]-mu[j]))))
			}
		}
	}
	return c
}

// Sample sets every row of dst to an independent draw: a component k with
// probability wₖ, then μₖ + Lₖz with Lₖ the Cholesky factor of Σₖ and
// z ~ N(0, I). It panics if dst does not have D columns.
func (m *Mixture) Sample(dst ad.Mat, rng *rand.Rand) {
	checkCols("Mixture.Sample", dst, m.dim)
	d := m.dim
	z := make([]float64, d)
	for b := range dst.Rows {
		u := rng.Float64()
		k := 0
		for k < len(m.cw)-1 && u >= m.cw[k] {
			k++
		}
		for i := range z {
			z[i] = repro.Normal(rng)
		}
		row := dst.Row(b)
		l := m.base[k].l
		for i := range d {
			s := m.mean[k][i]
			for j := 0; j <= i; j++ {
				s += float64(l[i*d+j] * z[j])
			}
			row[i] = s
		}
	}
}

// mixEval is one goroutine's evaluator: scratch space and the factors of the
// last noise level it saw.
type mixEval struct {
	m     *Mixture
	diff  []float64 // D
	prec  []float64 // K×D: Σₖ⁻¹(x − μₖ)
	logs  []float64 // K
	sigma float64   // noise level of cond
	cond  []gaussFactor
}

func (m *Mixture) newEval() *mixEval {
	k, d := len(m.mean), m.dim
	e := &mixEval{m: m, diff: make([]float64, d), prec: make([]float64, k*d), logs: make([]float64, k), sigma: math.NaN()}
	e.cond = make([]gaussFactor, k)
	for i := range e.cond {
		e.cond[i].l = make([]float64, d*d)
	}
	return e
}

// setSigma makes cond the factors of Σₖ + σ²I.
func (e *mixEval) setSigma(sigma float64) {
	if sigma == e.sigma {
		return
	}
	if !(sigma >= 0) || math.IsInf(sigma, 0) {
		panic(fmt.Sprintf("sampler: noise level %v, want finite and ≥ 0", sigma))
	}
	for k := range e.cond {
		if !e.cond[k].factor(e.m.cov[k], sigma*sigma, e.m.dim) {
			panic("sampler: mixture covariance plus noise is not positive definite")
		}
	}
	e.sigma = sigma
}

// eval returns log p(x) of one row under the factors fs and, if score is not
// nil, sets it to ∇log p(x).
func (e *mixEval) eval(fs []gaussFactor, x, score []float64) float64 {
	m, d := e.m, e.m.dim
	for k, f := range fs {
		for i := range d {
			e.diff[i] = x[i] - m.mean[k][i]
		}
		u := e.prec[k*d : (k+1)*d]
		linalg.SolveLower(u, f.l, e.diff, d)
		q := 0.0
		for _, v := range u {
			q += float64(v * v)
		}
		e.logs[k] = m.logw[k] + f.logNorm - float64(0.5*q)
		if score != nil {
			linalg.SolveLowerT(u, f.l, u, d)
		}
	}
	lse := e.logs[0]
	if len(fs) > 1 {
		lse = logSumExp(e.logs)
	}
	if score != nil {
		clear(score)
		for k := range fs {
			r := 1.0
			if len(fs) > 1 {
				r = rmath.Exp(e.logs[k] - lse)
			}
			for i, v := range e.prec[k*d : (k+1)*d] {
				score[i] -= float64(r * v)
			}
		}
	}
	return lse
}

// NewScoreFunc returns an evaluator of the exact score Σₖ rₖ(x)·(−Σₖ⁻¹(x−μₖ))
// with rₖ the component responsibilities. It panics on a shape mismatch.
func (m *Mixture) NewScoreFunc() ScoreFunc {
	e := m.newEval()
	return func(dst, x ad.Mat) {
		checkPair("Mixture score", dst, x, m.dim)
		for b := range x.Rows {
			e.eval(m.base, x.Row(b), dst.Row(b))
		}
	}
}

// NewLogDensityFunc returns an evaluator of the normalised log-density and
// the exact score. It panics on a shape mismatch.
func (m *Mixture) NewLogDensityFunc() LogDensityFunc {
	e := m.newEval()
	return func(logp []float64, score, x ad.Mat) {
		checkLogDensity("Mixture log-density", logp, score, x, m.dim)
		for b := range x.Rows {
			var s []float64
			if len(score.Data) > 0 {
				s = score.Row(b)
			}
			logp[b] = e.eval(m.base, x.Row(b), s)
		}
	}
}

// NewCondScoreFunc returns an evaluator of the exact score of the mixture
// convolved with N(0, σ²I), the mixture with covariances Σₖ + σ²I. The
// evaluator refactors the covariances when σ changes and keeps them while it
// does not. It panics on a shape mismatch or a negative or non-finite σ.
func (m *Mixture) NewCondScoreFunc() CondScoreFunc {
	e := m.newEval()
	return func(dst, x ad.Mat, sigma float64) {
		checkPair("Mixture conditional score", dst, x, m.dim)
		e.setSigma(sigma)
		for b := range x.Rows {
			e.eval(e.cond, x.Row(b), dst.Row(b))
		}
	}
}

// checkPair panics unless dst and x are both B×dim.
func checkPair(name string, dst, x ad.Mat, dim int) {
	if x.Cols != dim || !dst.SameShape(x) || len(dst.Data) != len(x.Data) {
		panic(fmt.Sprintf("sampler: %s: dst is %d×%d, x is %d×%d, dimension %d", name, dst.Rows, dst.Cols, x.Rows, x.Cols, dim))
	}
}

// checkLogDensity panics unless logp has x.Rows entries, x has dim columns
// and score is empty or shaped like x.
func checkLogDensity(name string, logp []float64, score, x ad.Mat, dim int) {
	if x.Cols != dim || len(logp) != x.Rows || len(score.Data) > 0 && !score.SameShape(x) {
		panic(fmt.Sprintf("sampler: %s: x is %d×%d, logp has %d entries, score is %d×%d, dimension %d", name, x.Rows, x.Cols, len(logp), score.Rows, score.Cols, dim))
	}
}

// logSumExp returns log Σ exp(v[i]), or −Inf for an empty v.
func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += rmath.Exp(x - m)
	}
	return m + rmath.Log(s)
}
