package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/nn"
)

// cancelAt is a stderr that cancels a context once the progress log
// reports a step.
type cancelAt struct {
	bytes.Buffer
	mark   string
	cancel context.CancelFunc
}

func (w *cancelAt) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.mark) {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// modelWeights returns the weights of a model file, in order.
func modelWeights(t *testing.T, path string) []float64 {
	t.Helper()
	ts, _, err := nn.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var w []float64
	for _, x := range ts {
		w = append(w, x.Data...)
	}
	return w
}

// TestTrainSchedule: train -lr-schedule cosine -lr-final -warmup records
// the schedule in the report; a run interrupted at step 10 of 40 and
// resumed from its checkpoint writes the model of the uninterrupted run;
// -lr-schedule constant is the default; and the schedule changes the
// model.
func TestTrainSchedule(t *testing.T) {
	dir := t.TempDir()
	base := []string{"train", "-data", "banana", "-n", "400", "-model", "mlp:8", "-steps", "40", "-lr", "0.01"}
	sched := append(append([]string(nil), base...), "-lr-schedule", "cosine", "-lr-final", "0.001", "-warmup", "5")
	with := func(args []string, more ...string) []string { return append(append([]string(nil), args...), more...) }

	if code, _, stderr := ssmRun(t, dir, with(sched, "-out", "a.safetensors", "-report", "a.json")...); code != 0 {
		t.Fatalf("scheduled run: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep["lr_schedule"] != "cosine" || rep["lr_final"] != 0.001 || rep["warmup"] != 5.0 || rep["lr"] != 0.01 {
		t.Errorf("report: lr_schedule %v, lr_final %v, warmup %v, lr %v", rep["lr_schedule"], rep["lr_final"], rep["warmup"], rep["lr"])
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelAt{mark: "step=10 ", cancel: cancel}
	args := with(sched, "-out", "b.safetensors", "-checkpoint", "ck.safetensors", "-resume")
	if code := run(ctx, &env{stdout: &bytes.Buffer{}, stderr: stderr, dir: dir}, args); code == 0 {
		t.Fatalf("the interrupted run exited 0: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "at step 10;") {
		t.Fatalf("the run was not interrupted at step 10: %s", stderr.String())
	}
	if code, _, stderr := ssmRun(t, dir, args...); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	scheduled := modelWeights(t, filepath.Join(dir, "a.safetensors"))
	if !adtest.SameBits(modelWeights(t, filepath.Join(dir, "b.safetensors")), scheduled) {
		t.Error("the resumed run's model differs from the uninterrupted run's")
	}

	if code, _, stderr := ssmRun(t, dir, with(base, "-out", "c.safetensors")...); code != 0 {
		t.Fatalf("plain run: exit %d: %s", code, stderr)
	}
	if code, _, stderr := ssmRun(t, dir, with(base, "-out", "d.safetensors", "-lr-schedule", "constant", "-warmup", "0")...); code != 0 {
		t.Fatalf("constant run: exit %d: %s", code, stderr)
	}
	plain := modelWeights(t, filepath.Join(dir, "c.safetensors"))
	if !adtest.SameBits(modelWeights(t, filepath.Join(dir, "d.safetensors")), plain) {
		t.Error("-lr-schedule constant -warmup 0 changed the model: it is not the default")
	}
	if adtest.SameBits(scheduled, plain) {
		t.Error("the schedule changed nothing")
	}
}
