package sampler

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn/sde"
)

// sdeSamplers are the samplers that the statistical tests run for an SDE:
// Euler–Maruyama, predictor–corrector (reverse diffusion and one Langevin
// step at the reference code's VE signal-to-noise ratio 0.16) and, for VE
// and VP, ancestral sampling.
func sdeSamplers(s sde.SDE, steps int, seed uint64) map[string]PC {
	m := map[string]PC{
		"em": {SDE: s, Predictor: "em", Steps: steps, Seed: seed},
		"pc": {SDE: s, Predictor: "reverse-diffusion", Corrector: "langevin", CorrectorSteps: 1, SNR: 0.16, Steps: steps, Seed: seed},
	}
	if _, ok := s.(sde.Ancestral); ok {
		m["ancestral"] = PC{SDE: s, Predictor: "ancestral", Steps: steps, Seed: seed}
	}
	return m
}

// startAtPrior returns n rows drawn from p_T exactly (the mixture pushed to
// t = T), so that the tests measure the samplers' error alone: VE's prior
// N(0, σmax²I) is not p_T, and with σmax = 20 the NCSN mixture's mean (3, 3)
// shifts the weight of the (−5,−5) mode from 0.20 to about 0.22 when
// sampling starts from the prior (measured over three seeds: 0.229, 0.238,
// 0.211 with Euler–Maruyama; 0.207, 0.217, 0.193 with σmax = 100).
func startAtPrior(p *PerturbedMixture, n int, seed uint64) ad.Mat {
	x := ad.NewMat(n, p.Dim())
	p.At(p.SDE().T()).Sample(x, repro.New(seed, repro.Start, 0, 0))
	return x
}

// TestSDESamplersNCSN is Must-show (b) on the 0.2/0.8 two-mode mixture of
// the NCSN toy, where plain Langevin dynamics fails (TestT6): with the
// exact score, every reverse-time sampler puts 0.2 of its samples in the
// (−5,−5) mode, within 3 binomial standard errors (√(0.2·0.8/2000) ≈ 0.009
// for 2000 samples). N = 300 steps: the weights are settled by then (they
// moved by less than one standard error from N = 100 to N = 1000 in
// trials), and each run takes about 0.1 s.
func TestSDESamplersNCSN(t *testing.T) {
	const n, steps = 2000, 300
	m := NCSNMixture()
	se := math.Sqrt(0.2 * 0.8 / n)
	for _, s := range testSDEs {
		p := NewPerturbedMixture(m, s)
		for _, name := range sortedKeys(sdeSamplers(s, steps, 1)) {
			pc := sdeSamplers(s, steps, 1)[name]
			x := startAtPrior(p, n, 2)
			start := time.Now()
			if err := pc.Run(p, x); err != nil {
				t.Fatal(err)
			}
			w := m.ModeWeights(x)
			t.Logf("%v %s: weight of (−5,−5) %.4f (%.1f SE from 0.2), %v", s, name, w[0], (w[0]-0.2)/se, time.Since(start).Round(time.Millisecond))
			if math.Abs(w[0]-0.2) > 3*se {
				t.Errorf("%v %s: weight of (−5,−5) %.4f, want 0.2 ± %.4f", s, name, w[0], 3*se)
			}
		}
	}
}

// TestSDESamplersMMD is Must-show (b) on a 2-D mixture of three unequal,
// correlated Gaussians: 500 samples of every sampler against 500 fresh
// draws from the mixture, by the MMD permutation test with 200
// permutations (about 0.3 s each), must not be significant at the 1% level
// (the p-values are deterministic; about 8% of a family of eight tests of a
// correct sampler would fail at that level by chance, none does with these
// seeds). The same test rejects the samples of the mixture with weights
// 0.4/0.4/0.2, which shows that it has the power to see mode weights off
// by 0.1.
func TestSDESamplersMMD(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	const n, steps = 500, 300
	mix := skewMixture(t)
	data := ad.NewMat(n, 2)
	mix.Sample(data, repro.New(1, repro.Data, 0, 0))
	for _, s := range testSDEs {
		p := NewPerturbedMixture(mix, s)
		for _, name := range sortedKeys(sdeSamplers(s, steps, 3)) {
			pc := sdeSamplers(s, steps, 3)[name]
			x := startAtPrior(p, n, 4)
			if err := pc.Run(p, x); err != nil {
				t.Fatal(err)
			}
			r := MMDTest(x, data, 200, 5)
			t.Logf("%v %s: MMD² %.2e, p = %.3f", s, name, r.MMD2, r.PValue)
			if r.PValue < 0.01 {
				t.Errorf("%v %s: MMD² %.2e to the data is significant, p = %.3f", s, name, r.MMD2, r.PValue)
			}
		}
	}
	// Negative control: the score of the mixture with weights 0.4, 0.4, 0.2
	// instead of 0.5, 0.3, 0.2.
	wrong, err := NewMixture([]Component{
		{Weight: 0.4, Mean: []float64{-2, 0}, Cov: ad.MatOf(2, 2, []float64{0.5, 0.3, 0.3, 0.4})},
		{Weight: 0.4, Mean: []float64{2, 1.5}, Cov: ad.MatOf(2, 2, []float64{0.3, -0.1, -0.1, 0.2})},
		{Weight: 0.2, Mean: []float64{1, -2.5}, Cov: ad.MatOf(2, 2, []float64{0.2, 0, 0, 0.6})},
	})
	if err != nil {
		t.Fatal(err)
	}
	vp := testSDEs[1]
	pw := NewPerturbedMixture(wrong, vp)
	x := startAtPrior(pw, n, 4)
	if err := (PC{SDE: vp, Predictor: "em", Steps: steps, Seed: 3}).Run(pw, x); err != nil {
		t.Fatal(err)
	}
	r := MMDTest(x, data, 200, 5)
	t.Logf("weights 0.4/0.4/0.2 instead of 0.5/0.3/0.2: MMD² %.2e, p = %.3f", r.MMD2, r.PValue)
	if r.PValue > 0.01 {
		t.Errorf("the wrong mixture gives p = %.3f, want a significant MMD", r.PValue)
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]PC) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}

// constScore is a time score that is the same vector everywhere.
type constScore []float64

func (c constScore) Dim() int { return len(c) }
func (c constScore) NewTimeScoreFunc() TimeScoreFunc {
	return func(dst, x ad.Mat, t []float64) {
		for b := range x.Rows {
			copy(dst.Row(b), c)
		}
	}
}

// TestSDEStepFormulas runs one step of every predictor and of the
// corrector from known points with a constant score, and compares with the
// step written out from the SDE's coefficients and the row's own stream
// (Seed, repro.Chain, 0, row): c₁x + c₂s + c₃z for the predictors (c₃ = 0
// with Denoise), and x + εs + √(2ε)z with ε = 2αᵢ(snr·‖z‖/‖s‖)² for the
// corrector, with batch-mean and per-sample norms.
func TestSDEStepFormulas(t *testing.T) {
	score := constScore{1, -2}
	x0 := ad.MatOf(3, 2, []float64{0.5, 1, -2, 0.25, 3, -1})
	const seed, eps = 11, 0.9
	dt := 1 - eps
	noise := func(b int) []float64 {
		rng := repro.New(seed, repro.Chain, 0, uint64(b))
		return []float64{repro.Normal(rng), repro.Normal(rng)}
	}
	for _, s := range []sde.SDE{sde.VE{SigmaMin: 0.01, SigmaMax: 20}, sde.VP{BetaMin: 0.1, BetaMax: 5}, sde.SubVP{BetaMin: 0.1, BetaMax: 5}} {
		type coefs struct{ c1, c2, c3 float64 }
		want := map[string]coefs{}
		a, g := s.DriftCoef(1), s.Diffusion(1)
		want["em"] = coefs{1 - a*dt, g * g * dt, g * math.Sqrt(dt)}
		f, G := s.Discretize(1, dt)
		want["reverse-diffusion"] = coefs{1 - f, G * G, G}
		if an, ok := s.(sde.Ancestral); ok {
			c1, c2, c3 := an.AncestralStep(1, dt)
			want["ancestral"] = coefs{c1, c2, c3}
		}
		for name, c := range want {
			for _, denoise := range []bool{false, true} {
				x := x0.Clone()
				pc := PC{SDE: s, Predictor: name, Steps: 1, Eps: eps, Denoise: denoise, Seed: seed}
				if err := pc.Run(score, x); err != nil {
					t.Fatal(err)
				}
				for b := range x.Rows {
					z := noise(b)
					for k := range 2 {
						w := c.c1*x0.At(b, k) + c.c2*score[k]
						if !denoise {
							w += c.c3 * z[k]
						}
						if math.Abs(x.At(b, k)-w) > 1e-13*math.Max(1, math.Abs(w)) {
							t.Errorf("%v %s denoise=%v: row %d col %d = %v, want %v", s, name, denoise, b, k, x.At(b, k), w)
						}
					}
				}
			}
		}
		for _, perSample := range []bool{false, true} {
			x := x0.Clone()
			pc := PC{SDE: s, Corrector: "langevin", CorrectorSteps: 1, SNR: 0.2, PerSampleSNR: perSample, Steps: 1, Eps: eps, Seed: seed}
			if err := pc.Run(score, x); err != nil {
				t.Fatal(err)
			}
			alpha := 1 + 2*s.DriftCoef(1)*dt
			sn := math.Sqrt(5)
			zbar := 0.0
			for b := range 3 {
				zbar += math.Hypot(noise(b)[0], noise(b)[1]) / 3
			}
			for b := range x.Rows {
				z := noise(b)
				zn := zbar
				if perSample {
					zn = math.Hypot(z[0], z[1])
				}
				e := 2 * alpha * (0.2 * zn / sn) * (0.2 * zn / sn)
				for k := range 2 {
					w := x0.At(b, k) + e*score[k] + math.Sqrt(2*e)*z[k]
					if math.Abs(x.At(b, k)-w) > 1e-13*math.Max(1, math.Abs(w)) {
						t.Errorf("%v corrector perSample=%v: row %d col %d = %v, want %v", s, perSample, b, k, x.At(b, k), w)
					}
				}
			}
		}
	}
}

func TestSDEStepNames(t *testing.T) {
	var p, c []string
	for _, d := range Predictors() {
		p = append(p, d.Name)
		if d.Description == "" {
			t.Errorf("predictor %s has no description", d.Name)
		}
	}
	for _, d := range Correctors() {
		c = append(c, d.Name)
	}
	if !slices.Equal(p, []string{"em", "reverse-diffusion", "ancestral", "none"}) || !slices.Equal(c, []string{"langevin", "none"}) {
		t.Errorf("predictors %v, correctors %v", p, c)
	}
}

// TestSDEDeterministic requires bit-identical samples for GOMAXPROCS 1, 2
// and 8 and for different chunkings, for every predictor, the corrector
// with batch-mean and per-sample norms, and denoising.
func TestSDEDeterministic(t *testing.T) {
	mix := skewMixture(t)
	runs := map[string]func(chunks int) []float64{}
	for _, s := range testSDEs {
		p := NewPerturbedMixture(mix, s)
		for _, pc := range []PC{
			{SDE: s, Predictor: "em", Corrector: "langevin", CorrectorSteps: 2, SNR: 0.16},
			{SDE: s, Predictor: "reverse-diffusion", Corrector: "langevin", CorrectorSteps: 1, SNR: 0.1, PerSampleSNR: true, Denoise: true},
			{SDE: s, Predictor: "ancestral", Denoise: true},
			{SDE: s, Corrector: "langevin", CorrectorSteps: 1, SNR: 0.16, Denoise: true},
		} {
			if _, ok := s.(sde.Ancestral); !ok && pc.Predictor == "ancestral" {
				continue
			}
			pc.Steps, pc.Seed = 40, 9
			runs[s.String()+" "+pc.Predictor+"+"+pc.Corrector] = func(chunks int) []float64 {
				x := ad.NewMat(150, 2)
				sde.SamplePrior(s, x, 3)
				pc.Chunks = chunks
				if err := pc.Run(p, x); err != nil {
					t.Fatal(err)
				}
				return x.Data
			}
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for name, run := range runs {
		var ref []float64
		for _, c := range []struct{ procs, chunks int }{{1, 0}, {2, 0}, {8, 0}, {8, 1}, {2, 7}} {
			runtime.GOMAXPROCS(c.procs)
			got := run(c.chunks)
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
					t.Errorf("%s: GOMAXPROCS %d, Chunks %d: value %d is %v, want %v", name, c.procs, c.chunks, i, got[i], ref[i])
					break
				}
			}
		}
	}
}

// TestSDEConfigErrors checks that every bad setting is a *ConfigError
// naming its field, before any work.
func TestSDEConfigErrors(t *testing.T) {
	ve := sde.VE{SigmaMin: 0.01, SigmaMax: 20}
	ok := PC{SDE: ve, Predictor: "em", Corrector: "langevin", CorrectorSteps: 1, SNR: 0.16, Steps: 10}
	mod := func(f func(*PC)) PC { p := ok; f(&p); return p }
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		name  string
		pc    PC
		field string
	}{
		{"nil SDE", mod(func(p *PC) { p.SDE = nil }), "SDE"},
		{"invalid SDE", mod(func(p *PC) { p.SDE = sde.VE{SigmaMin: 0.01} }), "SDE"},
		{"steps 0", mod(func(p *PC) { p.Steps = 0 }), "Steps"},
		{"steps < 0", mod(func(p *PC) { p.Steps = -3 }), "Steps"},
		{"snr 0", mod(func(p *PC) { p.SNR = 0 }), "SNR"},
		{"snr < 0", mod(func(p *PC) { p.SNR = -0.1 }), "SNR"},
		{"snr NaN", mod(func(p *PC) { p.SNR = nan }), "SNR"},
		{"snr Inf", mod(func(p *PC) { p.SNR = inf }), "SNR"},
		{"eps < 0", mod(func(p *PC) { p.Eps = -1e-3 }), "Eps"},
		{"eps = T", mod(func(p *PC) { p.Eps = 1 }), "Eps"},
		{"eps > T", mod(func(p *PC) { p.Eps = 2 }), "Eps"},
		{"eps NaN", mod(func(p *PC) { p.Eps = nan }), "Eps"},
		{"eps Inf", mod(func(p *PC) { p.Eps = inf }), "Eps"},
		{"predictor", mod(func(p *PC) { p.Predictor = "rk4" }), "Predictor"},
		{"corrector", mod(func(p *PC) { p.Corrector = "ald" }), "Corrector"},
		{"corrector steps < 0", mod(func(p *PC) { p.CorrectorSteps = -1 }), "CorrectorSteps"},
		{"corrector steps without corrector", mod(func(p *PC) { p.Corrector = "none" }), "CorrectorSteps"},
		{"nothing to do", mod(func(p *PC) { p.Predictor, p.CorrectorSteps = "", 0 }), "Predictor"},
		{"ancestral sub-VP", mod(func(p *PC) { p.SDE, p.Predictor = sde.SubVP{BetaMin: 0.1, BetaMax: 20}, "ancestral" }), "Predictor"},
		{"VP β·dt ≥ 1", mod(func(p *PC) { p.SDE, p.Predictor = sde.VP{BetaMin: 0.1, BetaMax: 20}, "reverse-diffusion" }), "Steps"},
		{"corrector α ≤ 0", mod(func(p *PC) { p.SDE = sde.VP{BetaMin: 0.1, BetaMax: 20} }), "Steps"},
		{"chunks < 0", mod(func(p *PC) { p.Chunks = -1 }), "Chunks"},
	} {
		x := ad.MatOf(2, 2, []float64{1, 2, 3, 4})
		err := c.pc.Run(NCSNMixtureScore(t), x)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || ce.Type != "PC" {
			t.Errorf("%s: %v, want a ConfigError on PC.%s", c.name, err, c.field)
		}
		if x.Data[0] != 1 || x.Data[3] != 4 {
			t.Errorf("%s: x changed", c.name)
		}
	}
	if err := (PC{SDE: sde.SubVP{BetaMin: 0.1, BetaMax: 20}, Predictor: "ancestral", Steps: 3}).Run(NCSNMixtureScore(t), ad.NewMat(1, 2)); err == nil {
		t.Error("ancestral sampling of sub-VP: no error")
	}
	if err := ok.Run(NCSNMixtureScore(t), ad.NewMat(3, 2)); err != nil {
		t.Errorf("valid settings: %v", err)
	}
	mustPanic(t, "columns", func() { ok.Run(NCSNMixtureScore(t), ad.NewMat(3, 3)) })
	diverge := PC{SDE: ve, Predictor: "em", Steps: 2}
	if err := diverge.Run(constScore{math.Inf(1), 0}, ad.NewMat(2, 2)); err == nil {
		t.Error("no error for non-finite samples")
	}
}

// NCSNMixtureScore returns the exact time score of NCSNMixture under VE.
func NCSNMixtureScore(t testing.TB) *PerturbedMixture {
	return NewPerturbedMixture(NCSNMixture(), testSDEs[0])
}
