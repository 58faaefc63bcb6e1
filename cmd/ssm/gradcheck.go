package main

import (
	"context"
	"fmt"
	"math"
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
	c, err := parseGradcheck(e, args)
	if err != nil {
		return err
	}
	return c.run(e)
}

// Bounds of gradcheck's flags: every value is evaluated twice per
// parameter, so the work grows as rows × parameters.
const (
	maxCheckRows   = 1 << 16
	maxCheckDim    = 1 << 12
	maxCheckM      = 64
	maxCheckParams = 1 << 20
)

// gradcheck is a checked ssm gradcheck: an objective on a batch.
type gradcheck struct {
	model    nn.Model
	obj      ssm.Objective
	batch    *ssm.Batch
	step     float64
	tol      float64
	seed     uint64
	modelArg string
}

func parseGradcheck(e *env, args []string) (*gradcheck, error) {
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
	c := &gradcheck{}
	fs.Float64Var(&c.step, "step", fd.DefaultStep, "relative finite-difference step")
	fs.Float64Var(&c.tol, "tol", 1e-6, "fail (exit 1) above this relative error")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	switch {
	case *rows < 1 || *rows > maxCheckRows:
		return nil, badInput("-n %d: want 1 to %d rows", *rows, maxCheckRows)
	case *m < 1 || *m > maxCheckM:
		return nil, badInput("-m %d: want 1 to %d projections", *m, maxCheckM)
	case *modelPath == "" && (*dim < 1 || *dim > maxCheckDim):
		return nil, badInput("-dim %d: want 1 to %d", *dim, maxCheckDim)
	case !(c.step > 0 && c.step < 1):
		return nil, badInput("-step %v: want a relative step in (0, 1)", c.step)
	case !(c.tol >= 0) || math.IsInf(c.tol, 0):
		return nil, badInput("-tol %v: want a finite tolerance ≥ 0", c.tol)
	}
	var err error
	if *modelPath != "" {
		// The file records its kind and activation: the flags' defaults
		// are for built models, and only an explicit value is checked.
		set := setFlags(fs)
		fileAct, fileKind := "", ""
		if set["act"] {
			fileAct = *act
		}
		if set["kind"] {
			fileKind = *kind
		}
		if c.model, _, err = loadModel(*modelPath, fileAct, fileKind); err != nil {
			return nil, err
		}
	} else {
		ms, err := parseModelSpec("-spec", *spec, *act, *kind)
		if err != nil {
			return nil, err
		}
		if n := ms.params(*dim); n > maxCheckParams {
			return nil, badInput("-spec %s: %d parameters for -dim %d, at most %d (each is evaluated twice)", *spec, n, *dim, maxCheckParams)
		}
		if c.model, err = ms.build(*dim, c.seed); err != nil {
			return nil, err
		}
	}
	var x ad.Mat
	if *data != "" {
		if x, _, err = loadData("data", *data, *rows, c.seed); err != nil {
			return nil, err
		}
		x = x.RowRange(0, min(*rows, x.Rows))
	} else {
		rng := repro.New(c.seed, repro.Check, 0, 0)
		x = ad.NewMat(*rows, c.model.Dim())
		for i := range x.Data {
			x.Data[i] = repro.Normal(rng)
		}
	}
	if err := checkDim("the data", x, c.model); err != nil {
		return nil, err
	}
	proj, err := ssm.ParseProjection(*projection)
	if err != nil {
		return nil, badInput("-projection: %v", err)
	}
	opts := ssm.Options{Projection: proj, M: *m, Sigma: *sigma}
	if reads(*objective, ssm.ReadsSigmas) {
		opts.Sigmas = []float64{1, 0.5, 0.25}
	}
	if c.obj, err = ssm.New(*objective, c.model, opts); err != nil {
		return nil, objectiveError(err)
	}
	c.batch = &ssm.Batch{X: x}
	c.batch.Draw(c.obj, repro.NewStream(), c.seed, repro.Check, 1, 0)
	return c, nil
}

// run compares the objective's parameter gradient with central
// differences, parameter by parameter.
func (c *gradcheck) run(e *env) error {
	w := c.obj.NewWorker()
	w.Eval(c.batch, true)
	var grads [][]float64 // copied: the numerical evaluations reuse the worker's storage
	for _, g := range w.Grads() {
		grads = append(grads, slices.Clone(g.Data))
	}
	worst := 0.0
	worstName := ""
	for i, p := range c.model.Params() {
		got := grads[i]
		num := make([]float64, len(got))
		fd.NumGrad(func() float64 { return w.Eval(c.batch, false) }, p.Value.Data, num, c.step)
		e2, at := fd.RelErr(got, num, 1e-3)
		fmt.Fprintf(e.stdout, "%-14s %6d values  worst relative error %.2e (at %d)\n", p.Name, len(got), e2, at)
		if e2 > worst || math.IsNaN(e2) {
			worst, worstName = e2, p.Name
		}
	}
	fmt.Fprintf(e.stdout, "worst relative error %.2e in %s (%s, %d rows, step %g)\n", worst, worstName, c.obj.Name(), c.batch.X.Rows, c.step)
	if !(worst <= c.tol) {
		return fmt.Errorf("worst relative error %.2e exceeds -tol %g", worst, c.tol)
	}
	return nil
}
