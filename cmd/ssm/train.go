package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"scorematch/ad"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/nn/atomicfile"
	"scorematch/ssm"
)

func init() {
	register("train", "fit a model to data by score matching", runTrain)
}

// trainFlags are the flags train shares with the demo.
type trainFlags struct {
	data, model, act, kind, objective, projection, sigmas, optimizer string
	out, report, checkpoint                                          string
	n, m, batch, steps, epochs, patience, evalEvery, chunks          int
	sigma, lr, momentum, val, clip                                   float64
	seed                                                             uint64
	standardize, resume                                              bool
}

func runTrain(ctx context.Context, e *env, args []string) error {
	fs := newFlags("train", "train [-data NAME|FILE] [-model mlp:128,128] [-objective ssm-vr] [flags]", e.stdout)
	var f trainFlags
	fs.StringVar(&f.data, "data", "8gaussians", "built-in dataset (see 'ssm datasets') or a .csv, .npy or IDX `file`")
	fs.IntVar(&f.n, "n", 10000, "samples to draw from a built-in dataset")
	fs.BoolVar(&f.standardize, "standardize", false, "standardise each column of the data to mean 0, std 1 (recorded in the report)")
	fs.StringVar(&f.model, "model", "mlp:128,128", "model: mlp:W,W,... (hidden widths), ncsn:W,W,... or gaussian")
	fs.StringVar(&f.act, "act", nn.DefaultActivation, "activation: softplus, tanh, silu, elu, sigmoid (relu for score nets only)")
	fs.StringVar(&f.kind, "kind", nn.KindEnergy, "mlp kind: energy (E: R^D→R) or score (h: R^D→R^D)")
	objective := objectiveFlag(fs, "ssm-vr", 0)
	fs.StringVar(&f.projection, "projection", "rademacher", "projection: rademacher, gaussian or sphere")
	fs.IntVar(&f.m, "m", 1, "projections per sample")
	fs.Float64Var(&f.sigma, "sigma", 0.1, "DSM noise level σ")
	fs.StringVar(&f.sigmas, "sigmas", "1:0.01:10", "annealed noise schedule hi:lo:levels (ncsn objectives)")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "optimiser: adam, sgd or rmsprop")
	fs.Float64Var(&f.lr, "lr", 1e-3, "learning rate")
	fs.Float64Var(&f.momentum, "momentum", 0, "momentum (sgd, rmsprop)")
	fs.Float64Var(&f.clip, "clip", 0, "clip the gradient's global norm (0: off)")
	fs.IntVar(&f.batch, "batch", 128, "batch size")
	fs.IntVar(&f.steps, "steps", 0, "optimiser steps (0: use -epochs)")
	fs.IntVar(&f.epochs, "epochs", 10, "passes over the training data (when -steps is 0)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: same seed, same bits")
	fs.Float64Var(&f.val, "val", 0.1, "fraction of the data held out for validation")
	fs.IntVar(&f.patience, "patience", 0, "stop after this many validations without improvement (0: never)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "steps between validations (0: once per epoch)")
	fs.IntVar(&f.chunks, "chunks", 0, "parallel chunks per batch; 0: one per 64 rows (results depend on it, not on the core count)")
	fs.StringVar(&f.out, "out", "model.safetensors", "model `file` to write")
	fs.StringVar(&f.report, "report", "", "write a JSON report with the loss history to this `file`")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file`, written atomically during training")
	fs.BoolVar(&f.resume, "resume", false, "resume from -checkpoint if it exists")
	if err := parse(fs, args); err != nil {
		return err
	}
	f.objective = *objective
	run, err := f.prepare(e)
	if err != nil {
		return err
	}
	res, err := run.train(ctx, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "trained %s with %s for %d steps (%s): final loss %.4f", f.model, f.objective, res.Steps, res.Stopped, res.Loss[len(res.Loss)-1])
	if res.BestStep >= 0 {
		fmt.Fprintf(e.stdout, ", best validation loss %.4f at step %d", res.BestVal, res.BestStep)
	}
	fmt.Fprintf(e.stdout, "\nmodel written to %s\n", f.out)
	return nil
}

// trainRun is a prepared training run.
type trainRun struct {
	f           *trainFlags
	x           ad.Mat
	model       nn.Model
	obj         ssm.Objective
	cfg         ssm.Config
	mean, std   []float64
	datasetName string
}

// prepare validates the flags and loads the data and model.
func (f *trainFlags) prepare(e *env) (*trainRun, error) {
	x, ds, err := loadData("data", f.data, f.n, f.seed)
	if err != nil {
		return nil, err
	}
	r := &trainRun{f: f, x: x}
	if ds != nil {
		r.datasetName = ds.Name
	}
	if f.standardize {
		r.mean, r.std = dataio.Standardize(x)
	}
	spec, err := parseModelSpec(f.model, f.act, f.kind)
	if err != nil {
		return nil, err
	}
	if r.model, err = spec.build(x.Cols, f.seed); err != nil {
		return nil, err
	}
	proj, err := ssm.ParseProjection(f.projection)
	if err != nil {
		return nil, badInput("-projection: %v", err)
	}
	opts := ssm.Options{Projection: proj, M: f.m, Sigma: f.sigma}
	if reads(f.objective, ssm.ReadsSigmas) {
		if opts.Sigmas, err = parseSigmas(f.sigmas); err != nil {
			return nil, err
		}
	}
	if f.m < 1 {
		return nil, badInput("-m %d: want at least 1 projection", f.m)
	}
	if r.obj, err = ssm.New(f.objective, r.model, opts); err != nil {
		return nil, objectiveError(err)
	}
	opt, err := newOptimizer(f.optimizer, f.lr, f.momentum)
	if err != nil {
		return nil, err
	}
	r.cfg = ssm.Config{BatchSize: f.batch, Steps: f.steps, Epochs: f.epochs, Seed: f.seed, Chunks: f.chunks,
		ValFrac: f.val, EvalEvery: f.evalEvery, Patience: f.patience, Optimizer: opt, ClipNorm: f.clip,
		Checkpoint: e.outPath(f.checkpoint), Resume: f.resume}
	switch { // where ssm.Config reads 0 as "the default", the flags do not
	case f.batch < 1:
		return nil, badInput("-batch %d: want at least 1", f.batch)
	case f.steps == 0 && f.epochs == 0:
		return nil, badInput("-epochs 0: want at least 1 (or -steps)")
	}
	if err := r.cfg.Validate(); err != nil {
		return nil, asFlagError(err)
	}
	if f.resume && f.checkpoint == "" {
		return nil, badInput("-resume needs -checkpoint")
	}
	if dir := filepath.Dir(e.outPath(f.out)); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, badInput("-out %s: directory %s does not exist", f.out, dir)
		}
	}
	return r, nil
}

// train runs the training and writes the model (and report).
func (r *trainRun) train(ctx context.Context, e *env) (*ssm.Result, error) {
	steps := r.f.steps
	if steps == 0 {
		train := r.x.Rows - int(math.Round(r.f.val*float64(r.x.Rows)))
		bs := min(r.f.batch, max(1, train))
		steps = r.f.epochs * ((train + bs - 1) / bs)
	}
	p := newProgress(e, steps)
	r.cfg.Progress = p.step
	res, err := ssm.Train(ctx, r.obj, r.x, r.cfg)
	if err != nil {
		p.done()
		if errors.Is(err, context.Canceled) {
			if r.cfg.Checkpoint != "" {
				fmt.Fprintf(e.stderr, "checkpoint written to %s at step %d; rerun with -resume to continue\n", r.f.checkpoint, res.Steps)
			}
			return res, errInterrupted
		}
		if errors.Is(err, ssm.ErrNonFinite) {
			return res, fmt.Errorf("%w (lower -lr, or add -clip)", err)
		}
		return res, asInputIf(err)
	}
	if err := nn.Save(e.outPath(r.f.out), r.model); err != nil {
		return res, err
	}
	if r.f.report != "" {
		if err := writeJSON(e.outPath(r.f.report), r.reportOf(res)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// asInputIf marks data errors from the trainer (rows, columns) as input errors.
func asInputIf(err error) error {
	msg := err.Error()
	for _, s := range []string{"data row", "columns", "no training rows"} {
		if strings.Contains(msg, s) {
			return inputError{err}
		}
	}
	return err
}

// reportOf returns the training part of a report.
func (r *trainRun) reportOf(res *ssm.Result) map[string]any {
	rep := map[string]any{
		"data": r.f.data, "rows": r.x.Rows, "dim": r.x.Cols, "model": r.f.model, "activation": r.f.act,
		"kind": r.f.kind, "objective": r.f.objective, "projection": r.f.projection, "m": r.f.m,
		"optimizer": r.f.optimizer, "lr": r.f.lr, "batch": r.f.batch, "seed": r.f.seed,
		"steps": res.Steps, "stopped": res.Stopped, "loss": finite(res.Loss),
		"val_steps": res.ValSteps, "val_loss": finite(res.ValLoss), "best_step": res.BestStep,
	}
	if res.BestStep >= 0 {
		rep["best_val"] = res.BestVal
	}
	if r.mean != nil {
		rep["standardize"] = map[string]any{"mean": r.mean, "std": r.std}
	}
	return rep
}

// finite replaces non-finite values (JSON cannot hold them) by nil.
func finite(xs []float64) []any {
	out := make([]any, len(xs))
	for i, v := range xs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[i] = v
		}
	}
	return out
}

// writeJSON writes v as indented JSON atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}
