package main

import (
	"context"
	"fmt"
	"slices"

	"scorematch/ad"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/ssm"
)

func init() {
	register("gradcheck", "check a model's objective gradients against finite differences", runGradcheck)
}

func runGradcheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags("gradcheck", "gradcheck [-model FILE | -spec mlp:16,16] [-objective ssm] [flags]", e.stdout)
	modelPath := fs.String("model", "", "model `file` (default: a fresh model built from -spec)")
	spec := fs.String("spec", "mlp:16,16", "model to build when -model is not given")
	act := fs.String("act", nn.DefaultActivation, "activation")
	kind := fs.String("kind", nn.KindEnergy, "model kind")
	dim := fs.Int("dim", 4, "dimension of a built model")
	data := fs.String("data", "", "data `file` or dataset (default: standard normal rows)")
	rows := fs.Int("n", 8, "rows to check on")
	objective := objectiveFlag(fs, "ssm", 0)
	projection := fs.String("projection", "rademacher", "projection")
	m := fs.Int("m", 1, "projections per sample")
	sigma := fs.Float64("sigma", 0.1, "DSM noise level")
	h := fs.Float64("step", fd.DefaultStep, "relative finite-difference step")
	tol := fs.Float64("tol", 1e-6, "fail (exit 1) above this relative error")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	var model nn.Model
	var err error
	if *modelPath != "" {
		if model, err = loadModel(*modelPath, *act, *kind); err != nil {
			return err
		}
	} else {
		ms, err := parseModelSpec(*spec, *act, *kind)
		if err != nil {
			return err
		}
		if model, err = ms.build(*dim, *seed); err != nil {
			return err
		}
	}
	var x ad.Mat
	if *data != "" {
		if x, _, err = loadData("data", *data, *rows, *seed); err != nil {
			return err
		}
		x = x.RowRange(0, min(*rows, x.Rows))
	} else {
		rng := repro.New(*seed, repro.Check, 0, 0)
		x = ad.NewMat(*rows, model.Dim())
		for i := range x.Data {
			x.Data[i] = rng.NormFloat64()
		}
	}
	if err := checkDim("the data", x, model); err != nil {
		return err
	}
	proj, err := ssm.ParseProjection(*projection)
	if err != nil {
		return badInput("-projection: %v", err)
	}
	opts := ssm.Options{Projection: proj, M: *m, Sigma: *sigma}
	if reads(*objective, ssm.ReadsSigmas) {
		opts.Sigmas = []float64{1, 0.5, 0.25}
	}
	obj, err := ssm.New(*objective, model, opts)
	if err != nil {
		return objectiveError(err)
	}
	b := &ssm.Batch{X: x}
	b.Draw(obj, repro.NewStream(), *seed, repro.Check, 1, 0)
	w := obj.NewWorker()
	w.Eval(b, true)
	var grads [][]float64 // copied: the numerical evaluations reuse the worker's storage
	for _, g := range w.Grads() {
		grads = append(grads, slices.Clone(g.Data))
	}
	worst := 0.0
	worstName := ""
	for i, p := range model.Params() {
		got := grads[i]
		num := make([]float64, len(got))
		fd.NumGrad(func() float64 { return w.Eval(b, false) }, p.Value.Data, num, *h)
		e2, at := fd.RelErr(got, num, 1e-3)
		fmt.Fprintf(e.stdout, "%-14s %6d values  worst relative error %.2e (at %d)\n", p.Name, len(got), e2, at)
		if e2 > worst {
			worst, worstName = e2, p.Name
		}
	}
	fmt.Fprintf(e.stdout, "worst relative error %.2e in %s (%s, %d rows, step %g)\n", worst, worstName, obj.Name(), x.Rows, *h)
	if worst > *tol {
		return fmt.Errorf("worst relative error %.2e exceeds -tol %g", worst, *tol)
	}
	return nil
}
