package ssm

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/nn"
)

// A ckRun describes a training run for the checkpoint tests: every
// setting a checkpoint records.
type ckRun struct {
	objective string
	opts      Options
	kind      string // nn.KindEnergy, nn.KindScore or nn.KindNCSN
	hidden    []int
	act       string
	cfg       Config
	data      func(x ad.Mat) // changes the data, if set
}

// baseRun is the run whose settings the table of TestResumeRefused
// changes one at a time.
func baseRun() ckRun {
	return ckRun{objective: "ssm-vr", kind: nn.KindEnergy, hidden: []int{8}, act: "softplus",
		cfg: Config{BatchSize: 32, Steps: 6, Seed: 5, ValFrac: 0.2, EvalEvery: 3, Optimizer: nn.NewAdam()}}
}

// train runs r, writing and resuming the checkpoint ck, and returns the
// result and the number of steps taken by this call.
func (r ckRun) train(t *testing.T, ck string) (*Result, int, error) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	var m nn.Model
	var err error
	switch r.kind {
	case nn.KindEnergy:
		m, err = nn.NewEnergyMLP(2, r.hidden, r.act, rng)
	case nn.KindScore:
		m, err = nn.NewScoreMLP(2, r.hidden, r.act, rng)
	case nn.KindNCSN:
		m, err = nn.NewNCSN(2, r.hidden, r.act, rng)
	}
	if err != nil {
		t.Fatal(err)
	}
	x, _ := gaussianData(rand.New(rand.NewPCG(4, 4)), 100, 2)
	if r.data != nil {
		r.data(x)
	}
	obj, err := New(r.objective, m, r.opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.cfg
	cfg.Checkpoint, cfg.Resume = ck, true
	steps := 0
	cfg.Progress = func(Progress) { steps++ }
	res, err := Train(context.Background(), obj, x, cfg)
	return res, steps, err
}

// TestResumeRefused writes a checkpoint, then resumes it with each setting
// that changes the result changed in turn: each resume must be refused
// with a *ResumeError naming that setting with both values, before any
// step is taken or the checkpoint is rewritten.
func TestResumeRefused(t *testing.T) {
	dsm := func(r *ckRun) { r.objective, r.opts = "dsm", Options{Sigma: 0.5} }
	ncsn := func(r *ckRun) {
		r.objective, r.kind, r.opts = "ncsn", nn.KindNCSN, Options{Sigmas: []float64{1, 0.5, 0.1}}
	}
	for _, tc := range []struct {
		name         string
		base         func(*ckRun) // changes the first run, if set
		change       func(*ckRun)
		setting      string
		saved, given string
	}{
		{"seed", nil, func(r *ckRun) { r.cfg.Seed = 6 }, "Config.Seed", "5", "6"},
		{"batch", nil, func(r *ckRun) { r.cfg.BatchSize = 16 }, "Config.BatchSize", "32", "16"},
		{"chunks", nil, func(r *ckRun) { r.cfg.Chunks = 2 }, "Config.Chunks", "1", "2"},
		{"validation fraction", nil, func(r *ckRun) { r.cfg.ValFrac = 0.1 }, "Config.ValFrac", "0.2", "0.1"},
		{"validation schedule", nil, func(r *ckRun) { r.cfg.EvalEvery = 2 }, "Config.EvalEvery", "3", "2"},
		{"clipping", nil, func(r *ckRun) { r.cfg.ClipNorm = 1 }, "Config.ClipNorm", "0", "1"},
		{"learning rate", nil, func(r *ckRun) { o := nn.NewAdam(); o.LR = 0.01; r.cfg.Optimizer = o }, "Config.Optimizer",
			"*nn.Adam{LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-08, WeightDecay: 0}",
			"*nn.Adam{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-08, WeightDecay: 0}"},
		{"optimiser", nil, func(r *ckRun) { r.cfg.Optimizer = nn.NewSGD(0.001) }, "Config.Optimizer",
			"*nn.Adam{LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-08, WeightDecay: 0}",
			"*nn.SGD{LR: 0.001, Momentum: 0, Dampening: 0, WeightDecay: 0, Nesterov: false}"},
		{"momentum", func(r *ckRun) { r.cfg.Optimizer = nn.NewSGD(0.001) },
			func(r *ckRun) { o := nn.NewSGD(0.001); o.Momentum = 0.9; r.cfg.Optimizer = o }, "Config.Optimizer",
			"*nn.SGD{LR: 0.001, Momentum: 0, Dampening: 0, WeightDecay: 0, Nesterov: false}",
			"*nn.SGD{LR: 0.001, Momentum: 0.9, Dampening: 0, WeightDecay: 0, Nesterov: false}"},
		{"objective", nil, func(r *ckRun) { r.objective = "ssm" }, "Objective", "ssm-vr", "ssm"},
		{"projections", nil, func(r *ckRun) { r.opts.M = 2 }, "Options.M", "1", "2"},
		{"projection", nil, func(r *ckRun) { r.opts.Projection = Gaussian }, "Options.Projection", "rademacher", "gaussian"},
		{"sigma", dsm, func(r *ckRun) { r.opts.Sigma = 0.25 }, "Options.Sigma", "0.5", "0.25"},
		{"sigmas", ncsn, func(r *ckRun) { r.opts.Sigmas = []float64{1, 0.3, 0.1} }, "Options.Sigmas", "1,0.5,0.1", "1,0.3,0.1"},
		{"activation", nil, func(r *ckRun) { r.act = "tanh" }, "Model",
			"energy dim=2 hidden=8 activation=softplus", "energy dim=2 hidden=8 activation=tanh"},
		{"width", nil, func(r *ckRun) { r.hidden = []int{9} }, "Model",
			"energy dim=2 hidden=8 activation=softplus", "energy dim=2 hidden=9 activation=softplus"},
		{"data", nil, func(r *ckRun) { r.data = func(x ad.Mat) { x.Data[17] += 1e-12 } }, "Data", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := filepath.Join(t.TempDir(), "ck.safetensors")
			first := baseRun()
			if tc.base != nil {
				tc.base(&first)
			}
			if _, _, err := first.train(t, ck); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(ck)
			if err != nil {
				t.Fatal(err)
			}
			second := first
			second.cfg.Steps = 12 // more steps: a legitimate change
			tc.change(&second)
			_, steps, err := second.train(t, ck)
			var re *ResumeError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a *ResumeError", err)
			}
			if re.Checkpoint != ck || len(re.Diffs) != 1 || re.Diffs[0].Setting != tc.setting {
				t.Fatalf("error %#v, want one naming %s", re, tc.setting)
			}
			d := re.Diffs[0]
			if tc.saved != "" && (d.Saved != tc.saved || d.Given != tc.given) {
				t.Errorf("%s: saved %q, given %q; want %q, %q", d.Setting, d.Saved, d.Given, tc.saved, tc.given)
			}
			if d.Saved == d.Given || !strings.Contains(err.Error(), d.Saved) || !strings.Contains(err.Error(), d.Given) {
				t.Errorf("message %q does not show both values", err)
			}
			if steps != 0 {
				t.Errorf("%d steps taken before the refusal", steps)
			}
			if after, _ := os.ReadFile(ck); !bytes.Equal(after, before) {
				t.Error("the refused resume changed the checkpoint")
			}
			// Unchanged, the run resumes.
			first.cfg.Steps = 12
			if _, steps, err := first.train(t, ck); err != nil || steps != 6 {
				t.Errorf("unchanged resume: %d steps, error %v", steps, err)
			}
		})
	}
}

// TestResumeAllDiffs checks that a resume changing several settings
// names them all, in order.
func TestResumeAllDiffs(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	r := baseRun()
	if _, _, err := r.train(t, ck); err != nil {
		t.Fatal(err)
	}
	r.cfg.Seed, r.act, r.objective = 9, "tanh", "ssm"
	_, _, err := r.train(t, ck)
	var re *ResumeError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a *ResumeError", err)
	}
	var names []string
	for _, d := range re.Diffs {
		names = append(names, d.Setting)
	}
	if want := []string{"Config.Seed", "Objective", "Model"}; !reflect.DeepEqual(names, want) {
		t.Errorf("settings %v, want %v (%v)", names, want, err)
	}
}

// TestCheckpointErrors covers checkpoints that cannot be resumed whatever
// the settings: each is a *CheckpointError naming the file.
func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	r := baseRun()
	if _, _, err := r.train(t, good); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := nn.ReadSafetensors(good)
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(name string, f func(ts []nn.Tensor, meta map[string]string) []nn.Tensor) string {
		m := map[string]string{}
		for k, v := range meta {
			m[k] = v
		}
		path := filepath.Join(dir, name)
		if err := nn.WriteSafetensors(path, f(append([]nn.Tensor(nil), ts...), m), m); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, path, want string
		steps            int
	}{
		{"old format", rewrite("v1", func(ts []nn.Tensor, m map[string]string) []nn.Tensor {
			m["format"] = "scorematch-checkpoint-v1"
			return ts
		}), "written by an older version", 12},
		{"unknown format", rewrite("v9", func(ts []nn.Tensor, m map[string]string) []nn.Tensor {
			m["format"] = "other"
			return ts
		}), `format "other"`, 12},
		{"setting missing", rewrite("noseed", func(ts []nn.Tensor, m map[string]string) []nn.Tensor {
			delete(m, "Config.Seed")
			return ts
		}), `no "Config.Seed"`, 12},
		{"option missing", rewrite("nom", func(ts []nn.Tensor, m map[string]string) []nn.Tensor {
			delete(m, "Options.M")
			return ts
		}), `no "Options.M"`, 12},
		{"optimiser state", rewrite("optim", func(ts []nn.Tensor, m map[string]string) []nn.Tensor {
			for i := range ts {
				if strings.HasPrefix(ts[i].Name, "optim/exp_avg.") {
					ts[i].Name = "optim/momentum_buffer." + strings.TrimPrefix(ts[i].Name, "optim/exp_avg.")
				}
			}
			return ts
		}), "the optimiser's state does not fit", 12},
		{"past the steps", good, "at step 6, past the 4 steps planned", 4},
		{"not a checkpoint", func() string {
			path := filepath.Join(dir, "text")
			os.WriteFile(path, []byte("hello"), 0o644)
			return path
		}(), "cannot read it", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := baseRun()
			r.cfg.Steps = tc.steps
			_, steps, err := r.train(t, tc.path)
			var ce *CheckpointError
			if !errors.As(err, &ce) || ce.Checkpoint != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a *CheckpointError naming %s and containing %q", err, tc.path, tc.want)
			}
			if steps != 0 {
				t.Errorf("%d steps taken", steps)
			}
		})
	}
	// A malformed file's *nn.FormatError is kept.
	r.cfg.Steps = 12
	_, _, err = r.train(t, filepath.Join(dir, "text"))
	var fe *nn.FormatError
	if !errors.As(err, &fe) {
		t.Errorf("error %v does not wrap the *nn.FormatError", err)
	}
}

// TestCheckpointSettings checks the settings a checkpoint records.
func TestCheckpointSettings(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	r := baseRun()
	if _, _, err := r.train(t, ck); err != nil {
		t.Fatal(err)
	}
	_, meta, err := nn.ReadSafetensors(ck)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"format": checkpointFormat, "step": "6", "Config.Seed": "5", "Config.BatchSize": "32", "Config.Chunks": "1",
		"Config.ValFrac": "0.2", "Config.EvalEvery": "3", "Config.ClipNorm": "0", "Config.EMA": "0", "Config.Schedule": "constant",
		"Config.Optimizer": "*nn.Adam{LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-08, WeightDecay: 0}",
		"Objective":        "ssm-vr", "Options.Projection": "rademacher", "Options.M": "1",
		"Model": "energy dim=2 hidden=8 activation=softplus",
	}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, meta[k], v)
		}
	}
	if d := meta["Data"]; !strings.HasPrefix(d, "100×2 rows×columns, FNV-1a ") || len(d) != len("100×2 rows×columns, FNV-1a ")+16 {
		t.Errorf("metadata Data = %q", d)
	}
	for _, k := range []string{"Options.Sigma", "Options.Sigmas"} {
		if v, ok := meta[k]; ok {
			t.Errorf("ssm-vr does not read %s, but the checkpoint records %q", k, v)
		}
	}
}
