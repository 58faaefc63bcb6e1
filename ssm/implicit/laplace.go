package implicit

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/linalg"
	"scorematch/sampler"
)

// A Laplace is, for every member r of a family of densities over R^d, a
// Gaussian N(Mean_r, L_r L_rᵀ) that approximates p_r = p̃_r / Z_r: AIS (or
// importance sampling) started from it instead of from the prior needs
// far fewer intermediate distributions for the same accuracy, because the
// path from a close base to the target is short.
type Laplace struct {
	// Mean is n×d: row r is the mode of p̃_r that Newton's method found.
	Mean ad.Mat
	// Chol holds the n lower-triangular d×d factors L_r, row-major, one
	// after another: L_r L_rᵀ = Inflate² · (−∇² log p̃_r)⁻¹ at the mode.
	Chol []float64
	// LogDet are log |det L_r|.
	LogDet []float64
}

// laplaceMaxRows bounds the points of one evaluation of the family:
// FitLaplace takes the members in groups of laplaceMaxRows/(2d) (a
// variable so that the tests can show the grouping changes no bit).
var laplaceMaxRows = 4096

// Settings of FitLaplace's Newton iterations.
const (
	laplaceNewton   = 8    // Newton steps from the start
	laplaceHalvings = 20   // step halvings before a step is given up
	laplaceFDStep   = 1e-4 // central-difference step of the Hessian
	// LaplaceMaxDim bounds the dimension FitLaplace accepts: it evaluates
	// 2d points per member for each Hessian and factors d×d matrices.
	LaplaceMaxDim = 256
)

// FitLaplace fits a Laplace approximation to every member of f: from
// start (one point per member, n×d, such as an encoder's code for the
// member's observation) a few damped Newton steps uphill on log p̃_r, with
// the Hessian by central differences of the score (symmetrised, and
// shifted by a multiple of I until −H is positive definite), then
// L_r = inflate · chol((−H)⁻¹) at the point reached. An inflate above 1
// widens the Gaussian, which a base for AIS or importance sampling wants
// (heavier tails than the target's are safe, lighter ones are not). The
// approximation need not be good for the estimates that use it to be
// right: Warp's log Z is the member's exactly. A member whose Hessian is
// not finite gets the start as its mean and L_r = inflate·I. Members are
// processed in groups, so that an evaluation holds at most a few thousand
// points; results do not depend on the grouping or on GOMAXPROCS. It
// returns an error for a start of the wrong shape, d above LaplaceMaxDim,
// inflate not finite and > 0, or a non-finite log p̃ at a start.
func FitLaplace(f sampler.LogDensityFamily, start ad.Mat, inflate float64) (*Laplace, error) {
	n, d := f.Len(), f.Dim()
	switch {
	case start.Rows != n || start.Cols != d:
		return nil, &ConfigError{Type: "Laplace", Field: "start", Value: [2]int{start.Rows, start.Cols}, Want: fmt.Sprintf("%d×%d, a point per member", n, d)}
	case d > LaplaceMaxDim:
		return nil, &ConfigError{Type: "Laplace", Field: "dimension", Value: d, Want: fmt.Sprintf("at most %d", LaplaceMaxDim)}
	case !(inflate > 0) || math.IsInf(inflate, 0):
		return nil, &ConfigError{Type: "Laplace", Field: "inflate", Value: inflate, Want: "finite and > 0"}
	}
	group := max(1, laplaceMaxRows/(2*d))
	ev := newFamilyEval(f, min(n, group))
	lap := &Laplace{Mean: start.Clone(), Chol: make([]float64, n*d*d), LogDet: make([]float64, n)}
	for lo := 0; lo < n; lo += group {
		if err := ev.fit(lap, lo, min(n, lo+group), inflate); err != nil {
			return nil, err
		}
	}
	return lap, nil
}

// fit fits the members [lo, hi) into lap, whose Mean holds their starts.
func (ev *familyEval) fit(lap *Laplace, lo, hi int, inflate float64) error {
	d, k := ev.d, hi-lo
	ev.use(lo, hi)
	z := lap.Mean.RowRange(lo, hi)
	ev.start.Resize(k, d)
	copy(ev.start.Data, z.Data)
	lp, g := ev.at(z)
	for r, v := range lp {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("implicit: Laplace: log-density %v at the start of member %d", v, lo+r)
		}
	}
	lp, g = append([]float64(nil), lp...), g.Clone()
	prec := make([]float64, k*d*d) // −H per member
	ok := make([]bool, k)
	try, step := ad.NewMat(k, d), ad.NewMat(k, d)
	scale, done := make([]float64, k), make([]bool, k)
	for range laplaceNewton {
		ev.negHessian(prec, z)
		for r := range k {
			ok[r] = newtonStep(step.Row(r), prec[r*d*d:(r+1)*d*d], g.Row(r), d)
			scale[r], done[r] = 1, !ok[r]
		}
		// Halve each member's step until log p̃ rises (a member whose step
		// never helps stays where it is).
		for range laplaceHalvings {
			for r := range k {
				zr, tr, sr := z.Row(r), try.Row(r), step.Row(r)
				for i := range tr {
					tr[i] = zr[i]
					if !done[r] {
						tr[i] += float64(scale[r] * sr[i])
					}
				}
			}
			tl, tg := ev.at(try)
			left := false
			for r := range k {
				if done[r] {
					continue
				}
				if tl[r] >= lp[r] {
					copy(z.Row(r), try.Row(r))
					copy(g.Row(r), tg.Row(r))
					lp[r], done[r] = tl[r], true
					continue
				}
				scale[r] /= 2
				left = true
			}
			if !left {
				break
			}
		}
	}
	ev.negHessian(prec, z)
	cov := make([]float64, d*d)
	for r := range k {
		a, l := prec[r*d*d:(r+1)*d*d], lap.Chol[(lo+r)*d*d:(lo+r+1)*d*d]
		if positiveDefinite(a, d) {
			inverseSPD(cov, a, d)
		} else { // a Hessian with a non-finite entry: the start, and inflate·I
			copy(z.Row(r), ev.start.Row(r))
			clear(cov)
			for i := range d {
				cov[i*d+i] = 1
			}
		}
		for i := range cov {
			cov[i] *= inflate * inflate
		}
		if err := linalg.Cholesky(l, cov, d); err != nil {
			return fmt.Errorf("implicit: Laplace: member %d: %w", lo+r, err)
		}
		lap.LogDet[lo+r] = linalg.LogDetCholesky(l, d) / 2
	}
	return nil
}

// newtonStep sets s to (−H)⁻¹g, the Newton step uphill, after making −H
// positive definite in place; it reports false (and s zero) when −H has a
// non-finite entry.
func newtonStep(s, negH, g []float64, d int) bool {
	clear(s)
	if !positiveDefinite(negH, d) {
		return false
	}
	l := make([]float64, d*d)
	if err := linalg.Cholesky(l, negH, d); err != nil {
		return false // not reached: positiveDefinite made it so
	}
	tmp := make([]float64, d)
	linalg.SolveLower(tmp, l, g, d)
	linalg.SolveLowerT(s, l, tmp, d)
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			clear(s)
			return false
		}
	}
	return true
}

// positiveDefinite adds δI to the symmetric d×d matrix a, with δ = 0 or
// the first of 1e-6, 1e-5, ... times (1 + max |a_ii|) for which a has a
// Cholesky factor, and reports whether it found one (never when a has a
// non-finite entry).
func positiveDefinite(a []float64, d int) bool {
	for _, v := range a {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	l := make([]float64, d*d)
	if linalg.Cholesky(l, a, d) == nil {
		return true
	}
	scale := 1.0
	for i := range d {
		scale = math.Max(scale, 1+math.Abs(a[i*d+i]))
	}
	added := 0.0
	for delta := 1e-6 * scale; delta < 1e300; delta *= 10 {
		for i := range d {
			a[i*d+i] += delta - added
		}
		added = delta
		if linalg.Cholesky(l, a, d) == nil {
			return true
		}
	}
	return false
}

// inverseSPD sets inv to the inverse of the symmetric positive definite
// d×d matrix a, column by column through its Cholesky factor.
func inverseSPD(inv, a []float64, d int) {
	l := make([]float64, d*d)
	if err := linalg.Cholesky(l, a, d); err != nil {
		panic("implicit: inverseSPD: not positive definite") // callers make it so
	}
	e, tmp, col := make([]float64, d), make([]float64, d), make([]float64, d)
	for j := range d {
		clear(e)
		e[j] = 1
		linalg.SolveLower(tmp, l, e, d)
		linalg.SolveLowerT(col, l, tmp, d)
		for i := range d {
			inv[i*d+j] = col[i]
		}
	}
	for i := range d { // exactly symmetric
		for j := range i {
			m := (inv[i*d+j] + inv[j*d+i]) / 2
			inv[i*d+j], inv[j*d+i] = m, m
		}
	}
}

// familyEval evaluates a family at one point per member of a group of
// consecutive members, and their Hessians by central differences, in
// batches of points of every member of the group.
type familyEval struct {
	f       sampler.FamilyFunc
	d       int
	lo, k   int    // the group: members lo, ..., lo+k−1
	start   ad.Mat // the group's starts
	lp      []float64
	score   ad.Mat
	member  []int
	pts     ad.Mat
	ptsLp   []float64
	ptsGrad ad.Mat
	ptsMem  []int
}

func newFamilyEval(f sampler.LogDensityFamily, group int) *familyEval {
	d := f.Dim()
	return &familyEval{f: f.NewFamilyFunc(), d: d, lp: make([]float64, group), score: ad.NewMat(group, d),
		member: make([]int, group), pts: ad.NewMat(2*d*group, d), ptsLp: make([]float64, 2*d*group),
		ptsGrad: ad.NewMat(2*d*group, d), ptsMem: make([]int, 2*d*group), start: ad.NewMat(group, d)}
}

// use selects the members [lo, hi), at most the group size.
func (e *familyEval) use(lo, hi int) {
	e.lo, e.k = lo, hi-lo
	for r := range e.k {
		e.member[r] = lo + r
	}
}

// at returns log p̃ and its score at row r of z for member lo+r of the
// group; the results are overwritten by the next call.
func (e *familyEval) at(z ad.Mat) ([]float64, ad.Mat) {
	lp, score, member := e.lp[:e.k], e.score.RowRange(0, e.k), e.member[:e.k]
	e.f(lp, score, z, member)
	return lp, score
}

// negHessian sets prec (k blocks of d×d) to −∇² log p̃ of the group's
// members at the rows of z by central differences of the score,
// symmetrised.
func (e *familyEval) negHessian(prec []float64, z ad.Mat) {
	k, d := e.k, e.d
	n := 2 * d * k
	pts, grad := e.pts.RowRange(0, n), e.ptsGrad.RowRange(0, n)
	for r := range k {
		for j := range d {
			for s, sign := range [2]float64{1, -1} {
				b := (r*d+j)*2 + s
				row := pts.Row(b)
				copy(row, z.Row(r))
				row[j] += float64(sign * laplaceFDStep)
				e.ptsMem[b] = e.lo + r
			}
		}
	}
	e.f(e.ptsLp[:n], grad, pts, e.ptsMem[:n])
	for r := range k {
		a := prec[r*d*d : (r+1)*d*d]
		for j := range d {
			plus, minus := grad.Row((r*d+j)*2), grad.Row((r*d+j)*2+1)
			for i := range d {
				a[i*d+j] = -(plus[i] - minus[i]) / (2 * laplaceFDStep)
			}
		}
		for i := range d {
			for j := range i {
				m := (a[i*d+j] + a[j*d+i]) / 2
				a[i*d+j], a[j*d+i] = m, m
			}
		}
	}
}

// Warp returns the family whose member r is the density of u when
// z = Mean_r + L_r u has the density p̃_r of f's member r:
//
//	q̃_r(u) = p̃_r(Mean_r + L_r u) · |det L_r|,
//
// with the same normalising constant Z_r. Run from a standard normal base
// (AIS.BaseScale 1), AIS on it starts from N(Mean_r, L_r L_rᵀ) in z. It
// panics if l does not match f.
func (l *Laplace) Warp(f sampler.LogDensityFamily) sampler.LogDensityFamily {
	n, d := f.Len(), f.Dim()
	if l.Mean.Rows != n || l.Mean.Cols != d || len(l.Chol) != n*d*d || len(l.LogDet) != n {
		panic(fmt.Sprintf("implicit: Warp: a Laplace of %d×%d for a family of %d members in %d dimensions", l.Mean.Rows, l.Mean.Cols, n, d))
	}
	return warped{f: f, l: l}
}

type warped struct {
	f sampler.LogDensityFamily
	l *Laplace
}

func (w warped) Dim() int { return w.f.Dim() }
func (w warped) Len() int { return w.f.Len() }

func (w warped) NewFamilyFunc() sampler.FamilyFunc {
	base := w.f.NewFamilyFunc()
	d := w.f.Dim()
	var z, gz ad.Mat
	return func(logp []float64, score, u ad.Mat, member []int) {
		z.Resize(u.Rows, d)
		for b, r := range member {
			zr, ur, mr, l := z.Row(b), u.Row(b), w.l.Mean.Row(r), w.l.Chol[r*d*d:(r+1)*d*d]
			for i := range d {
				s := mr[i]
				for j := 0; j <= i; j++ {
					s += float64(l[i*d+j] * ur[j])
				}
				zr[i] = s
			}
		}
		if len(score.Data) == 0 {
			base(logp, ad.Mat{}, z, member)
		} else {
			gz.Resize(u.Rows, d)
			base(logp, gz, z, member)
			for b, r := range member { // ∇_u = Lᵀ ∇_z
				gr, sr, l := gz.Row(b), score.Row(b), w.l.Chol[r*d*d:(r+1)*d*d]
				for j := range d {
					s := 0.0
					for i := j; i < d; i++ {
						s += float64(l[i*d+j] * gr[i])
					}
					sr[j] = s
				}
			}
		}
		for b, r := range member {
			logp[b] += w.l.LogDet[r]
		}
	}
}
