package main

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
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
	fs := newFlags("sample", "sample (-model FILE | -score exact -data NAME) [-sampler annealed] [-n 1000] [-out samples.csv]", e.stdout)
	modelPath := fs.String("model", "", "model `file` to sample from")
	act := fs.String("act", "", "activation, for model files that do not record it")
	kind := fs.String("kind", "", "model kind, for files that do not record it: energy, score or ncsn")
	exact := fs.String("score", "model", "score source: model, or exact (the -data dataset's true score)")
	data := fs.String("data", "8gaussians", "built-in dataset, with -score exact")
	kindOf := fs.String("sampler", "annealed", "sampler: langevin, annealed, mala or hmc (the last two need a density)")
	n := fs.Int("n", 1000, "number of samples (independent chains)")
	steps := fs.Int("steps", 100, "steps: per level for annealed Langevin, in all for langevin; draws after warm-up for mala and hmc")
	step := fs.Float64("step", 0.01, "step size ε (annealed: at the last level; mala, hmc: initial, then adapted)")
	sigmas := fs.String("sigmas", "", "annealed levels hi:lo:L (default 4:1:10, tempering, for models that are not noise-conditional; 1:0.01:10 for ncsn models)")
	init := fs.Float64("init", 6, "chains start uniform on [−init, init]^D")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "samples.csv", "samples `file` (.csv or .npy)")
	pngPath := fs.String("png", "", "also draw the samples (2-D only) to this .png or .svg `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	var src sources
	switch *exact {
	case "model":
		m, err := loadModel(*modelPath, *act, *kind)
		if err != nil {
			return err
		}
		src = modelSources(m)
	case "exact":
		ds, err := sampler.LookupDataset(*data)
		if err != nil {
			return badInput("-data %q: not a built-in dataset (see 'ssm datasets')", *data)
		}
		d, ok := ds.Dist.(sampler.LogDensity)
		if !ok {
			return badInput("-data %s has no closed-form density or score; -score exact needs one", *data)
		}
		src = sources{dim: d.Dim(), score: d, density: d}
		if c, ok := ds.Dist.(sampler.CondScoreSource); ok {
			src.cond = c
		}
	default:
		return badInput("-score %q: want model or exact", *exact)
	}
	if *n < 2 || *steps < 0 || !(*step > 0) || !(*init > 0) {
		return badInput("-n ≥ 2, -steps ≥ 0, -step > 0 and -init > 0 are required")
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".csv" && ext != ".npy" {
		return badInput("-out %s: want a .csv or .npy file", *out)
	}
	rng := repro.New(*seed, repro.Start, 0, 0)
	x := ad.NewMat(*n, src.dim)
	for i := range x.Data {
		x.Data[i] = *init * (2*rng.Float64() - 1)
	}
	switch *kindOf {
	case "langevin":
		if src.score == nil {
			return badInput("-sampler langevin needs a score; this model is noise-conditional: use -sampler annealed")
		}
		if err := (sampler.Langevin{Step: *step, Steps: *steps, Seed: *seed}).Run(src.score, x); err != nil {
			return asFlagError(err)
		}
	case "annealed":
		spec := *sigmas
		cond := src.cond
		if spec == "" {
			spec = "4:1:10"
			if cond != nil && *exact == "model" {
				spec = "1:0.01:10"
			}
		}
		levels, err := parseSigmas(spec)
		if err != nil {
			return err
		}
		if cond == nil || *exact == "exact" && *sigmas == "" {
			cond = sampler.Tempered(src.score, levels[len(levels)-1])
		}
		if err := (sampler.AnnealedLangevin{Sigmas: levels, Step: *step, Steps: *steps, Seed: *seed}).Run(cond, x); err != nil {
			return asFlagError(err)
		}
	case "mala", "hmc":
		if src.density == nil {
			return badInput("-sampler %s needs a density: an energy model or -score exact", *kindOf)
		}
		var tr *sampler.Trace
		var st sampler.Stats
		var err error
		if *kindOf == "mala" {
			tr, st, err = sampler.MALA{Step: *step, Warmup: *steps, Draws: *steps, Seed: *seed}.Run(src.density, x)
		} else {
			tr, st, err = sampler.HMC{Step: *step, Leapfrog: 10, Warmup: *steps, Draws: *steps, Seed: *seed}.Run(src.density, x)
		}
		if err != nil {
			return asFlagError(err)
		}
		ess := tr.ESS()
		lo := math.Inf(1)
		for _, v := range ess {
			lo = math.Min(lo, v)
		}
		fmt.Fprintf(e.stderr, "%s: acceptance rate %.3f, smallest effective sample size %.0f of %d draws\n", *kindOf, st.AcceptRate, lo, *steps**n)
	default:
		return badInput("-sampler %q: want langevin, annealed, mala or hmc", *kindOf)
	}
	for i, v := range x.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sample %d diverged to %v: lower -step", i/x.Cols+1, v)
		}
	}
	if err := dataio.Write(e.outPath(*out), x); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d samples written to %s\n", x.Rows, *out)
	if *pngPath != "" {
		if src.dim != 2 {
			return badInput("-png: the samples are %d-dimensional; plots are for 2-D", src.dim)
		}
		fig := &plot.Figure{Panels: []plot.Panel{{Title: *kindOf + " samples", XLabel: "x1", YLabel: "x2", Equal: true,
			Scatters: []plot.Scatter{{Name: "samples", Points: x, Color: color.NRGBA{R: 230, G: 110, B: 20, A: 160}}}}}}
		if err := fig.Save(e.outPath(*pngPath)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "plot written to %s\n", *pngPath)
	}
	return nil
}
