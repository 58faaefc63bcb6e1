package nn

import (
	"errors"
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/linalg"
)

// A GaussianEnergy is the energy of a multivariate normal distribution in its
// precision (Cholesky) parametrisation:
//
//	E(x) = ½(x−μ)ᵀ L Lᵀ (x−μ) = ½‖(x−μ)ᵀL‖²,
//
// with parameters "L" (D×D, lower-triangular) and "mu" (μ, 1×D), listed by
// Params in that order. Its precision is Λ = LLᵀ and its score
// −∇E = −Λ(x−μ). Exact score matching on data with sample mean x̄ and
// sample covariance C has the closed-form optimum μ = x̄, Λ = C⁻¹.
//
// L enters the energy through a constant lower-triangular mask, so its
// strictly upper part has zero gradient: it stays exactly zero under every
// optimiser of this package (weight decay included) if it starts at zero.
type GaussianEnergy struct {
	l, mu  *ad.Param
	params []*ad.Param
	mask   ad.Mat // 1 on and below the diagonal, 0 above
}

// NewGaussianEnergy returns the standard normal energy in dimension dim: L = I,
// μ = 0. It panics if dim < 1.
func NewGaussianEnergy(dim int) *GaussianEnergy {
	if dim < 1 {
		panic(fmt.Sprintf("nn: NewGaussianEnergy(%d): dimension must be ≥ 1", dim))
	}
	g := &GaussianEnergy{l: ad.NewParam("L", dim, dim), mu: ad.NewParam("mu", 1, dim), mask: ad.NewMat(dim, dim)}
	g.params = []*ad.Param{g.l, g.mu}
	for i := range dim {
		g.l.Value.Set(i, i, 1)
		for j := 0; j <= i; j++ {
			g.mask.Set(i, j, 1)
		}
	}
	return g
}

// Params returns L and mu, in that order. The slice is the model's own and
// must not be modified.
func (g *GaussianEnergy) Params() []*ad.Param { return g.params }

// Dim returns the dimension D.
func (g *GaussianEnergy) Dim() int { return g.mu.Value.Cols }

// Energy records E(x) = ½‖(x−μ)ᵀL‖² row by row and returns a B×1 node (see
// Energy). Entries of L above the diagonal are ignored.
func (g *GaussianEnergy) Energy(t *ad.Tape, x *ad.Node) *ad.Node {
	if x.Cols() != g.Dim() {
		panic(fmt.Sprintf("nn: GaussianEnergy: input has %d columns, the model's dimension is %d", x.Cols(), g.Dim()))
	}
	d := t.AddPrimal(x, t.Scale(-1, t.Param(g.mu)))
	l := t.Mul(t.Param(g.l), t.Const(g.mask))
	z := t.MatMul(d, l)
	return t.HalfSquaredNorm(z)
}

// Precision returns a new D×D matrix holding Λ = LLᵀ, computed from the
// lower triangle of L.
func (g *GaussianEnergy) Precision() ad.Mat {
	n := g.Dim()
	p := ad.NewMat(n, n)
	l := g.l.Value
	for i := range n {
		for j := 0; j <= i; j++ {
			s := 0.0
			for k := 0; k <= j; k++ {
				s += float64(l.At(i, k) * l.At(j, k))
			}
			p.Set(i, j, s)
			p.Set(j, i, s)
		}
	}
	return p
}

// Mean returns a copy of μ.
func (g *GaussianEnergy) Mean() []float64 { return append([]float64(nil), g.mu.Value.Data...) }

// SetMean sets μ. It panics if len(mu) != Dim().
func (g *GaussianEnergy) SetMean(mu []float64) {
	if len(mu) != g.Dim() {
		panic(fmt.Sprintf("nn: GaussianEnergy.SetMean: %d values for dimension %d", len(mu), g.Dim()))
	}
	copy(g.mu.Value.Data, mu)
}

// SetPrecision sets L to the Cholesky factor of the precision matrix p
// (LLᵀ = p, L lower-triangular with a positive diagonal). Only the lower
// triangle of p is read, after a check that p is symmetric to within
// 1e-12 relative to its largest entry. It panics if p is not D×D and
// returns an error, leaving L unchanged, if p is not symmetric positive
// definite.
func (g *GaussianEnergy) SetPrecision(p ad.Mat) error {
	n := g.Dim()
	if p.Rows != n || p.Cols != n {
		panic(fmt.Sprintf("nn: GaussianEnergy.SetPrecision: precision is %d×%d, want %d×%d", p.Rows, p.Cols, n, n))
	}
	scale := 0.0
	for _, v := range p.Data {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range n {
		for j := range i {
			if d := math.Abs(p.At(i, j) - p.At(j, i)); !(d <= 1e-12*scale) {
				return fmt.Errorf("nn: GaussianEnergy.SetPrecision: precision is not symmetric: element (%d,%d) is %g, (%d,%d) is %g", i, j, p.At(i, j), j, i, p.At(j, i))
			}
		}
	}
	l := make([]float64, n*n)
	if err := linalg.Cholesky(l, p.Data, n); err != nil {
		var npd *linalg.NotPositiveDefiniteError
		if errors.As(err, &npd) {
			return fmt.Errorf("nn: GaussianEnergy.SetPrecision: precision is not positive definite (pivot %d is %g)", npd.Pivot, npd.Value)
		}
		return fmt.Errorf("nn: GaussianEnergy.SetPrecision: %w", err)
	}
	copy(g.l.Value.Data, l)
	return nil
}
