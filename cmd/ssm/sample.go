package main

import (
	"context"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
	"scorematch/nn/sde"
	"scorematch/sampler"
)

func init() {
	register("sample", "draw samples from a model, or from a dataset's exact score", runSample)
}

// sources holds what a model or a dataset offers the samplers.
type sources struct {
	dim     int
	score   sampler.ScoreSource
	density sampler.LogDensity      // nil without a density
	cond    sampler.CondScoreSource // noise-conditional score (nil: use tempering)
	time    sampler.TimeScoreSource // time-conditional score of a score SDE (nil without)
	sde     sde.SDE                 // the SDE of time
	info    nn.ModelInfo            // what a model file records of its data
}

func modelSources(m nn.Model) sources {
	s := sources{dim: m.Dim()}
	if ts, sd := modelTime(m); ts != nil {
		s.time, s.sde = ts, sd
	}
	switch m := m.(type) {
	case nn.Energy:
		s.density = sampler.FromEnergy(m)
		s.score = s.density
	case nn.Score:
		s.score = sampler.FromScore(m)
	case nn.CondScore:
		s.cond = sampler.FromCondScore(m)
	}
	return s
}

func runSample(ctx context.Context, e *env, args []string) error {
	j, err := parseSample(e, args)
	if err != nil {
		return err
	}
	x, err := j.run(e)
	if err != nil {
		return err
	}
	return j.write(e, x)
}

// Bounds of sample's flags.
const (
	maxSampleValues = 1 << 27 // -n × D: 1 GiB of float64
	maxSampleSteps  = 1 << 24
)

// A samplerKind is one -sampler value: what it needs from the source and
// how it moves the chains x.
type samplerKind struct {
	name     string
	score    bool // needs a score of x alone
	density  bool // needs a log-density
	annealed bool // runs over noise levels (-sigmas)
	timed    bool // samples a score SDE: needs a time-conditional score, starts from its prior
	run      func(j *sampleJob, e *env, x ad.Mat) error
}

// samplerKinds is the table of -sampler values.
var samplerKinds = []samplerKind{
	{"langevin", true, false, false, false, func(j *sampleJob, e *env, x ad.Mat) error {
		return sampler.Langevin{Step: j.step, Steps: j.steps, Seed: j.seed}.Run(j.src.score, x)
	}},
	{"annealed", false, false, true, false, func(j *sampleJob, e *env, x ad.Mat) error {
		return sampler.AnnealedLangevin{Sigmas: j.levels, Step: j.step, Steps: j.steps, Seed: j.seed}.Run(j.cond, x)
	}},
	{"mala", false, true, false, false, func(j *sampleJob, e *env, x ad.Mat) error {
		tr, st, err := sampler.MALA{Step: j.step, Warmup: j.steps, Draws: j.steps, Seed: j.seed}.Run(j.src.density, x)
		return j.mcmcReport(e, tr, st, err)
	}},
	{"hmc", false, true, false, false, func(j *sampleJob, e *env, x ad.Mat) error {
		tr, st, err := sampler.HMC{Step: j.step, Leapfrog: 10, Warmup: j.steps, Draws: j.steps, Seed: j.seed}.Run(j.src.density, x)
		return j.mcmcReport(e, tr, st, err)
	}},
	{"em", false, false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		return j.runPC(e, j.pc("em", "none"), x)
	}},
	{"reverse-diffusion", false, false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		return j.runPC(e, j.pc("reverse-diffusion", "none"), x)
	}},
	{"ancestral", false, false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		return j.runPC(e, j.pc("ancestral", "none"), x)
	}},
	{"pc", false, false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		return j.runPC(e, j.pc(j.predictor, j.corrector), x)
	}},
	{"ode", false, false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		solver, desc := sdeSolver(j.solver, j.steps, j.rtol, j.atol)
		st, err := sampler.ProbabilityFlow{SDE: j.src.sde, Solver: solver, Eps: j.eps, Denoise: j.denoise, Seed: j.seed}.Run(j.src.time, x)
		if err == nil && x.Rows > 0 {
			fmt.Fprintln(e.stderr, "ode: "+strings.ReplaceAll(odeWork(desc, st), "%s", "sample"))
		}
		return err
	}},
}

// runPC runs a predictor–corrector sampler on x and reports its work.
func (j *sampleJob) runPC(e *env, p sampler.PC, x ad.Mat) error {
	if err := p.Run(j.src.time, x); err != nil || x.Rows == 0 {
		return err
	}
	eps := p.Eps
	if eps == 0 {
		eps = sde.SampleEps(p.SDE)
	}
	evals, what := 0, ""
	if p.Predictor != "none" {
		evals++
		what = p.Predictor + " predictor"
	}
	if p.CorrectorSteps > 0 {
		evals += p.CorrectorSteps
		if what != "" {
			what += " and "
		}
		plural := "s"
		if p.CorrectorSteps == 1 {
			plural = ""
		}
		what += fmt.Sprintf("%d %s corrector step%s (snr %g)", p.CorrectorSteps, p.Corrector, plural, p.SNR)
	}
	fmt.Fprintf(e.stderr, "%s: %s: %d times from t = 1 to %g, %s at each: %d score evaluations per sample\n",
		j.who, p.SDE, p.Steps, eps, what, evals*p.Steps)
	return nil
}

// pc returns the predictor–corrector sampler of the job with the given
// predictor and corrector (the corrector's steps and SNR only with one).
func (j *sampleJob) pc(predictor, corrector string) sampler.PC {
	p := sampler.PC{SDE: j.src.sde, Predictor: predictor, Corrector: corrector, Steps: j.steps, Eps: j.eps, Denoise: j.denoise, Seed: j.seed}
	if corrector != "none" {
		p.CorrectorSteps, p.SNR = j.corrSteps, j.snr
	}
	return p
}

// sampleJob is a checked ssm sample.
type sampleJob struct {
	kind          samplerKind
	src           sources
	cond          sampler.CondScoreSource // annealed: the levels' scores
	levels        []float64               // annealed: the noise levels
	n, steps      int
	step, init    float64
	seed          uint64
	out, png, who string // who: the sampler's name

	// The SDE samplers' settings.
	eps, snr, rtol, atol         float64
	denoise                      bool
	corrSteps                    int
	predictor, corrector, solver string
}

func parseSample(e *env, args []string) (*sampleJob, error) {
	fs := newFlags("sample", "sample (-model FILE | -score exact -data NAME) [-sampler annealed] [-n 1000] [-out samples.csv]", e.stdout)
	modelPath := fs.String("model", "", "model `file` to sample from")
	act := fs.String("act", "", "activation, for model files that do not record it")
	kind := fs.String("kind", "", "model kind, for files that do not record it: energy, score or ncsn")
	exact := fs.String("score", "model", "score source: model, or exact (the -data dataset's true score)")
	data := fs.String("data", "8gaussians", "built-in dataset, with -score exact")
	var names []string
	for _, k := range samplerKinds {
		names = append(names, k.name)
	}
	kindOf := fs.String("sampler", "annealed", "sampler: "+strings.Join(names, ", ")+" (mala and hmc need a density; em, reverse-diffusion, ancestral, pc and ode sample a score SDE: an sde model, or -score exact on a mixture; an sde model's default is pc)")
	j := &sampleJob{}
	fs.IntVar(&j.n, "n", 1000, "number of samples (independent chains)")
	fs.IntVar(&j.steps, "steps", 100, fmt.Sprintf("steps: per level for annealed Langevin, in all for langevin; draws after warm-up for mala and hmc; predictor steps of em, reverse-diffusion, ancestral and pc (%d unless given); RK4 steps of ode -solver rk4 (%d unless given)", defaultSDESteps, defaultODESteps))
	fs.Float64Var(&j.step, "step", 0.01, "step size ε (annealed: at the last level, default 0.1·σ_L² for noise-conditional models; mala, hmc: initial, then adapted)")
	sigmas := fs.String("sigmas", "", "annealed levels hi:lo:L (default 4:1:10, tempering, for models that are not noise-conditional; 1:0.01:10 for ncsn models)")
	fs.Float64Var(&j.init, "init", 6, "chains start uniform on [−init, init]^D (in the model's coordinates when it was trained on standardised data)")
	fs.Uint64Var(&j.seed, "seed", 1, "random seed")
	fs.StringVar(&j.out, "out", "samples.csv", "samples `file` (.csv or .npy)")
	fs.StringVar(&j.png, "png", "", "also draw the samples (2-D only) to this .png or .svg `file`")
	fs.Float64Var(&j.eps, "eps", 0, "SDE samplers: the end time ε in (0, 1) (default 1e-5 for VE, 1e-3 for VP and sub-VP)")
	fs.BoolVar(&j.denoise, "denoise", false, "SDE samplers: the last step returns its mean, without noise (ode: Tweedie's denoising at ε)")
	fs.StringVar(&j.predictor, "predictor", "reverse-diffusion", "pc: the predictor: "+strings.Join(sdeStepNames(sampler.Predictors()), ", "))
	fs.StringVar(&j.corrector, "corrector", "langevin", "pc: the corrector: "+strings.Join(sdeStepNames(sampler.Correctors()), ", "))
	fs.IntVar(&j.corrSteps, "corrector-steps", 1, "pc: corrector steps at each time")
	fs.Float64Var(&j.snr, "snr", defaultSNR, "pc: the Langevin corrector's signal-to-noise ratio (the reference's step rule)")
	fs.StringVar(&j.solver, "solver", "rk45", "ode: the solver: rk45 (adaptive Dormand–Prince, -rtol, -atol) or rk4 (fixed steps, -steps)")
	fs.Float64Var(&j.rtol, "rtol", defaultODETol, "ode -solver rk45: relative tolerance")
	fs.Float64Var(&j.atol, "atol", defaultODETol, "ode -solver rk45: absolute tolerance")
	var sf sdeFlags
	sf.define(fs, "of -score exact with an SDE sampler")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	set := setFlags(fs)
	if !set["sampler"] && *exact == "model" && *modelPath != "" {
		// A score SDE's model takes pc (a file that does not load is
		// reported below).
		if src, err := sampleSource(*exact, *modelPath, *act, *kind, *data); err == nil && src.time != nil {
			*kindOf = "pc"
		}
	}
	found := false
	for _, k := range samplerKinds {
		if k.name == *kindOf {
			j.kind, found = k, true
		}
	}
	if !found {
		return nil, badInput("-sampler %q: want %s", *kindOf, strings.Join(names, ", "))
	}
	j.who = *kindOf
	if err := j.checkSDEFlags(set, *exact == "exact"); err != nil {
		return nil, err
	}
	switch {
	case j.steps < 0 || j.steps > maxSampleSteps:
		return nil, badInput("-steps %d: want 0 to %d", j.steps, maxSampleSteps)
	case !(j.step > 0) || math.IsInf(j.step, 0):
		return nil, badInput("-step %v: want a finite step > 0", j.step)
	case !(j.init > 0) || math.IsInf(j.init, 0):
		return nil, badInput("-init %v: want a finite half-width > 0", j.init)
	case j.n < 2:
		return nil, badInput("-n %d: want at least 2 samples", j.n)
	}
	if err := checkOutputs(e, map[string]outputFlag{"-out": {j.out, []string{".csv", ".npy"}}, "-png": {j.png, []string{".png", ".svg"}}}); err != nil {
		return nil, err
	}
	var err error
	if j.src, err = sampleSource(*exact, *modelPath, *act, *kind, *data); err != nil {
		return nil, err
	}
	if j.kind.timed {
		if err := j.timedSource(e, set, sf, *exact == "exact", *data, *modelPath); err != nil {
			return nil, err
		}
	}
	if j.n > maxSampleValues/j.src.dim {
		return nil, badInput("-n %d: at most %d samples of dimension %d", j.n, maxSampleValues/j.src.dim, j.src.dim)
	}
	if j.png != "" && j.src.dim != 2 {
		return nil, badInput("-png: the samples are %d-dimensional; plots are for 2-D", j.src.dim)
	}
	switch {
	case j.src.time != nil && !j.kind.timed:
		return nil, badInput("-sampler %s: the model is a score SDE's time-conditional net; use -sampler em, reverse-diffusion, ancestral, pc or ode", j.who)
	case j.kind.density && j.src.density == nil:
		return nil, badInput("-sampler %s needs a density: an energy model or -score exact", j.who)
	case j.kind.score && j.src.score == nil:
		return nil, badInput("-sampler %s needs a score; this model is noise-conditional: use -sampler annealed", j.who)
	}
	if j.kind.annealed {
		if err := j.schedule(e, *sigmas, *exact == "exact", set["step"], *modelPath); err != nil {
			return nil, err
		}
	} else if *sigmas != "" {
		return nil, badInput("-sigmas: only -sampler annealed has noise levels")
	}
	return j, nil
}

// schedule sets the noise levels of annealed Langevin: -sigmas, else the
// schedule a noise-conditional model's file records, else NCSN's default
// 1:0.01:10 for such a model, or 4:1:10 of tempering for the others (and
// for -score exact without -sigmas). A noise-conditional model whose step
// is not given takes ε = 0.1·σ_L², the step that scales with the last
// level (NCSN's 2·10⁻⁵ at σ_L = 0.01 is 0.2·σ_L²).
func (j *sampleJob) schedule(e *env, sigmas string, exact, stepSet bool, modelPath string) error {
	spec := sigmas
	j.cond = j.src.cond
	var err error
	switch {
	case spec != "":
		if j.levels, err = parseSigmas(spec); err != nil {
			return err
		}
		if j.src.info.Sigmas != nil {
			fmt.Fprintf(e.stderr, "note: -sigmas %s replaces the schedule %s records\n", sigmas, modelPath)
		}
	case j.cond != nil && !exact && j.src.info.Sigmas != nil:
		j.levels = j.src.info.Sigmas
	case j.cond != nil && !exact:
		j.levels, _ = parseSigmas("1:0.01:10")
	default:
		j.levels, _ = parseSigmas("4:1:10")
	}
	if j.cond == nil || exact && sigmas == "" {
		j.cond = sampler.Tempered(j.src.score, j.levels[len(j.levels)-1])
	} else if !stepSet {
		last := j.levels[len(j.levels)-1]
		j.step = 0.1 * last * last
	}
	return nil
}

// sampleSource returns what -score (and -model or -data) offers the samplers.
func sampleSource(exact, modelPath, act, kind, data string) (sources, error) {
	switch exact {
	case "model":
		m, info, err := loadModel(modelPath, act, kind)
		if err != nil {
			return sources{}, err
		}
		src := modelSources(m)
		src.info = info
		return src, nil
	case "exact":
		if modelPath != "" {
			return sources{}, badInput("-model %s: -score exact samples the -data dataset, not a model", modelPath)
		}
		ds, err := sampler.LookupDataset(data)
		if err != nil {
			return sources{}, badInput("-data %q: not a built-in dataset (see 'ssm datasets')", data)
		}
		d, ok := ds.Dist.(sampler.LogDensity)
		if !ok {
			return sources{}, badInput("-data %s has no closed-form density or score; -score exact needs one", data)
		}
		src := sources{dim: d.Dim(), score: d, density: d}
		if c, ok := ds.Dist.(sampler.CondScoreSource); ok {
			src.cond = c
		}
		return src, nil
	}
	return sources{}, badInput("-score %q: want model or exact", exact)
}

// run draws the chains' starts and moves them with the sampler: the SDE
// samplers start from the SDE's prior, the others uniformly on the -init
// box.
func (j *sampleJob) run(e *env) (ad.Mat, error) {
	x := ad.NewMat(j.n, j.src.dim)
	if j.kind.timed {
		sde.SamplePrior(j.src.sde, x, j.seed)
	} else {
		rng := repro.New(j.seed, repro.Start, 0, 0)
		for i := range x.Data {
			u := rng.Float64()
			x.Data[i] = j.init * math.FMA(2, u, -1) // 2u − 1: uniform on [−1, 1), exact either way
		}
	}
	if err := j.kind.run(j, e, x); err != nil {
		return x, asFlagError(err)
	}
	for i, v := range x.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return x, fmt.Errorf("sample %d diverged to %v: lower -step", i/x.Cols+1, v)
		}
	}
	return x, nil
}

// mcmcReport prints an MCMC run's acceptance rate and smallest effective
// sample size.
func (j *sampleJob) mcmcReport(e *env, tr *sampler.Trace, st sampler.Stats, err error) error {
	if err != nil {
		return err
	}
	lo := math.Inf(1)
	for _, v := range tr.ESS() {
		lo = math.Min(lo, v)
	}
	fmt.Fprintf(e.stderr, "%s: acceptance rate %.3f, smallest effective sample size %.0f of %d draws\n", j.who, st.AcceptRate, lo, j.steps*j.n)
	return nil
}

// write saves the samples in the data's coordinates, and their plot with
// -png.
func (j *sampleJob) write(e *env, x ad.Mat) error {
	j.src.info.Unstandardize(x.Data)
	if err := dataio.Write(e.outPath(j.out), x); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d samples written to %s\n", x.Rows, j.out)
	if j.png == "" {
		return nil
	}
	fig := &plot.Figure{Panels: []plot.Panel{{Title: j.who + " samples", XLabel: "x1", YLabel: "x2", Equal: true,
		Scatters: []plot.Scatter{{Name: "samples", Points: x, Color: color.NRGBA{R: 230, G: 110, B: 20, A: 160}}}}}}
	if err := fig.Save(e.outPath(j.png)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "plot written to %s\n", j.png)
	return nil
}

// checkSDEFlags refuses the SDE samplers' flags with the other samplers,
// and the flags of the others with an SDE sampler, before any work.
func (j *sampleJob) checkSDEFlags(set map[string]bool, exact bool) error {
	used := map[string]bool{}
	for _, n := range sdeSampleFlags[j.who] {
		used[n] = true
	}
	if j.who == "ode" && j.solver == "rk4" {
		used["rtol"], used["atol"] = false, false
	}
	for _, k := range slices.Sorted(maps.Keys(sdeSampleFlags)) {
		for _, n := range sdeSampleFlags[k] {
			if set[n] && !used[n] {
				return badInput("-%s: -sampler %s does not use it", n, j.who)
			}
		}
	}
	for _, n := range sdeFlagNames {
		switch {
		case set[n] && !j.kind.timed:
			return badInput("-%s: only the SDE samplers (em, reverse-diffusion, ancestral, pc, ode) have an SDE", n)
		case set[n] && !exact:
			return badInput("-%s: a model file records its SDE; the SDE flags are for -score exact", n)
		}
	}
	if !j.kind.timed {
		return nil
	}
	for _, n := range []string{"step", "init", "sigmas"} {
		if set[n] {
			return badInput("-%s: -sampler %s does not use it (it starts from the SDE's prior)", n, j.who)
		}
	}
	if j.who == "ode" && j.solver != "rk4" && set["steps"] {
		return badInput("-steps: -sampler ode -solver %s chooses its own steps (-rtol, -atol); -solver rk4 takes -steps", j.solver)
	}
	if !set["steps"] {
		j.steps = defaultSDESteps
		if j.who == "ode" {
			j.steps = defaultODESteps
		}
	}
	if set["eps"] {
		if err := checkEps("-eps", j.eps); err != nil {
			return err
		}
	}
	switch {
	case j.steps < 1:
		return badInput("-steps %d: want at least 1", j.steps)
	case j.who == "ode" && j.solver != "rk4" && j.solver != "rk45":
		return badInput("-solver %q: want rk45 or rk4", j.solver)
	case j.who == "pc" && !(j.snr > 0 && !math.IsInf(j.snr, 0)):
		return badInput("-snr %v: want a finite ratio > 0", j.snr)
	case j.who == "pc" && (j.corrSteps < 0 || j.corrSteps > maxSampleSteps):
		return badInput("-corrector-steps %d: want 0 to %d", j.corrSteps, maxSampleSteps)
	case j.who == "pc" && !slices.Contains(sdeStepNames(sampler.Predictors()), j.predictor):
		return badInput("-predictor %q: want %s", j.predictor, strings.Join(sdeStepNames(sampler.Predictors()), ", "))
	case j.who == "pc" && !slices.Contains(sdeStepNames(sampler.Correctors()), j.corrector):
		return badInput("-corrector %q: want %s", j.corrector, strings.Join(sdeStepNames(sampler.Correctors()), ", "))
	case j.who == "pc" && j.corrector == "none" && set["corrector-steps"] && j.corrSteps > 0:
		return badInput("-corrector-steps %d: -corrector none takes no steps", j.corrSteps)
	case j.who == "pc" && j.predictor == "none" && (j.corrector == "none" || j.corrSteps == 0):
		return badInput("-predictor none: want a predictor, or -corrector langevin with -corrector-steps ≥ 1")
	case j.who == "pc" && j.corrector == "none" && set["snr"]:
		return badInput("-snr: -corrector none does not use it")
	case j.who == "ode" && j.solver == "rk45":
		return firstError(checkTol("-rtol", j.rtol), checkTol("-atol", j.atol))
	}
	return nil
}

// timedSource sets the time-conditional score of an SDE sampler: the
// model's, or with -score exact the -data mixture's through the SDE of the
// flags. It then checks the sampler's settings against the SDE by a run
// on no samples, before any work.
func (j *sampleJob) timedSource(e *env, set map[string]bool, sf sdeFlags, exact bool, data, modelPath string) error {
	if exact {
		s, err := sf.parse(set)
		if err != nil {
			return err
		}
		note, err := exactTimeSource(&j.src, data, s, j.seed)
		if err != nil {
			return err
		}
		if err := j.dryRun(e); err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintln(e.stderr, note)
		}
		return nil
	} else if j.src.time == nil {
		return badInput("-sampler %s samples a score SDE: it needs an sde model (train -model sde:W,W,...) or -score exact; -model %s is not one", j.who, modelPath)
	}
	return j.dryRun(e)
}

// dryRun checks the SDE sampler's settings against its SDE (the sampler's
// own checks, as a run on no samples does them).
func (j *sampleJob) dryRun(e *env) error {
	if j.who == "ancestral" {
		if _, ok := j.src.sde.(sde.Ancestral); !ok {
			return badInput("-sampler ancestral: the %s SDE has no ancestral step (ve and vp have)", j.src.sde.Kind())
		}
	}
	if j.who == "pc" && j.corrector == "none" {
		j.corrSteps = 0
	}
	return asFlagError(j.kind.run(j, e, ad.NewMat(0, j.src.dim)))
}
