package ssm

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// testSDENet returns a small time-conditional net on R⁴ for s, with a
// low Fourier scale so that finite differences in the parameters resolve
// the time embedding.
func testSDENet(t *testing.T, rng *rand.Rand, s sde.SDE, act string) *nn.SDENet {
	t.Helper()
	m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: 4, Hidden: []int{7, 6}, Activation: act, FourierDim: 3, FourierScale: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sdeNetScore evaluates m at (x, t) on a fresh tape.
func sdeNetScore(m nn.TimeScore, x, times ad.Mat) ad.Mat {
	tp := ad.NewTape()
	return m.TimeScore(tp, tp.Input(x, false), times).Primal().Clone()
}

// TestSDEObjectiveValues checks the per-sample terms of both objectives,
// with both weightings, against a direct evaluation from the batch's
// times, noise and projections: x_t = α(t)x + s(t)z, the DSM residual, and
// the SSE-VR terms with vᵀ(∇h)v by central differences along v.
func TestSDEObjectiveValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []sde.SDE{sde.VE{SigmaMin: 0.01, SigmaMax: 5}, sde.VP{BetaMin: 0.1, BetaMax: 20}, sde.SubVP{BetaMin: 0.1, BetaMax: 20}} {
		m := testSDENet(t, rng, s, "softplus")
		x := ad.MatOf(adtest.RandMat(rng, 6, 4, 1))
		for _, sliced := range []bool{false, true} {
			for _, likelihood := range []bool{false, true} {
				obj := newSDEObjective(objective{name: "test", model: m, opts: Options{M: 2}}, sliced, likelihood)
				b := drawBatch(obj, x, 7)
				w := obj.NewWorker()
				total := w.Eval(b, false)
				terms := w.Terms()
				xt := ad.NewMat(x.Rows, x.Cols)
				lambda := make([]float64, x.Rows)
				for r := range x.Rows {
					tr := b.Sigma.Data[r]
					if tr < sde.TrainEps || tr > 1 {
						t.Fatalf("time %g outside [TrainEps, 1]", tr)
					}
					a, sd := s.Marginal(tr)
					lambda[r] = sd * sd
					if likelihood {
						g := s.Diffusion(tr)
						lambda[r] = g * g
					}
					for j := range x.Cols {
						xt.Set(r, j, a*x.At(r, j)+sd*b.Eps.At(r, j))
					}
				}
				h := sdeNetScore(m, xt, b.Sigma)
				sum := 0.0
				for r := range x.Rows {
					_, sd := s.Marginal(b.Sigma.Data[r])
					var want1, want2 float64
					if !sliced {
						for j := range x.Cols { // λ·½‖h + z/s‖²
							d := h.At(r, j) + b.Eps.At(r, j)/sd
							want1 += 0.5 * lambda[r] * d * d
						}
					} else {
						for j := range x.Cols {
							want1 += 0.5 * lambda[r] * h.At(r, j) * h.At(r, j)
						}
						for k := range 2 {
							v := b.V[k].Row(r)
							jvp := func(eps float64) float64 {
								xs := ad.NewMat(1, x.Cols)
								for j := range x.Cols {
									xs.Data[j] = xt.At(r, j) + eps*v[j]
								}
								hs := sdeNetScore(m, xs, ad.MatOf(1, 1, []float64{b.Sigma.Data[r]}))
								d := 0.0
								for j := range x.Cols {
									d += v[j] * hs.Data[j]
								}
								return d
							}
							want2 += lambda[r] * fd.CentralDiff(jvp, 0, 1e-3) / 2
						}
					}
					got1 := terms.At(r, 0)
					if math.Abs(got1-want1) > 1e-10*math.Max(1, math.Abs(want1)) {
						t.Errorf("%v sliced=%v likelihood=%v row %d: term 1 = %.12g, want %.12g", s, sliced, likelihood, r, got1, want1)
					}
					sum += want1
					if sliced {
						got2 := terms.At(r, 1)
						if math.Abs(got2-want2) > 1e-7*math.Max(1, math.Abs(want2)) {
							t.Errorf("%v likelihood=%v row %d: term 2 = %.12g, want %.12g", s, likelihood, r, got2, want2)
						}
						sum += want2
					}
				}
				if math.Abs(total-sum) > 1e-7*math.Max(1, math.Abs(sum)) {
					t.Errorf("%v sliced=%v likelihood=%v: loss %.12g, want %.12g", s, sliced, likelihood, total, sum)
				}
			}
		}
	}
}

// TestSDELikelihoodGradients checks the parameter gradients of both
// objectives with the likelihood weighting g(t)² against central finite
// differences (the s(t)² weighting is in objectiveCases).
func TestSDELikelihoodGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, c := range []struct {
		s      sde.SDE
		sliced bool
	}{
		{sde.VE{SigmaMin: 0.01, SigmaMax: 5}, false},
		{sde.VP{BetaMin: 0.1, BetaMax: 20}, true},
		{sde.SubVP{BetaMin: 0.1, BetaMax: 20}, false},
	} {
		m := testSDENet(t, rng, c.s, "tanh")
		obj := newSDEObjective(objective{name: "test", model: m, opts: Options{M: 2}}, c.sliced, true)
		b := drawBatch(obj, ad.MatOf(adtest.RandMat(rng, 5, 4, 1)), 3)
		w := obj.NewWorker()
		w.Eval(b, true)
		var got, want []float64
		for _, g := range w.Grads() {
			got = append(got, g.Data...)
		}
		for _, p := range m.Params() {
			g := make([]float64, len(p.Value.Data))
			fd.NumGrad(func() float64 { return w.Eval(b, false) }, p.Value.Data, g, fd.DefaultStep)
			want = append(want, g...)
		}
		if e, at := fd.RelErr(got, want, 1e-3); e > 1e-6 {
			t.Errorf("%v sliced=%v: relative gradient error %.3g at %d", c.s, c.sliced, e, at)
		}
	}
}

// TestSDEFill checks the randomness of a batch: times uniform on
// [TrainEps, 1] (their mean within 4 standard errors of the uniform's),
// standard normal noise, the same draws for the same (seed, step, row).
func TestSDEFill(t *testing.T) {
	m := testSDENet(t, rand.New(rand.NewPCG(1, 2)), sde.VP{BetaMin: 0.1, BetaMax: 20}, "tanh")
	obj, err := New("sde-sse-vr", m, Options{M: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := obj.Needs(); !n.Eps || !n.Sigma || n.Projections != 2 {
		t.Errorf("Needs %+v", n)
	}
	const n = 4000
	b := drawBatch(obj, ad.NewMat(n, 4), 1)
	lo, mean := sde.TrainEps, 0.0
	for _, v := range b.Sigma.Data {
		if v < lo || v > 1 {
			t.Fatalf("time %g outside [%g, 1]", v, lo)
		}
		mean += v / n
	}
	want, se := (1+lo)/2, (1-lo)/math.Sqrt(12*n)
	if math.Abs(mean-want) > 4*se {
		t.Errorf("mean time %g, want %g ± %g", mean, want, 4*se)
	}
	ms := 0.0
	for _, v := range b.Eps.Data {
		ms += v * v / float64(len(b.Eps.Data))
	}
	if se := math.Sqrt(2 / float64(len(b.Eps.Data))); math.Abs(ms-1) > 4*se {
		t.Errorf("noise mean square %g, want 1 ± %g", ms, 4*se)
	}
	b2 := &Batch{X: ad.NewMat(10, 4)}
	b2.Draw(obj, repro.NewStream(), 1, repro.Batch, 0, 0)
	if !adtest.SameBits(b2.Sigma.Data, b.Sigma.Data[:10]) || !adtest.SameBits(b2.Eps.Data, b.Eps.Data[:40]) ||
		!adtest.SameBits(b2.V[1].Data, b.V[1].Data[:40]) {
		t.Error("the first rows of a batch differ from a batch of those rows alone")
	}
}

// gaussian2 is the test distribution of TestSDETraining: N(μ, Σ) on R².
var (
	g2Mean = [2]float64{1, -0.5}
	g2Cov  = [2][2]float64{{1, 0.6}, {0.6, 0.8}}
)

// g2Perturbed returns the covariance C = α²Σ + s²I of p_t and its
// Cholesky factor.
func g2Perturbed(alpha, s float64) (c, l [2][2]float64) {
	for i := range 2 {
		for j := range 2 {
			c[i][j] = alpha * alpha * g2Cov[i][j]
		}
		c[i][i] += s * s
	}
	l[0][0] = math.Sqrt(c[0][0])
	l[1][0] = c[1][0] / l[0][0]
	l[1][1] = math.Sqrt(c[1][1] - l[1][0]*l[1][0])
	return c, l
}

// TestSDETraining trains a time-conditional net by both objectives on a
// 2-D Gaussian, for VE and VP (4000 Adam steps of 128 rows, about 2 s
// each), and checks that the loss falls and that the net's score at three
// times is close to the exact score of p_t = N(αμ, α²Σ + s²I): the
// relative squared error E‖h − ∇log p_t‖²/E‖∇log p_t‖² over 2000 draws
// from p_t is at most 0.1 (measured 0.003 to 0.047; the untrained net's
// is 58 for VE at t = 0.3, where its 1/σ(t) output is large, and 1.2 for
// VP at t = 0.05).
func TestSDETraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four nets")
	}
	rng := repro.New(1, repro.Batch, 99, 0)
	const n = 2000
	data := ad.NewMat(n, 2)
	_, l := g2Perturbed(1, 0)
	for r := range n {
		z0, z1 := repro.Normal(rng), repro.Normal(rng)
		data.Set(r, 0, g2Mean[0]+l[0][0]*z0)
		data.Set(r, 1, g2Mean[1]+l[1][0]*z0+l[1][1]*z1)
	}
	for _, c := range []struct {
		s     sde.SDE
		times []float64
	}{
		// VE's σ(t) is 0.013 at t = 0.05 and 0.06 at t = 0.3: there the
		// loss weights the score's error by σ² < 4·10⁻³ and its target z/σ
		// is noisy, so a short run resolves VE's score from t = 0.3 on.
		{sde.VE{SigmaMin: 0.01, SigmaMax: 4}, []float64{0.3, 0.5, 0.8}},
		{sde.VP{BetaMin: 0.1, BetaMax: 20}, []float64{0.05, 0.3, 0.7}},
	} {
		s := c.s
		for _, name := range []string{"sde-dsm", "sde-sse-vr"} {
			t.Run(s.Kind()+"/"+name, func(t *testing.T) {
				m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: 2, Hidden: []int{64, 64}, Activation: "softplus", FourierDim: 8, FourierScale: 0.5},
					rand.New(rand.NewPCG(3, 4)))
				if err != nil {
					t.Fatal(err)
				}
				e0 := g2ScoreError(m, s, c.times[0])
				obj, err := New(name, m, Options{M: 1})
				if err != nil {
					t.Fatal(err)
				}
				opt := nn.NewAdam()
				opt.LR = 3e-3
				res, err := Train(context.Background(), obj, data, Config{BatchSize: 128, Steps: 4000, Seed: 5, Optimizer: opt})
				if err != nil {
					t.Fatal(err)
				}
				first, last := meanOf(res.Loss[:100]), meanOf(res.Loss[len(res.Loss)-100:])
				t.Logf("loss: first 100 steps %.4g, last 100 %.4g", first, last)
				if !(last < first) {
					t.Errorf("loss did not fall: %g → %g", first, last)
				}
				for _, tm := range c.times {
					e := g2ScoreError(m, s, tm)
					t.Logf("t = %g: relative squared score error %.3g (untrained at t = %g: %.3g)", tm, e, c.times[0], e0)
					if e > 0.1 {
						t.Errorf("t = %g: relative squared score error %.3g, want ≤ 0.1", tm, e)
					}
				}
			})
		}
	}
}

// g2ScoreError returns E‖h(x,t) − ∇log p_t(x)‖² / E‖∇log p_t(x)‖² over
// 2000 draws from p_t.
func g2ScoreError(m nn.TimeScore, s sde.SDE, tm float64) float64 {
	alpha, sd := s.Marginal(tm)
	c, l := g2Perturbed(alpha, sd)
	det := c[0][0]*c[1][1] - c[0][1]*c[1][0]
	inv := [2][2]float64{{c[1][1] / det, -c[0][1] / det}, {-c[1][0] / det, c[0][0] / det}}
	const n = 2000
	rng := repro.New(2, repro.Validation, 0, 0)
	x := ad.NewMat(n, 2)
	times := ad.NewMat(n, 1)
	for r := range n {
		z0, z1 := repro.Normal(rng), repro.Normal(rng)
		x.Set(r, 0, alpha*g2Mean[0]+l[0][0]*z0)
		x.Set(r, 1, alpha*g2Mean[1]+l[1][0]*z0+l[1][1]*z1)
		times.Data[r] = tm
	}
	h := sdeNetScore(m, x, times)
	var num, den float64
	for r := range n {
		d0, d1 := x.At(r, 0)-alpha*g2Mean[0], x.At(r, 1)-alpha*g2Mean[1]
		s0, s1 := -(inv[0][0]*d0 + inv[0][1]*d1), -(inv[1][0]*d0 + inv[1][1]*d1)
		e0, e1 := h.At(r, 0)-s0, h.At(r, 1)-s1
		num += e0*e0 + e1*e1
		den += s0*s0 + s1*s1
	}
	return num / den
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestSDETrainDeterminism checks that both objectives train to
// bit-identical weights for GOMAXPROCS 1, 2 and 8 (with validation, whose
// times and noise come from fixed streams too), and to other weights for
// another seed.
func TestSDETrainDeterminism(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	data := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(4, 4)), 300, 4, 1))
	train := func(name string, seed uint64) []float64 {
		m := testSDENet(t, rand.New(rand.NewPCG(5, 5)), sde.VE{SigmaMin: 0.01, SigmaMax: 5}, "softplus")
		obj, err := New(name, m, Options{M: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(context.Background(), obj, data, Config{BatchSize: 64, Steps: 20, Seed: seed, Chunks: 4, ValFrac: 0.2, EvalEvery: 10}); err != nil {
			t.Fatal(err)
		}
		var w []float64
		for _, p := range m.Params() {
			w = append(w, p.Value.Data...)
		}
		return w
	}
	for _, name := range []string{"sde-dsm", "sde-sse-vr"} {
		var ref []float64
		for _, procs := range []int{1, 2, 8} {
			runtime.GOMAXPROCS(procs)
			w := train(name, 3)
			if ref == nil {
				ref = w
			} else if !adtest.SameBits(w, ref) {
				t.Errorf("%s: GOMAXPROCS=%d: weights differ from GOMAXPROCS=1", name, procs)
			}
		}
		if adtest.SameBits(train(name, 4), ref) {
			t.Errorf("%s: another seed gave the same weights: the comparison is vacuous", name)
		}
	}
}

// TestSDEStepAllocs checks that a steady-state training step of either
// objective allocates nothing (see TestStepAllocs).
func TestSDEStepAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	for _, name := range []string{"sde-dsm", "sde-sse-vr"} {
		rng := rand.New(rand.NewPCG(1, 1))
		m := testSDENet(t, rng, sde.VP{BetaMin: 0.1, BetaMax: 20}, "softplus")
		obj, err := New(name, m, Options{M: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkStepAllocs(t, name, obj, ad.MatOf(adtest.RandMat(rng, 40, 4, 1)))
	}
}

// TestLikelihoodWeighting checks that LikelihoodWeighting changes the
// weight of every sample of both objectives from s(t)² to g(t)², leaves
// the objective it was given alone, and refuses other objectives.
func TestLikelihoodWeighting(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	s := sde.VP{BetaMin: 0.1, BetaMax: 20}
	m := testSDENet(t, rng, s, "softplus")
	x := ad.MatOf(adtest.RandMat(rng, 5, 4, 1))
	for _, name := range []string{"sde-dsm", "sde-sse-vr"} {
		obj, err := New(name, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		lw, err := LikelihoodWeighting(obj)
		if err != nil {
			t.Fatal(err)
		}
		if lw.Name() != name {
			t.Errorf("name %q, want %q", lw.Name(), name)
		}
		b := drawBatch(obj, x, 2)
		w, wl := obj.NewWorker(), lw.NewWorker()
		w.Eval(b, false)
		wl.Eval(b, false)
		for r := range x.Rows {
			tr := b.Sigma.Data[r]
			_, sd := s.Marginal(tr)
			g := s.Diffusion(tr)
			for j := range w.Terms().Cols {
				got, want := wl.Terms().At(r, j), w.Terms().At(r, j)*g*g/(sd*sd)
				if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("%s row %d term %d: %g with the likelihood weighting, want %g", name, r, j, got, want)
				}
			}
		}
		if again := obj.NewWorker(); again.Eval(b, false) != w.Eval(b, false) {
			t.Errorf("%s: LikelihoodWeighting changed the objective it was given", name)
		}
	}
	score, _ := nn.NewScoreMLP(4, []int{5}, "tanh", rng)
	dsm, _ := New("dsm", score, Options{Sigma: 0.1})
	if _, err := LikelihoodWeighting(dsm); err == nil {
		t.Error("LikelihoodWeighting(dsm): no error")
	}
}

// TestSDEResume stops a run of sde-sse-vr after 7 of 20 steps and resumes
// it from its checkpoint: the same weights as an uninterrupted run; and a
// resume with the other weighting is refused, naming it.
func TestSDEResume(t *testing.T) {
	dir := t.TempDir()
	data := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(4, 4)), 200, 4, 1))
	run := func(cfg Config, ctx context.Context, likelihood bool) ([]float64, error) {
		m := testSDENet(t, rand.New(rand.NewPCG(5, 5)), sde.SubVP{BetaMin: 0.1, BetaMax: 20}, "softplus")
		obj, err := New("sde-sse-vr", m, Options{M: 2})
		if err != nil {
			t.Fatal(err)
		}
		if likelihood {
			if obj, err = LikelihoodWeighting(obj); err != nil {
				t.Fatal(err)
			}
		}
		_, err = Train(ctx, obj, data, cfg)
		var w []float64
		for _, p := range m.Params() {
			w = append(w, p.Value.Data...)
		}
		return w, err
	}
	cfg := Config{BatchSize: 50, Steps: 20, Seed: 5, ValFrac: 0.2, EvalEvery: 5}
	want, err := run(cfg, context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	ck := cfg
	ck.Checkpoint, ck.Resume = filepath.Join(dir, "ck.safetensors"), true
	ctx, cancel := context.WithCancel(context.Background())
	stop := ck
	stop.Progress = func(p Progress) {
		if p.Step == 7 {
			cancel()
		}
	}
	if _, err := run(stop, ctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	var re *ResumeError
	if _, err := run(ck, context.Background(), true); !errors.As(err, &re) || len(re.Diffs) != 1 || re.Diffs[0].Setting != "Weighting" {
		t.Errorf("resume with the likelihood weighting: error %v, want a ResumeError naming Weighting", err)
	}
	got, err := run(ck, context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(got, want) {
		t.Error("resumed weights differ from the uninterrupted run's")
	}
}
