package sampler

import (
	"fmt"

	"scorematch/ad"
	"scorematch/ad/linalg"
	"scorematch/ad/rmath"
	"scorematch/nn/sde"
)

// A PerturbedMixture is a Gaussian mixture p₀ = Σₖ wₖ N(μₖ, Σₖ) pushed
// through a forward SDE: with the SDE's kernel x_t = α(t)·x₀ + s(t)·z, the
// law at time t is the mixture
//
//	p_t = Σₖ wₖ N(α(t)μₖ, α(t)²Σₖ + s(t)²I),
//
// so its score, the trace of its Hessian and its log-density are known
// exactly at every t. It is the exact time score against which the
// reverse-time samplers and the probability-flow ODE are checked. (For VE,
// whose kernel std is σ(t) by the reference code's convention, p_t is the
// data convolved with N(0, σ(t)²I); see package nn/sde.)
//
// It evaluates p_t through the mixture's noise-conditional evaluation:
// p_t(x) = α^{−D}·q(x/α) with q = p₀ ∗ N(0, (s/α)²I), so
// ∇log p_t(x) = ∇log q(x/α)/α and ∇²log p_t(x) = ∇²log q(x/α)/α². The
// Hessian of the log of a mixture q = Σₖ wₖ N(mₖ, Cₖ) with responsibilities
// rₖ and component scores gₖ = −Cₖ⁻¹(y − mₖ) is
//
//	∇²log q = Σₖ rₖ(gₖgₖᵀ − Cₖ⁻¹) − ḡḡᵀ,  ḡ = Σₖ rₖgₖ,
//
// whose trace (with tr Cₖ⁻¹ from the Cholesky factor, once per t) is the
// exact divergence and whose quadratic forms vᵀ(∇²log q)v are the probes'
// terms. A PerturbedMixture is immutable and safe for concurrent use; its
// evaluators are not (see ScoreSource). Evaluators refactor the covariances
// when t changes from one row to the next, so batches at one t are cheap.
type PerturbedMixture struct {
	m *Mixture
	s sde.SDE
}

// NewPerturbedMixture returns the mixture m pushed through the SDE s. It
// panics if m or s is nil or s does not validate.
func NewPerturbedMixture(m *Mixture, s sde.SDE) *PerturbedMixture {
	if m == nil || s == nil {
		panic("sampler: NewPerturbedMixture: nil mixture or SDE")
	}
	if err := s.Validate(); err != nil {
		panic(fmt.Sprintf("sampler: NewPerturbedMixture: %v", err))
	}
	return &PerturbedMixture{m: m, s: s}
}

// Dim returns the dimension D.
func (p *PerturbedMixture) Dim() int { return p.m.dim }

// SDE returns the forward SDE.
func (p *PerturbedMixture) SDE() sde.SDE { return p.s }

// At returns p_t as a Mixture: the components N(α(t)μₖ, α(t)²Σₖ + s(t)²I)
// with the weights of p₀ (for example p_T, to sample or evaluate exactly at
// the end time).
func (p *PerturbedMixture) At(t float64) *Mixture {
	alpha, std := p.s.Marginal(t)
	d := p.m.dim
	comps := make([]Component, len(p.m.mean))
	for k, mu := range p.m.mean {
		mean := make([]float64, d)
		for i, v := range mu {
			mean[i] = alpha * v
		}
		cov := ad.NewMat(d, d)
		for i, v := range p.m.cov[k] {
			cov.Data[i] = float64(alpha*alpha) * v
		}
		for i := range d {
			cov.Data[i*d+i] += float64(std * std)
		}
		comps[k] = Component{Weight: rmath.Exp(p.m.logw[k]), Mean: mean, Cov: cov}
	}
	return mustMixture(comps)
}

// LogDensity returns the normalised log p_t(x). It allocates an evaluator
// on every call (it is meant for tests and checks). It panics if x does not
// have D entries.
func (p *PerturbedMixture) LogDensity(x []float64, t float64) float64 {
	if len(x) != p.m.dim {
		panic(fmt.Sprintf("sampler: PerturbedMixture.LogDensity: x has %d entries, the dimension is %d", len(x), p.m.dim))
	}
	e := p.newEval()
	return e.row(x, t, e.sq)
}

// NewTimeScoreFunc returns an evaluator of the exact score of p_t. It
// panics on a shape mismatch.
func (p *PerturbedMixture) NewTimeScoreFunc() TimeScoreFunc {
	e := p.newEval()
	return func(dst, x ad.Mat, t []float64) {
		checkPair("PerturbedMixture score", dst, x, p.m.dim)
		checkRowTimes("PerturbedMixture score", t, x.Rows)
		for b := range x.Rows {
			e.row(x.Row(b), t[b], dst.Row(b))
		}
	}
}

// NewDivScoreFunc returns an evaluator of the exact score of p_t and of its
// divergence: the trace of the analytic Hessian of log p_t when probes is
// empty, and the mean of the analytic quadratic forms vᵀ(∇²log p_t)v over
// the probes otherwise. It panics on a shape mismatch.
func (p *PerturbedMixture) NewDivScoreFunc() DivScoreFunc {
	e := p.newEval()
	return func(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat) {
		name := "PerturbedMixture divergence"
		checkPair(name, dst, x, p.m.dim)
		checkRowTimes(name, t, x.Rows)
		if len(div) != x.Rows {
			panic(fmt.Sprintf("sampler: %s: div has %d entries, x has %d rows", name, len(div), x.Rows))
		}
		for k, v := range probes {
			if !v.SameShape(x) || len(v.Data) != len(x.Data) {
				panic(fmt.Sprintf("sampler: %s: probe %d is %d×%d, x is %d×%d", name, k, v.Rows, v.Cols, x.Rows, x.Cols))
			}
		}
		for b := range x.Rows {
			alpha := e.rowAlpha(x.Row(b), t[b], dst.Row(b))
			if len(probes) == 0 {
				div[b] = e.trace() / float64(alpha*alpha)
				continue
			}
			sum := 0.0
			for _, v := range probes {
				sum += e.quad(v.Row(b))
			}
			div[b] = sum / float64(len(probes)) / float64(alpha*alpha)
		}
	}
}

// checkRowTimes panics unless t has rows entries.
func checkRowTimes(name string, t []float64, rows int) {
	if len(t) != rows {
		panic(fmt.Sprintf("sampler: %s: %d times for %d rows", name, len(t), rows))
	}
}

// pertEval is one goroutine's evaluator of a PerturbedMixture: the
// mixture's evaluator, which keeps the factors of Cₖ = Σₖ + (s/α)²I, and
// the state of the last row evaluated.
type pertEval struct {
	p     *PerturbedMixture
	e     *mixEval
	y     []float64 // x/α
	sq    []float64 // ∇log q(y)
	w     []float64 // scratch
	r     []float64 // responsibilities
	trP   []float64 // tr Cₖ⁻¹
	trFor float64   // the noise level of trP
}

func (p *PerturbedMixture) newEval() *pertEval {
	d, k := p.m.dim, len(p.m.mean)
	return &pertEval{p: p, e: p.m.newEval(), y: make([]float64, d), sq: make([]float64, d),
		w: make([]float64, d), r: make([]float64, k), trP: make([]float64, k), trFor: -1}
}

// row sets score to ∇log p_t(x) and returns log p_t(x).
func (pe *pertEval) row(x []float64, t float64, score []float64) float64 {
	alpha, std := pe.p.s.Marginal(t)
	pe.e.setSigma(std / alpha)
	for i, v := range x {
		pe.y[i] = v / alpha
	}
	lse := pe.e.eval(pe.e.cond, pe.y, pe.sq)
	for i, v := range pe.sq {
		score[i] = v / alpha
	}
	logs := pe.e.logs
	for k := range pe.r {
		pe.r[k] = 1
		if len(logs) > 1 {
			pe.r[k] = rmath.Exp(logs[k] - lse)
		}
	}
	return lse - float64(float64(len(x))*rmath.Log(alpha))
}

// rowAlpha is row, returning α(t).
func (pe *pertEval) rowAlpha(x []float64, t float64, score []float64) float64 {
	pe.row(x, t, score)
	alpha, _ := pe.p.s.Marginal(t)
	return alpha
}

// trace returns tr ∇²log q at the last row.
func (pe *pertEval) trace() float64 {
	pe.setTraces()
	d := pe.p.m.dim
	tr := 0.0
	for k, r := range pe.r {
		g2 := 0.0
		for _, v := range pe.e.prec[k*d : (k+1)*d] {
			g2 += float64(v * v)
		}
		tr += float64(r * (g2 - pe.trP[k]))
	}
	return tr - pmSqNorm(pe.sq)
}

// quad returns vᵀ(∇²log q)v at the last row.
func (pe *pertEval) quad(v []float64) float64 {
	d := pe.p.m.dim
	s := 0.0
	for k, r := range pe.r {
		gv := pmDot(pe.e.prec[k*d:(k+1)*d], v)
		linalg.SolveLower(pe.w, pe.e.cond[k].l, v, d)
		s += float64(r * (float64(gv*gv) - pmSqNorm(pe.w)))
	}
	gv := pmDot(pe.sq, v)
	return s - float64(gv*gv)
}

// setTraces makes trP the traces of Cₖ⁻¹ = L⁻ᵀL⁻¹, the squared Frobenius
// norms of L⁻¹, at the evaluator's current noise level.
func (pe *pertEval) setTraces() {
	if pe.trFor == pe.e.sigma {
		return
	}
	d := pe.p.m.dim
	for k, f := range pe.e.cond {
		tr := 0.0
		for j := range d {
			clear(pe.w)
			pe.w[j] = 1
			linalg.SolveLower(pe.w, f.l, pe.w, d)
			tr += pmSqNorm(pe.w)
		}
		pe.trP[k] = tr
	}
	pe.trFor = pe.e.sigma
}

// pmDot returns aᵀb.
func pmDot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += float64(v * b[i])
	}
	return s
}

// pmSqNorm returns ‖a‖².
func pmSqNorm(a []float64) float64 { return pmDot(a, a) }
