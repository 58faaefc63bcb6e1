package main

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
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
	info    nn.ModelInfo            // what a model file records of its data
}

func modelSources(m nn.Model) sources {
	s := sources{dim: m.Dim()}
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
	run      func(j *sampleJob, e *env, x ad.Mat) error
}

// samplerKinds is the table of -sampler values.
var samplerKinds = []samplerKind{
	{"langevin", true, false, false, func(j *sampleJob, e *env, x ad.Mat) error {
		return sampler.Langevin{Step: j.step, Steps: j.steps, Seed: j.seed}.Run(j.src.score, x)
	}},
	{"annealed", false, false, true, func(j *sampleJob, e *env, x ad.Mat) error {
		return sampler.AnnealedLangevin{Sigmas: j.levels, Step: j.step, Steps: j.steps, Seed: j.seed}.Run(j.cond, x)
	}},
	{"mala", false, true, false, func(j *sampleJob, e *env, x ad.Mat) error {
		tr, st, err := sampler.MALA{Step: j.step, Warmup: j.steps, Draws: j.steps, Seed: j.seed}.Run(j.src.density, x)
		return j.mcmcReport(e, tr, st, err)
	}},
	{"hmc", false, true, false, func(j *sampleJob, e *env, x ad.Mat) error {
		tr, st, err := sampler.HMC{Step: j.step, Leapfrog: 10, Warmup: j.steps, Draws: j.steps, Seed: j.seed}.Run(j.src.density, x)
		return j.mcmcReport(e, tr, st, err)
	}},
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
	kindOf := fs.String("sampler", "annealed", "sampler: "+strings.Join(names, ", ")+" (the last two need a density)")
	j := &sampleJob{}
	fs.IntVar(&j.n, "n", 1000, "number of samples (independent chains)")
	fs.IntVar(&j.steps, "steps", 100, "steps: per level for annealed Langevin, in all for langevin; draws after warm-up for mala and hmc")
	fs.Float64Var(&j.step, "step", 0.01, "step size ε (annealed: at the last level, default 0.1·σ_L² for noise-conditional models; mala, hmc: initial, then adapted)")
	sigmas := fs.String("sigmas", "", "annealed levels hi:lo:L (default 4:1:10, tempering, for models that are not noise-conditional; 1:0.01:10 for ncsn models)")
	fs.Float64Var(&j.init, "init", 6, "chains start uniform on [−init, init]^D (in the model's coordinates when it was trained on standardised data)")
	fs.Uint64Var(&j.seed, "seed", 1, "random seed")
	fs.StringVar(&j.out, "out", "samples.csv", "samples `file` (.csv or .npy)")
	fs.StringVar(&j.png, "png", "", "also draw the samples (2-D only) to this .png or .svg `file`")
	if err := parse(fs, args); err != nil {
		return nil, err
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
	if j.n > maxSampleValues/j.src.dim {
		return nil, badInput("-n %d: at most %d samples of dimension %d", j.n, maxSampleValues/j.src.dim, j.src.dim)
	}
	if j.png != "" && j.src.dim != 2 {
		return nil, badInput("-png: the samples are %d-dimensional; plots are for 2-D", j.src.dim)
	}
	switch {
	case j.kind.density && j.src.density == nil:
		return nil, badInput("-sampler %s needs a density: an energy model or -score exact", j.who)
	case j.kind.score && j.src.score == nil:
		return nil, badInput("-sampler %s needs a score; this model is noise-conditional: use -sampler annealed", j.who)
	}
	if j.kind.annealed {
		if err := j.schedule(e, *sigmas, *exact == "exact", setFlags(fs)["step"], *modelPath); err != nil {
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

// run draws the chains' starts and moves them with the sampler.
func (j *sampleJob) run(e *env) (ad.Mat, error) {
	rng := repro.New(j.seed, repro.Start, 0, 0)
	x := ad.NewMat(j.n, j.src.dim)
	for i := range x.Data {
		u := rng.Float64()
		x.Data[i] = j.init * math.FMA(2, u, -1) // 2u − 1: uniform on [−1, 1), exact either way
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
