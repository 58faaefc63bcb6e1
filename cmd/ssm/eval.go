package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"scorematch/ad/repro"
	"scorematch/sampler"
	"scorematch/ssm"
)

func init() {
	register("eval", "held-out objective values, exact SM loss, log-likelihood, Fisher divergence", runEval)
}

func runEval(ctx context.Context, e *env, args []string) error {
	fs := newFlags("eval", "eval -model FILE [-data NAME|FILE] [-objectives ssm-vr,sm] [flags]", e.stdout)
	modelPath := fs.String("model", "", "model `file`")
	act := fs.String("act", "", "activation, for model files that do not record it")
	kind := fs.String("kind", "", "model kind, for files that do not record it")
	data := fs.String("data", "8gaussians", "held-out data: a built-in dataset (fresh samples) or a `file`")
	n := fs.Int("n", 4000, "samples to draw from a built-in dataset")
	seed := fs.Uint64("seed", 2, "random seed (use one other than training's for fresh samples)")
	objectives := fs.String("objectives", "", "comma-separated objectives to evaluate (default: the model kind's sliced and exact ones)")
	sigma := fs.Float64("sigma", 0.1, "DSM noise level")
	aisChains := fs.Int("ais-chains", 256, "AIS chains for log Z when D > 2")
	aisTemps := fs.Int("ais-temps", 500, "AIS temperatures")
	grid := fs.Int("grid", 400, "grid points per axis for log Z when D ≤ 2")
	if err := parse(fs, args); err != nil {
		return err
	}
	model, err := loadModel(*modelPath, *act, *kind)
	if err != nil {
		return err
	}
	x, ds, err := loadData("data", *data, *n, *seed)
	if err != nil {
		return err
	}
	if err := checkDim("-data "+*data, x, model); err != nil {
		return err
	}
	names := strings.Split(*objectives, ",")
	if *objectives == "" {
		names = fitObjectives(model)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "held-out rows\t%d\n", x.Rows)
	for _, name := range names {
		opts := ssm.Options{Sigma: *sigma}
		if reads(strings.TrimSpace(name), ssm.ReadsSigmas) {
			opts.Sigmas = sampler.GeometricSigmas(1, 0.01, 10)
		}
		obj, err := ssm.New(strings.TrimSpace(name), model, opts)
		if err != nil {
			return badInput("-objectives: %v", err)
		}
		b := &ssm.Batch{X: x}
		b.Draw(obj, repro.NewStream(), *seed, repro.Evaluation, 0, 0)
		v := obj.NewWorker().Eval(b, false) / float64(x.Rows)
		label := name
		if name == "sm" {
			label = "sm (exact score matching)"
		}
		fmt.Fprintf(tw, "%s loss\t%.6g\n", label, v)
	}
	src := modelSources(model)
	if ds != nil {
		if truth, ok := ds.Dist.(sampler.LogDensity); ok {
			ts := sampler.EvalScore(truth, x)
			opt := 0.0
			for _, v := range ts.Data {
				opt -= 0.5 * v * v / float64(x.Rows)
			}
			fmt.Fprintf(tw, "sm optimum (true density)\t%.6g\n", opt)
			if src.score != nil {
				fmt.Fprintf(tw, "Fisher divergence\t%.6g\n", sampler.FisherDivergence(sampler.EvalScore(src.score, x), ts))
			}
			fmt.Fprintf(tw, "true log-likelihood\t%.6g\n", sampler.LogLikelihood(truth, x, 0))
		}
	}
	if src.density != nil {
		var logZ, se float64
		method := ""
		if x.Cols <= 2 {
			lo, hi := box(x)
			if x.Cols == 1 {
				lo, hi = lo[:1], hi[:1]
			}
			if logZ, err = sampler.GridLogZ(src.density, lo, hi, *grid); err != nil {
				return err
			}
			method = fmt.Sprintf("grid quadrature, %d points per axis over the data's box", *grid)
		} else {
			scale := 0.0
			for _, v := range x.Data {
				scale = math.Max(scale, math.Abs(v))
			}
			res, err := sampler.AIS{BaseScale: math.Max(1, scale/2), Temps: *aisTemps, Step: 0.1, Leapfrog: 5, Chains: *aisChains, Seed: *seed}.Run(src.density)
			if err != nil {
				return asFlagError(err)
			}
			logZ, se = res.LogZ, res.StdErr
			method = fmt.Sprintf("AIS, %d chains × %d temperatures, ± %.3g", *aisChains, *aisTemps, se)
		}
		fmt.Fprintf(tw, "log Z\t%.6g\t(%s)\n", logZ, method)
		fmt.Fprintf(tw, "log-likelihood\t%.6g\n", sampler.LogLikelihood(src.density, x, logZ))
	}
	return tw.Flush()
}
