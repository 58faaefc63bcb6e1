package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/ssm"
)

func init() {
	register("loss", "evaluate one objective on given x, v, ε and print JSON (PyTorch cross-check)", runLoss)
}

func runLoss(ctx context.Context, e *env, args []string) error {
	f, err := parseLoss(e, args)
	if err != nil {
		return err
	}
	job, err := f.prepare()
	if err != nil {
		return err
	}
	out, err := job.run()
	if err != nil {
		return err
	}
	return json.NewEncoder(e.stdout).Encode(out)
}

// lossFlags are the settings of ssm loss.
type lossFlags struct {
	modelPath, act, kind, xPath, vPath, epsPath, objective string
	sigma                                                  float64
	grad                                                   bool
}

func parseLoss(e *env, args []string) (*lossFlags, error) {
	fs := newFlags("loss", "loss -model FILE -x x.npy [-v v.npy] [-eps eps.npy -sigma σ] -objective NAME [-grad]", e.stdout)
	f := &lossFlags{}
	fs.StringVar(&f.modelPath, "model", "", "model `file` (safetensors, written by this tool or by PyTorch)")
	fs.StringVar(&f.act, "act", "", "activation, for files that do not record it (softplus, tanh, ...)")
	fs.StringVar(&f.kind, "kind", "", "model kind, for files that do not record it: energy or score")
	fs.StringVar(&f.xPath, "x", "", "data `file` (.npy or .csv), one sample per row")
	fs.StringVar(&f.vPath, "v", "", "projections `file`, one row per sample (sliced objectives)")
	fs.StringVar(&f.epsPath, "eps", "", "standard normal noise `file`, one row per sample (DSM)")
	fs.Float64Var(&f.sigma, "sigma", 0, "DSM noise level σ")
	objective := objectiveFlag(fs, "ssm", ssm.EnergyModel|ssm.ScoreModel)
	fs.BoolVar(&f.grad, "grad", false, "also print the gradient of the mean loss for every parameter")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	f.objective = *objective
	if f.modelPath == "" || f.xPath == "" {
		return nil, badInput("-model and -x are required (see 'ssm loss -h')")
	}
	return f, nil
}

// lossJob is a checked ssm loss: the model, the objective and its batch.
type lossJob struct {
	f      *lossFlags
	model  nn.Model
	obj    ssm.Objective
	batch  *ssm.Batch
	shapes map[string][]int // the file's tensor shapes, for -grad
}

// prepare reads and checks every input.
func (f *lossFlags) prepare() (*lossJob, error) {
	model, info, err := loadModel(f.modelPath, f.act, f.kind)
	if err != nil {
		return nil, err
	}
	x, err := dataio.Read(f.xPath)
	if err != nil {
		return nil, asInput(err)
	}
	if x.Cols == model.Dim() {
		info.Standardize(x.Data) // -x is in the data's coordinates; v and ε in the model's
	}
	if x.Cols != model.Dim() {
		return nil, badInput("-x %s has %d columns, the model %s has dimension %d", f.xPath, x.Cols, f.modelPath, model.Dim())
	}
	if spec, ok := ssm.Lookup(f.objective); ok && spec.Models&(ssm.EnergyModel|ssm.ScoreModel) == 0 {
		return nil, badInput("-objective %s: loss evaluates the objectives of energy and score models", f.objective)
	}
	obj, err := ssm.New(f.objective, model, ssm.Options{Sigma: f.sigma})
	if err != nil {
		return nil, objectiveError(err)
	}
	needs := obj.Needs()
	if needs.Sigma || len(needs.Hidden) > 0 {
		return nil, badInput("-objective %s draws its own randomness; ssm loss supports the objectives of fixed v and ε", f.objective)
	}
	b := &ssm.Batch{X: x}
	if needs.Projections > 0 {
		v, err := f.readLike("v", f.vPath, x)
		if err != nil {
			return nil, err
		}
		b.V = []ad.Mat{v}
	}
	if needs.Eps {
		if b.Eps, err = f.readLike("eps", f.epsPath, x); err != nil {
			return nil, err
		}
	}
	job := &lossJob{f: f, model: model, obj: obj, batch: b}
	if f.grad {
		if job.shapes, err = fileShapes(f.modelPath); err != nil {
			return nil, asInput(err)
		}
	}
	return job, nil
}

// readLike reads the file of flag name, which must be shaped like x.
func (f *lossFlags) readLike(name, path string, x ad.Mat) (ad.Mat, error) {
	if path == "" {
		return ad.Mat{}, badInput("objective %s needs -%s", f.objective, name)
	}
	m, err := dataio.Read(path)
	if err != nil {
		return m, asInput(err)
	}
	if !m.SameShape(x) {
		return m, badInput("-%s %s is %d×%d, -x is %d×%d", name, path, m.Rows, m.Cols, x.Rows, x.Cols)
	}
	return m, nil
}

// run evaluates the objective, the model's score (and energy and HVP for
// an energy) and, with -grad, the gradient, as the JSON output.
func (j *lossJob) run() (map[string]any, error) {
	b, x := j.batch, j.batch.X
	w := j.obj.NewWorker()
	n := float64(x.Rows)
	out := map[string]any{"objective": j.obj.Name(), "loss": w.Eval(b, j.f.grad) / n}
	terms := w.Terms()
	if terms.Cols == 1 {
		out["per_sample"] = terms.Data
	} else {
		out["terms"] = rows(terms)
	}
	switch m := j.model.(type) {
	case nn.Energy:
		t := ad.NewTape()
		g, hv := ad.NewMat(x.Rows, x.Cols), ad.NewMat(x.Rows, x.Cols)
		var energy ad.Mat
		if len(b.V) > 0 {
			energy = ad.HVP(t, m.Energy, x, b.V[0], g, hv).Clone()
		} else {
			energy = ad.InputGrad(t, m.Energy, x, g).Clone()
		}
		for i := range g.Data { // s = −∇E, (∇s)v = −∇²E v
			g.Data[i], hv.Data[i] = -g.Data[i], -hv.Data[i]
		}
		out["energy"], out["score"] = energy.Data, rows(g)
		if len(b.V) > 0 {
			out["hvp"] = rows(hv)
		}
	case nn.Score:
		t := ad.NewTape()
		out["score"] = rows(m.Score(t, t.Input(x, false)).Primal().Clone())
	}
	if j.f.grad {
		grads := map[string]any{}
		for i, p := range j.model.Params() {
			g := w.Grads()[i].Clone()
			for k := range g.Data {
				g.Data[k] /= n
			}
			grads[p.Name] = inLayout(g, j.shapes[p.Name])
		}
		out["grad"] = grads
	}
	return out, checkJSONFinite(out)
}

// rows returns m as a slice of rows for JSON.
func rows(m ad.Mat) [][]float64 {
	out := make([][]float64, m.Rows)
	for i := range out {
		out[i] = m.Row(i)
	}
	return out
}

// fileShapes returns the shape of every tensor in a safetensors file.
func fileShapes(path string) (map[string][]int, error) {
	ts, _, err := nn.ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, t := range ts {
		out[t.Name] = t.Shape
	}
	return out, nil
}

// inLayout returns m as a nested array of the given shape (1-D or 2-D), or
// as rows when the shape is unknown.
func inLayout(m ad.Mat, shape []int) any {
	if len(shape) == 1 {
		return m.Data
	}
	return rows(m)
}

// checkJSONFinite reports a NaN or infinity in the output, which JSON cannot
// represent, as a failure naming the field.
func checkJSONFinite(out map[string]any) error {
	var walk func(string, any) error
	walk = func(path string, v any) error {
		switch v := v.(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s is %v: the model or the data gives a non-finite value", path, v)
			}
		case []float64:
			for i, f := range v {
				if err := walk(fmt.Sprintf("%s[%d]", path, i), f); err != nil {
					return err
				}
			}
		case [][]float64:
			for i, r := range v {
				if err := walk(fmt.Sprintf("%s[%d]", path, i), r); err != nil {
					return err
				}
			}
		case map[string]any:
			for k, e := range v {
				if err := walk(path+"."+k, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("output", out)
}
