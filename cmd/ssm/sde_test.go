package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/sampler"
)

// mustSSM runs the command in dir and fails the test unless it exits 0;
// it returns stdout and stderr.
func mustSSM(t *testing.T, dir string, args ...string) (string, string) {
	t.Helper()
	code, out, errs := ssmRun(t, dir, args...)
	if code != 0 {
		t.Fatalf("ssm %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out, errs
}

// evalJSON runs ssm eval -json in dir and returns its figures.
func evalJSON(t *testing.T, dir string, args ...string) map[string]any {
	t.Helper()
	out, _ := mustSSM(t, dir, append(append([]string{"eval"}, args...), "-json")...)
	var f map[string]any
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("eval -json: %v\n%s", err, out)
	}
	return f
}

// figure returns a numeric figure of eval's JSON, failing if it is absent.
func figure(t *testing.T, f map[string]any, key string) float64 {
	t.Helper()
	v, ok := f[key].(float64)
	if !ok {
		t.Fatalf("eval reports no %q: %v", key, f)
	}
	return v
}

// TestSDERoundTrip trains a VP sde model on 8 Gaussians, samples it with
// the predictor–corrector sampler and the probability flow, and evaluates
// it: the report and the model file record the SDE, eval's flow NLL is the
// mean of sampler.FlowLikelihood's −log p at the same rows (the wiring:
// the default start time, tolerances and probes), bits/dim is NLL/(D ln 2),
// and the model, after 1500 steps, is within 1.5 nats of the true NLL and
// its samples cover the eight modes.
func TestSDERoundTrip(t *testing.T) {
	dir := t.TempDir()
	_, errs := mustSSM(t, dir, "train", "-data", "8gaussians", "-n", "3000", "-model", "sde:64,64", "-sde", "vp",
		"-steps", "1500", "-report", "r.json", "-out", "m.safetensors")
	if strings.Contains(errs, "-sigma-max") {
		t.Errorf("a VP run printed a note on σ_max: %s", errs)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep["sde"] != "vp:0.1:20" || rep["weighting"] != "sigma2" || rep["fourier_scale"] != float64(defaultFourierScale) ||
		rep["fourier_dim"] != float64(nn.DefaultFourierDim) || rep["objective"] != "sde-dsm" {
		t.Errorf("report: sde %v, weighting %v, fourier %v × %v, objective %v", rep["sde"], rep["weighting"], rep["fourier_dim"], rep["fourier_scale"], rep["objective"])
	}
	m, _, err := nn.LoadInfo(filepath.Join(dir, "m.safetensors"), nn.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	net, ok := m.(*nn.SDENet)
	if !ok || net.SDE().String() != "vp:0.1:20" || net.FourierScale() != defaultFourierScale {
		t.Fatalf("the model file holds %T (%v)", m, m)
	}

	_, errs = mustSSM(t, dir, "sample", "-model", filepath.Join(dir, "m.safetensors"), "-sampler", "ode", "-n", "200", "-out", "ode.csv")
	if !strings.Contains(errs, "function evaluations per sample") {
		t.Errorf("ode sample does not report its evaluations: %q", errs)
	}
	_, errs = mustSSM(t, dir, "sample", "-model", filepath.Join(dir, "m.safetensors"), "-steps", "200", "-n", "500", "-out", "pc.npy", "-png", "pc.png") // pc by default
	if !strings.Contains(errs, "400 score evaluations per sample") {
		t.Errorf("sample (pc) does not report its 2 × 200 evaluations: %q", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "pc.png")); err != nil {
		t.Error(err)
	}

	f := evalJSON(t, dir, "-model", filepath.Join(dir, "m.safetensors"), "-data", "8gaussians", "-n", "400", "-samples", filepath.Join(dir, "pc.npy"))
	nll, se := figure(t, f, "flow NLL"), figure(t, f, "flow NLL std. error")
	truth, gap := figure(t, f, "true NLL"), figure(t, f, "flow NLL − true NLL")
	if nfe := figure(t, f, "flow NFE"); !(nfe > 10) {
		t.Errorf("flow NFE %v", nfe)
	}
	if bpd := figure(t, f, "flow bits/dim"); math.Abs(bpd-nll/(2*math.Ln2)) > 1e-12 {
		t.Errorf("bits/dim %v, want NLL/(D ln 2) = %v", bpd, nll/(2*math.Ln2))
	}
	if math.Abs(gap-(nll-truth)) > 1e-9 {
		t.Errorf("the gap %v is not the flow NLL %v minus the true NLL %v", gap, nll, truth)
	}
	t.Logf("flow NLL %.4f ± %.4f, true NLL %.4f, gap %.4f", nll, se, truth, gap)
	if !(gap > -0.1 && gap < 1.5) {
		t.Errorf("flow NLL − true NLL = %v after 1500 steps, want in (−0.1, 1.5)", gap)
	}
	// The same rows through the library.
	x := ad.NewMat(400, 2)
	sampler.EightGaussians().Sample(x, repro.New(2, repro.Data, 0, 0)) // eval's -seed 2 draws
	logp, _, err := sampler.FlowLikelihood{SDE: net.SDE(), Solver: sampler.RK45{Rtol: 1e-5, Atol: 1e-5}}.Run(sampler.FromTimeScore(net), x)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := meanSE(logp)
	if math.Abs(nll+want) > 1e-12*math.Abs(want) {
		t.Errorf("eval's flow NLL %v, the library's −mean log p %v", nll, -want)
	}
	// Against the exact score of the mixture through VP: near the prior
	// (t = 1, score ≈ −x) the net is close; the fine structure of small t
	// is what 1500 steps learn least.
	var fds []float64
	for _, tm := range evalTimes {
		fds = append(fds, figure(t, f, fmt.Sprintf("at t = %g: Fisher divergence", tm)))
	}
	if !(fds[len(fds)-1] < 0.05 && fds[0] > fds[len(fds)-1]) {
		t.Errorf("Fisher divergences at t = %v: %v; want below 0.05 at t = 1 and larger at t = %v", evalTimes, fds, evalTimes[0])
	}
	if p := figure(t, f, "samples' MMD² p-value"); math.IsNaN(p) {
		t.Errorf("MMD p-value %v", p)
	}
	s, err := dataio.Read(filepath.Join(dir, "pc.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range sampler.EightGaussians().ModeWeights(s) {
		if w < 0.03 {
			t.Errorf("pc samples: mode %d has weight %.3f", k, w)
		}
	}
}

// TestSDEStandardised checks that an sde model trained with -standardize
// works in the data's coordinates: its flow NLL on raw rows is the flow
// NLL of the same net (without its record) on the standardised rows minus
// the log-determinant of the standardisation, and its samples are in the
// data's coordinates.
func TestSDEStandardised(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 1))
	var raw, std strings.Builder
	const n = 300
	x := make([][2]float64, n)
	for i := range x {
		x[i] = [2]float64{50 + 10*rng.NormFloat64(), -4 + 0.1*rng.NormFloat64()}
		fmt.Fprintf(&raw, "%v,%v\n", x[i][0], x[i][1])
	}
	if err := os.WriteFile(filepath.Join(dir, "raw.csv"), []byte(raw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSSM(t, dir, "train", "-data", filepath.Join(dir, "raw.csv"), "-standardize", "-model", "sde:16", "-sde", "ve", "-sigma-max", "5", "-steps", "200", "-out", "std.safetensors")
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
		fmt.Fprintf(&std, "%v,%v\n", z[0], z[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "std.csv"), []byte(std.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	a := figure(t, evalJSON(t, dir, "-model", filepath.Join(dir, "std.safetensors"), "-data", filepath.Join(dir, "raw.csv")), "flow NLL")
	b := figure(t, evalJSON(t, dir, "-model", filepath.Join(dir, "bare.safetensors"), "-data", filepath.Join(dir, "std.csv")), "flow NLL")
	if want := b - info.LogDet(); math.Abs(a-want) > 1e-9*math.Abs(want) {
		t.Errorf("flow NLL %v on raw rows, want %v (%v on standardised rows − log-det %v)", a, want, b, info.LogDet())
	}
	mustSSM(t, dir, "sample", "-model", filepath.Join(dir, "std.safetensors"), "-sampler", "ode", "-n", "200", "-out", "s.csv")
	s, err := dataio.Read(filepath.Join(dir, "s.csv"))
	if err != nil {
		t.Fatal(err)
	}
	mean := colMeans(s)
	if math.Abs(mean[0]-50) > 5 || math.Abs(mean[1]+4) > 0.5 {
		t.Errorf("the samples' mean is %v: not in the data's coordinates (50, −4)", mean)
	}
}

// TestSDEExactSamplers samples the NCSN toy's 0.2/0.8 mixture from its
// exact perturbed score with every SDE sampler, for VP, VE and sub-VP: the
// weight of the (5, 5) mode must be 0.8 within 3 standard errors (where
// plain Langevin dynamics fails). VE runs with σ_max = 100: its prior
// N(0, σ_max²I) is centred at 0 where p_T's mean is α(T)·(3, 3), and with
// the paper's σ_max (the largest distance, about 17 here) the mismatch
// moves about 0.05 of the mass to the light mode whatever the sampler (the
// flow with RK45 at 1e-5 gives 0.748 ± 0.007).
func TestSDEExactSamplers(t *testing.T) {
	dir := t.TempDir()
	const n = 2000
	tol := 3 * math.Sqrt(0.8*0.2/n)
	for _, c := range []string{
		"-sampler em", "-sampler reverse-diffusion", "-sampler ancestral", "-sampler pc", "-sampler ode",
		"-sampler pc -sde ve -sigma-max 100", "-sampler ancestral -sde ve -sigma-max 100", "-sampler ode -sde ve -sigma-max 100 -solver rk4",
		"-sampler em -sde subvp", "-sampler pc -sde subvp -predictor em -corrector-steps 2 -denoise",
	} {
		args := append([]string{"sample", "-score", "exact", "-data", "ncsn", "-n", fmt.Sprint(n), "-out", "s.npy"}, strings.Fields(c)...)
		if !strings.Contains(c, "ode") {
			args = append(args, "-steps", "300")
		}
		mustSSM(t, dir, args...)
		x, err := dataio.Read(filepath.Join(dir, "s.npy"))
		if err != nil {
			t.Fatal(err)
		}
		w := sampler.NCSNMixture().ModeWeights(x)
		if hi := w[len(w)-1]; math.Abs(hi-0.8) > tol {
			t.Errorf("%s: the (5, 5) mode has weight %.4f, want 0.8 ± %.3f", c, hi, tol)
		}
	}
}

// TestSDEProcs checks that training, every SDE sampler and eval's flow
// likelihood give the same bits for GOMAXPROCS 1, 2 and 8.
func TestSDEProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref map[string][]byte
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		dir := t.TempDir()
		mustSSM(t, dir, "train", "-data", "banana", "-n", "600", "-model", "sde:16,16", "-sde", "ve", "-steps", "60", "-batch", "200", "-out", "m.safetensors")
		m := filepath.Join(dir, "m.safetensors")
		mustSSM(t, dir, "sample", "-model", m, "-sampler", "pc", "-steps", "50", "-n", "300", "-out", "pc.npy")
		mustSSM(t, dir, "sample", "-model", m, "-sampler", "ode", "-n", "300", "-out", "ode.npy")
		out, _ := mustSSM(t, dir, "eval", "-model", m, "-data", "banana", "-n", "300", "-json")
		outP, _ := mustSSM(t, dir, "eval", "-model", m, "-data", "banana", "-n", "300", "-probes", "2", "-json")
		got := map[string][]byte{"eval": []byte(out), "eval -probes 2": []byte(outP)}
		for _, f := range []string{"m.safetensors", "pc.npy", "ode.npy"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			got[f] = b
		}
		if ref == nil {
			ref = got
			continue
		}
		for k, b := range got {
			if !bytes.Equal(b, ref[k]) {
				t.Errorf("GOMAXPROCS=%d: %s differs from GOMAXPROCS=1's", procs, k)
			}
		}
	}
}

// TestSDEHelp checks that -h of train, sample and eval shows the flags of
// score SDEs, and sample's the predictors and correctors of package
// sampler's tables.
func TestSDEHelp(t *testing.T) {
	want := map[string][]string{
		"train":  {"-sde", "-sigma-min", "-sigma-max", "-beta-min", "-beta-max", "-weighting", "-fourier-scale", "-fourier-dim", "sde:W,W"},
		"sample": {"-snr", "-corrector-steps", "-predictor", "-corrector", "-solver", "-rtol", "-atol", "-eps", "-denoise", "-sde", "reverse-diffusion", "ode"},
		"eval":   {"-probes", "-rtol", "-atol", "-eps", "-bin-width"},
	}
	for _, s := range sampler.Predictors() {
		want["sample"] = append(want["sample"], s.Name)
	}
	for _, s := range sampler.Correctors() {
		want["sample"] = append(want["sample"], s.Name)
	}
	for cmd, ws := range want {
		code, out, errs := ssmRun(t, t.TempDir(), cmd, "-h")
		if code != 0 || errs != "" {
			t.Fatalf("%s -h: exit %d, %q", cmd, code, errs)
		}
		for _, w := range ws {
			if !strings.Contains(out, w) {
				t.Errorf("%s -h does not show %s", cmd, w)
			}
		}
	}
}

// TestSDEResume checks that an sde model's run stopped at a checkpoint and
// resumed ends with the bits of the uninterrupted run, for sde-sse-vr with
// the likelihood weighting, a VE whose σ_max comes from the data and an
// exponential moving average of the weights.
func TestSDEResume(t *testing.T) {
	dir := t.TempDir()
	args := []string{"train", "-data", "banana", "-n", "500", "-model", "sde:16,16", "-sde", "ve", "-objective", "sde-sse-vr",
		"-weighting", "likelihood", "-batch", "100", "-eval-every", "10", "-ema", "0.9"}
	mustSSM(t, dir, append(args, "-steps", "40", "-out", "full.safetensors")...)
	mustSSM(t, dir, append(args, "-steps", "20", "-checkpoint", "ck.safetensors", "-out", "half.safetensors")...)
	_, errs := mustSSM(t, dir, append(args, "-steps", "40", "-checkpoint", "ck.safetensors", "-resume", "-out", "resumed.safetensors")...)
	if strings.Contains(errs, "step=2 ") || !strings.Contains(errs, "step=22 ") {
		t.Errorf("the resumed run did not start at step 21:\n%s", errs)
	}
	a, err := os.ReadFile(filepath.Join(dir, "full.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "resumed.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the resumed run's model differs from the uninterrupted run's")
	}
	h, err := os.ReadFile(filepath.Join(dir, "half.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, h) {
		t.Error("20 and 40 steps wrote the same model")
	}
}
