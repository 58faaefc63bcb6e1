package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/sampler"
)

// TestMain lets the test binary act as the ssm command (for the SIGINT
// test) when SSM_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("SSM_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

var golden = filepath.Join("..", "..", "testdata", "golden")

// needReexec skips a test that runs the test binary as the command in a
// child process where that cannot work: a cross-architecture run (go test
// -exec qemu-aarch64), whose binary the system cannot execute directly.
func needReexec(t *testing.T) {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "SSM_TEST_MAIN=")
	if err := c.Run(); err != nil {
		t.Skipf("cannot run the test binary in a child process here (%v)", err)
	}
}

// ssmRun runs the command in-process in dir and returns its exit status and
// output.
func ssmRun(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &env{stdout: &out, stderr: &errb, dir: dir}, args)
	return code, out.String(), errb.String()
}

// TestLossGolden checks `ssm loss` against golden.json for every objective.
func TestLossGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(golden, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Energy     []float64
		Score, HVP [][]float64
		Objectives map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	for key, want := range g.Objectives {
		kind, obj, _ := strings.Cut(key, "/")
		act := map[string]string{"energy": "softplus", "score": "tanh"}[kind]
		code, out, errs := ssmRun(t, "", "loss", "-model", filepath.Join(golden, kind+".safetensors"), "-act", act, "-kind", kind,
			"-x", filepath.Join(golden, "x.npy"), "-v", filepath.Join(golden, "v.npy"), "-eps", filepath.Join(golden, "eps.npy"),
			"-sigma", "0.1", "-objective", obj, "-grad")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", key, code, errs)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: output is not JSON: %v", key, err)
		}
		compare := func(what string, a, b json.RawMessage) {
			x, _ := adtest.Flatten(a)
			y, _ := adtest.Flatten(b)
			if len(x) != len(y) || len(x) == 0 {
				t.Errorf("%s %s: %d values, want %d", key, what, len(x), len(y))
				return
			}
			if e, at := fd.RelErr(x, y, 1e-3); e > 1e-10 {
				t.Errorf("%s %s: relative error %.3g at %d", key, what, e, at)
			}
		}
		compare("loss", got["loss"], want["loss"])
		if _, ok := want["terms"]; ok {
			compare("terms", got["terms"], want["terms"])
		} else {
			compare("per_sample", got["per_sample"], want["per_sample"])
		}
		var gg, wg map[string]json.RawMessage
		json.Unmarshal(got["grad"], &gg)
		json.Unmarshal(want["grad"], &wg)
		for name, w := range wg {
			compare("grad "+name, gg[name], w)
		}
		if kind == "energy" && obj == "ssm" {
			e, _ := json.Marshal(g.Energy)
			s, _ := json.Marshal(g.Score)
			h, _ := json.Marshal(g.HVP)
			compare("energy", got["energy"], e)
			compare("score", got["score"], s)
			compare("hvp", got["hvp"], h)
		}
	}
}

// TestFailures checks every listed kind of bad input: exit status 2, one
// line naming the file, row, column or flag, and no output file.
func TestFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ragged := write("ragged.csv", "1,2\n3,4\n5\n")
	text := write("text.csv", "1,2\n3,abc\n")
	nan := write("nan.csv", "1,2\n3,NaN\n")
	three := write("three.csv", "1,2,3\n4,5,6\n")
	npy, _ := os.ReadFile(filepath.Join(golden, "x.npy"))
	truncated := write("trunc.npy", string(npy[:len(npy)-13]))
	fake := write("fake.safetensors", "this is not a safetensors file")
	ints := write("ints.npy", strings.Replace(string(npy), "<f8", "<i8", 1))
	model := filepath.Join(golden, "energy.safetensors")
	out := filepath.Join(dir, "out.safetensors")
	for _, c := range []struct {
		name string
		args []string
		want []string // substrings of the message
	}{
		{"missing file", []string{"train", "-data", filepath.Join(dir, "nope.csv"), "-out", out}, []string{"nope.csv"}},
		{"ragged CSV", []string{"train", "-data", ragged, "-out", out}, []string{"ragged.csv", "row 3"}},
		{"non-numeric CSV", []string{"train", "-data", text, "-out", out}, []string{"text.csv", "row 2", "column 2", "abc"}},
		{"NaN in data", []string{"train", "-data", nan, "-out", out}, []string{"nan.csv", "row 2", "column 2"}},
		{"dimension mismatch", []string{"loss", "-model", model, "-act", "softplus", "-kind", "energy", "-x", three, "-objective", "sm"}, []string{"3 columns", "dimension 5"}},
		{"truncated npy", []string{"train", "-data", truncated, "-out", out}, []string{"trunc.npy", "truncated"}},
		{"mislabelled npy", []string{"train", "-data", ints, "-out", out}, []string{"ints.npy", "<i8"}},
		{"mislabelled safetensors", []string{"loss", "-model", fake, "-x", filepath.Join(golden, "x.npy")}, []string{"fake.safetensors"}},
		{"unknown objective", []string{"train", "-objective", "nope", "-out", out}, []string{"-objective", "nope"}},
		{"unknown projection", []string{"train", "-projection", "unit", "-out", out}, []string{"-projection", "unit"}},
		{"unknown optimizer", []string{"train", "-optimizer", "lbfgs", "-out", out}, []string{"-optimizer", "lbfgs"}},
		{"bad model spec", []string{"train", "-model", "mlp:12,x", "-out", out}, []string{"-model", "x"}},
		{"relu energy", []string{"train", "-act", "relu", "-out", out}, []string{"relu"}},
		{"unknown flag", []string{"train", "-nope"}, []string{"nope"}},
		{"unknown dataset", []string{"train", "-data", "spiral", "-out", out}, []string{"spiral"}},
		{"missing kind", []string{"loss", "-model", model, "-x", filepath.Join(golden, "x.npy")}, []string{"-kind"}},
		{"negative chunks", []string{"train", "-chunks", "-1", "-out", out}, []string{"-chunks -1"}},
		{"more chunks than rows", []string{"train", "-batch", "8", "-chunks", "100000", "-out", out}, []string{"-chunks 100000", "batch size (8)"}},
	} {
		code, stdout, stderr := ssmRun(t, dir, c.args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (stderr %q)", c.name, code, stderr)
			continue
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
			t.Errorf("%s: want one line on stderr and nothing on stdout, got %q / %q", c.name, stderr, stdout)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: message %q does not mention %q", c.name, strings.TrimSpace(stderr), w)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", c.name, out)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 7 {
		t.Errorf("the directory holds %d files, want the 7 inputs (no temporary files)", len(ents))
	}
}

// TestInterruptNoCheckpoint interrupts a run without -checkpoint: it must
// exit 130, say that nothing was saved and how to keep progress, and write
// no model.
func TestInterruptNoCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command")
	}
	dir := t.TempDir()
	needReexec(t)
	c := exec.Command(os.Args[0], "train", "-data", "banana", "-n", "2000", "-model", "mlp:32,32", "-steps", "1000000")
	c.Env = append(os.Environ(), "SSM_TEST_MAIN=1")
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v, want exit status 130\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "nothing was saved") || !strings.Contains(stderr.String(), "-checkpoint") {
		t.Errorf("no word on what was lost and how to keep it:\n%s", stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the interrupted run wrote %d files", len(ents))
	}
}

// TestStaleTemporaries checks that a run removes the temporary files a
// killed run left beside its outputs.
func TestStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".m.safetensors.tmp-4242")
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := ssmRun(t, dir, "train", "-data", "banana", "-n", "300", "-model", "mlp:8", "-steps", "3", "-out", "m.safetensors"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale temporary file is still there")
	}
}

// TestDivergence checks that a run whose loss explodes fails with exit 1,
// names the learning rate, and writes no model.
func TestDivergence(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := ssmRun(t, dir, "train", "-data", "banana", "-n", "2000", "-model", "mlp:32,32", "-lr", "10", "-steps", "300", "-out", "m.safetensors")
	if code != 1 || !strings.Contains(stderr, "diverged") || !strings.Contains(stderr, "-lr") {
		t.Errorf("exit %d, stderr %q; want 1 and a divergence naming -lr", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
		t.Error("the diverged run wrote its model")
	}
	for _, c := range []struct {
		loss []float64
		want bool
	}{
		{[]float64{0.003, 7e9, 1e9, 500, 400}, true},
		{[]float64{-0.5, -1, -2, -3}, false},
		{[]float64{0.2, 0.1, 0.05}, false},
		{[]float64{-0.5, -0.3, -0.2}, false},
		{[]float64{1, 1, math.NaN()}, true},
		{[]float64{1, 1, math.Inf(1)}, true},
		{[]float64{5}, false},
	} {
		if _, _, got := diverged(c.loss); got != c.want {
			t.Errorf("diverged(%v) = %v, want %v", c.loss, got, c.want)
		}
	}
}

// TestInterruptResume interrupts a training run with SIGTERM once it has
// written a checkpoint, resumes it, and compares the final weights with an
// uninterrupted run's.
func TestInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command three times")
	}
	needReexec(t)
	dir := t.TempDir()
	args := []string{"train", "-data", "banana", "-n", "2000", "-model", "mlp:32,32", "-steps", "3000", "-batch", "64",
		"-eval-every", "50", "-seed", "3"}
	cmd := func(extra ...string) *exec.Cmd {
		c := exec.Command(os.Args[0], append(append([]string{}, args...), extra...)...)
		c.Env = append(os.Environ(), "SSM_TEST_MAIN=1")
		c.Dir = dir
		return c
	}
	if out, err := cmd("-out", "full.safetensors").CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	ck := filepath.Join(dir, "ck.safetensors")
	c := cmd("-out", "resumed.safetensors", "-checkpoint", "ck.safetensors", "-resume")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ck); err == nil || time.Now().After(deadline) {
			break
		}
	}
	c.Process.Signal(syscall.SIGTERM) // as a scheduler stops a job; SIGINT takes the same path
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v, want exit status 130\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "resumed.safetensors")); err == nil {
		t.Fatal("the interrupted run wrote its model")
	}
	if out, err := cmd("-out", "resumed.safetensors", "-checkpoint", "ck.safetensors", "-resume").CombinedOutput(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	a, _, err1 := nn.ReadSafetensors(filepath.Join(dir, "full.safetensors"))
	b, _, err2 := nn.ReadSafetensors(filepath.Join(dir, "resumed.safetensors"))
	if err1 != nil || err2 != nil || len(a) != len(b) {
		t.Fatalf("reading the models: %v, %v", err1, err2)
	}
	for i := range a {
		for j := range a[i].Data {
			if math.Float64bits(a[i].Data[j]) != math.Float64bits(b[i].Data[j]) {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", a[i].Name, j, b[i].Data[j], a[i].Data[j])
			}
		}
	}
	t.Logf("interrupted: %s", strings.TrimSpace(stderr.String()[max(0, stderr.Len()-200):]))
}

// TestDemo runs the default command briefly and checks its files.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains and samples")
	}
	dir := t.TempDir()
	code, out, errs := ssmRun(t, dir, "-steps", "150")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, name := range []string{"density.png", "samples.png", "loss.png", "density.svg", "samples.svg", "loss.svg", "model.safetensors", "report.json"} {
		p := filepath.Join(dir, "ssm-out", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.HasSuffix(name, ".png") {
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Errorf("%s does not decode: %v", name, err)
			}
		}
	}
	for _, w := range []string{"Fisher divergence", "log-likelihood", "MMD", "ssm-out/density.png"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
}

// TestSubcommands runs each remaining subcommand once on small inputs and
// checks what it prints and writes.
func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(golden, "energy.safetensors")
	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errs := ssmRun(t, dir, args...)
		if code != 0 {
			t.Fatalf("ssm %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	// sample: T6's annealed run from the exact score puts ~0.8 in (5,5).
	mustRun("sample", "-score", "exact", "-data", "ncsn", "-n", "1280", "-sigmas", "20:1:10", "-step", "0.1", "-out", "s.npy", "-png", "s.png")
	x, err := dataio.Read(filepath.Join(dir, "s.npy"))
	if err != nil {
		t.Fatal(err)
	}
	in := 0
	for i := range x.Rows {
		if x.At(i, 0) > 0 && x.At(i, 1) > 0 {
			in++
		}
	}
	if f := float64(in) / float64(x.Rows); f < 0.75 || f > 0.85 {
		t.Errorf("annealed Langevin from the exact score: %.3f in the (5,5) mode, want 0.75–0.85", f)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.png")); err != nil {
		t.Error(err)
	}
	// sample with MALA from an energy model file.
	mustRun("sample", "-model", model, "-act", "softplus", "-kind", "energy", "-sampler", "mala", "-n", "50", "-steps", "50", "-step", "0.2", "-out", "m.csv")
	// eval on a file: objective values and AIS log Z for D = 5, both ways.
	out := mustRun("eval", "-model", model, "-act", "softplus", "-kind", "energy", "-data", filepath.Join(golden, "x.npy"), "-ais-chains", "16", "-ais-temps", "50")
	for _, w := range []string{"ssm loss", "sm (exact score matching) loss", "log Z", "AIS", "log-likelihood",
		"log Z, reverse AIS", "log Z interval, low", "log Z interval, high", "forward and", "by the log Z interval"} {
		if !strings.Contains(out, w) {
			t.Errorf("eval output lacks %q:\n%s", w, out)
		}
	}
	// gradcheck passes on a fresh model and fails with a tolerance of 0.
	out = mustRun("gradcheck", "-objective", "sse-vr", "-kind", "score", "-spec", "mlp:8")
	if !strings.Contains(out, "worst relative error") {
		t.Errorf("gradcheck output: %s", out)
	}
	if code, _, _ := ssmRun(t, dir, "gradcheck", "-tol", "0"); code != 1 {
		t.Errorf("gradcheck -tol 0: exit %d, want 1", code)
	}
	// bench writes its table and figure.
	out = mustRun("bench", "-dims", "2,4", "-objectives", "grad,ssm", "-hidden", "8", "-steps", "1", "-out", "scaling.png")
	if !strings.Contains(out, "ssm") || !strings.Contains(out, "D=4") {
		t.Errorf("bench output: %s", out)
	}
	for _, f := range []string{"scaling.png", "scaling.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if out := mustRun("datasets"); !strings.Contains(out, "8gaussians") {
		t.Errorf("datasets: %s", out)
	}
	if out := mustRun("version"); !strings.Contains(out, "kernels ") {
		t.Errorf("version: %s", out)
	}
}

// TestEvalOverflow checks that a model whose weights overflow makes eval
// fail with exit 1, naming the model, instead of printing +Inf.
func TestEvalOverflow(t *testing.T) {
	dir := t.TempDir()
	m, err := nn.NewEnergyMLP(2, []int{8}, "softplus", rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m.Params()[0].Value.Data[0] = 1e200
	path := filepath.Join(dir, "huge.safetensors")
	if err := nn.Save(path, m); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := ssmRun(t, dir, "eval", "-model", path, "-data", "banana", "-n", "100")
	if code != 1 || !strings.Contains(stderr, "huge.safetensors") || strings.Contains(stdout, "Inf") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 naming the model", code, stdout, stderr)
	}
}

// TestStandardisedModel checks that a model trained with -standardize is
// used in the data's coordinates: eval on the raw rows gives the figures
// of the same model (without its record) on hand-standardised rows, with
// the log-likelihood shifted by the log-determinant, to 1e-12; and sample
// writes samples in the data's coordinates.
func TestStandardisedModel(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 9))
	var raw, std strings.Builder
	const n = 400
	x := make([][2]float64, n)
	for i := range x {
		x[i] = [2]float64{100 + 5*rng.NormFloat64(), -3 + 0.01*rng.NormFloat64()}
		fmt.Fprintf(&raw, "%v,%v\n", x[i][0], x[i][1])
	}
	if err := os.WriteFile(filepath.Join(dir, "raw.csv"), []byte(raw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := ssmRun(t, dir, "train", "-data", filepath.Join(dir, "raw.csv"), "-standardize", "-model", "mlp:16",
		"-steps", "50", "-out", "std.safetensors"); code != 0 {
		t.Fatal(stderr)
	}
	m, info, err := nn.LoadInfo(filepath.Join(dir, "std.safetensors"), nn.LoadOptions{})
	if err != nil || info.Mean == nil {
		t.Fatalf("the model records no standardisation: %+v, %v", info, err)
	}
	if err := nn.Save(filepath.Join(dir, "bare.safetensors"), m); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		z := x[i][:]
		info.Standardize(z)
		fmt.Fprintf(&std, "%v,%v\n", strconv.FormatFloat(z[0], 'g', -1, 64), strconv.FormatFloat(z[1], 'g', -1, 64))
	}
	if err := os.WriteFile(filepath.Join(dir, "std.csv"), []byte(std.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	figures := func(model, data string) map[string]float64 {
		code, out, stderr := ssmRun(t, dir, "eval", "-model", filepath.Join(dir, model), "-data", filepath.Join(dir, data), "-objectives", "ssm-vr,sm", "-grid", "200", "-json")
		if code != 0 {
			t.Fatal(stderr)
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatal(err)
		}
		vs := map[string]float64{}
		for k, v := range f {
			if x, ok := v.(float64); ok {
				vs[k] = x
			}
		}
		return vs
	}
	a, b := figures("std.safetensors", "raw.csv"), figures("bare.safetensors", "std.csv")
	for _, k := range []string{"ssm-vr loss", "sm (exact score matching) loss"} {
		if math.Abs(a[k]-b[k]) > 1e-12*math.Max(1, math.Abs(b[k])) {
			t.Errorf("%s: %v on raw rows, %v on standardised ones", k, a[k], b[k])
		}
	}
	if want := b["log-likelihood"] + info.LogDet(); math.Abs(a["log-likelihood"]-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("log-likelihood %v on raw rows, want %v (%v + log-det %v)", a["log-likelihood"], want, b["log-likelihood"], info.LogDet())
	}
	if code, _, stderr := ssmRun(t, dir, "sample", "-model", filepath.Join(dir, "std.safetensors"), "-n", "200", "-init", "2", "-out", "s.csv"); code != 0 {
		t.Fatal(stderr)
	}
	s, err := os.ReadFile(filepath.Join(dir, "s.csv"))
	if err != nil {
		t.Fatal(err)
	}
	sum, rows := 0.0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(s)), "\n")[1:] {
		v, _ := strconv.ParseFloat(strings.Split(line, ",")[0], 64)
		sum += v
		rows++
	}
	if mean := sum / float64(rows); math.Abs(mean-100) > 10 {
		t.Errorf("the samples' first column has mean %v: not in the data's coordinates (100)", mean)
	}
}

// TestEvalNCSN checks that eval reports a noise-conditional model at each
// level of the schedule its file records: an SM loss and, on a built-in
// dataset, a Fisher divergence that is finite and ≥ 0.
func TestEvalNCSN(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := ssmRun(t, dir, "train", "-data", "ncsn", "-n", "500", "-model", "ncsn:8", "-objective", "ncsn",
		"-sigmas", "5:0.5:3", "-steps", "20", "-out", "c.safetensors"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := ssmRun(t, dir, "eval", "-model", filepath.Join(dir, "c.safetensors"), "-data", "ncsn", "-n", "300", "-json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"5", "1.581", "0.5"} {
		for _, what := range []string{"sm loss", "Fisher divergence"} {
			k := "at σ = " + s + ": " + what
			v, ok := f[k].(float64)
			if !ok || math.IsNaN(v) || what == "Fisher divergence" && v < 0 {
				t.Errorf("%s: %v (%T)", k, f[k], f[k])
			}
		}
	}
}

// TestGaussianLogZ checks eval's closed-form log Z of a Gaussian energy
// against grid quadrature of its density.
func TestGaussianLogZ(t *testing.T) {
	g := nn.NewGaussianEnergy(2)
	// Λ = LLᵀ with L = [[1.5, 0], [−0.7, 0.4]].
	prec := ad.NewMat(2, 2)
	copy(prec.Data, []float64{2.25, -1.05, -1.05, 0.65})
	if err := g.SetPrecision(prec); err != nil {
		t.Fatal(err)
	}
	g.SetMean([]float64{1, -2})
	got, method, err := gaussianLogZ(g)
	if err != nil || method != "closed form" {
		t.Fatal(err)
	}
	want, err := sampler.GridLogZ(sampler.FromEnergy(g), []float64{-12, -25}, []float64{14, 21}, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("closed-form log Z %v, quadrature %v", got, want)
	}
}

// TestApproxBPWarning checks that training by approximate backprop on a
// two-hidden-layer net warns when its loss runs away from exact score
// matching's, and that an exact objective does not.
func TestApproxBPWarning(t *testing.T) {
	dir := t.TempDir()
	args := []string{"train", "-data", "banana", "-n", "2000", "-model", "mlp:64,64", "-steps", "400", "-eval-every", "100", "-out", "m.safetensors"}
	code, _, stderr := ssmRun(t, dir, append(args, "-objective", "approx-bp")...)
	if code != 0 || !strings.Contains(stderr, "run away from exact score matching") || !strings.Contains(stderr, "ssm-vr") {
		t.Errorf("approx-bp: exit %d, no warning naming the cause and ssm-vr:\n%s", code, stderr)
	}
	code, _, stderr = ssmRun(t, dir, append(args, "-objective", "ssm-vr")...)
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("ssm-vr: exit %d, stderr %s", code, stderr)
	}
}

// TestAISNote checks that eval prints AIS's ± only when the weights'
// effective sample sizes in both directions support it and the forward and
// reverse estimates agree, and always prints the interval and the ESSs.
func TestAISNote(t *testing.T) {
	for _, c := range []struct {
		fwd, rev float64 // weight ESSs
		chains   int
		agree    bool
		errBar   bool
	}{
		{200, 200, 256, true, true}, {26, 30, 256, true, true}, {25, 200, 256, true, false}, {200, 25, 256, true, false},
		{9, 12, 16, true, false}, {12, 12, 16, true, true}, {1, 200, 256, true, false}, {200, 200, 256, false, false},
	} {
		note := aisNote(sampler.AISResult{WeightESS: c.fwd, StdErr: 0.5}, sampler.AISResult{WeightESS: c.rev, StdErr: 0.5},
			c.chains, 500, -1.25, 2.5, c.agree)
		if got := strings.Contains(note, "± 0.5"); got != c.errBar {
			t.Errorf("%+v: %q", c, note)
		}
		if !strings.Contains(note, fmt.Sprintf("weight ESS %.0f forward and %.0f reverse", c.fwd, c.rev)) || !strings.Contains(note, "log Z in [-1.25, 2.5]") {
			t.Errorf("%+v: %q does not give the ESSs and the interval", c, note)
		}
		if !c.agree && !strings.Contains(note, "disagree") {
			t.Errorf("%+v: %q does not say the directions disagree", c, note)
		}
	}
}
