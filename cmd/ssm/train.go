package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
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
	sigma, lr, momentum, val, clip, ema                              float64
	lrSchedule                                                       string // "" is constant (the demo's)
	lrFinal                                                          float64
	warmup                                                           int
	seed                                                             uint64
	standardize, resume                                              bool
	set                                                              map[string]bool // the flags given

	// sde models only: the SDE, the objective's weighting and the time
	// embedding.
	sde          sdeFlags
	weighting    string
	fourierScale float64
	fourierDim   int
}

func runTrain(ctx context.Context, e *env, args []string) error {
	f, err := parseTrain(e, args)
	if err != nil {
		return err
	}
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
		fmt.Fprintf(e.stdout, ", best validation loss %.4f at step %d (the weights written)", res.BestVal, res.BestStep)
	}
	fmt.Fprintf(e.stdout, "\nmodel written to %s\n", f.out)
	return nil
}

// parseTrain reads train's flags.
func parseTrain(e *env, args []string) (*trainFlags, error) {
	fs := newFlags("train", "train [-data NAME|FILE] [-model mlp:128,128] [-objective ssm-vr] [flags]", e.stdout)
	f := &trainFlags{}
	fs.StringVar(&f.data, "data", "8gaussians", "built-in dataset (see 'ssm datasets') or a .csv, .npy or IDX `file`")
	fs.IntVar(&f.n, "n", 10000, "samples to draw from a built-in dataset")
	fs.BoolVar(&f.standardize, "standardize", false, "standardise each column of the data to mean 0, std 1 (recorded in the report)")
	fs.StringVar(&f.model, "model", "mlp:128,128", "model: mlp:W,W,... (hidden widths), ncsn:W,W,..., sde:W,W,... (a score SDE's time-conditional net) or gaussian; without -objective, ncsn models train by ncsn and sde models by sde-dsm")
	fs.StringVar(&f.act, "act", nn.DefaultActivation, "activation: "+strings.Join(activationNames, ", ")+" (relu for score nets only)")
	fs.StringVar(&f.kind, "kind", nn.KindEnergy, "mlp kind: energy (E: R^D→R) or score (h: R^D→R^D)")
	objective := objectiveFlag(fs, "ssm-vr", 0)
	f.sde.define(fs, "of an sde model")
	fs.StringVar(&f.weighting, "weighting", "sigma2", "sde objectives' weighting λ(t): sigma2 (the kernel's variance s(t)²) or likelihood (g(t)², the likelihood weighting)")
	fs.Float64Var(&f.fourierScale, "fourier-scale", defaultFourierScale, "sde models: standard deviation of the time embedding's Gaussian Fourier frequencies (the reference's 16 learns low-dimensional data worse in short runs)")
	fs.IntVar(&f.fourierDim, "fourier-dim", nn.DefaultFourierDim, "sde models: number of Fourier frequencies of the time embedding (2× as many features)")
	fs.StringVar(&f.projection, "projection", "rademacher", "projection: rademacher, gaussian or sphere")
	fs.IntVar(&f.m, "m", 1, "projections per sample")
	fs.Float64Var(&f.sigma, "sigma", 0.1, "DSM noise level σ")
	fs.StringVar(&f.sigmas, "sigmas", "1:0.01:10", "annealed noise schedule hi:lo:levels (ncsn objectives)")
	fs.StringVar(&f.optimizer, "optimizer", "adam", "optimiser: adam, sgd or rmsprop")
	fs.Float64Var(&f.lr, "lr", 1e-3, "learning rate")
	fs.StringVar(&f.lrSchedule, "lr-schedule", ssm.ConstantLR.String(), "learning rate after the warm-up: "+strings.Join(ssm.DecayNames(), ", ")+
		" (cosine and linear decay from -lr to -lr-final at the last step)")
	fs.Float64Var(&f.lrFinal, "lr-final", 0, "learning rate at the last step, in [0, -lr], for -lr-schedule cosine or linear")
	fs.IntVar(&f.warmup, "warmup", 0, "steps of linear learning-rate warm-up, from -lr/N to -lr (0: none)")
	fs.Float64Var(&f.momentum, "momentum", 0, "momentum (sgd, rmsprop)")
	fs.Float64Var(&f.clip, "clip", 0, "clip the gradient's global norm (0: off)")
	fs.Float64Var(&f.ema, "ema", 0, "keep an exponential moving average of the weights with this decay in (0, 1), which validation evaluates and the model file holds (0: off; NCSN used 0.999)")
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
		return nil, err
	}
	f.objective = *objective
	f.set = setFlags(fs)
	if !f.set["objective"] { // a model the default cannot train takes the registry's first that can
		if ms, err := parseModelSpec("-model", f.model, f.act, f.kind); err == nil {
			f.objective = defaultObjective(f.objective, ms.modelKind())
		}
	}
	return f, nil
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
	note        string // printed when training starts (the SDE's σ_max from the data)
}

// Bounds of train's flags: what they may ask of memory and time.
const (
	maxTrainRows   = 10_000_000  // -n, rows drawn from a built-in dataset
	maxBatch       = 1 << 16     // -batch
	maxProjections = 1 << 10     // -m
	maxBatchValues = 1 << 26     // batch × M × max(D, width): one tensor of a step
	maxWidth       = 1 << 16     // a hidden width
	maxLayers      = 64          // hidden layers
	maxParams      = 1 << 27     // parameters of the model (1 GiB)
	maxSteps       = 100_000_000 // steps planned (the loss history holds one value each)
	maxLevels      = 10_000      // -sigmas levels
)

// trainFlagReads says which flags an objective must read for them to mean
// something: setting one the objective ignores is refused.
var trainFlagReads = map[string]ssm.Reads{"m": ssm.ReadsM, "projection": ssm.ReadsM, "sigma": ssm.ReadsSigma, "sigmas": ssm.ReadsSigmas}

// check validates every flag and combination that needs no file.
func (f *trainFlags) check(e *env) error {
	spec, ok := ssm.Lookup(f.objective)
	if !ok {
		return badInput("-objective %q: want one of %s", f.objective, strings.Join(ssm.Names(), ", "))
	}
	if err := unusedFlags(f.set, func(n string) bool {
		r, ok := trainFlagReads[n]
		return !ok || spec.Reads&r != 0
	}, func(n string) string { return fmt.Sprintf("objective %s does not use it", f.objective) }); err != nil {
		return err
	}
	isSDE := strings.HasPrefix(f.model, "sde:")
	for _, n := range sdeTrainFlags {
		if f.set[n] && !isSDE {
			return badInput("-%s: only sde models (-model sde:W,W,...) have an SDE, its weighting and time embedding", n)
		}
	}
	if f.set["momentum"] && !optimizerTakesMomentum(f.optimizer) {
		return badInput("-momentum: optimiser %s has none (sgd and rmsprop have)", f.optimizer)
	}
	if f.set["n"] && sampleDataset(f.data) == nil {
		return badInput("-n: -data %s is a file, not a built-in dataset to draw from", f.data)
	}
	if f.resume && f.checkpoint == "" {
		return badInput("-resume needs -checkpoint")
	}
	if err := firstError(
		intIn("-n", f.n, 1, maxTrainRows),
		intIn("-batch", f.batch, 1, maxBatch),
		intIn("-m", f.m, 1, maxProjections),
		intIn("-steps", f.steps, 0, maxSteps),
		intIn("-epochs", f.epochs, 0, maxSteps),
		intIn("-patience", f.patience, 0, maxSteps),
		intIn("-eval-every", f.evalEvery, 0, maxSteps),
		positive("-lr", f.lr, "learning rate"),
		intIn("-warmup", f.warmup, 0, maxSteps),
	); err != nil {
		return err
	}
	if _, err := f.schedule(); err != nil {
		return err
	}
	switch {
	case f.chunks < 0 || f.chunks > f.batch:
		return badInput("-chunks %d: want 1 to the batch size (%d), or 0 for one per 64 rows", f.chunks, f.batch)
	case f.steps == 0 && f.epochs == 0:
		return badInput("-epochs 0: want at least 1 (or -steps)")
	case !(f.momentum >= 0 && f.momentum < 1):
		return badInput("-momentum %v: want 0 ≤ momentum < 1", f.momentum)
	case !(f.clip >= 0) || math.IsInf(f.clip, 0):
		return badInput("-clip %v: want a finite norm ≥ 0 (0: off)", f.clip)
	case !(f.ema >= 0 && f.ema < 1):
		return badInput("-ema %v: want a decay in (0, 1), or 0 for none", f.ema)
	case !(f.val >= 0 && f.val < 1):
		return badInput("-val %v: want a fraction in [0, 1)", f.val)
	}
	if spec.Reads&ssm.ReadsSigmas != 0 {
		if _, err := parseSigmas(f.sigmas); err != nil {
			return err
		}
	}
	if spec.Reads&ssm.ReadsSigma != 0 {
		if err := positive("-sigma", f.sigma, "noise level"); err != nil {
			return err
		}
	}
	if _, err := ssm.ParseProjection(f.projection); err != nil {
		return badInput("-projection: %v", err)
	}
	if _, err := newOptimizer(f.optimizer, f.lr, f.momentum); err != nil {
		return err
	}
	ms, err := parseModelSpec("-model", f.model, f.act, f.kind)
	if err != nil {
		return err
	}
	if kind := ms.modelKind(); spec.Models&kind == 0 {
		if ms.arch == "mlp" {
			return badInput("-objective %s trains %v; -model %s -kind %s is %v", f.objective, spec.Models, f.model, f.kind, kind)
		}
		return badInput("-objective %s trains %v; -model %s is %v", f.objective, spec.Models, f.model, kind)
	}
	if isSDE {
		if err := f.checkSDE(); err != nil {
			return err
		}
	}
	return checkOutputs(e, map[string]outputFlag{
		"-out": {f.out, []string{".safetensors"}}, "-report": {f.report, []string{".json"}},
		"-checkpoint": {f.checkpoint, []string{".safetensors"}}})
}

// outputFlag is an output file flag's value and the extensions it takes.
type outputFlag struct {
	path string
	exts []string
}

// checkOutputs checks every output flag that is set (see checkOutput) and
// that no two name one file.
func checkOutputs(e *env, outs map[string]outputFlag) error {
	paths := map[string]string{}
	for _, f := range slices.Sorted(maps.Keys(outs)) {
		o := outs[f]
		if o.path == "" {
			continue
		}
		if err := checkOutput(f, o.path, e.outPath(o.path), o.exts...); err != nil {
			return err
		}
		paths[f] = e.outPath(o.path)
	}
	return checkDistinct(paths)
}

// prepare validates the flags, then loads the data and builds the model and
// the objective: everything before the first step, and no output.
func (f *trainFlags) prepare(e *env) (*trainRun, error) {
	if err := f.check(e); err != nil {
		return nil, err
	}
	x, ds, err := loadData("data", f.data, f.n, f.seed)
	if err != nil {
		return nil, err
	}
	r := &trainRun{f: f, x: x}
	if ds != nil {
		r.datasetName = ds.Name
	}
	if err := f.checkData(x); err != nil {
		return nil, err
	}
	if f.standardize {
		for j, s := range columnStd(x) {
			if !(s > 0) {
				return nil, badInput("-standardize: column %d of -data %s is constant", j+1, f.data)
			}
		}
		r.mean, r.std = dataio.Standardize(x)
	}
	spec, _ := parseModelSpec("-model", f.model, f.act, f.kind)
	if spec.kind == nn.KindSDE {
		s, _ := f.sde.parse(f.set)
		tr, _ := ssm.Split(x.Rows, f.val, f.seed)
		if spec.sde, r.note, err = fromData(s, rowsOf(x, tr), "training rows"); err != nil {
			return nil, err
		}
		spec.fourierDim, spec.fourierScale = f.fourierDim, f.fourierScale
	}
	if n := spec.params(x.Cols); n > maxParams {
		return nil, badInput("-model %s: %d parameters for D = %d, at most %d", f.model, n, x.Cols, maxParams)
	}
	if r.model, err = spec.build(x.Cols, f.seed); err != nil {
		return nil, err
	}
	proj, _ := ssm.ParseProjection(f.projection)
	opts := ssm.Options{Projection: proj, M: f.m, Sigma: f.sigma}
	if reads(f.objective, ssm.ReadsSigmas) {
		opts.Sigmas, _ = parseSigmas(f.sigmas)
	}
	if r.obj, err = ssm.New(f.objective, r.model, opts); err != nil {
		return nil, objectiveError(err)
	}
	if f.weighting == "likelihood" {
		if r.obj, err = ssm.LikelihoodWeighting(r.obj); err != nil {
			return nil, badInput("-weighting: %v", err)
		}
	}
	opt, _ := newOptimizer(f.optimizer, f.lr, f.momentum)
	sched, _ := f.schedule()
	r.cfg = ssm.Config{BatchSize: f.batch, Steps: f.steps, Epochs: f.epochs, Seed: f.seed, Chunks: f.chunks,
		ValFrac: f.val, EvalEvery: f.evalEvery, Patience: f.patience, Optimizer: opt, ClipNorm: f.clip, EMA: f.ema,
		Schedule: sched, Checkpoint: e.outPath(f.checkpoint), Resume: f.resume}
	if err := r.cfg.Validate(); err != nil {
		return nil, asFlagError(err)
	}
	return r, nil
}

// schedule returns the learning-rate schedule of -lr-schedule, -lr-final
// and -warmup, or an input error naming the flag at fault.
func (f *trainFlags) schedule() (ssm.Schedule, error) {
	name := f.lrSchedule
	if name == "" {
		name = ssm.ConstantLR.String()
	}
	d, err := ssm.ParseDecay(name)
	if err != nil {
		return ssm.Schedule{}, badInput("-lr-schedule %q: want one of %s", name, strings.Join(ssm.DecayNames(), ", "))
	}
	switch {
	case d == ssm.ConstantLR && (f.set["lr-final"] || f.lrFinal != 0):
		return ssm.Schedule{}, badInput("-lr-final: -lr-schedule %s does not decay (use %s or %s)", d, ssm.CosineLR, ssm.LinearLR)
	case !(f.lrFinal >= 0 && f.lrFinal <= f.lr):
		return ssm.Schedule{}, badInput("-lr-final %v: want a learning rate in [0, -lr %v]", f.lrFinal, f.lr)
	}
	return ssm.Schedule{Decay: d, Warmup: f.warmup, FinalLR: f.lrFinal}, nil
}

// checkData checks what the data and the flags ask together: enough rows
// for a training split, the steps planned, and the size of a step.
func (f *trainFlags) checkData(x ad.Mat) error {
	val := int(math.Round(f.val * float64(x.Rows)))
	if f.val > 0 && val == 0 {
		val = 1
	}
	train := x.Rows - val
	if train < 1 {
		return badInput("-data %s: %d rows leave none for training with -val %v", f.data, x.Rows, f.val)
	}
	if f.steps == 0 {
		bs := min(f.batch, train)
		if steps := f.epochs * ((train + bs - 1) / bs); f.epochs > maxSteps/((train+bs-1)/bs) || steps > maxSteps {
			return badInput("-epochs %d: %d epochs of %d rows are more than %d steps", f.epochs, f.epochs, train, maxSteps)
		}
	}
	spec, _ := parseModelSpec("-model", f.model, f.act, f.kind)
	width := x.Cols
	for _, w := range spec.hidden {
		width = max(width, w)
	}
	if v := min(f.batch, train) * f.m; v > maxBatchValues/width {
		return badInput("-batch %d -m %d: a step would hold %d×%d values per tensor (%s), at most %d",
			f.batch, f.m, v, width, bytesOf(v*width), maxBatchValues)
	}
	return nil
}

// columnStd returns each column's standard deviation.
func columnStd(x ad.Mat) []float64 {
	std := make([]float64, x.Cols)
	for j := range x.Cols {
		mean := 0.0
		for i := range x.Rows {
			mean += x.At(i, j)
		}
		mean /= float64(x.Rows)
		ss := 0.0
		for i := range x.Rows {
			d := x.At(i, j) - mean
			ss += float64(d * d)
		}
		std[j] = math.Sqrt(ss / float64(x.Rows))
	}
	return std
}

// train runs the training and writes the model (and report).
func (r *trainRun) train(ctx context.Context, e *env) (*ssm.Result, error) {
	steps := r.f.steps
	if steps == 0 {
		train := r.x.Rows - int(math.Round(r.f.val*float64(r.x.Rows)))
		bs := min(r.f.batch, max(1, train))
		steps = r.f.epochs * ((train + bs - 1) / bs)
	}
	for _, out := range []string{r.f.out, r.f.checkpoint, r.f.report} {
		if out != "" {
			atomicfile.Clean(e.outPath(out)) // the temporary files of a killed run
		}
	}
	// The note comes with the first step, once the trainer has accepted
	// the settings (a refused resume is one line), or at the end.
	note := func() {
		if r.note != "" {
			fmt.Fprintln(e.stderr, r.note)
			r.note = ""
		}
	}
	if scale := maxAbs(r.x); scale > dataScaleWarning && !r.f.standardize {
		fmt.Fprintf(e.stderr, "warning: the data reach %.3g; score matching trains best on standardised data (add -standardize)\n", scale)
	}
	p := newProgress(e, steps)
	r.cfg.Progress = func(s ssm.Progress) { note(); p.step(s) }
	if w := r.newBiasWatch(e); w != nil {
		r.cfg.Progress = func(s ssm.Progress) { note(); p.step(s); w.check(s) }
	}
	res, err := ssm.Train(ctx, r.obj, r.x, r.cfg)
	if err == nil {
		note()
	}
	if err != nil {
		p.done()
		if errors.Is(err, context.Canceled) {
			if r.cfg.Checkpoint != "" {
				fmt.Fprintf(e.stderr, "checkpoint written to %s at step %d; rerun with -resume to continue\n", r.f.checkpoint, res.Steps)
			} else {
				fmt.Fprintf(e.stderr, "stopped at step %d of %d; nothing was saved (with -checkpoint FILE an interrupted run can be resumed)\n", res.Steps, steps)
			}
			return res, errInterrupted
		}
		if errors.Is(err, ssm.ErrNonFinite) {
			return res, fmt.Errorf("%w: %s", err, r.remedies())
		}
		var re *ssm.ResumeError
		var ce *ssm.CheckpointError
		switch {
		case errors.As(err, &re):
			var diffs []string
			for _, d := range re.Diffs {
				flags := resumeFlags[d.Setting]
				if d.Setting == "Model" && strings.HasPrefix(r.f.model, "sde:") {
					flags = "-model/-act/-sde/-sigma-min/-sigma-max/-beta-min/-beta-max/-fourier-scale/-fourier-dim"
				}
				diffs = append(diffs, fmt.Sprintf("%s %s (the checkpoint: %s)", flags, d.Given, d.Saved))
			}
			return res, badInput("-resume: %s was written with other settings: %s", r.f.checkpoint, strings.Join(diffs, "; "))
		case errors.As(err, &ce):
			return res, badInput("-checkpoint %s: %s; delete it or choose another file", r.f.checkpoint, ce.Problem)
		}
		return res, asInputIf(err)
	}
	if first, last, ok := diverged(res.Loss); ok {
		return res, fmt.Errorf("training diverged: the loss rose from %.4g to %.4g (no model written): %s", first, last, r.remedies())
	}
	if err := nn.SaveInfo(e.outPath(r.f.out), r.model, r.info()); err != nil {
		return res, err
	}
	if r.f.report != "" {
		if err := writeJSON(e.outPath(r.f.report), r.reportOf(res)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// info is what the model file records about the run's data: its name,
// the standardisation and the noise schedule.
func (r *trainRun) info() nn.ModelInfo {
	info := nn.ModelInfo{Data: r.datasetName, Mean: r.mean, Scale: r.std}
	if info.Data == "" {
		info.Data = filepath.Base(r.f.data)
	}
	if reads(r.f.objective, ssm.ReadsSigmas) {
		info.Sigmas, _ = parseSigmas(r.f.sigmas)
	}
	return info
}

// biasWatch compares an approximate objective with exact score matching
// on validation rows at every validation, and warns once when the two run
// apart: approximate backprop, unbounded below with two or more hidden
// layers, can fall while the true loss climbs.
type biasWatch struct {
	e          *env
	name       string
	batch      *ssm.Batch
	obj, exact ssm.Worker
	first      float64 // the gap at the first validation
	checked    bool
	warned     bool
}

// watchRows and watchDim bound the exact check's cost (D passes per row).
const (
	watchRows = 256
	watchDim  = 64
)

// newBiasWatch returns a watch for objectives that do not measure fit,
// with validation rows to check on, or nil.
func (r *trainRun) newBiasWatch(e *env) *biasWatch {
	spec, _ := ssm.Lookup(r.f.objective)
	if !spec.ApproxSM || r.f.val == 0 || r.x.Cols > watchDim {
		return nil
	}
	exact, err := ssm.New("sm", r.model, ssm.Options{})
	if err != nil {
		return nil
	}
	_, val := ssm.Split(r.x.Rows, r.f.val, r.f.seed)
	if len(val) == 0 {
		return nil
	}
	rows := ad.NewMat(min(len(val), watchRows), r.x.Cols)
	for i := range rows.Rows {
		copy(rows.Row(i), r.x.Row(val[i]))
	}
	b := &ssm.Batch{X: rows}
	b.Draw(r.obj, repro.NewStream(), r.f.seed, repro.Validation, 0, 0)
	return &biasWatch{e: e, name: r.f.objective, batch: b, obj: r.obj.NewWorker(), exact: exact.NewWorker()}
}

// check runs at every step and compares at validations.
func (w *biasWatch) check(s ssm.Progress) {
	if w.warned || math.IsNaN(s.ValLoss) {
		return
	}
	n := float64(w.batch.X.Rows)
	got, truth := w.obj.Eval(w.batch, false)/n, w.exact.Eval(w.batch, false)/n
	gap := got - truth
	if !w.checked {
		w.first, w.checked = gap, true
		return
	}
	if math.Abs(gap-w.first) > math.Max(1, math.Abs(truth)) {
		w.warned = true
		fmt.Fprintf(w.e.stderr, "warning: at step %d, %s's loss (%.4g) has run away from exact score matching's (%.4g) on validation rows: the objective is biased for this model (approximate backprop is, beyond one hidden layer); use -objective ssm-vr\n",
			s.Step, w.name, got, truth)
	}
}

// resumeFlags names the flags behind each setting a checkpoint records (a
// decaying schedule records the steps planned too).
var resumeFlags = map[string]string{
	"Config.Seed": "-seed", "Config.BatchSize": "-batch", "Config.Chunks": "-chunks",
	"Config.ValFrac": "-val", "Config.EvalEvery": "-eval-every", "Config.ClipNorm": "-clip", "Config.EMA": "-ema",
	"Config.Optimizer": "-optimizer/-lr/-momentum", "Config.Schedule": "-lr-schedule/-lr-final/-warmup/-steps/-epochs",
	"Objective":          "-objective",
	"Options.Projection": "-projection", "Options.M": "-m", "Options.Sigma": "-sigma",
	"Options.Sigmas": "-sigmas", "Model": "-model/-act/-kind", "Data": "-data/-n/-standardize",
	"Weighting": "-weighting",
}

// dataScaleWarning is the largest data value that trains without a
// warning; beyond it, standardising usually helps.
const dataScaleWarning = 1e3

// maxAbs returns the largest |value| of x.
func maxAbs(x ad.Mat) float64 {
	m := 0.0
	for _, v := range x.Data {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// diverged reports whether a loss history ends far above where it began:
// the mean of its last tenth (at least one value) above the first loss, at
// the initial weights, by ten times its magnitude (at least 10). A loss
// that became non-finite has diverged too.
func diverged(loss []float64) (first, last float64, ok bool) {
	n := len(loss)
	if n < 2 {
		return 0, 0, false
	}
	k := max(1, n/10)
	for _, v := range loss[n-k:] {
		last += v / float64(k)
	}
	first = loss[0]
	return first, last, !(last <= first+float64(10*math.Max(1, math.Abs(first))))
}

// remedies names the likely causes of a divergence for this run's flags.
func (r *trainRun) remedies() string {
	var rs []string
	rs = append(rs, fmt.Sprintf("lower -lr (now %g)", r.f.lr))
	if r.f.clip == 0 {
		rs = append(rs, "add -clip 1")
	}
	if scale := maxAbs(r.x); scale > dataScaleWarning && !r.f.standardize {
		rs = append(rs, fmt.Sprintf("add -standardize (the data reach %.3g)", scale))
	}
	if r.f.act == "sigmoid" || r.f.act == "elu" || r.f.act == "silu" {
		rs = append(rs, "or try -act softplus")
	}
	return strings.Join(rs, ", ")
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
	if r.f.ema > 0 {
		rep["ema"] = r.f.ema
	}
	rep["lr_schedule"], rep["warmup"] = r.cfg.Schedule.Decay.String(), r.f.warmup
	if r.cfg.Schedule.Decay != ssm.ConstantLR {
		rep["lr_final"] = r.f.lrFinal
	}
	if r.mean != nil {
		rep["standardize"] = map[string]any{"mean": r.mean, "std": r.std}
	}
	if m, ok := r.model.(*nn.SDENet); ok {
		rep["sde"], rep["weighting"] = m.SDE().String(), r.f.weighting
		rep["fourier_dim"], rep["fourier_scale"] = m.FourierDim(), m.FourierScale()
		delete(rep, "kind")
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

// checkSDE checks the flags of an sde model.
func (f *trainFlags) checkSDE() error {
	if _, err := f.sde.parse(f.set); err != nil {
		return err
	}
	switch {
	case f.weighting != "sigma2" && f.weighting != "likelihood":
		return badInput("-weighting %q: want sigma2 or likelihood", f.weighting)
	case !(f.fourierScale > 0) || math.IsInf(f.fourierScale, 0):
		return badInput("-fourier-scale %v: want a finite standard deviation > 0", f.fourierScale)
	case f.fourierDim < 1 || f.fourierDim > nn.MaxFourierDim:
		return badInput("-fourier-dim %d: want 1 to %d", f.fourierDim, nn.MaxFourierDim)
	case f.set["kind"]:
		return badInput("-kind: an sde model is a time-conditional score net; -kind is for mlp models")
	}
	return nil
}

// defaultObjective returns name if it trains models of kind, else the
// first objective of the registry that does (ncsn for a noise-conditional
// net, sde-dsm for a score SDE's), else name.
func defaultObjective(name string, kind ssm.ModelKind) string {
	if spec, ok := ssm.Lookup(name); ok && spec.Models&kind != 0 {
		return name
	}
	for _, s := range ssm.Specs() {
		if s.Models&kind != 0 {
			return s.Name
		}
	}
	return name
}
