package implicit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
)

// toyFlip is the flip probability of the toy patterns.
const toyFlip = 0.05

// toyPatterns returns n binary 16-pixel rows: each a copy of one of four
// random prototypes, chosen uniformly, with every pixel flipped with
// probability toyFlip, and the exact mean −log p(x) of the rows under that
// distribution, p(x) = ¼Σ_k f^{d_k}(1−f)^{16−d_k} with d_k the Hamming
// distance to prototype k.
func toyPatterns(seed uint64, n int) (ad.Mat, float64) {
	const d, k = 16, 4
	prng := repro.New(1, repro.Data, 0, 0)
	var protos [k][d]float64
	for i := range k {
		for j := range d {
			if prng.Float64() < 0.5 {
				protos[i][j] = 1
			}
		}
	}
	rng := repro.New(seed, repro.Data, 1, 0)
	x := ad.NewMat(n, d)
	nll := 0.0
	for r := range n {
		c := rng.IntN(k)
		for j := range d {
			x.Set(r, j, protos[c][j])
			if rng.Float64() < toyFlip {
				x.Set(r, j, 1-protos[c][j])
			}
		}
		p := 0.0
		for i := range k {
			dist := 0
			for j := range d {
				if x.At(r, j) != protos[i][j] {
					dist++
				}
			}
			p += 0.25 * math.Pow(toyFlip, float64(dist)) * math.Pow(1-toyFlip, float64(d-dist))
		}
		nll -= math.Log(p)
	}
	return x, nll / float64(n)
}

// toyAIS is the AIS of the training tests' NLL.
var toyAIS = sampler.AIS{Temps: 100, Step: 0.2, Leapfrog: 5, Chains: 32, Seed: 9}

// toyVAE and toyWAE are the training tests' models: 16 pixels, dim z = 2,
// one hidden layer of 32 softplus units in every net.
func toyVAE(t *testing.T, entropy string) *VAE {
	t.Helper()
	v, err := NewVAE(VAEConfig{XDim: 16, ZDim: 2, Entropy: entropy, EncHidden: []int{32}, DecHidden: []int{32}, Seed: 1,
		Estimator: Config{Hidden: []int{32}, LR: 3e-3, Samples: 4, K: 20}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func toyWAE(t *testing.T, entropy string) *WAE {
	t.Helper()
	w, err := NewWAE(WAEConfig{XDim: 16, ZDim: 2, Entropy: entropy, Lambda: 1, EncHidden: []int{32}, DecHidden: []int{32}, Seed: 1,
		Estimator: Config{Hidden: []int{32}, LR: 3e-3}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// kernelsToo says whether the training tests also train with the kernel
// estimators (several seconds each): SCOREMATCH_IMPLICIT_AE=1.
func kernelsToo() bool { return os.Getenv("SCOREMATCH_IMPLICIT_AE") == "1" }

// TestVAETrainToy trains VAEs on the toy patterns (512 rows, 1500 steps
// of 32, Adam 3e-3) and measures the test NLL of 32 held-out rows by AIS
// (32 chains of 100 temperatures per row). The untrained model's NLL is
// 11.97 nats; the exact NLL of the generating distribution on those rows
// is 4.32. Trained, both the Gaussian-ELBO VAE and the implicit VAE with
// sse must come within 0.8 nats of it (and no lower than 0.3 below it,
// which a biased AIS could give), at least 5 nats below the untrained
// value, and within 0.5 nats of each other. With seed 1 (this test) they
// are 4.70 and 4.71; with seeds 2, 3, 4 the Gaussian VAE gave 4.70, 4.74,
// 4.69 and sse 5.10, 5.02, 4.86 (each ± 0.02): at this size sse trails the
// analytic ELBO by up to 0.4 nats, hence the bound. With
// SCOREMATCH_IMPLICIT_AE=1 the kernel estimators stein and ssge (K = 20)
// are trained and held to the same bounds (seed 1: 4.65 and 4.66).
func TestVAETrainToy(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two VAEs for 1500 steps")
	}
	train, _ := toyPatterns(2, 512)
	test, exact := toyPatterns(3, 32)
	untrained, err := NLL(toyVAE(t, "gaussian").Decoder, test, toyAIS, ad.Mat{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test rows: exact NLL %.3f, untrained decoder %.3f ± %.3f", exact, untrained.NLL, untrained.StdErr)
	names := []string{"gaussian", "sse"}
	if kernelsToo() {
		names = append(names, "stein", "ssge")
	}
	nll := map[string]float64{}
	for _, name := range names {
		v := toyVAE(t, name)
		start := time.Now()
		last, err := Fit(v, train, FitConfig{Steps: 1500, Batch: 32, LR: 3e-3, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		fit := time.Since(start)
		r, err := NLL(v.Decoder, test, toyAIS, ad.Mat{})
		if err != nil {
			t.Fatal(err)
		}
		nll[name] = r.NLL
		t.Logf("%-8s test NLL %.3f ± %.3f (min weight ESS %.1f of 32); last batch: recon %.3f, cross-entropy %.3f, KL %.3f, SSE-VR loss %.3f; fit %v",
			name, r.NLL, r.StdErr, r.MinESS, last.Recon, last.Prior, last.KL, last.ScoreLoss, fit.Round(time.Millisecond))
		if !(r.NLL < untrained.NLL-5 && r.NLL < exact+0.8 && r.NLL > exact-0.3) {
			t.Errorf("%s: test NLL %.3f, want within [%.3f, %.3f] and 5 below the untrained %.3f", name, r.NLL, exact-0.3, exact+0.8, untrained.NLL)
		}
	}
	for _, name := range names[1:] {
		if d := nll[name] - nll["gaussian"]; math.Abs(d) > 0.5 {
			t.Errorf("%s: test NLL %.3f, the Gaussian ELBO's %.3f: want within 0.5", name, nll[name], nll["gaussian"])
		}
	}
}

// meanRecon returns the mean −log p(x|f(x)) of the rows of x.
func meanRecon(w *WAE, x ad.Mat) float64 {
	tp := ad.NewTape()
	tp.Reset()
	return w.Loss(tp, x, ad.NewMat(x.Rows, w.Decoder.ZDim())).Recon
}

// TestWAETrainToy trains WAEs (λ = 1, 1500 steps of 64) on the toy
// patterns: the reconstruction error −log p(x|f(x)) of held-out rows must
// fall from its untrained value (12.0) below 3.5 nats, and the codes of
// 256 training rows must match the prior: MMD² to as many prior draws
// below 0.01 (untrained 0.36) and the permutation test not significant at
// 1%. With seed 1 (this test) sse gives 2.44 and MMD² −0.0005 (p 0.51);
// seeds 2, 3, 4 gave 2.36, 2.29, 2.57 and −0.0001, −0.0003, 0.0086 (p
// 0.36, 0.46, 0.015). The decoder's test NLL by AIS is logged. With
// SCOREMATCH_IMPLICIT_AE=1 also stein and ssge on the batch's codes.
func TestWAETrainToy(t *testing.T) {
	train, _ := toyPatterns(2, 512)
	test, exact := toyPatterns(3, 32)
	names := []string{"sse"}
	if kernelsToo() {
		names = append(names, "stein", "ssge")
	}
	for _, name := range names {
		w := toyWAE(t, name)
		rows := train.RowRange(0, 256)
		r0, m0 := meanRecon(w, test), PriorMMD(w.Encode(rows), 0, 1)
		start := time.Now()
		if _, err := Fit(w, train, FitConfig{Steps: 1500, Batch: 64, LR: 3e-3, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		fit := time.Since(start)
		r1, m1 := meanRecon(w, test), PriorMMD(w.Encode(rows), 200, 1)
		nll, err := NLL(w.Decoder, test, toyAIS, ad.Mat{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-5s test recon %.3f → %.3f; codes' MMD² to the prior %.4f → %.4f (p %.3f); test NLL %.3f ± %.3f (exact %.3f); fit %v",
			name, r0, r1, m0.MMD2, m1.MMD2, m1.PValue, nll.NLL, nll.StdErr, exact, fit.Round(time.Millisecond))
		if !(r1 < 3.5 && r0 > r1+5) {
			t.Errorf("%s: test reconstruction %.3f → %.3f, want below 3.5 and 5 lower", name, r0, r1)
		}
		if !(m1.MMD2 < 0.01 && m1.PValue > 0.01 && m0.MMD2 > 0.1) {
			t.Errorf("%s: MMD² %.4f → %.4f (p %.3f): want below 0.01, not significant at 1%%", name, m0.MMD2, m1.MMD2, m1.PValue)
		}
	}
}

// bits returns the parameters' values as one slice.
func bits(ps []*ad.Param) []float64 {
	var out []float64
	for _, p := range ps {
		out = append(out, p.Value.Data...)
	}
	return out
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestFitGOMAXPROCS trains each kind of model for a few steps (with
// dynamic binarisation of grey data) under GOMAXPROCS 1, 2 and 8 and
// requires the same bits of every parameter, of the last loss and of the
// trained decoder's NLL on two rows (AIS runs its chains in parallel
// chunks); the kernel estimators split their work into parallel chunks.
func TestFitGOMAXPROCS(t *testing.T) {
	data := aePixels(7, 300, 16)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		make func() AutoEncoder
	}{
		{"vae sse", func() AutoEncoder { return toyVAE(t, "sse") }},
		{"vae stein", func() AutoEncoder { return toyVAE(t, "stein") }},
		{"vae ssge", func() AutoEncoder { return toyVAE(t, "ssge") }},
		{"vae gaussian", func() AutoEncoder { return toyVAE(t, "gaussian") }},
		{"wae sse", func() AutoEncoder { return toyWAE(t, "sse") }},
		{"wae ssge", func() AutoEncoder { return toyWAE(t, "ssge") }},
	} {
		var ref []float64
		for _, procs := range []int{1, 2, 8} {
			runtime.GOMAXPROCS(procs)
			m := tc.make()
			last, err := Fit(m, data, FitConfig{Steps: 4, Batch: 150, Seed: 3, Binarize: true})
			if err != nil {
				t.Fatal(err)
			}
			var dec *BernoulliDecoder
			switch m := m.(type) {
			case *VAE:
				dec = m.Decoder
			case *WAE:
				dec = m.Decoder
			}
			a := toyAIS
			a.Temps, a.Chains = 10, 80
			nll, err := NLL(dec, data.RowRange(0, 2), a, ad.Mat{})
			if err != nil {
				t.Fatal(err)
			}
			got := append(bits(m.Params()), last.Loss.Primal().Data[0], nll.NLL, nll.StdErr)
			if ref == nil {
				ref = got
			} else if !sameBits(ref, got) {
				t.Errorf("%s: GOMAXPROCS %d gives other bits than 1", tc.name, procs)
			}
		}
	}
}

// TestFitResume: a run of 7 steps equals 3 steps followed by a call with
// Start 3 for 4 more on the same model (the data order, the binarisation
// and the noise depend on the step number, the optimisers and the score
// net carry on), bit for bit, across an epoch boundary.
func TestFitResume(t *testing.T) {
	data := aePixels(8, 100, 16)
	c := FitConfig{Batch: 40, Seed: 5, Binarize: true}
	for _, name := range []string{"sse", "gaussian"} {
		a, b := toyVAE(t, name), toyVAE(t, name)
		c.Steps = 7
		if _, err := Fit(a, data, c); err != nil {
			t.Fatal(err)
		}
		c.Steps = 3
		if _, err := Fit(b, data, c); err != nil {
			t.Fatal(err)
		}
		if sameBits(bits(a.Params()), bits(b.Params())) {
			t.Fatalf("%s: 3 steps and 7 give the same parameters", name)
		}
		c.Start, c.Steps = 3, 4
		if _, err := Fit(b, data, c); err != nil {
			t.Fatal(err)
		}
		c.Start = 0
		if !sameBits(bits(a.Params()), bits(b.Params())) {
			t.Errorf("%s: 3 + 4 steps differ from 7", name)
		}
	}
}

// recorder is an AutoEncoder that records the batches Fit gives it.
type recorder struct {
	p       *ad.Param
	opt     *nn.Adam
	batches []ad.Mat
}

func (r *recorder) Params() []*ad.Param      { return []*ad.Param{r.p} }
func (r *recorder) NamedParams() []*ad.Param { return []*ad.Param{r.p} }
func (r *recorder) Optimizer() nn.Optimizer  { return r.opt }
func (r *recorder) Grad(x ad.Mat, _, _ uint64) ([]ad.Mat, StepStats) {
	r.batches = append(r.batches, x.Clone())
	tp := ad.NewTape()
	tp.Reset()
	return []ad.Mat{ad.NewMat(1, 1)}, StepStats{Terms: Terms{Loss: tp.Const(ad.NewMat(1, 1))}}
}

// TestFitBatches checks the data Fit feeds: each epoch visits every row
// once in ⌊n/B⌋ batches (the rest dropped), epochs in different orders;
// with Binarize every pixel is 0 or 1 and a pixel of grey level p is 1 in
// a fraction of the draws within 4 standard errors of p; Progress is called
// every Every steps and after the last.
func TestFitBatches(t *testing.T) {
	const n, batch, d = 10, 3, 4
	data := ad.NewMat(n, d)
	for r := range n {
		data.Set(r, 0, float64(r)) // the row's id
		data.Set(r, 1, 0.3)
		data.Set(r, 2, 1)
	}
	rec := &recorder{p: ad.NewParam("w", 1, 1), opt: nn.NewAdam()}
	var calls []int
	if _, err := Fit(rec, data, FitConfig{Steps: 9, Batch: batch, Seed: 2, Every: 4, Progress: func(p Progress) { calls = append(calls, p.Step) }}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(calls) != "[4 8 9]" {
		t.Errorf("Progress at steps %v, want [4 8 9]", calls)
	}
	var orders []string
	for e := range 3 {
		seen := map[float64]bool{}
		var order []float64
		for _, b := range rec.batches[3*e : 3*e+3] {
			for r := range batch {
				id := b.At(r, 0)
				if seen[id] {
					t.Errorf("epoch %d: row %v twice", e, id)
				}
				seen[id] = true
				order = append(order, id)
			}
		}
		orders = append(orders, fmt.Sprint(order))
	}
	if orders[0] == orders[1] && orders[1] == orders[2] {
		t.Errorf("every epoch visits the rows in the order %s", orders[0])
	}

	data = ad.NewMat(n, d)
	for r := range n {
		data.Set(r, 0, 0.3)
		data.Set(r, 1, 1)
		data.Set(r, 3, 0.9)
	}
	rec.batches = nil
	const steps = 400
	if _, err := Fit(rec, data, FitConfig{Steps: steps, Batch: batch, Seed: 2, Binarize: true}); err != nil {
		t.Fatal(err)
	}
	ones := [d]float64{}
	for _, b := range rec.batches {
		for r := range batch {
			for j, v := range b.Row(r) {
				if v != 0 && v != 1 {
					t.Fatalf("binarised pixel %v", v)
				}
				ones[j] += v
			}
		}
	}
	m := float64(steps * batch)
	for j, p := range []float64{0.3, 1, 0, 0.9} {
		f := ones[j] / m
		se := math.Sqrt(p * (1 - p) / m)
		if math.Abs(f-p) > 4*se {
			t.Errorf("pixel %d of grey level %v: 1 in a fraction %.4f of %v draws (standard error %.4f)", j, p, f, m, se)
		}
	}
}

// TestFitErrors checks the settings Fit and NLL refuse.
func TestFitErrors(t *testing.T) {
	data := aePixels(1, 10, 16)
	v := toyVAE(t, "gaussian")
	for _, tc := range []struct {
		c     FitConfig
		field string
	}{
		{FitConfig{Batch: 2}, "FitConfig.Steps"},
		{FitConfig{Steps: 1, Batch: 11}, "FitConfig.Batch"},
		{FitConfig{Steps: 1, Batch: 0}, "FitConfig.Batch"},
		{FitConfig{Steps: 1, Batch: 2, Start: -1}, "FitConfig.Start"},
		{FitConfig{Steps: 1, Batch: 2, LR: -1}, "FitConfig.LR"},
		{FitConfig{Steps: 1, Batch: 2, Every: -1}, "FitConfig.Every"},
	} {
		_, err := Fit(v, data, tc.c)
		ce, ok := err.(*ConfigError)
		if !ok || ce.Setting() != tc.field {
			t.Errorf("%+v: error %v, want a *ConfigError for %s", tc.c, err, tc.field)
		}
	}
	if _, err := NLL(v.Decoder, aePixels(1, 2, 5), toyAIS, ad.Mat{}); err == nil {
		t.Error("NLL of 5-pixel rows for a 16-pixel decoder: no error")
	}
	a := toyAIS
	a.Chains = 1
	var ce *sampler.ConfigError
	if _, err := NLL(v.Decoder, data.RowRange(0, 1), a, ad.Mat{}); !errors.As(err, &ce) {
		t.Errorf("NLL with 1 chain: error %v, want a *sampler.ConfigError", err)
	}
}
