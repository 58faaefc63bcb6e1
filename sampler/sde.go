package sampler

import (
	"fmt"
	"math"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn/sde"
)

// An SDEStep describes a predictor or a corrector of the reverse-time SDE
// samplers, by the name PC accepts.
type SDEStep struct {
	Name        string
	Description string
}

// predictorDef is a predictor: the coefficients of its step from t to
// t − dt, or ok = false if the SDE has no such step.
type predictorDef struct {
	SDEStep
	coef func(s sde.SDE, t, dt float64) (c1, c2, c3 float64, ok bool)
}

// correctorDef is a corrector: the αᵢ of its step size at t.
type correctorDef struct {
	SDEStep
	alpha func(s sde.SDE, t, dt float64) float64
}

// predictorTable lists the predictors (nil coef: none).
var predictorTable = []predictorDef{
	{SDEStep{"em", "Euler–Maruyama step of the reverse-time SDE"}, emCoef},
	{SDEStep{"reverse-diffusion", "the reverse of the SDE's own discretisation (SDE.Discretize)"}, reverseDiffusionCoef},
	{SDEStep{"ancestral", "ancestral sampling: the NCSN chain for VE, DDPM's for VP (not sub-VP)"}, ancestralCoef},
	{SDEStep{"none", "no predictor: the corrector alone at each time"}, nil},
}

// correctorTable lists the correctors (nil alpha: none).
var correctorTable = []correctorDef{
	{SDEStep{"langevin", "Langevin steps at fixed t with the signal-to-noise step rule (SNR)"}, langevinAlpha},
	{SDEStep{"none", "no corrector"}, nil},
}

// Predictors returns the predictors PC accepts, in a fixed order.
func Predictors() []SDEStep {
	return stepNames(predictorTable, func(d predictorDef) SDEStep { return d.SDEStep })
}

// Correctors returns the correctors PC accepts, in a fixed order.
func Correctors() []SDEStep {
	return stepNames(correctorTable, func(d correctorDef) SDEStep { return d.SDEStep })
}

func stepNames[T any](table []T, f func(T) SDEStep) []SDEStep {
	out := make([]SDEStep, len(table))
	for i, d := range table {
		out[i] = f(d)
	}
	return out
}

// sdeStepList returns the names of a table, joined by commas.
func sdeStepList(steps []SDEStep) string {
	var s []string
	for _, d := range steps {
		s = append(s, d.Name)
	}
	return strings.Join(s, ", ")
}

func emCoef(s sde.SDE, t, dt float64) (c1, c2, c3 float64, ok bool) {
	a, g := s.DriftCoef(t), s.Diffusion(t)
	return 1 - float64(a*dt), float64(g*g) * dt, g * math.Sqrt(dt), true
}

func reverseDiffusionCoef(s sde.SDE, t, dt float64) (c1, c2, c3 float64, ok bool) {
	f, g := s.Discretize(t, dt)
	return 1 - f, g * g, g, true
}

func ancestralCoef(s sde.SDE, t, dt float64) (c1, c2, c3 float64, ok bool) {
	a, isA := s.(sde.Ancestral)
	if !isA {
		return 0, 0, 0, false
	}
	c1, c2, c3 = a.AncestralStep(t, dt)
	return c1, c2, c3, true
}

func langevinAlpha(s sde.SDE, t, dt float64) float64 {
	return 1 + float64(2*s.DriftCoef(t)*dt)
}

// PC is the predictor–corrector sampler of the reverse-time SDE: at each
// of Steps times from T down to Eps, CorrectorSteps steps of the corrector
// and then one step of the predictor (see the names in Predictors and
// Correctors). With Predictor "em" and Corrector "none" it is the
// Euler–Maruyama sampler, with "none" and "langevin" a corrector-only
// (annealed Langevin) sampler.
//
// A forward SDE dx = a(t)·x dt + g(t) dw (package nn/sde) has the
// reverse-time SDE (Song et al., ICLR 2021)
//
//	dx = [a(t)·x − g(t)²·∇log p_t(x)] dt + g(t) dw̄,
//
// run from t = T, where x ~ p_T (sde.SamplePrior), down to a small end
// time ε. PC splits [ε, T] into N equal steps of dt = (T − ε)/N at
// the times tᵢ = T − i·dt, i = 0, ..., N − 1, and at each tᵢ applies the
// corrector's steps and then one predictor step from tᵢ to tᵢ − dt, as the
// reference code's pc_sampler does. Every predictor step is affine in x and
// the score,
//
//	x ← c₁·x + c₂·s(x, tᵢ) + c₃·z,  z ~ N(0, I),
//
// with coefficients that depend on the SDE and the step only:
//
//	em                 c₁ = 1 − a(t)·dt, c₂ = g(t)²·dt, c₃ = g(t)·√dt (Euler–Maruyama)
//	reverse-diffusion  c₁ = 1 − fcoef, c₂ = G², c₃ = G, with (fcoef, G) = SDE.Discretize(t, dt)
//	ancestral          (c₁, c₂, c₃) = SDE.AncestralStep(t, dt): VE and VP only
//
// The Langevin corrector takes steps x ← x + ε·s(x, t) + √(2ε)·z at fixed t
// with the reference's step rule ε = 2αᵢ·(snr·‖z‖/‖s(x, t)‖)², where
// αᵢ = 1 + 2a(t)·dt (that is 1 − β(t)·dt for VP and sub-VP, the reference's
// αᵢ, and 1 for VE) and ‖z‖, ‖s‖ are the means over the batch of the
// samples' norms, summed in row order (so that the result does not depend
// on how the rows are split). PC.PerSampleSNR takes each sample's own
// norms instead, which makes a sample independent of its batch, but in low
// dimensions the ratio ‖z‖/‖s‖ of one sample has a heavy tail (‖s‖ → 0 at
// a mode: in 2-D, E[1/‖s‖²] diverges), and the corrector then makes huge
// steps: on the 0.2/0.8 two-mode mixture it moves the weights to about
// 0.35/0.65. Use it only where the norms concentrate (high D). A sample
// whose score (or batch mean score norm) is zero is not moved.
type PC struct {
	// SDE is the forward SDE whose reverse is sampled; it must validate.
	SDE sde.SDE
	// Predictor is the name of the predictor; "" means "none".
	Predictor string
	// Corrector is the name of the corrector; "" means "none".
	Corrector string
	// CorrectorSteps is the number of corrector steps at each time, ≥ 0;
	// it must be 0 without a corrector.
	CorrectorSteps int
	// SNR is the Langevin corrector's signal-to-noise ratio, finite and
	// > 0 (the reference code used 0.16 for VE and 0.01 for VP).
	SNR float64
	// PerSampleSNR makes the Langevin corrector's step size per sample,
	// from the sample's own ‖z‖ and ‖s‖, instead of the reference code's
	// batch means (see the step rule in the type's doc; not for low D).
	PerSampleSNR bool
	// Steps is N ≥ 1, the number of times (predictor steps).
	Steps int
	// Eps is the end time ε in (0, T); 0 means sde.SampleEps(SDE).
	Eps float64
	// Denoise makes the last step return its mean, without noise (the
	// reference code's noise_removal): the last predictor step, or the
	// last corrector step if there is no predictor.
	Denoise bool
	// Seed selects the random streams: sample (row) i draws all its noise
	// from the stream of (Seed, repro.Chain, 0, i).
	Seed uint64
	// Chunks is the number of goroutines the samples are split into;
	// 0 means repro.DefaultChunks(x.Rows).
	Chunks int
}

// pcPlan is a checked PC: the coefficients of every step.
type pcPlan struct {
	times      []float64
	c1, c2, c3 []float64 // predictor coefficients (nil: no predictor)
	alpha      []float64 // corrector αᵢ (nil: no corrector)
	corrSteps  int
	snr        float64
	perSample  bool
	denoise    bool
}

// plan checks the settings of p, as sampler typ, and computes the steps.
func (p PC) plan(typ string) (*pcPlan, error) {
	if p.SDE == nil {
		return nil, &ConfigError{Type: typ, Field: "SDE", Value: nil, Want: "an SDE"}
	}
	if err := p.SDE.Validate(); err != nil {
		return nil, &ConfigError{Type: typ, Field: "SDE", Value: p.SDE.String(), Want: "valid parameters (" + err.Error() + ")"}
	}
	if p.Steps < 1 {
		return nil, &ConfigError{Type: typ, Field: "Steps", Value: p.Steps, Want: "≥ 1"}
	}
	T := p.SDE.T()
	eps := p.Eps
	if eps == 0 {
		eps = sde.SampleEps(p.SDE)
	}
	if !(eps > 0 && eps < T) {
		return nil, &ConfigError{Type: typ, Field: "Eps", Value: p.Eps, Want: fmt.Sprintf("in (0, %g) (0: sde.SampleEps)", T)}
	}
	pname, cname := p.Predictor, p.Corrector
	if pname == "" {
		pname = "none"
	}
	if cname == "" {
		cname = "none"
	}
	var pred *predictorDef
	for i := range predictorTable {
		if predictorTable[i].Name == pname {
			pred = &predictorTable[i]
		}
	}
	if pred == nil {
		return nil, &ConfigError{Type: typ, Field: "Predictor", Value: p.Predictor, Want: "one of " + sdeStepList(Predictors())}
	}
	var corr *correctorDef
	for i := range correctorTable {
		if correctorTable[i].Name == cname {
			corr = &correctorTable[i]
		}
	}
	if corr == nil {
		return nil, &ConfigError{Type: typ, Field: "Corrector", Value: p.Corrector, Want: "one of " + sdeStepList(Correctors())}
	}
	switch {
	case p.CorrectorSteps < 0:
		return nil, &ConfigError{Type: typ, Field: "CorrectorSteps", Value: p.CorrectorSteps, Want: "≥ 0"}
	case corr.alpha == nil && p.CorrectorSteps != 0:
		return nil, &ConfigError{Type: typ, Field: "CorrectorSteps", Value: p.CorrectorSteps, Want: "0 without a corrector"}
	case corr.alpha != nil && !(p.SNR > 0 && p.SNR <= maxFinite):
		return nil, &ConfigError{Type: typ, Field: "SNR", Value: p.SNR, Want: "finite and > 0"}
	case pred.coef == nil && (corr.alpha == nil || p.CorrectorSteps == 0):
		return nil, &ConfigError{Type: typ, Field: "Predictor", Value: pname, Want: "a predictor, or a corrector with CorrectorSteps ≥ 1"}
	}
	n := p.Steps
	dt := (T - eps) / float64(n)
	pl := &pcPlan{times: make([]float64, n), corrSteps: p.CorrectorSteps, snr: p.SNR, perSample: p.PerSampleSNR, denoise: p.Denoise}
	if corr.alpha == nil {
		pl.corrSteps = 0
	}
	for i := range n {
		pl.times[i] = T - float64((T-eps)*(float64(i)/float64(n)))
	}
	if pred.coef != nil {
		pl.c1, pl.c2, pl.c3 = make([]float64, n), make([]float64, n), make([]float64, n)
		for i, t := range pl.times {
			c1, c2, c3, ok := pred.coef(p.SDE, t, dt)
			if !ok {
				return nil, &ConfigError{Type: typ, Field: "Predictor", Value: pname, Want: "a predictor that the " + p.SDE.Kind() + " SDE has (ancestral: ve or vp)"}
			}
			if !sdeFinite(c1) || !sdeFinite(c2) || !sdeFinite(c3) {
				return nil, &ConfigError{Type: typ, Field: "Steps", Value: p.Steps, Want: fmt.Sprintf("enough steps for finite %s coefficients (at t = %g, dt = %g)", pname, t, dt)}
			}
			pl.c1[i], pl.c2[i], pl.c3[i] = c1, c2, c3
		}
	}
	if pl.corrSteps > 0 {
		pl.alpha = make([]float64, n)
		for i, t := range pl.times {
			a := corr.alpha(p.SDE, t, dt)
			if !(a > 0) || !sdeFinite(a) {
				return nil, &ConfigError{Type: typ, Field: "Steps", Value: p.Steps, Want: fmt.Sprintf("enough steps for a positive corrector αᵢ (at t = %g, dt = %g)", t, dt)}
			}
			pl.alpha[i] = a
		}
	}
	return pl, nil
}

// sdeFinite reports whether v is neither NaN nor infinite.
func sdeFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Run moves the samples x (B×D, one per row, drawn from the prior by the
// caller, for example with sde.SamplePrior) in place from time T down to
// Eps. Each chunk of rows calls its own evaluator of s on its rows once per
// corrector and predictor step, with every row's time set to the step's
// time. Row i draws its noise from its own stream and the batch means of
// the corrector's step rule are summed in row order, so the result is
// bit-identical for any GOMAXPROCS and any Chunks (given a score whose rows
// do not depend on each other); with PerSampleSNR a sample does not depend
// on the other rows at all. Run returns a *ConfigError for an invalid
// setting and an error if a sample ends non-finite. It panics if x does not
// have s.Dim() columns.
func (p PC) Run(s TimeScoreSource, x ad.Mat) error {
	const typ = "PC"
	checkCols(typ+".Run", x, s.Dim())
	pl, err := p.plan(typ)
	if err != nil {
		return err
	}
	chunks, err := chunkCount(typ, p.Chunks, x.Rows)
	if err != nil {
		return err
	}
	fs := make([]TimeScoreFunc, chunks)
	for c := range fs {
		fs[c] = s.NewTimeScoreFunc()
	}
	B := x.Rows
	rngs := streams(p.Seed, repro.Chain, 0, B)
	sc := ad.NewMat(B, x.Cols)
	z := ad.NewMat(B, x.Cols)
	tt := make([]float64, B)
	gn := make([]float64, B) // ‖s_b‖
	zn := make([]float64, B) // ‖z_b‖
	n := len(pl.times)
	for i, t := range pl.times {
		for b := range tt {
			tt[b] = t
		}
		for j := range pl.corrSteps {
			repro.Run(B, chunks, func(c, lo, hi int) {
				fs[c](sc.RowRange(lo, hi), x.RowRange(lo, hi), tt[lo:hi])
				for b := lo; b < hi; b++ {
					zr := z.Row(b)
					for k := range zr {
						zr[k] = repro.Normal(rngs[b])
					}
					gn[b], zn[b] = math.Sqrt(pmSqNorm(sc.Row(b))), math.Sqrt(pmSqNorm(zr))
				}
			})
			var gbar, zbar float64
			if !pl.perSample {
				for b := range B {
					gbar += gn[b]
					zbar += zn[b]
				}
			}
			noisy := !(pl.denoise && pl.c1 == nil && i == n-1 && j == pl.corrSteps-1)
			repro.Run(B, chunks, func(c, lo, hi int) {
				for b := lo; b < hi; b++ {
					g, zz := gbar, zbar
					if pl.perSample {
						g, zz = gn[b], zn[b]
					}
					if g == 0 {
						continue
					}
					r := pl.snr * (zz / g)
					eps := float64(2 * pl.alpha[i] * float64(r*r))
					noise := 0.0
					if noisy {
						noise = math.Sqrt(float64(2 * eps))
					}
					xr, sr, zr := x.Row(b), sc.Row(b), z.Row(b)
					for k := range xr {
						xr[k] += float64(eps*sr[k]) + float64(noise*zr[k])
					}
				}
			})
		}
		if pl.c1 == nil {
			continue
		}
		c1, c2, c3 := pl.c1[i], pl.c2[i], pl.c3[i]
		if pl.denoise && i == n-1 {
			c3 = 0
		}
		repro.Run(B, chunks, func(c, lo, hi int) {
			fs[c](sc.RowRange(lo, hi), x.RowRange(lo, hi), tt[lo:hi])
			for b := lo; b < hi; b++ {
				xr, sr := x.Row(b), sc.Row(b)
				for k := range xr {
					v := float64(c1*xr[k]) + float64(c2*sr[k])
					if c3 != 0 {
						v += float64(c3 * repro.Normal(rngs[b]))
					}
					xr[k] = v
				}
			}
		})
	}
	return checkFinite(typ, x)
}
