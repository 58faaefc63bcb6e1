package ssm

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/nn"
)

// TestEMA checks the moving average against one computed here from the
// raw weights of runs of 1, 2, ..., 6 steps (the same trajectory, since
// every step's randomness depends only on the seed and the step): without
// validation, Train returns the average, bit for bit.
func TestEMA(t *testing.T) {
	const steps = 6
	d := 0.9 // a variable: 1 − d must round as Train's does
	cfg := Config{BatchSize: 64, Seed: 3}
	m, err := nn.NewEnergyMLP(3, []int{16, 16}, "softplus", rand.New(rand.NewPCG(8, 8))) // trainMLP's initial model
	if err != nil {
		t.Fatal(err)
	}
	var avg []float64
	for _, p := range m.Params() {
		avg = append(avg, p.Value.Data...)
	}
	for k := 1; k <= steps; k++ {
		raw, _, err := trainMLP(t, cfg.withSteps(k))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range raw {
			avg[i] = float64(d*avg[i]) + float64((1-d)*v)
		}
	}
	withEMA := cfg.withSteps(steps)
	withEMA.EMA = d
	got, _, err := trainMLP(t, withEMA)
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(got, avg) {
		t.Error("Train's moving average differs from the one computed from the raw weights")
	}
	raw, _, _ := trainMLP(t, cfg.withSteps(steps))
	if adtest.SameBits(got, raw) {
		t.Error("the moving average equals the raw weights: the comparison is vacuous")
	}
}

// withSteps returns c set to run k steps.
func (c Config) withSteps(k int) Config {
	c.Steps, c.Epochs = k, 0
	return c
}

// TestEMAResume: an interrupted run with a moving average and validation
// resumes to the weights, history and best step of an uninterrupted one,
// and validation evaluates the average (its losses differ from a run
// without it).
func TestEMAResume(t *testing.T) {
	cfg := Config{BatchSize: 50, Steps: 30, Seed: 5, ValFrac: 0.2, EvalEvery: 5, Patience: 100, EMA: 0.8}
	want, wantRes, err := trainMLP(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck := cfg
	ck.Checkpoint = filepath.Join(t.TempDir(), "ck.safetensors")
	ck.Resume = true
	ck.Steps = 15 // a validation step, as in the uninterrupted run
	if _, _, err := trainMLP(t, ck); err != nil {
		t.Fatal(err)
	}
	ck.Steps = 30
	got, gotRes, err := trainMLP(t, ck)
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(got, want) || !adtest.SameBits(gotRes.ValLoss, wantRes.ValLoss) || gotRes.BestStep != wantRes.BestStep {
		t.Error("the resumed run differs from the uninterrupted one")
	}
	plain := cfg
	plain.EMA = 0
	_, plainRes, err := trainMLP(t, plain)
	if err != nil {
		t.Fatal(err)
	}
	if adtest.SameBits(plainRes.ValLoss, wantRes.ValLoss) {
		t.Error("validation losses are those of the raw weights: validation does not evaluate the average")
	}
	// A resume with another decay is refused, naming the setting.
	ck.EMA = 0.9
	var re *ResumeError
	if _, _, err := trainMLP(t, ck); !errors.As(err, &re) || re.Diffs[0].Setting != "Config.EMA" {
		t.Errorf("resume with another EMA: %v, want a *ResumeError naming Config.EMA", err)
	}
}
