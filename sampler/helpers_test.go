package sampler

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
	"scorematch/ad/linalg"
)

// newRand returns a test generator.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// uniformMat returns an n×d matrix uniform on [lo, hi]^d.
func uniformMat(rng *rand.Rand, n, d int, lo, hi float64) ad.Mat {
	x := ad.NewMat(n, d)
	for i := range x.Data {
		x.Data[i] = lo + (hi-lo)*rng.Float64()
	}
	return x
}

// normalMat returns an n×d matrix of N(0, scale²) entries.
func normalMat(rng *rand.Rand, n, d int, scale float64) ad.Mat {
	x := ad.NewMat(n, d)
	for i := range x.Data {
		x.Data[i] = scale * rng.NormFloat64()
	}
	return x
}

// corrCov returns the d×d covariance sᵢsⱼρ^|i−j| with scales sᵢ from lo to
// hi: correlated, with condition number about 30 for ρ = 0.7.
func corrCov(d int, rho, lo, hi float64) ad.Mat {
	c := ad.NewMat(d, d)
	s := make([]float64, d)
	for i := range s {
		s[i] = lo + (hi-lo)*float64(i)/float64(max(d-1, 1))
	}
	for i := range d {
		for j := range d {
			c.Set(i, j, s[i]*s[j]*math.Pow(rho, math.Abs(float64(i-j))))
		}
	}
	return c
}

// corrGaussian returns N(μ, corrCov(d, 0.7, 0.5, 1.5)) with μᵢ = (−1)^i·i/d.
func corrGaussian(t testing.TB, d int) *Mixture {
	mu := make([]float64, d)
	for i := range mu {
		mu[i] = float64(i) / float64(d)
		if i%2 == 1 {
			mu[i] = -mu[i]
		}
	}
	g, err := NewGaussianTarget(mu, corrCov(d, 0.7, 0.5, 1.5))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// invert returns the inverse of a symmetric positive definite matrix and
// the log of its determinant.
func invert(t testing.TB, a ad.Mat) (ad.Mat, float64) {
	n := a.Rows
	l := make([]float64, n*n)
	if linalg.Cholesky(l, a.Data, n) != nil {
		t.Fatal("invert: not positive definite")
	}
	inv := ad.NewMat(n, n)
	col := make([]float64, n)
	for j := range n {
		clear(col)
		col[j] = 1
		linalg.SolveLower(col, l, col, n)
		linalg.SolveLowerT(col, l, col, n)
		for i := range n {
			inv.Set(i, j, col[i])
		}
	}
	return inv, linalg.LogDetCholesky(l, n)
}

// quadEnergy is the unnormalised Gaussian log p̃ = −½(x−μ)ᵀΛ(x−μ), an
// analytic energy given as a function, with
// log Z = (D/2)log 2π − ½ log det Λ.
type quadEnergy struct {
	mu   []float64
	prec ad.Mat
}

func (q *quadEnergy) Dim() int { return len(q.mu) }

func (q *quadEnergy) logZ(t testing.TB) float64 {
	_, logDetCov := invert(t, q.prec)
	return 0.5*float64(q.Dim())*math.Log(2*math.Pi) - 0.5*logDetCov
}

func (q *quadEnergy) eval(x, g []float64) float64 {
	d := len(q.mu)
	e := 0.0
	for i := range d {
		s := 0.0
		for j := range d {
			s += q.prec.At(i, j) * (x[j] - q.mu[j])
		}
		if g != nil {
			g[i] = -s
		}
		e += (x[i] - q.mu[i]) * s
	}
	return -0.5 * e
}

func (q *quadEnergy) NewScoreFunc() ScoreFunc {
	return func(dst, x ad.Mat) {
		for b := range x.Rows {
			q.eval(x.Row(b), dst.Row(b))
		}
	}
}

func (q *quadEnergy) NewLogDensityFunc() LogDensityFunc {
	return func(logp []float64, s, x ad.Mat) {
		for b := range x.Rows {
			var g []float64
			if len(s.Data) > 0 {
				g = s.Row(b)
			}
			logp[b] = q.eval(x.Row(b), g)
		}
	}
}

// shifted is a LogDensity plus a constant: log p̃ = log p + c, so log Z = c.
type shifted struct {
	LogDensity
	c float64
}

func (s shifted) NewLogDensityFunc() LogDensityFunc {
	f := s.LogDensity.NewLogDensityFunc()
	return func(logp []float64, score, x ad.Mat) {
		f(logp, score, x)
		for i := range logp {
			logp[i] += s.c
		}
	}
}

// moments returns the sample mean and the 1/n covariance of the rows of x
// about mu (the sample mean when mu is nil), and for each covariance entry
// the sample variance of the products (xᵢ − μᵢ)(xⱼ − μⱼ).
func moments(x ad.Mat, mu []float64) (mean []float64, cov, prodVar ad.Mat) {
	n, d := x.Rows, x.Cols
	mean = make([]float64, d)
	for b := range n {
		for i, v := range x.Row(b) {
			mean[i] += v
		}
	}
	for i := range mean {
		mean[i] /= float64(n)
	}
	if mu == nil {
		mu = mean
	}
	cov, prodVar = ad.NewMat(d, d), ad.NewMat(d, d)
	for b := range n {
		r := x.Row(b)
		for i := range d {
			for j := range d {
				p := (r[i] - mu[i]) * (r[j] - mu[j])
				cov.Data[i*d+j] += p
				prodVar.Data[i*d+j] += p * p
			}
		}
	}
	for k := range cov.Data {
		cov.Data[k] /= float64(n)
		prodVar.Data[k] = prodVar.Data[k]/float64(n) - cov.Data[k]*cov.Data[k]
	}
	return mean, cov, prodVar
}

// mustPanic fails unless f panics.
func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}
