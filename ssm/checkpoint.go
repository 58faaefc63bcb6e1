package ssm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"reflect"
	"strconv"
	"strings"

	"scorematch/ad"
	"scorematch/nn"
)

// A checkpoint is a safetensors file holding everything a resumed run needs
// to continue bit for bit: the parameters ("param/<name>"), the best
// parameters so far ("best/<name>"), their moving average ("ema/<name>",
// with Config.EMA > 0), the optimiser's state
// ("optim/<name>"), the loss history ("history/loss", "history/val_step",
// "history/val_loss"), and in its metadata the step and the early-stopping
// counters ("step", "bad", "best_step", "best_val") and every setting that
// changes the result, under the names of runSettings ("Config.Seed", ...).
// The random streams need no state: they are derived from (seed, purpose,
// step, sample) (package repro).
//
// Version 1 did not record the settings; its checkpoints are refused.
const checkpointFormat = "scorematch-checkpoint-v2"

// A ResumeError reports a checkpoint written by a run with other settings
// than the run that resumes it: resuming would not give the result of
// either. Programs match it with errors.As to name their own flags.
type ResumeError struct {
	Checkpoint string        // the checkpoint file
	Diffs      []SettingDiff // the settings that differ, in the order of runSettings
}

// A SettingDiff is one setting that differs between a checkpoint and the
// run resuming it.
type SettingDiff struct {
	// Setting names the setting: "Config.Seed", "Config.BatchSize",
	// "Config.Chunks", "Config.ValFrac", "Config.EvalEvery",
	// "Config.ClipNorm", "Config.EMA", "Config.Schedule" (with the steps
	// planned when it decays), "Config.Optimizer" (its type and exported
	// hyperparameters), "Objective" (the name), "Options.Projection",
	// "Options.M", "Options.Sigma", "Options.Sigmas", "Model" (the
	// architecture, see nn.ArchitectureOf) or "Data" (rows, columns and a
	// hash of the values).
	Setting string
	Saved   string // the checkpoint's value
	Given   string // the resuming run's value
}

func (e *ResumeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssm: checkpoint %s was written with other settings than this run's:", e.Checkpoint)
	for i, d := range e.Diffs {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %s %s (this run: %s)", d.Setting, d.Saved, d.Given)
	}
	return b.String()
}

// A CheckpointError reports a checkpoint that Train cannot resume from for
// any other reason than its settings: unreadable or malformed (Err is then
// the error of nn.ReadSafetensors, a *nn.FormatError for a malformed
// file), written by an older version that did not record its settings,
// inconsistent with itself or the model, or past the steps the run plans.
type CheckpointError struct {
	Checkpoint string // the checkpoint file
	Problem    string // what is wrong
	Err        error  // the underlying error, or nil
}

func (e *CheckpointError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("ssm: checkpoint %s: %s: %v", e.Checkpoint, e.Problem, e.Err)
	}
	return fmt.Sprintf("ssm: checkpoint %s: %s", e.Checkpoint, e.Problem)
}

// Unwrap returns the underlying error.
func (e *CheckpointError) Unwrap() error { return e.Err }

// A runSetting is one entry of runSettings: a name as SettingDiff.Setting
// spells it (and the checkpoint's metadata key) and its value as text.
type runSetting struct {
	name, value string
	option      bool   // an objective's option: recorded only if the objective reads it
	absent      string // the value a checkpoint that predates the setting had, if any
}

// runSettings returns every setting of a run that changes its result, as
// the checkpoint records them: the configuration (cfg after its defaults),
// the objective and the options it reads, the model's architecture and a
// fingerprint of the data. Steps, Epochs and Patience are left out: they
// only say when to stop, and a resumed run may go further; but a decaying
// Schedule's rates depend on the steps planned, which it records.
// Options.Group is left out: it bounds memory, not the result.
func runSettings(obj Objective, cfg Config, steps int, data ad.Mat) []runSetting {
	ss := []runSetting{
		{name: "Config.Seed", value: strconv.FormatUint(cfg.Seed, 10)},
		{name: "Config.BatchSize", value: strconv.Itoa(cfg.BatchSize)},
		{name: "Config.Chunks", value: strconv.Itoa(cfg.Chunks)},
		{name: "Config.ValFrac", value: formatFloat(cfg.ValFrac)},
		{name: "Config.EvalEvery", value: strconv.Itoa(cfg.EvalEvery)},
		{name: "Config.ClipNorm", value: formatFloat(cfg.ClipNorm)},
		{name: "Config.EMA", value: formatFloat(cfg.EMA), absent: "0"},
		{name: "Config.Schedule", value: cfg.Schedule.describe(steps), absent: "constant"},
		{name: "Config.Optimizer", value: describeOptimizer(cfg.Optimizer)},
		{name: "Objective", value: obj.Name()},
	}
	if o, ok := obj.(interface{ recordedOptions() []runSetting }); ok {
		ss = append(ss, o.recordedOptions()...)
	}
	return append(ss,
		runSetting{name: "Model", value: describeModel(obj.Model())},
		runSetting{name: "Data", value: fingerprint(data)})
}

// recordedOptions returns the options the objective reads, as settings.
func (o *objective) recordedOptions() []runSetting {
	spec, _ := Lookup(o.name)
	var ss []runSetting
	add := func(name, value string) { ss = append(ss, runSetting{name: name, value: value, option: true}) }
	if o.needs.Projections > 0 || len(o.needs.Hidden) > 0 {
		add("Options.Projection", o.opts.Projection.String())
	}
	if spec.Reads&ReadsM != 0 {
		add("Options.M", strconv.Itoa(o.opts.M))
	}
	if spec.Reads&ReadsSigma != 0 {
		add("Options.Sigma", formatFloat(o.opts.Sigma))
	}
	if spec.Reads&ReadsSigmas != 0 {
		s := make([]string, len(o.opts.Sigmas))
		for i, v := range o.opts.Sigmas {
			s[i] = formatFloat(v)
		}
		add("Options.Sigmas", strings.Join(s, ","))
	}
	return ss
}

// formatFloat formats v exactly (the shortest text that reads back as v).
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// describeOptimizer formats an optimiser's type and exported fields, its
// hyperparameters: "*nn.Adam{LR: 0.001, Beta1: 0.9, ...}".
func describeOptimizer(o nn.Optimizer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%T{", o)
	v := reflect.ValueOf(o)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		n := 0
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if n > 0 {
				b.WriteString(", ")
			}
			n++
			fmt.Fprintf(&b, "%s: %v", f.Name, v.Field(i))
		}
	}
	b.WriteByte('}')
	return b.String()
}

// describeModel formats a model's architecture, or for a model package nn
// cannot describe, its type and its parameters' names and shapes.
func describeModel(m nn.Model) string {
	if a, ok := nn.ArchitectureOf(m); ok {
		return a.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%T dim=%d", m, m.Dim())
	for _, p := range m.Params() {
		fmt.Fprintf(&b, " %s[%d %d]", p.Name, p.Value.Rows, p.Value.Cols)
	}
	return b.String()
}

// fingerprint identifies the data: its rows and columns and the FNV-1a
// 64-bit hash of its values' bits (little-endian, row-major).
func fingerprint(data ad.Mat) string {
	h := fnv.New64a()
	var buf [8 * 512]byte
	for i := 0; i < len(data.Data); i += 512 {
		vs := data.Data[i:min(i+512, len(data.Data))]
		for j, v := range vs {
			binary.LittleEndian.PutUint64(buf[8*j:], math.Float64bits(v))
		}
		h.Write(buf[:8*len(vs)])
	}
	return fmt.Sprintf("%d×%d rows×columns, FNV-1a %016x", data.Rows, data.Cols, h.Sum64())
}

// saveCheckpoint writes the run's state and its settings ss to path.
func saveCheckpoint(path string, ss []runSetting, obj Objective, opt nn.Optimizer, st *runState, res *Result) error {
	var ts []nn.Tensor
	params := obj.Model().Params()
	for i, p := range params {
		ts = append(ts,
			nn.Tensor{Name: "param/" + p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data},
			nn.Tensor{Name: "best/" + p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: st.best[i].Data})
		if st.ema != nil {
			ts = append(ts, nn.Tensor{Name: "ema/" + p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: st.ema[i].Data})
		}
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
		"step":      strconv.Itoa(st.step),
		"bad":       strconv.Itoa(st.bad),
		"best_step": strconv.Itoa(res.BestStep),
		"best_val":  strconv.FormatFloat(res.BestVal, 'g', -1, 64),
	}
	for _, s := range ss {
		meta[s.name] = s.value
	}
	if err := nn.WriteSafetensors(path, ts, meta); err != nil {
		return fmt.Errorf("ssm: writing checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint restores a run from path after checking that it was
// written with the settings ss. It reports false when the file does not
// exist (a fresh start). Any other failure is a *ResumeError or a
// *CheckpointError; the settings are checked before anything is restored.
func loadCheckpoint(path string, ss []runSetting, obj Objective, opt nn.Optimizer, st *runState, res *Result) (bool, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &CheckpointError{Checkpoint: path, Problem: "cannot read it", Err: err}
	}
	bad := func(format string, args ...any) (bool, error) {
		return false, &CheckpointError{Checkpoint: path, Problem: fmt.Sprintf(format, args...)}
	}
	switch f := meta["format"]; {
	case f == "scorematch-checkpoint-v1":
		return bad("written by an older version (%s), which did not record the run's settings, so resuming cannot be checked; start afresh without it", f)
	case f != checkpointFormat:
		return bad("format %q, want %q", f, checkpointFormat)
	}
	var diffs []SettingDiff
	for _, s := range ss {
		saved, ok := meta[s.name]
		if !ok && s.absent != "" {
			saved, ok = s.absent, true
		}
		switch {
		case !ok && s.option && meta["Objective"] != obj.Name():
			// Another objective, which does not read this option: that
			// difference is reported.
		case !ok:
			return bad("metadata has no %q", s.name)
		case saved != s.value:
			diffs = append(diffs, SettingDiff{Setting: s.name, Saved: saved, Given: s.value})
		}
	}
	if diffs != nil {
		return false, &ResumeError{Checkpoint: path, Diffs: diffs}
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
	kinds := []string{"param/", "best/"}
	if st.ema != nil {
		kinds = append(kinds, "ema/")
	}
	for i, p := range params {
		for _, kind := range kinds {
			t, ok := byName[kind+p.Name]
			if !ok {
				return bad("no tensor %q", kind+p.Name)
			}
			if len(t.Data) != len(p.Value.Data) {
				return bad("tensor %q has %d values, the model's %s has %d", kind+p.Name, len(t.Data), p.Name, len(p.Value.Data))
			}
			dst := p.Value
			switch kind {
			case "best/":
				dst = st.best[i]
			case "ema/":
				dst = st.ema[i]
			}
			copy(dst.Data, t.Data)
		}
	}
	if err := opt.SetState(optState); err != nil {
		return false, &CheckpointError{Checkpoint: path, Problem: "the optimiser's state does not fit", Err: err}
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
