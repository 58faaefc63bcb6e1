package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// A Trace holds the recorded states of a set of chains: Draws states of
// each of Chains chains in R^Dim, draw-major: coordinate j of chain c at
// draw i is Data[(i*Chains+c)*Dim+j].
type Trace struct {
	Draws, Chains, Dim int
	Data               []float64
}

// newTrace returns a zeroed trace.
func newTrace(draws, chains, dim int) *Trace {
	return &Trace{Draws: draws, Chains: chains, Dim: dim, Data: make([]float64, draws*chains*dim)}
}

// Draw returns draw i of every chain as a Chains×Dim matrix sharing the
// trace's storage.
func (t *Trace) Draw(i int) ad.Mat {
	n := t.Chains * t.Dim
	return ad.MatOf(t.Chains, t.Dim, t.Data[i*n:(i+1)*n])
}

// Samples returns all recorded states as a (Draws·Chains)×Dim matrix sharing
// the trace's storage, draw-major.
func (t *Trace) Samples() ad.Mat {
	return ad.MatOf(t.Draws*t.Chains, t.Dim, t.Data)
}

// Stats are the diagnostics of a Metropolis-adjusted run.
type Stats struct {
	// AcceptRate is the fraction of proposals accepted after warm-up, over
	// all chains (NaN when nothing was sampled after warm-up).
	AcceptRate float64
	// ChainAcceptRate is AcceptRate per chain.
	ChainAcceptRate []float64
	// StepSize is the step size of each chain after warm-up.
	StepSize []float64
}

// MALA is the Metropolis-adjusted Langevin algorithm: the Langevin proposal
// y = x + (ε/2)s(x) + √ε·z, accepted with probability
//
//	min(1, p̃(y)q(x|y) / (p̃(x)q(y|x))),  q(y|x) = N(y; x + (ε/2)s(x), εI),
//
// so that p is exactly invariant. Every chain has its own ε, adapted during
// warm-up by dual averaging toward TargetAccept (see HMC) and fixed after.
type MALA struct {
	// Step is the initial ε > 0.
	Step float64
	// Warmup is the number of adaptation iterations, not recorded.
	Warmup int
	// Draws is the number of states recorded per chain after warm-up.
	Draws int
	// Thin records every Thin-th state after warm-up; 0 means 1.
	Thin int
	// TargetAccept is the acceptance probability the adaptation aims at,
	// in (0, 1); 0 means 0.574, optimal for MALA in high dimension
	// (Roberts & Rosenthal 1998).
	TargetAccept float64
	// Seed and Chunks are as in Langevin.
	Seed   uint64
	Chunks int
}

// Run starts the chains at the rows of x (B×D), runs Warmup + Draws·Thin
// iterations, leaves the final states in x and returns the recorded states
// and diagnostics. Results are bit-identical for any GOMAXPROCS. Proposals
// with a non-finite log-density or score are rejected. Run returns an error
// if log p̃ is not finite at a starting point, and a *ConfigError for an
// invalid setting. It panics on a shape mismatch.
func (m MALA) Run(d LogDensity, x ad.Mat) (*Trace, Stats, error) {
	c := mcmcConfig{name: "MALA", step: m.Step, warmup: m.Warmup, draws: m.Draws, thin: m.Thin,
		target: m.TargetAccept, defTarget: 0.574, seed: m.Seed, chunks: m.Chunks}
	return c.run(d, x, func(f LogDensityFunc, x ad.Mat, rngs []*rand.Rand) kernel {
		return newMALAKernel(f, x, rngs)
	})
}

// HMC is Hamiltonian Monte Carlo with an identity mass matrix: momentum
// p ~ N(0, I), Leapfrog steps of the leapfrog integrator of
// H(x, p) = −log p̃(x) + ½‖p‖² with step ε, and a Metropolis test on H.
//
// Every chain has its own ε. During warm-up it is adapted toward
// TargetAccept by the dual averaging of Hoffman & Gelman (2014, §3.2):
// with the acceptance probability αₘ of iteration m,
//
//	H̄ₘ = (1 − 1/(m+t₀))H̄ₘ₋₁ + (δ − αₘ)/(m+t₀),  log εₘ = μ − (√m/γ)H̄ₘ,
//	log ε̄ₘ = m^(−κ) log εₘ + (1 − m^(−κ)) log ε̄ₘ₋₁,
//
// with μ = log(10ε₀), γ = 0.05, t₀ = 10, κ = 0.75; after warm-up ε = ε̄ is
// fixed, so the recorded chain is a valid MCMC chain.
type HMC struct {
	// Step is the initial ε > 0.
	Step float64
	// Leapfrog is the number of leapfrog steps per iteration (≥ 1).
	Leapfrog int
	// Jitter, in [0, 1), draws each iteration's step uniformly from
	// ε·[1 − Jitter, 1 + Jitter], which breaks the periodic trajectories
	// a fixed path length can produce. 0 means none.
	Jitter float64
	// Warmup, Draws and Thin are as in MALA.
	Warmup, Draws, Thin int
	// TargetAccept is the acceptance probability the adaptation aims at,
	// in (0, 1); 0 means 0.8.
	TargetAccept float64
	// Seed and Chunks are as in Langevin.
	Seed   uint64
	Chunks int
}

// Run is as MALA.Run, with Leapfrog ≥ 1 and Jitter in [0, 1) checked too.
func (h HMC) Run(d LogDensity, x ad.Mat) (*Trace, Stats, error) {
	if h.Leapfrog < 1 {
		return nil, Stats{}, &ConfigError{Type: "HMC", Field: "Leapfrog", Value: h.Leapfrog, Want: "≥ 1"}
	}
	if !(h.Jitter >= 0 && h.Jitter < 1) {
		return nil, Stats{}, &ConfigError{Type: "HMC", Field: "Jitter", Value: h.Jitter, Want: "in [0, 1)"}
	}
	c := mcmcConfig{name: "HMC", step: h.Step, warmup: h.Warmup, draws: h.Draws, thin: h.Thin,
		target: h.TargetAccept, defTarget: 0.8, seed: h.Seed, chunks: h.Chunks}
	return c.run(d, x, func(f LogDensityFunc, x ad.Mat, rngs []*rand.Rand) kernel {
		k := newHMCKernel(f, x, rngs, h.Leapfrog)
		k.jitter = h.Jitter
		return k
	})
}

// A kernel is one chunk's Metropolis-adjusted transition: step moves every
// row b with step size eps[b] and sets prob[b] to its acceptance probability
// and acc[b] to whether it moved.
type kernel interface {
	init() error
	step(eps, prob []float64, acc []bool)
}

// mcmcConfig is the part of MALA and HMC that adapts, records and counts.
type mcmcConfig struct {
	name                string
	step                float64
	warmup, draws, thin int
	target, defTarget   float64
	seed                uint64
	chunks              int
}

func (c mcmcConfig) run(d LogDensity, x ad.Mat, newKernel func(LogDensityFunc, ad.Mat, []*rand.Rand) kernel) (*Trace, Stats, error) {
	checkCols(c.name+".Run", x, d.Dim())
	chunks, err := c.check(x.Rows)
	if err != nil {
		return nil, Stats{}, err
	}
	thin := max(c.thin, 1)
	n := x.Rows
	fs := make([]LogDensityFunc, chunks)
	for i := range fs {
		fs[i] = d.NewLogDensityFunc()
	}
	tr := newTrace(c.draws, n, x.Cols)
	eps := make([]float64, n)
	accepts := make([]int, n)
	errs := make([]error, chunks)
	repro.Run(n, chunks, func(ci, lo, hi int) {
		xc := x.RowRange(lo, hi)
		k := newKernel(fs[ci], xc, streams(c.seed, repro.Chain, lo, hi))
		if err := k.init(); err != nil {
			errs[ci] = fmt.Errorf("sampler: %s: %w", c.name, err)
			return
		}
		e := eps[lo:hi]
		da := make([]dualAvg, hi-lo)
		for b := range e {
			e[b] = c.step
			da[b] = newDualAvg(c.step, c.target)
		}
		prob := make([]float64, hi-lo)
		acc := make([]bool, hi-lo)
		row := 0
		for it := range c.warmup + c.draws*thin {
			k.step(e, prob, acc)
			if it < c.warmup {
				for b := range e {
					e[b] = da[b].update(prob[b])
				}
				if it == c.warmup-1 {
					for b := range e {
						e[b] = da[b].final()
					}
				}
				continue
			}
			for b, a := range acc {
				if a {
					accepts[lo+b]++
				}
			}
			if (it-c.warmup+1)%thin == 0 {
				copy(tr.Draw(row).RowRange(lo, hi).Data, xc.Data)
				row++
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, Stats{}, err
		}
	}
	st := Stats{ChainAcceptRate: make([]float64, n), StepSize: eps}
	iters := float64(c.draws * thin)
	total := 0
	for b, a := range accepts {
		st.ChainAcceptRate[b] = float64(a) / iters
		total += a
	}
	st.AcceptRate = float64(total) / (iters * float64(n))
	return tr, st, nil
}

// check reports the first invalid setting, applies the default target, and
// returns the chunk count for n chains.
func (c *mcmcConfig) check(n int) (int, error) {
	if err := positiveStep(c.name, c.step); err != nil {
		return 0, err
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Warmup", c.warmup}, {"Draws", c.draws}, {"Thin", c.thin}} {
		if f.v < 0 {
			return 0, &ConfigError{Type: c.name, Field: f.name, Value: f.v, Want: "≥ 0"}
		}
	}
	if c.target == 0 {
		c.target = c.defTarget
	}
	if !(c.target > 0 && c.target < 1) {
		return 0, &ConfigError{Type: c.name, Field: "TargetAccept", Value: c.target, Want: "in (0, 1)"}
	}
	return chunkCount(c.name, c.chunks, n)
}

// dualAvg is the dual-averaging step-size adaptation of Hoffman & Gelman
// (2014), Algorithm 5, for one chain.
type dualAvg struct {
	mu, target     float64
	hbar, logEpsAv float64
	m              int
}

const (
	daGamma = 0.05
	daT0    = 10
	daKappa = 0.75
)

func newDualAvg(eps, target float64) dualAvg {
	return dualAvg{mu: rmath.Log(10 * eps), target: target, logEpsAv: rmath.Log(eps)}
}

// update records the acceptance probability of the last iteration and
// returns the step size for the next one.
func (d *dualAvg) update(prob float64) float64 {
	d.m++
	m := float64(d.m)
	w := 1 / (m + daT0)
	d.hbar = float64((1-w)*d.hbar) + float64(w*(d.target-prob))
	logEps := d.mu - float64(math.Sqrt(m)/daGamma*d.hbar)
	eta := rmath.Pow(m, -daKappa)
	d.logEpsAv = float64(eta*logEps) + float64((1-eta)*d.logEpsAv)
	return rmath.Exp(logEps)
}

// final returns the averaged step size ε̄ used after warm-up.
func (d *dualAvg) final() float64 { return rmath.Exp(d.logEpsAv) }

// acceptProb returns min(1, exp(logRatio)), or 0 when the ratio is NaN or
// the proposal's log-density is not finite.
func acceptProb(logRatio, logpNew float64) float64 {
	if math.IsNaN(logRatio) || math.IsNaN(logpNew) || math.IsInf(logpNew, 0) {
		return 0
	}
	if logRatio >= 0 {
		return 1
	}
	return rmath.Exp(logRatio)
}

// initState evaluates the starting points and checks they are usable.
func initState(f LogDensityFunc, lp []float64, s, x ad.Mat) error {
	f(lp, s, x)
	for b, v := range lp {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("log-density %v at a starting point (chain row %d of its chunk)", v, b)
		}
	}
	return nil
}

// malaKernel is one chunk's MALA state.
type malaKernel struct {
	f       LogDensityFunc
	x, s    ad.Mat // current states and scores
	y, sy   ad.Mat // proposals and their scores
	lp, lpy []float64
	fwd     []float64 // log q(y|x) up to a constant
	rngs    []*rand.Rand
}

func newMALAKernel(f LogDensityFunc, x ad.Mat, rngs []*rand.Rand) *malaKernel {
	n, d := x.Rows, x.Cols
	return &malaKernel{f: f, x: x, s: ad.NewMat(n, d), y: ad.NewMat(n, d), sy: ad.NewMat(n, d),
		lp: make([]float64, n), lpy: make([]float64, n), fwd: make([]float64, n), rngs: rngs}
}

func (k *malaKernel) init() error { return initState(k.f, k.lp, k.s, k.x) }

func (k *malaKernel) step(eps, prob []float64, acc []bool) {
	for b, rng := range k.rngs {
		h, sq := eps[b]/2, math.Sqrt(eps[b])
		x, s, y := k.x.Row(b), k.s.Row(b), k.y.Row(b)
		zz := 0.0
		for i := range x {
			z := repro.Normal(rng)
			zz += float64(z * z)
			y[i] = x[i] + float64(h*s[i]) + float64(sq*z)
		}
		k.fwd[b] = -0.5 * zz
	}
	k.f(k.lpy, k.sy, k.y)
	for b, rng := range k.rngs {
		h := eps[b] / 2
		x, y, sy := k.x.Row(b), k.y.Row(b), k.sy.Row(b)
		rev := 0.0
		for i := range x {
			r := x[i] - y[i] - float64(h*sy[i])
			rev += float64(r * r)
		}
		logRatio := k.lpy[b] - k.lp[b] - rev/(2*eps[b]) - k.fwd[b]
		prob[b] = acceptProb(logRatio, k.lpy[b])
		acc[b] = rng.Float64() < prob[b]
		if acc[b] {
			copy(x, y)
			copy(k.s.Row(b), sy)
			k.lp[b] = k.lpy[b]
		}
	}
}

// hmcKernel is one chunk's HMC state.
type hmcKernel struct {
	f        LogDensityFunc
	leapfrog int
	jitter   float64
	x, s     ad.Mat // current states and scores
	x1, s1   ad.Mat // trajectory
	p        ad.Mat // momenta
	lp, lp1  []float64
	k0, e    []float64 // initial kinetic energies, this iteration's steps
	rngs     []*rand.Rand
}

func newHMCKernel(f LogDensityFunc, x ad.Mat, rngs []*rand.Rand, leapfrog int) *hmcKernel {
	n, d := x.Rows, x.Cols
	return &hmcKernel{f: f, leapfrog: leapfrog, x: x, s: ad.NewMat(n, d),
		x1: ad.NewMat(n, d), s1: ad.NewMat(n, d), p: ad.NewMat(n, d),
		lp: make([]float64, n), lp1: make([]float64, n), k0: make([]float64, n), e: make([]float64, n), rngs: rngs}
}

func (k *hmcKernel) init() error { return initState(k.f, k.lp, k.s, k.x) }

func (k *hmcKernel) step(eps, prob []float64, acc []bool) {
	for b, rng := range k.rngs {
		k.e[b] = eps[b]
		if k.jitter > 0 {
			k.e[b] *= 1 + float64(k.jitter*(2*float64(rng.Float64())-1))
		}
		p := k.p.Row(b)
		kin := 0.0
		for i := range p {
			p[i] = repro.Normal(rng)
			kin += float64(p[i] * p[i])
		}
		k.k0[b] = 0.5 * kin
	}
	copy(k.x1.Data, k.x.Data)
	copy(k.s1.Data, k.s.Data)
	for range k.leapfrog {
		for b, e := range k.e {
			p, x1, s1 := k.p.Row(b), k.x1.Row(b), k.s1.Row(b)
			for i := range p {
				p[i] += float64(0.5 * e * s1[i])
				x1[i] += float64(e * p[i])
			}
		}
		k.f(k.lp1, k.s1, k.x1)
		for b, e := range k.e {
			p, s1 := k.p.Row(b), k.s1.Row(b)
			for i := range p {
				p[i] += float64(0.5 * e * s1[i])
			}
		}
	}
	for b, rng := range k.rngs {
		p := k.p.Row(b)
		kin := 0.0
		for _, v := range p {
			kin += float64(v * v)
		}
		logRatio := k.lp1[b] - float64(0.5*kin) - k.lp[b] + k.k0[b]
		prob[b] = acceptProb(logRatio, k.lp1[b])
		acc[b] = rng.Float64() < prob[b]
		if acc[b] {
			copy(k.x.Row(b), k.x1.Row(b))
			copy(k.s.Row(b), k.s1.Row(b))
			k.lp[b] = k.lp1[b]
		}
	}
}
