package ssm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/linalg"
	"scorematch/ad/repro"
	"scorematch/nn"
)

// gaussianData returns n samples of N(0, C) for C = AAᵀ/d + ½I, with C.
func gaussianData(rng *rand.Rand, n, d int) (x, c ad.Mat) {
	a := ad.MatOf(adtest.RandMat(rng, d, d, 1))
	c = ad.NewMat(d, d)
	chol := ad.NewMat(d, d)
	for i := range d {
		for j := range d {
			s := 0.0
			for k := range d {
				s += a.At(i, k) * a.At(j, k)
			}
			c.Set(i, j, s/float64(d))
		}
		c.Set(i, i, c.At(i, i)+0.5)
	}
	if err := linalg.Cholesky(chol.Data, c.Data, d); err != nil {
		panic(err)
	}
	x = ad.NewMat(n, d)
	z := make([]float64, d)
	for r := range n {
		for k := range z {
			z[k] = rng.NormFloat64()
		}
		for i := range d {
			s := 0.0
			for k := 0; k <= i; k++ {
				s += chol.At(i, k) * z[k]
			}
			x.Set(r, i, s)
		}
	}
	return x, c
}

// sampleCov returns the 1/N sample covariance of x.
func sampleCov(x ad.Mat) ad.Mat {
	d := x.Cols
	mean := make([]float64, d)
	for r := range x.Rows {
		for j, v := range x.Row(r) {
			mean[j] += v / float64(x.Rows)
		}
	}
	c := ad.NewMat(d, d)
	for r := range x.Rows {
		row := x.Row(r)
		for i := range d {
			for j := range d {
				c.Data[i*d+j] += (row[i] - mean[i]) * (row[j] - mean[j]) / float64(x.Rows)
			}
		}
	}
	return c
}

// inverse returns the inverse of a small SPD matrix by Gauss–Jordan.
func inverse(m ad.Mat) ad.Mat {
	n := m.Rows
	a := m.Clone()
	inv := ad.NewMat(n, n)
	for i := range n {
		inv.Set(i, i, 1)
	}
	for c := range n {
		p := a.At(c, c)
		for j := range n {
			a.Set(c, j, a.At(c, j)/p)
			inv.Set(c, j, inv.At(c, j)/p)
		}
		for r := range n {
			if r == c {
				continue
			}
			f := a.At(r, c)
			for j := range n {
				a.Set(r, j, a.At(r, j)-f*a.At(c, j))
				inv.Set(r, j, inv.At(r, j)-f*inv.At(c, j))
			}
		}
	}
	return inv
}

// relFrob returns ‖a − b‖_F / ‖b‖_F.
func relFrob(a, b ad.Mat) float64 {
	num, den := 0.0, 0.0
	for i := range a.Data {
		num += (a.Data[i] - b.Data[i]) * (a.Data[i] - b.Data[i])
		den += b.Data[i] * b.Data[i]
	}
	return math.Sqrt(num / den)
}

// fitGaussian trains a Gaussian energy on x with the named objective, in two
// phases of Adam (lr 3e-2, 3e-3, 3e-4) on full batches, and returns its
// precision.
func fitGaussian(t *testing.T, name string, x ad.Mat, o Options) ad.Mat {
	t.Helper()
	g := nn.NewGaussianEnergy(x.Cols)
	obj, err := New(name, g, o)
	if err != nil {
		t.Fatal(err)
	}
	opt := nn.NewAdam()
	for _, phase := range []struct {
		lr    float64
		steps int
	}{{3e-2, 1500}, {3e-3, 1000}, {3e-4, 1000}} {
		opt.LR = phase.lr
		if _, err := Train(context.Background(), obj, x, Config{BatchSize: x.Rows, Steps: phase.steps, Seed: uint64(phase.steps) + uint64(len(name)), Optimizer: opt}); err != nil {
			t.Fatal(err)
		}
	}
	return g.Precision()
}

// TestT1T4 fits the Gaussian model to 2000 samples of a correlated 4-D
// Gaussian. Exact SM, SSM and SSM-VR must recover C⁻¹ (C the 1/N sample
// covariance); DSM recovers (C + σ²I)⁻¹.
//
// Tolerances: exact SM is deterministic and converges to the closed form,
// so 1e-3 bounds the optimiser's residual. The sliced objectives see fresh
// projections at every step; at the final learning rate η = 3e-4 Adam's
// iterates wander by about η per coordinate around the optimum, about 0.1%
// of entries of order one (the observed errors are 0.1–0.3%). 1% is several
// times that, while any wrong term (a missing ½, the wrong sign of the
// second derivative) moves the optimum by 40% or more.
func TestT1T4(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four models")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	x, _ := gaussianData(rng, 2000, 4)
	c := sampleCov(x)
	want := inverse(c)
	for _, tc := range []struct {
		name string
		opts Options
		tol  float64
	}{
		{"sm", Options{}, 1e-3},
		{"ssm", Options{Projection: Rademacher}, 0.01},
		{"ssm-vr", Options{Projection: Rademacher}, 0.01},
	} {
		got := fitGaussian(t, tc.name, x, tc.opts)
		e := relFrob(got, want)
		t.Logf("%s: ‖Λ̂ − C⁻¹‖/‖C⁻¹‖ = %.3g", tc.name, e)
		if e > tc.tol {
			t.Errorf("%s: relative error %.3g of the precision, tolerance %g", tc.name, e, tc.tol)
		}
	}
	const sigma = 0.5
	cs := c.Clone()
	for i := range 4 {
		cs.Set(i, i, cs.At(i, i)+sigma*sigma)
	}
	got := fitGaussian(t, "dsm", x, Options{Sigma: sigma})
	e := relFrob(got, inverse(cs))
	t.Logf("dsm: ‖Λ̂ − (C+σ²I)⁻¹‖/‖(C+σ²I)⁻¹‖ = %.3g (vs C⁻¹: %.3g)", e, relFrob(got, want))
	// DSM sees fresh noise ε at every step: its full-batch gradient is
	// noisier than SSM's (observed 0.5%), hence 1.5%; C⁻¹ is 27% away.
	if e > 0.015 {
		t.Errorf("dsm: relative error %.3g against (C+σ²I)⁻¹", e)
	}
}

// trainMLP trains a small energy MLP and returns its flattened weights.
func trainMLP(t *testing.T, cfg Config) ([]float64, *Result, error) {
	t.Helper()
	rng := rand.New(rand.NewPCG(8, 8))
	m, err := nn.NewEnergyMLP(3, []int{16, 16}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := gaussianData(rng, 300, 3)
	obj, _ := New("ssm-vr", m, Options{})
	res, err := Train(context.Background(), obj, x, cfg)
	var w []float64
	for _, p := range m.Params() {
		w = append(w, p.Value.Data...)
	}
	return w, res, err
}

// TestTrainDeterminism checks bit-identical weights for GOMAXPROCS 1, 2, 8.
func TestTrainDeterminism(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref []float64
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		w, _, err := trainMLP(t, Config{BatchSize: 64, Steps: 30, Seed: 3, ValFrac: 0.2, EvalEvery: 10})
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = w
		} else if !adtest.SameBits(w, ref) {
			t.Fatalf("GOMAXPROCS=%d: weights differ from GOMAXPROCS=1", procs)
		}
	}
	w, _, _ := trainMLP(t, Config{BatchSize: 64, Steps: 30, Seed: 4, ValFrac: 0.2, EvalEvery: 10})
	if adtest.SameBits(w, ref) {
		t.Fatal("another seed gave the same weights: the comparison is vacuous")
	}
}

// TestResume stops a run after 17 of 40 steps and resumes it from its
// checkpoint: the weights must equal those of an uninterrupted run.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{BatchSize: 50, Steps: 40, Seed: 5, ValFrac: 0.2, EvalEvery: 5, Patience: 100}
	want, wantRes, err := trainMLP(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck := cfg
	ck.Checkpoint = filepath.Join(dir, "ck.safetensors")
	ck.Resume = true
	ctx, cancel := context.WithCancel(context.Background())
	ck.Progress = func(p Progress) {
		if p.Step == 17 {
			cancel()
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	m, _ := nn.NewEnergyMLP(3, []int{16, 16}, "softplus", rng)
	x, _ := gaussianData(rng, 300, 3)
	obj, _ := New("ssm-vr", m, Options{})
	res, err := Train(ctx, obj, x, ck)
	if !errors.Is(err, context.Canceled) || res.Stopped != "interrupted" || res.Steps != 17 {
		t.Fatalf("interrupted run: err %v, stopped %q after %d steps", err, res.Stopped, res.Steps)
	}
	got, gotRes, err := trainMLP(t, Config{BatchSize: 50, Steps: 40, Seed: 5, ValFrac: 0.2, EvalEvery: 5, Patience: 100,
		Checkpoint: ck.Checkpoint, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(got, want) {
		t.Error("resumed weights differ from the uninterrupted run's")
	}
	if !adtest.SameBits(gotRes.Loss, wantRes.Loss) || !adtest.SameBits(gotRes.ValLoss, wantRes.ValLoss) || gotRes.BestStep != wantRes.BestStep {
		t.Error("resumed history differs from the uninterrupted run's")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("checkpoint directory holds %d files, want 1 (no temporary files left)", len(ents))
	}
}

// TestNonFinite checks that a diverging run stops with ErrNonFinite and
// leaves the last good checkpoint.
func TestNonFinite(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck.safetensors")
	opt := nn.NewSGD(1e6)
	_, res, err := trainMLP(t, Config{BatchSize: 50, Steps: 200, Seed: 1, Optimizer: opt, Checkpoint: ck, CheckpointEvery: 1})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	ts, meta, err2 := nn.ReadSafetensors(ck)
	if err2 != nil {
		t.Fatalf("last checkpoint: %v", err2)
	}
	for _, tn := range ts {
		for _, v := range tn.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("checkpoint tensor %s holds %v", tn.Name, v)
			}
		}
	}
	t.Logf("stopped: %v; checkpoint at step %s of %d", err, meta["step"], len(res.Loss))
}

// TestPatience checks early stopping restores the best weights.
func TestPatience(t *testing.T) {
	opt := nn.NewAdam()
	opt.LR = 0.3 // too large: the validation loss soon stops improving
	_, res, err := trainMLP(t, Config{BatchSize: 50, Steps: 400, Seed: 2, ValFrac: 0.3, EvalEvery: 2, Patience: 3, Optimizer: opt})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "patience" {
		t.Fatalf("stopped by %q after %d steps, want patience", res.Stopped, res.Steps)
	}
	last := res.ValSteps[len(res.ValSteps)-1]
	if last-res.BestStep != 3*2 {
		t.Errorf("stopped at step %d, best at %d: want 3 evaluations of 2 steps after the best", last, res.BestStep)
	}
}

// TestPatienceResume checks that resuming a run that stopped early keeps
// it stopped: no step is taken, the checkpoint is not rewritten, and the
// weights are the best ones, as the first run left them.
func TestPatienceResume(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	cfg := func() Config {
		opt := nn.NewAdam()
		opt.LR = 0.3
		return Config{BatchSize: 50, Steps: 400, Seed: 2, ValFrac: 0.3, EvalEvery: 2, Patience: 3, Optimizer: opt, Checkpoint: ck, Resume: true}
	}
	w1, res1, err := trainMLP(t, cfg())
	if err != nil || res1.Stopped != "patience" {
		t.Fatalf("first run: stopped by %q, error %v", res1.Stopped, err)
	}
	before, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	w2, res2, err := trainMLP(t, cfg())
	if err != nil {
		t.Fatal(err)
	}
	if res2.Stopped != "patience" || res2.Steps != res1.Steps {
		t.Errorf("resumed: stopped by %q after %d steps, want patience after %d", res2.Stopped, res2.Steps, res1.Steps)
	}
	if after, _ := os.ReadFile(ck); !bytes.Equal(before, after) {
		t.Error("the resumed run rewrote the checkpoint")
	}
	if !slices.Equal(w1, w2) {
		t.Error("the resumed run's weights differ from the first run's")
	}
}

// TestTrainErrors checks bad input is refused with a message naming it.
func TestTrainErrors(t *testing.T) {
	g := nn.NewGaussianEnergy(2)
	obj, _ := New("sm", g, Options{})
	bad := ad.MatOf(2, 2, []float64{1, 2, math.NaN(), 4})
	if _, err := Train(context.Background(), obj, bad, Config{}); err == nil || !strings.Contains(err.Error(), "row 2, column 1") {
		t.Errorf("NaN data: %v", err)
	}
	if _, err := Train(context.Background(), obj, ad.NewMat(3, 3), Config{}); err == nil || !strings.Contains(err.Error(), "3 columns") {
		t.Errorf("wrong dimension: %v", err)
	}
	if _, err := Train(context.Background(), obj, ad.NewMat(3, 2), Config{ValFrac: 1.5}); err == nil {
		t.Error("validation fraction 1.5 accepted")
	}
}

// TestMLPReachesOptimum trains an MLP energy net with SSM-VR on samples of
// N(0, Σ), D = 8, and checks that its exact score-matching loss on held-out
// samples is within 5% of the optimum −½tr(Σ⁻¹) (the loss of the true
// density; any model's loss exceeds it by its Fisher divergence).
func TestMLPReachesOptimum(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an MLP")
	}
	const d = 8
	rng := rand.New(rand.NewPCG(10, 10))
	x, sigma := gaussianData(rng, 6000, d)
	train, test := x.RowRange(0, 5000), x.RowRange(5000, 6000)
	m, err := nn.NewEnergyMLP(d, []int{64, 64}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := New("ssm-vr", m, Options{})
	opt := nn.NewAdam()
	for _, phase := range []struct {
		lr    float64
		steps int
	}{{3e-3, 2500}, {3e-4, 1000}} {
		opt.LR = phase.lr
		if _, err := Train(context.Background(), obj, train, Config{BatchSize: 128, Steps: phase.steps, Seed: uint64(phase.steps), Optimizer: opt}); err != nil {
			t.Fatal(err)
		}
	}
	sm, _ := New("sm", m, Options{})
	held := sm.NewWorker().Eval(&Batch{X: test}, false) / float64(test.Rows)
	inv := inverse(sigma)
	opt0 := 0.0
	for i := range d {
		opt0 -= 0.5 * inv.At(i, i)
	}
	// The true density's loss on the same rows shows the held-out noise.
	truth := nn.NewGaussianEnergy(d)
	if err := truth.SetPrecision(inv); err != nil {
		t.Fatal(err)
	}
	smTrue, _ := New("sm", truth, Options{})
	heldTrue := smTrue.NewWorker().Eval(&Batch{X: test}, false) / float64(test.Rows)
	t.Logf("held-out exact SM loss %.4f (true density on the same rows: %.4f), optimum −½tr(Σ⁻¹) = %.4f", held, heldTrue, opt0)
	if math.Abs(held-opt0) > 0.05*math.Abs(opt0) {
		t.Errorf("held-out exact SM loss %.4f is not within 5%% of the optimum %.4f", held, opt0)
	}
}

// TestReduceFindsNonFinite checks that the parallel reduction of the chunks'
// gradients averages them in chunk order and reports the first non-finite
// element in parameter order, wherever the range split falls.
func TestReduceFindsNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	m, err := nn.NewEnergyMLP(3, []int{8}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := New("ssm-vr", m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Chunks: 3}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	tr := newTrainer(obj, ad.MatOf(adtest.RandMat(rng, 10, 3, 1)), cfg)
	defer tr.pool.Close()
	tr.rows = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	tr.evaluate(1, repro.Batch, 0, true)
	tr.byRange(phaseReduce)
	for i, g := range tr.grads {
		for j, v := range g.Data {
			want := 0.0
			for _, part := range tr.parts {
				want += part[i].Data[j]
			}
			if want /= 10; math.Float64bits(v) != math.Float64bits(want) {
				t.Fatalf("gradient %d[%d] = %v, want %v", i, j, v, want)
			}
		}
	}
	// Poison two elements; the one of the earlier parameter must be named.
	tr.parts[2][3].Data[0] = math.Inf(1)
	tr.parts[0][1].Data[5] = math.NaN()
	tr.byRange(phaseReduce)
	var first error
	for _, e := range tr.bad {
		if e != nil {
			first = e
			break
		}
	}
	if first == nil || !errors.Is(first, ErrNonFinite) || !strings.Contains(first.Error(), m.Params()[1].Name) {
		t.Fatalf("error %v, want ErrNonFinite naming %s", first, m.Params()[1].Name)
	}
}

// TestTrainKernels trains in child processes capped at each kernel
// (SCOREMATCH_KERNEL: the pure-Go reference, AVX2, AVX-512, as far as the
// CPU goes) and checks that the weights are the same bits. The net is wide
// enough for the assembly GEMM and activation paths.
func TestTrainKernels(t *testing.T) {
	if os.Getenv("SSM_TRAIN_KERNELS_CHILD") != "" {
		fmt.Printf("kernel %s\n", ad.Kernel())
		for _, name := range []string{"ssm-vr", "dsm", "sm"} {
			rng := rand.New(rand.NewPCG(6, 6))
			m, err := nn.NewEnergyMLP(20, []int{48, 40}, "softplus", rng)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := New(name, m, Options{Sigma: 0.3})
			if err != nil {
				t.Fatal(err)
			}
			x, _ := gaussianData(rng, 256, 20)
			if _, err := Train(context.Background(), obj, x, Config{BatchSize: 128, Steps: 6, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			h := fnv.New64a()
			for _, p := range m.Params() {
				for _, v := range p.Value.Data {
					binary.Write(h, binary.LittleEndian, math.Float64bits(v))
				}
			}
			fmt.Printf("weights %s %016x\n", name, h.Sum64())
		}
		return
	}
	if testing.Short() {
		t.Skip("runs three child processes")
	}
	var ref string
	for _, kernel := range []string{"purego", "avx2-fma", "avx512"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTrainKernels$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SSM_TRAIN_KERNELS_CHILD=1", "SCOREMATCH_KERNEL="+kernel)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", kernel, err, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "weights ") {
				lines = append(lines, l)
			} else if strings.HasPrefix(l, "kernel ") {
				t.Logf("SCOREMATCH_KERNEL=%s: %s", kernel, l)
			}
		}
		got := strings.Join(lines, "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: child printed %q", kernel, out)
		}
		if ref == "" {
			ref = got
		} else if got != ref {
			t.Errorf("SCOREMATCH_KERNEL=%s:\n%s\nwant (purego):\n%s", kernel, got, ref)
		}
	}
}

// TestConfigChunks checks the default chunk count and the bounds on it.
func TestConfigChunks(t *testing.T) {
	for _, c := range []struct {
		batch, chunks, want int
		ok                  bool
	}{
		{0, 0, 2, true}, // the default batch of 128
		{64, 0, 1, true},
		{65, 0, 2, true},
		{1000, 0, 16, true},
		{8, 8, 8, true},
		{8, 9, 0, false},
		{8, -1, 0, false},
	} {
		cfg := Config{BatchSize: c.batch, Chunks: c.chunks}
		err := cfg.defaults()
		if (err == nil) != c.ok || c.ok && cfg.Chunks != c.want {
			t.Errorf("batch %d, chunks %d: got %d chunks, error %v; want %d, ok %v", c.batch, c.chunks, cfg.Chunks, err, c.want, c.ok)
		}
	}
}
