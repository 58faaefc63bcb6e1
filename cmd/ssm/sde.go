package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
	"scorematch/sampler"
)

// The flags of score SDEs (Song et al., ICLR 2021): train's for an sde
// model, sample's for -score exact with an SDE sampler. A model file
// records its SDE, so sampling and evaluating a model take none of them.

// sdeFlags choose a forward SDE and its parameters.
type sdeFlags struct {
	kind                                 string
	sigmaMin, sigmaMax, betaMin, betaMax float64
}

// sdeFlagNames are the flags of sdeFlags, as define names them.
var sdeFlagNames = []string{"sde", "sigma-min", "sigma-max", "beta-min", "beta-max"}

// defaultSDE is -sde's default: VP needs no parameter from the data, and
// its prior N(0, I) suits standardised data.
const defaultSDE = "vp"

// define adds the flags to fs; what says what the SDE is for.
func (s *sdeFlags) define(fs *flag.FlagSet, what string) {
	fs.StringVar(&s.kind, "sde", defaultSDE, "score SDE "+what+": ve, vp or subvp")
	fs.Float64Var(&s.sigmaMin, "sigma-min", sde.DefaultSigmaMin, "VE's σ_min = σ(0)")
	fs.Float64Var(&s.sigmaMax, "sigma-max", 0, "VE's σ_max = σ(1) (default: the largest distance between two data rows, the paper's heuristic)")
	fs.Float64Var(&s.betaMin, "beta-min", sde.DefaultBetaMin, "VP's and sub-VP's β_min = β(0)")
	fs.Float64Var(&s.betaMax, "beta-max", sde.DefaultBetaMax, "VP's and sub-VP's β_max = β(1)")
}

// parse checks the flags (set: those given) and returns the SDE. A VE
// whose σ_max is 0 is to be set from the data (see fromData).
func (s *sdeFlags) parse(set map[string]bool) (sde.SDE, error) {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	var out sde.SDE
	var others []string // the flags of the other kinds
	switch s.kind {
	case "ve":
		others = []string{"beta-min", "beta-max"}
		switch {
		case !(s.sigmaMin > 0) || !finite(s.sigmaMin):
			return nil, badInput("-sigma-min %v: want a finite σ_min > 0", s.sigmaMin)
		case s.sigmaMax != 0 && (!(s.sigmaMax > s.sigmaMin) || !finite(s.sigmaMax)):
			return nil, badInput("-sigma-max %v: want a finite σ_max > -sigma-min %v (or 0: from the data)", s.sigmaMax, s.sigmaMin)
		}
		out = sde.VE{SigmaMin: s.sigmaMin, SigmaMax: s.sigmaMax}
	case "vp", "subvp":
		others = []string{"sigma-min", "sigma-max"}
		switch {
		case !(s.betaMin >= 0) || !finite(s.betaMin):
			return nil, badInput("-beta-min %v: want a finite β_min ≥ 0", s.betaMin)
		case !(s.betaMax > 0 && s.betaMax >= s.betaMin) || !finite(s.betaMax):
			return nil, badInput("-beta-max %v: want a finite β_max > 0 and ≥ -beta-min %v", s.betaMax, s.betaMin)
		}
		if s.kind == "vp" {
			out = sde.VP{BetaMin: s.betaMin, BetaMax: s.betaMax}
		} else {
			out = sde.SubVP{BetaMin: s.betaMin, BetaMax: s.betaMax}
		}
	default:
		return nil, badInput("-sde %q: want ve, vp or subvp", s.kind)
	}
	for _, n := range others {
		if set[n] {
			takes := "-sigma-min and -sigma-max"
			if s.kind == "ve" {
				takes = "-beta-min and -beta-max"
			}
			return nil, badInput("-%s: -sde %s does not use it (%s are for the other SDEs)", n, s.kind, takes)
		}
	}
	if ve, ok := out.(sde.VE); ok && ve.SigmaMax == 0 {
		return out, nil
	}
	return out, asFlagError(out.Validate())
}

// fromData sets an unset VE σ_max from the rows of x by the paper's
// heuristic and returns the SDE with a note saying so ("" when s was
// complete). what names the rows in the note.
func fromData(s sde.SDE, x ad.Mat, what string) (sde.SDE, string, error) {
	ve, ok := s.(sde.VE)
	if !ok || ve.SigmaMax != 0 {
		return s, "", nil
	}
	if x.Rows < 2 {
		return nil, "", badInput("-sigma-max: %d %s, want at least 2 to set σ_max from (or give -sigma-max)", x.Rows, what)
	}
	out := sde.FromData(s, x).(sde.VE)
	if !(out.SigmaMax > out.SigmaMin) || math.IsInf(out.SigmaMax, 0) {
		return nil, "", badInput("-sigma-max: the largest distance between two %s is %v, not above -sigma-min %v; give -sigma-max", what, out.SigmaMax, out.SigmaMin)
	}
	how := "the largest distance between two of them"
	if x.Rows > sde.ExactHeuristicRows {
		how = fmt.Sprintf("twice the largest distance from their mean, an upper bound on the largest distance between two (exact up to %d rows)", sde.ExactHeuristicRows)
	}
	note := fmt.Sprintf("note: -sde ve with -sigma-max %.4g from the %d %s: %s, the paper's heuristic (give -sigma-max to choose)", out.SigmaMax, x.Rows, what, how)
	return out, note, nil
}

// rowsOf returns the rows idx of x as a new matrix.
func rowsOf(x ad.Mat, idx []int) ad.Mat {
	out := ad.NewMat(len(idx), x.Cols)
	for i, r := range idx {
		copy(out.Row(i), x.Row(r))
	}
	return out
}

// defaultFourierScale is -fourier-scale's default, the standard deviation
// of the time embedding's frequencies. nn's default is the reference
// code's 16, made for image nets; on low-dimensional data a small MLP fed
// sin(2πWc(t)) with W ~ N(0, 16²) sees a time signal that oscillates
// dozens of times over the time range, and learns worse in short runs. On
// 8 Gaussians (sde:128,128, 10000 rows, 6000 steps of sde-dsm, lr 1e-3,
// batch 128; 1000 fresh rows, -seed 5) the probability-flow NLL exceeded
// the true NLL by 0.52 nats for VE and 0.42 for VP with scale 1, against
// 2.44 and 0.51 with scale 16 (each NLL ± 0.02 to 0.12).
const defaultFourierScale = 1

// sdeTrainFlags are train's flags that only an sde model reads.
var sdeTrainFlags = append(slices.Clone(sdeFlagNames), "weighting", "fourier-scale", "fourier-dim")

// SDE samplers' defaults.
const (
	defaultSDESteps = 1000 // predictor steps: the reference's N
	defaultODESteps = 100  // RK4 steps of the probability flow
	// The Langevin corrector's signal-to-noise ratio. The reference code's
	// 0.16 (tuned on images) over-corrects low-dimensional data: on the
	// trained 8-Gaussian and banana models of the SDE study (ssm's
	// TestSDEStudy) every VE model's PC samples failed the MMD test at
	// 0.16 (p = 0.005, mode weights 0.05 to 0.21 for 1/8) and all eight
	// models passed at 0.04 (p 0.22 to 0.91). A smaller ratio only takes
	// smaller corrector steps, so 0.04 errs on the safe side; give -snr for
	// images.
	defaultSNR    = 0.04
	defaultODETol = sampler.DefaultFlowTol
)

// sdeSampleFlags are sample's flags that only the SDE samplers read, by
// sampler (the "steps" of ode only with -solver rk4).
var sdeSampleFlags = map[string][]string{
	"em":                {"eps", "denoise"},
	"reverse-diffusion": {"eps", "denoise"},
	"ancestral":         {"eps", "denoise"},
	"pc":                {"eps", "denoise", "snr", "corrector-steps", "predictor", "corrector"},
	"ode":               {"eps", "denoise", "solver", "rtol", "atol"},
}

// sdeStepNames lists the names of a sampler table.
func sdeStepNames(steps []sampler.SDEStep) []string {
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	return names
}

// exactTimeSource sets the time score of -score exact: the -data dataset,
// a Gaussian mixture, pushed through the SDE of the flags, whose unset VE
// σ_max comes from n draws of it.
func exactTimeSource(src *sources, data string, s sde.SDE, seed uint64) (string, error) {
	ds, err := sampler.LookupDataset(data)
	if err != nil {
		return "", badInput("-data %q: not a built-in dataset (see 'ssm datasets')", data)
	}
	mix, ok := ds.Dist.(*sampler.Mixture)
	if !ok {
		var names []string
		for _, d := range sampler.Datasets() {
			if _, ok := d.Dist.(*sampler.Mixture); ok {
				names = append(names, d.Name)
			}
		}
		return "", badInput("-data %s: -score exact with an SDE sampler needs a Gaussian mixture, whose perturbed score is known (%s)", data, strings.Join(names, ", "))
	}
	x := ad.NewMat(sde.ExactHeuristicRows, mix.Dim())
	mix.Sample(x, repro.New(seed, repro.Data, 0, 0))
	s, note, err := fromData(s, x, "draws from -data "+data)
	if err != nil {
		return "", err
	}
	src.sde, src.time = s, sampler.NewPerturbedMixture(mix, s)
	return note, nil
}

// modelTime returns the time score of a model, if it is one.
func modelTime(m nn.Model) (sampler.DivScoreSource, sde.SDE) {
	if ts, ok := m.(nn.TimeScore); ok {
		return sampler.FromTimeScore(ts), ts.SDE()
	}
	return nil, nil
}

// sdeSolver returns the ODE solver of -solver, -steps, -rtol and -atol
// and its description.
func sdeSolver(name string, steps int, rtol, atol float64) (sampler.ODESolver, string) {
	if name == "rk4" {
		return sampler.RK4{Steps: steps}, fmt.Sprintf("RK4, %d steps", steps)
	}
	return sampler.RK45{Rtol: rtol, Atol: atol}, fmt.Sprintf("RK45, rtol %g, atol %g", rtol, atol)
}

// checkTol checks an ODE tolerance flag.
func checkTol(flag string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return badInput("%s %v: want a finite tolerance > 0", flag, v)
	}
	return nil
}

// checkEps checks an end time flag: ε in (0, 1), T being 1.
func checkEps(flag string, v float64) error {
	if !(v > 0 && v < 1) {
		return badInput("%s %v: want a time in (0, 1) (T = 1)", flag, v)
	}
	return nil
}

// odeWork describes an ODE solve's work per system (sample or row): the
// mean and largest number of function evaluations and, for an adaptive
// solver, the steps accepted and rejected.
func odeWork(solver string, st sampler.ODEStats) string {
	s := fmt.Sprintf("%s: %.1f function evaluations per %%s (at most %d)", solver, st.MeanEvals(), st.MaxEvals)
	if st.Systems > 0 && st.Accepted+st.Rejected > 0 && !strings.HasPrefix(solver, "RK4,") {
		n := float64(st.Systems)
		s += fmt.Sprintf(", %.1f steps accepted and %.1f rejected per %%s", float64(st.Accepted)/n, float64(st.Rejected)/n)
	}
	return s
}
