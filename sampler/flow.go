package sampler

import (
	"fmt"
	"math"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/nn/sde"
)

// DefaultFlowTol is the relative and absolute tolerance of the adaptive
// solver that ProbabilityFlow and FlowLikelihood use when no Solver is
// given (the reference code's default for both).
const DefaultFlowTol = 1e-5

// defaultSolver returns s, or RK45 at DefaultFlowTol when s is nil.
func defaultSolver(s ODESolver) ODESolver {
	if s == nil {
		return RK45{Rtol: DefaultFlowTol, Atol: DefaultFlowTol}
	}
	return s
}

// checkFlow checks the settings shared by ProbabilityFlow and
// FlowLikelihood and returns the time eps (def(s) when eps is 0). The
// solver's settings are checked by solving no rows.
func checkFlow(typ string, s sde.SDE, solver ODESolver, eps float64, def func(sde.SDE) float64, cols int) (float64, error) {
	if s == nil {
		return 0, &ConfigError{Type: typ, Field: "SDE", Value: nil, Want: "an SDE"}
	}
	if err := s.Validate(); err != nil {
		return 0, &ConfigError{Type: typ, Field: "SDE", Value: s.String(), Want: "valid parameters (" + err.Error() + ")"}
	}
	if eps == 0 {
		eps = def(s)
	}
	if !(eps > 0 && eps < s.T()) {
		return 0, &ConfigError{Type: typ, Field: "Eps", Value: eps, Want: fmt.Sprintf("in (0, T = %v), or 0 for the default", s.T())}
	}
	_, err := solver.Solve(func() ODEFunc { return nil }, ad.NewMat(0, cols), s.T(), eps)
	return eps, err
}

// flowError returns the solver's error err in the name of typ.
func flowError(typ string, err error) error {
	return fmt.Errorf("sampler: %s: %s", typ, strings.TrimPrefix(err.Error(), "sampler: "))
}

// flowCoefs returns the probability-flow coefficients at t: the drift is
// f̃(x, t) = a·x − h·s(x, t) with a = a(t) and h = ½g(t)².
func flowCoefs(s sde.SDE, t float64) (a, h float64) {
	g := s.Diffusion(t)
	return s.DriftCoef(t), float64(0.5 * g * g)
}

// ProbabilityFlow samples with the probability-flow ODE of an SDE (Song
// et al. 2021, sec. 4.3),
//
//	dx/dt = f̃(x, t) = a(t)·x − ½g(t)²·s(x, t),
//
// whose solution has the marginals p_t of the SDE when s is the exact
// score ∇ₓ log p_t: samples x_T from the prior are integrated from T down to
// Eps, deterministically, by the Solver. Each sample is its own system (with
// its own steps under RK45), so a sample does not depend on the others, on
// the chunking or on GOMAXPROCS.
type ProbabilityFlow struct {
	// SDE is the forward diffusion.
	SDE sde.SDE
	// Solver integrates the ODE: RK4{Steps: n} or RK45{Rtol, Atol}; nil
	// means RK45 with Rtol = Atol = DefaultFlowTol. Its Chunks sets the
	// parallel chunks.
	Solver ODESolver
	// Eps is the time the integration ends at, in (0, T); 0 means
	// sde.SampleEps(SDE) (1e-5 for VE, 1e-3 for VP and sub-VP).
	Eps float64
	// Denoise, if set, replaces x at Eps by Tweedie's estimate of x₀,
	// E[x₀ | x_Eps] = (x + s(Eps)²·∇log p_Eps(x))/α(Eps), with
	// α, s = SDE.Marginal(Eps): one more score evaluation per sample that
	// removes the noise of scale s(Eps) left at Eps. For VE this is the
	// reference code's denoising step; for VP and sub-VP the reference
	// takes one reverse-diffusion step of its discrete chain instead,
	// which agrees with this one up to terms of order βmin·Eps.
	Denoise bool
	// Seed selects the prior draws of Sample: row b from the stream
	// (Seed, repro.Start, 0, b), as sde.SamplePrior draws them.
	Seed uint64
}

// Sample draws n samples: x_T from the prior (sde.SamplePrior with Seed),
// then Run. It returns the samples (n×D), the solver's counts (with the
// denoising evaluations added to Evals) and Run's errors.
func (p ProbabilityFlow) Sample(src TimeScoreSource, n int) (ad.Mat, ODEStats, error) {
	x := ad.NewMat(n, src.Dim())
	if p.SDE != nil && p.SDE.Validate() == nil {
		sde.SamplePrior(p.SDE, x, p.Seed)
	}
	st, err := p.Run(src, x)
	return x, st, err
}

// Run integrates the rows of x (B×D, states at time T) in place from T to
// Eps, and denoises them if asked. It returns the solver's counts (plus one
// evaluation per row for Denoise), a *ConfigError for an invalid setting
// (an SDE that does not validate included) before any work, and the
// solver's error if a sample cannot be integrated. It panics if x does not
// have src.Dim() columns.
func (p ProbabilityFlow) Run(src TimeScoreSource, x ad.Mat) (ODEStats, error) {
	checkCols("ProbabilityFlow.Run", x, src.Dim())
	solver := defaultSolver(p.Solver)
	eps, err := checkFlow("ProbabilityFlow", p.SDE, solver, p.Eps, sde.SampleEps, x.Cols)
	if err != nil {
		return ODEStats{}, err
	}
	s := p.SDE
	newF := func() ODEFunc {
		score := src.NewTimeScoreFunc()
		var sc ad.Mat
		return func(dy, y ad.Mat, t []float64, rows []int) {
			sc.Resize(y.Rows, y.Cols)
			score(sc, y, t)
			for b := range y.Rows {
				a, h := flowCoefs(s, t[b])
				yr, sr, dr := y.Row(b), sc.Row(b), dy.Row(b)
				for i, v := range yr {
					dr[i] = float64(a*v) - float64(h*sr[i])
				}
			}
		}
	}
	st, err := solver.Solve(newF, x, s.T(), eps)
	if err != nil {
		return st, flowError("ProbabilityFlow", err)
	}
	if p.Denoise && x.Rows > 0 {
		tweedie(src, s, x, eps)
		st.Evals += x.Rows
		st.MaxEvals++
		if err := checkFinite("ProbabilityFlow", x); err != nil {
			return st, err
		}
	}
	return st, nil
}

// tweedie replaces every row of x by (x + s(t)²·∇log p_t(x))/α(t), in
// repro.DefaultChunks parallel chunks.
func tweedie(src TimeScoreSource, s sde.SDE, x ad.Mat, t float64) {
	alpha, std := s.Marginal(t)
	v := std * std
	chunks := repro.DefaultChunks(x.Rows)
	fs := make([]TimeScoreFunc, chunks)
	for c := range fs {
		fs[c] = src.NewTimeScoreFunc()
	}
	repro.Run(x.Rows, chunks, func(c, lo, hi int) {
		xc := x.RowRange(lo, hi)
		sc := ad.NewMat(hi-lo, x.Cols)
		ts := make([]float64, hi-lo)
		for b := range ts {
			ts[b] = t
		}
		fs[c](sc, xc, ts)
		for i, u := range xc.Data {
			xc.Data[i] = (u + float64(v*sc.Data[i])) / alpha
		}
	})
}

// FlowLikelihood computes exact log-likelihoods through the probability-flow
// ODE (Song et al. 2021, sec. 4.3 and app. D.2): for the flow
// dx/dt = f̃(x, t) = a(t)·x − ½g(t)²·s(x, t), the instantaneous change of
// variables gives
//
//	log p_Eps(x) = log p_T(x(T)) + ∫_Eps^T ∇·f̃(x(t), t) dt,
//	∇·f̃ = D·a(t) − ½g(t)²·∇ₓ·s(x, t),
//
// where x(t) solves the ODE from x(Eps) = x. The state (x, ℓ) with
// dℓ/dt = ∇·f̃ is integrated jointly from Eps to T by the Solver, one system
// per row (so each row's result depends on that row alone, not on the
// chunking or GOMAXPROCS).
//
// The divergence of the score is exact (the trace of its Jacobian, as the
// DivScoreSource computes it) when Probes is 0, or Hutchinson's estimate
// with Probes random vectors v per row, the mean of vᵀ(∇ₓs)v. As in the
// reference code (and FFJORD), each row draws its probes once, for the
// whole integration. The path x(t) does not depend on the probes and ℓ(T)
// is linear in the estimates, so the estimated log-density is unbiased up
// to the solver's error.
//
// p_T is the SDE's prior unless EndLogDensity is given; with the exact p_T
// of a known distribution (PerturbedMixture.LogDensity at T) only the ODE's
// error remains. The result is the log-density of p_Eps, p₀ convolved with
// the SDE's kernel at Eps, which differs from p₀ by O(s(Eps)²) (see
// BitsPerDim for discrete data).
type FlowLikelihood struct {
	// SDE is the forward diffusion.
	SDE sde.SDE
	// Solver integrates the ODE, as in ProbabilityFlow (nil: RK45 with
	// Rtol = Atol = DefaultFlowTol). The error control acts on the joint
	// state (x, ℓ).
	Solver ODESolver
	// Eps is the time the integration starts at, in (0, T); 0 means
	// sde.TrainEps = 1e-5 (the reference code's choice for likelihoods,
	// for every SDE).
	Eps float64
	// Probes is the number K ≥ 0 of Hutchinson probes per row; 0 means the
	// exact divergence.
	Probes int
	// GaussianProbes draws the probes from N(0, I) instead of the default
	// Rademacher (uniform on {−1, +1}^D, the lower-variance choice).
	GaussianProbes bool
	// Seed selects the probes: row b draws its K probes, coordinate by
	// coordinate, from the stream (Seed, repro.Evaluation, 0, b).
	Seed uint64
	// EndLogDensity, if not nil, is log p_T at the end point x(T) in place of
	// SDE.PriorLogDensity. It is called from one goroutine.
	EndLogDensity func(x []float64) float64
}

// Run returns log p_Eps at every row of x (B×D) and the solver's counts. It
// returns a *ConfigError for an invalid setting (an SDE that does not
// validate included) before any work, and an error if a row cannot be integrated or its log-density is
// not finite. It panics if x does not have src.Dim() columns.
func (l FlowLikelihood) Run(src DivScoreSource, x ad.Mat) ([]float64, ODEStats, error) {
	checkCols("FlowLikelihood.Run", x, src.Dim())
	solver := defaultSolver(l.Solver)
	d := x.Cols
	eps, err := checkFlow("FlowLikelihood", l.SDE, solver, l.Eps, func(sde.SDE) float64 { return sde.TrainEps }, d+1)
	if err != nil {
		return nil, ODEStats{}, err
	}
	if l.Probes < 0 {
		return nil, ODEStats{}, &ConfigError{Type: "FlowLikelihood", Field: "Probes", Value: l.Probes, Want: "≥ 0 (0: exact divergence)"}
	}
	s := l.SDE
	probes := l.drawProbes(x.Rows, d)
	y := ad.NewMat(x.Rows, d+1)
	for b := range x.Rows {
		copy(y.Row(b), x.Row(b))
	}
	newF := func() ODEFunc {
		div := src.NewDivScoreFunc()
		var xs, sc ad.Mat
		var dv []float64
		pk := make([]ad.Mat, len(probes))
		return func(dy, y ad.Mat, t []float64, rows []int) {
			m := y.Rows
			xs.Resize(m, d)
			sc.Resize(m, d)
			if cap(dv) < m {
				dv = make([]float64, m)
			}
			dv = dv[:m]
			for b := range m {
				copy(xs.Row(b), y.Row(b)[:d])
			}
			for k, p := range probes {
				pk[k].Resize(m, d)
				for b, r := range rows {
					copy(pk[k].Row(b), p.Row(r))
				}
			}
			div(sc, dv, xs, t, pk)
			for b := range m {
				a, h := flowCoefs(s, t[b])
				xr, sr, dr := xs.Row(b), sc.Row(b), dy.Row(b)
				for i, v := range xr {
					dr[i] = float64(a*v) - float64(h*sr[i])
				}
				dr[d] = float64(float64(d)*a) - float64(h*dv[b])
			}
		}
	}
	st, err := solver.Solve(newF, y, eps, s.T())
	if err != nil {
		return nil, st, flowError("FlowLikelihood", err)
	}
	end := l.EndLogDensity
	if end == nil {
		end = s.PriorLogDensity
	}
	logp := make([]float64, x.Rows)
	for b := range x.Rows {
		row := y.Row(b)
		logp[b] = end(row[:d]) + row[d]
		if math.IsNaN(logp[b]) || math.IsInf(logp[b], 0) {
			return nil, st, fmt.Errorf("sampler: FlowLikelihood: row %d: log-density %v", b, logp[b])
		}
	}
	return logp, st, nil
}

// drawProbes returns the K probe matrices (n×d): row b of every probe from
// the stream (Seed, repro.Evaluation, 0, b), probe by probe.
func (l FlowLikelihood) drawProbes(n, d int) []ad.Mat {
	if l.Probes == 0 {
		return nil
	}
	probes := make([]ad.Mat, l.Probes)
	for k := range probes {
		probes[k] = ad.NewMat(n, d)
	}
	st := repro.NewStream()
	for b := range n {
		rng := st.Seed(l.Seed, repro.Evaluation, 0, uint64(b))
		for _, p := range probes {
			row := p.Row(b)
			for i := range row {
				if l.GaussianProbes {
					row[i] = repro.Normal(rng)
				} else {
					row[i] = float64(1 - 2*int(rng.Uint64()&1))
				}
			}
		}
	}
	return probes
}

// BitsPerDim converts a log-density log p(x) (nats) of a D-dimensional
// point into bits per dimension for data quantised into bins of width
// binWidth in the model's coordinates:
//
//	bpd = −(log p(x) + D·log binWidth) / (D·ln 2).
//
// This is the uniform-dequantisation bound: if the model sees
// x = (k + u)·binWidth + offset for the integer data k and u ~ U[0, 1)^D,
// then −log₂ P(k) ≤ E_u[bpd]·D. For 8-bit data rescaled to [0, 1]
// (x = (k + u)/256), binWidth is 1/256 and bpd = −log p/(D ln 2) + 8; for
// 8-bit data rescaled to [−1, 1], binWidth is 2/256 and the offset is 7.
// The reference code's constant offset ("7 − inverse_scaler(−1)") is this
// term for 8-bit images only; for continuous data (the toy distributions)
// pass binWidth = 1, which gives plain −log p/(D ln 2), no offset. It
// panics unless d ≥ 1 and binWidth is finite and > 0.
func BitsPerDim(logp float64, d int, binWidth float64) float64 {
	if d < 1 || !(binWidth > 0) || math.IsInf(binWidth, 0) {
		panic(fmt.Sprintf("sampler: BitsPerDim(%v, %d, %v): want d ≥ 1 and a finite bin width > 0", logp, d, binWidth))
	}
	n := float64(d)
	return -(logp + float64(n*rmath.Log(binWidth))) / float64(n*math.Ln2)
}
