package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm"
)

func init() {
	register("eval", "held-out objective values, exact SM loss, log-likelihood, Fisher divergence", runEval)
}

func runEval(ctx context.Context, e *env, args []string) error {
	f, err := parseEval(e, args)
	if err != nil {
		return err
	}
	job, err := f.prepare()
	if err != nil {
		return err
	}
	lines, err := job.run()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	return tw.Flush()
}

// Bounds of eval's flags: the work and memory they ask for.
const (
	maxEvalRows  = 10_000_000 // -n
	maxGrid      = 4096       // -grid: points per axis (4096² for D = 2)
	maxAISChains = 1 << 20    // -ais-chains
	maxAISTemps  = 1 << 20    // -ais-temps
)

// evalFlags are the settings of ssm eval.
type evalFlags struct {
	modelPath, act, kind, data, objectives string
	n, aisChains, aisTemps, grid           int
	seed                                   uint64
	sigma                                  float64
}

func parseEval(e *env, args []string) (*evalFlags, error) {
	fs := newFlags("eval", "eval -model FILE [-data NAME|FILE] [-objectives ssm-vr,sm] [flags]", e.stdout)
	f := &evalFlags{}
	fs.StringVar(&f.modelPath, "model", "", "model `file`")
	fs.StringVar(&f.act, "act", "", "activation, for model files that do not record it")
	fs.StringVar(&f.kind, "kind", "", "model kind, for files that do not record it")
	fs.StringVar(&f.data, "data", "8gaussians", "held-out data: a built-in dataset (fresh samples) or a `file`")
	fs.IntVar(&f.n, "n", 4000, "samples to draw from a built-in dataset")
	fs.Uint64Var(&f.seed, "seed", 2, "random seed (use one other than training's for fresh samples)")
	fs.StringVar(&f.objectives, "objectives", "", "comma-separated objectives to evaluate (default: those that measure the fit of the model's kind)")
	fs.Float64Var(&f.sigma, "sigma", 0.1, "DSM noise level")
	fs.IntVar(&f.aisChains, "ais-chains", 256, "AIS chains for log Z when D > 2")
	fs.IntVar(&f.aisTemps, "ais-temps", 500, "AIS temperatures")
	fs.IntVar(&f.grid, "grid", 400, "grid points per axis for log Z when D ≤ 2")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		flag      string
		v, lo, hi int
	}{
		{"-n", f.n, 1, maxEvalRows},
		{"-grid", f.grid, 2, maxGrid},
		{"-ais-chains", f.aisChains, 2, maxAISChains},
		{"-ais-temps", f.aisTemps, 1, maxAISTemps},
	} {
		if c.v < c.lo || c.v > c.hi {
			return nil, badInput("%s %d: want %d to %d", c.flag, c.v, c.lo, c.hi)
		}
	}
	return f, nil
}

// evalJob is a checked ssm eval: the model, the held-out data and the
// objectives to report.
type evalJob struct {
	f     *evalFlags
	model nn.Model
	x     ad.Mat
	ds    *sampler.Dataset // the built-in dataset, or nil for a file
	objs  []ssm.Objective
}

// prepare loads the model and the data and builds every objective.
func (f *evalFlags) prepare() (*evalJob, error) {
	model, err := loadModel(f.modelPath, f.act, f.kind)
	if err != nil {
		return nil, err
	}
	x, ds, err := loadData("data", f.data, f.n, f.seed)
	if err != nil {
		return nil, err
	}
	if err := checkDim("-data "+f.data, x, model); err != nil {
		return nil, err
	}
	names := strings.Split(f.objectives, ",")
	if f.objectives == "" {
		names = fitObjectives(model)
	}
	job := &evalJob{f: f, model: model, x: x, ds: ds}
	for _, name := range names {
		name = strings.TrimSpace(name)
		opts := ssm.Options{Sigma: f.sigma}
		if reads(name, ssm.ReadsSigmas) {
			opts.Sigmas = sampler.GeometricSigmas(1, 0.01, 10)
		}
		obj, err := ssm.New(name, model, opts)
		if err != nil {
			if fe := asFlagError(err); fe != err {
				return nil, fe
			}
			return nil, badInput("-objectives: %v", err)
		}
		job.objs = append(job.objs, obj)
	}
	return job, nil
}

// run computes the report's lines (tab-separated columns).
func (j *evalJob) run() ([]string, error) {
	x := j.x
	lines := []string{fmt.Sprintf("held-out rows\t%d", x.Rows)}
	for _, obj := range j.objs {
		b := &ssm.Batch{X: x}
		b.Draw(obj, repro.NewStream(), j.f.seed, repro.Evaluation, 0, 0)
		v := obj.NewWorker().Eval(b, false) / float64(x.Rows)
		if err := j.finite(obj.Name()+" loss", v); err != nil {
			return nil, err
		}
		label := obj.Name()
		if spec, _ := ssm.Lookup(label); spec.Reads&ssm.ReadsGroup != 0 {
			label += " (exact score matching)"
		}
		lines = append(lines, fmt.Sprintf("%s loss\t%.6g", label, v))
	}
	src := modelSources(j.model)
	if j.ds != nil {
		if truth, ok := j.ds.Dist.(sampler.LogDensity); ok {
			ts := sampler.EvalScore(truth, x)
			opt := 0.0
			for _, v := range ts.Data {
				opt -= 0.5 * v * v / float64(x.Rows)
			}
			lines = append(lines, fmt.Sprintf("sm optimum (true density)\t%.6g", opt))
			if src.score != nil {
				fd := sampler.FisherDivergence(sampler.EvalScore(src.score, x), ts)
				if err := j.finite("the Fisher divergence", fd); err != nil {
					return nil, err
				}
				lines = append(lines, fmt.Sprintf("Fisher divergence\t%.6g", fd))
			}
			lines = append(lines, fmt.Sprintf("true log-likelihood\t%.6g", sampler.LogLikelihood(truth, x, 0)))
		}
	}
	if src.density == nil {
		return lines, nil
	}
	logZ, method, err := j.logZ(src.density)
	if err != nil {
		return nil, err
	}
	ll := sampler.LogLikelihood(src.density, x, logZ)
	if err := firstError(j.finite("log Z", logZ), j.finite("the log-likelihood", ll)); err != nil {
		return nil, err
	}
	return append(lines,
		fmt.Sprintf("log Z\t%.6g\t(%s)", logZ, method),
		fmt.Sprintf("log-likelihood\t%.6g", ll)), nil
}

// finite reports a non-finite result as a failure naming the model: its
// weights (or the data) overflow.
func (j *evalJob) finite(what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v: the model %s overflows on this data (weights too large, or data far from where it was trained)", what, v, j.f.modelPath)
	}
	return nil
}

// logZ estimates the model's log normaliser: by quadrature over the data's
// box for D ≤ 2, by AIS otherwise.
func (j *evalJob) logZ(d sampler.LogDensity) (float64, string, error) {
	x := j.x
	if x.Cols <= 2 {
		lo, hi := box(x)
		logZ, err := sampler.GridLogZ(d, lo, hi, j.f.grid)
		return logZ, fmt.Sprintf("grid quadrature, %d points per axis over the data's box", j.f.grid), err
	}
	scale := 0.0
	for _, v := range x.Data {
		scale = math.Max(scale, math.Abs(v))
	}
	ais := sampler.AIS{BaseScale: math.Max(1, scale/2), Temps: j.f.aisTemps, Step: 0.1, Leapfrog: 5, Chains: j.f.aisChains, Seed: j.f.seed}
	res, err := ais.Run(d)
	if err != nil {
		return 0, "", asFlagError(err)
	}
	return res.LogZ, fmt.Sprintf("AIS, %d chains × %d temperatures, ± %.3g", j.f.aisChains, j.f.aisTemps, res.StdErr), nil
}
