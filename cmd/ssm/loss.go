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
	fs := newFlags("loss", "loss -model FILE -x x.npy [-v v.npy] [-eps eps.npy -sigma σ] -objective NAME [-grad]", e.stdout)
	modelPath := fs.String("model", "", "model `file` (safetensors, written by this tool or by PyTorch)")
	act := fs.String("act", "", "activation, for files that do not record it (softplus, tanh, ...)")
	kind := fs.String("kind", "", "model kind, for files that do not record it: energy or score")
	xPath := fs.String("x", "", "data `file` (.npy or .csv), one sample per row")
	vPath := fs.String("v", "", "projections `file`, one row per sample (sliced objectives)")
	epsPath := fs.String("eps", "", "standard normal noise `file`, one row per sample (DSM)")
	sigma := fs.Float64("sigma", 0, "DSM noise level σ")
	objName := objectiveFlag(fs, "ssm", ssm.EnergyModel|ssm.ScoreModel)
	withGrad := fs.Bool("grad", false, "also print the gradient of the mean loss for every parameter")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *modelPath == "" || *xPath == "" {
		return badInput("-model and -x are required (see 'ssm loss -h')")
	}
	model, err := loadModel(*modelPath, *act, *kind)
	if err != nil {
		return err
	}
	x, err := dataio.Read(*xPath)
	if err != nil {
		return asInput(err)
	}
	if x.Cols != model.Dim() {
		return badInput("-x %s has %d columns, the model %s has dimension %d", *xPath, x.Cols, *modelPath, model.Dim())
	}
	obj, err := ssm.New(*objName, model, ssm.Options{Sigma: *sigma})
	if err != nil {
		return objectiveError(err)
	}
	needs := obj.Needs()
	if len(needs.Hidden) > 0 {
		return badInput("-objective %s draws random vectors inside the model, which loss cannot read from files", *objName)
	}
	b := &ssm.Batch{X: x}
	readLike := func(flagName, path string) (ad.Mat, error) {
		if path == "" {
			return ad.Mat{}, badInput("objective %s needs -%s", *objName, flagName)
		}
		m, err := dataio.Read(path)
		if err != nil {
			return m, asInput(err)
		}
		if !m.SameShape(x) {
			return m, badInput("-%s %s is %d×%d, -x is %d×%d", flagName, path, m.Rows, m.Cols, x.Rows, x.Cols)
		}
		return m, nil
	}
	if needs.Projections > 0 {
		v, err := readLike("v", *vPath)
		if err != nil {
			return err
		}
		b.V = []ad.Mat{v}
	}
	if needs.Eps {
		if b.Eps, err = readLike("eps", *epsPath); err != nil {
			return err
		}
	}
	if needs.Sigma || len(needs.Hidden) > 0 {
		return badInput("-objective %s draws its own randomness; ssm loss supports the objectives of fixed v and ε", *objName)
	}
	w := obj.NewWorker()
	n := float64(x.Rows)
	out := map[string]any{"objective": obj.Name(), "loss": w.Eval(b, *withGrad) / n}
	terms := w.Terms()
	if terms.Cols == 1 {
		out["per_sample"] = terms.Data
	} else {
		out["terms"] = rows(terms)
	}
	switch m := model.(type) {
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
	if *withGrad {
		shapes, err := fileShapes(*modelPath)
		if err != nil {
			return asInput(err)
		}
		grads := map[string]any{}
		for i, p := range model.Params() {
			g := w.Grads()[i].Clone()
			for j := range g.Data {
				g.Data[j] /= n
			}
			grads[p.Name] = inLayout(g, shapes[p.Name])
		}
		out["grad"] = grads
	}
	if err := checkJSONFinite(out); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	return enc.Encode(out)
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
