package ssm

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"scorematch/nn"
)

// A checkpoint is a safetensors file holding everything a resumed run needs
// to continue bit for bit: the parameters ("param/<name>"), the best
// parameters so far ("best/<name>"), the optimiser's state
// ("optim/<name>"), the loss history ("history/loss", "history/val_step",
// "history/val_loss"), and in its metadata the step, the early-stopping
// counters and the objective's name. The random streams need no state: they
// are derived from (seed, purpose, step, sample) (package repro).
const checkpointFormat = "scorematch-checkpoint-v1"

func saveCheckpoint(path string, obj Objective, opt nn.Optimizer, st *runState, res *Result) error {
	var ts []nn.Tensor
	params := obj.Model().Params()
	for i, p := range params {
		ts = append(ts,
			nn.Tensor{Name: "param/" + p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data},
			nn.Tensor{Name: "best/" + p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: st.best[i].Data})
	}
	for _, s := range opt.State() {
		s.Name = "optim/" + s.Name
		ts = append(ts, s)
	}
	vs := make([]float64, len(res.ValSteps))
	for i, s := range res.ValSteps {
		vs[i] = float64(s)
	}
	ts = append(ts,
		nn.Tensor{Name: "history/loss", Shape: []int{len(res.Loss)}, Data: res.Loss},
		nn.Tensor{Name: "history/val_step", Shape: []int{len(vs)}, Data: vs},
		nn.Tensor{Name: "history/val_loss", Shape: []int{len(res.ValLoss)}, Data: res.ValLoss})
	meta := map[string]string{
		"format":    checkpointFormat,
		"objective": obj.Name(),
		"step":      strconv.Itoa(st.step),
		"bad":       strconv.Itoa(st.bad),
		"best_step": strconv.Itoa(res.BestStep),
		"best_val":  strconv.FormatFloat(res.BestVal, 'g', -1, 64),
	}
	if err := nn.WriteSafetensors(path, ts, meta); err != nil {
		return fmt.Errorf("ssm: writing checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint restores a run from path. It reports false when the file
// does not exist (a fresh start).
func loadCheckpoint(path string, obj Objective, opt nn.Optimizer, st *runState, res *Result) (bool, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ssm: reading checkpoint: %w", err)
	}
	bad := func(format string, args ...any) (bool, error) {
		return false, fmt.Errorf("ssm: checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	if meta["format"] != checkpointFormat {
		return bad("format %q, want %q", meta["format"], checkpointFormat)
	}
	if meta["objective"] != obj.Name() {
		return bad("written for objective %q, resuming %q", meta["objective"], obj.Name())
	}
	ints := map[string]*int{"step": &st.step, "bad": &st.bad, "best_step": &res.BestStep}
	for k, dst := range ints {
		v, err := strconv.Atoi(meta[k])
		if err != nil {
			return bad("metadata %q is %q, want an integer", k, meta[k])
		}
		*dst = v
	}
	if res.BestVal, err = strconv.ParseFloat(meta["best_val"], 64); err != nil {
		return bad("metadata \"best_val\" is %q, want a number", meta["best_val"])
	}
	byName := map[string]nn.Tensor{}
	var optState []nn.Tensor
	for _, t := range ts {
		byName[t.Name] = t
		if s, ok := strings.CutPrefix(t.Name, "optim/"); ok {
			t.Name = s
			optState = append(optState, t)
		}
	}
	params := obj.Model().Params()
	for i, p := range params {
		for _, kind := range []string{"param/", "best/"} {
			t, ok := byName[kind+p.Name]
			if !ok {
				return bad("no tensor %q", kind+p.Name)
			}
			if len(t.Data) != len(p.Value.Data) {
				return bad("tensor %q has %d values, the model's %s has %d", kind+p.Name, len(t.Data), p.Name, len(p.Value.Data))
			}
			dst := p.Value
			if kind == "best/" {
				dst = st.best[i]
			}
			copy(dst.Data, t.Data)
		}
	}
	if err := opt.SetState(optState); err != nil {
		return bad("optimiser state: %v", err)
	}
	res.Loss = append(res.Loss[:0], byName["history/loss"].Data...)
	res.ValLoss = append(res.ValLoss[:0], byName["history/val_loss"].Data...)
	res.ValSteps = res.ValSteps[:0]
	for _, v := range byName["history/val_step"].Data {
		res.ValSteps = append(res.ValSteps, int(v))
	}
	if len(res.Loss) != st.step || len(res.ValSteps) != len(res.ValLoss) {
		return bad("history has %d losses for %d steps", len(res.Loss), st.step)
	}
	if math.IsNaN(res.BestVal) != (res.BestStep < 0) {
		return bad("best validation loss %v at step %d is inconsistent", res.BestVal, res.BestStep)
	}
	return true, nil
}
