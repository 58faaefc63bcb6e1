package implicit

import (
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
)

// aeMat returns an r×c matrix of standard normal deviates from seed.
func aeMat(seed uint64, r, c int) ad.Mat {
	rng := repro.New(seed, repro.Evaluation, 1, 0)
	m := ad.NewMat(r, c)
	for i := range m.Data {
		m.Data[i] = repro.Normal(rng)
	}
	return m
}

// aeRNG returns a generator for test initialisations.
func aeRNG(seed uint64) *rand.Rand { return repro.New(seed, repro.Init, 9, 0) }

// aePixels returns an r×c matrix of values in [0, 1]: zeros, ones and
// grey levels, as binarised and raw images have.
func aePixels(seed uint64, r, c int) ad.Mat {
	rng := repro.New(seed, repro.Evaluation, 2, 0)
	m := ad.NewMat(r, c)
	for i := range m.Data {
		switch u := rng.Float64(); {
		case u < 0.4:
		case u < 0.8:
			m.Data[i] = 1
		default:
			m.Data[i] = rng.Float64()
		}
	}
	return m
}

// checkLossGrad differentiates loss (which records a 1×1 node on t) with
// respect to every parameter of ps by a reverse sweep and compares with
// central differences of its value.
func checkLossGrad(t *testing.T, name string, ps []*ad.Param, loss func(tp *ad.Tape) *ad.Node) {
	t.Helper()
	tp := ad.NewTape()
	value := func() float64 {
		tp.Reset()
		return loss(tp).Primal().Data[0]
	}
	tp.Reset()
	tp.Backward(loss(tp))
	var grads [][]float64
	for _, p := range ps {
		g := tp.Grad(p)
		if len(g.Data) == 0 {
			t.Fatalf("%s: parameter %s has no gradient", name, p.Name)
		}
		grads = append(grads, append([]float64(nil), g.Data...))
	}
	worst := 0.0
	for i, p := range ps {
		e, at := fd.CheckGrad(value, p.Value.Data, grads[i], 1e-5)
		worst = max(worst, e)
		if e > 1e-6 {
			t.Errorf("%s: parameter %d (%s) entry %d: relative error %.3g against central differences", name, i, p.Name, at, e)
		}
	}
	t.Logf("%s: %d parameters, largest relative error %.2g", name, len(ps), worst)
}

func testVAE(t *testing.T, entropy string, xdim, zdim int) *VAE {
	t.Helper()
	v, err := NewVAE(VAEConfig{XDim: xdim, ZDim: zdim, Entropy: entropy, EncHidden: []int{6}, DecHidden: []int{7},
		Act: "tanh", Seed: 11, Estimator: Config{Hidden: []int{8}, K: 10}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVAELossGrad checks the full VAE losses' parameter gradients (φ and
// θ) against central differences in float64, with the score estimate held
// fixed: the implicit encoder's surrogate loss and the Gaussian encoder's
// analytic ELBO. It also checks the terms' values by hand: Recon against
// the Bernoulli log-likelihood of the decoder's logits, Prior against ½‖z‖²
// + (d/2)log 2π, the Gaussian KL against its closed form, and the implicit
// loss's value against Recon + ½‖z‖² + ŝᵀz (means over rows).
func TestVAELossGrad(t *testing.T) {
	const xdim, zdim, n = 5, 3, 4
	x, eps, score := aePixels(1, n, xdim), aeMat(2, n, zdim), aeMat(3, n, zdim)
	for _, entropy := range []string{"sse", "gaussian"} {
		v := testVAE(t, entropy, xdim, zdim)
		checkLossGrad(t, entropy, v.Params(), func(tp *ad.Tape) *ad.Node { return v.Loss(tp, x, eps, score).Loss })

		tp := ad.NewTape()
		tp.Reset()
		terms := v.Loss(tp, x, eps, score)
		// The codes and the decoder's logits, recorded separately.
		tp2 := ad.NewTape()
		tp2.Reset()
		var z ad.Mat
		var mu, ls ad.Mat
		if g, ok := v.Encoder.(*GaussianEncoder); ok {
			mu = g.Mean.Forward(tp2, tp2.Const(x)).Primal().Clone()
			ls = g.LogStd.Forward(tp2, tp2.Const(x)).Primal().Clone()
			z = ad.NewMat(n, zdim)
			for i := range z.Data {
				z.Data[i] = mu.Data[i] + math.Exp(ls.Data[i])*eps.Data[i]
			}
		} else {
			z = v.Encoder.Sample(tp2, tp2.Const(x), tp2.Const(eps)).Primal().Clone()
		}
		logits := v.Decoder.Net.Forward(tp2, tp2.Const(z)).Primal()
		var recon, half, sz, kl float64
		for b := range n {
			for j := range xdim {
				l, xv := logits.At(b, j), x.At(b, j)
				recon -= xv*l - math.Log1p(math.Exp(l))
			}
			for j := range zdim {
				half += 0.5 * z.At(b, j) * z.At(b, j)
				sz += score.At(b, j) * z.At(b, j)
				if mu.Rows > 0 {
					s := math.Exp(ls.At(b, j))
					kl += 0.5*(mu.At(b, j)*mu.At(b, j)+s*s-1) - ls.At(b, j)
				}
			}
		}
		recon, half, sz, kl = recon/n, half/n, sz/n, kl/n
		near := func(what string, got, want float64) {
			if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: %s = %.15g, want %.15g", entropy, what, got, want)
			}
		}
		near("Recon", terms.Recon, recon)
		near("Prior", terms.Prior, half+0.5*zdim*math.Log(2*math.Pi))
		loss := terms.Loss.Primal().Data[0]
		if entropy == "gaussian" {
			near("KL", terms.KL, kl)
			near("loss", loss, recon+kl)
		} else {
			if !math.IsNaN(terms.KL) {
				t.Errorf("%s: KL = %v, want NaN", entropy, terms.KL)
			}
			near("loss", loss, recon+half+sz)
		}
	}
}

// TestVAEImplicitMatchesAnalytic: a Gaussian encoder driven through the
// implicit path with its exact score (estimator exact) has the analytic
// ELBO's gradient when the noise is a cubature rule whose mean is 0 and
// whose second moment is I (±√d·e_j for each x): the surrogate's entropy
// gradient and the Monte Carlo cross-entropy ½‖z‖² then average to the
// analytic KL's gradient exactly, and the reconstruction terms coincide.
// A sign error or a missing stop-gradient in the surrogate fails it.
func TestVAEImplicitMatchesAnalytic(t *testing.T) {
	const xdim, zdim = 5, 3
	x0 := aePixels(4, 3, xdim)
	x := Repeat(x0, 2*zdim)
	eps := ad.NewMat(x.Rows, zdim)
	for b := range x0.Rows {
		for j := range zdim {
			eps.Set(b*2*zdim+2*j, j, math.Sqrt(zdim))
			eps.Set(b*2*zdim+2*j+1, j, -math.Sqrt(zdim))
		}
	}
	v := testVAE(t, "gaussian", xdim, zdim)
	g := v.Encoder.(*GaussianEncoder)
	// Vary σ with x, so that the entropy's gradient is not trivial.
	ps := g.LogStd.Params()
	for _, p := range ps[len(ps)-2:] {
		for i := range p.Value.Data {
			p.Value.Data[i] *= 3
		}
	}
	imp := &VAE{Encoder: g, Decoder: v.Decoder, Estimator: Exact{Score: g.Score}}
	score := ad.NewMat(x.Rows, zdim)
	gradOf := func(m *VAE) []float64 {
		tp := ad.NewTape()
		tp.Reset()
		tp.Backward(m.record(tp, x, eps, func(z ad.Mat) ad.Mat {
			m.Estimator.Estimate(score, x, z, 0)
			return score
		}).Loss)
		var out []float64
		for _, p := range m.Params() {
			out = append(out, tp.Grad(p).Data...)
		}
		return out
	}
	v.Estimator = nil
	ana := gradOf(v)
	got := gradOf(imp)
	e, at := fd.RelErr(got, ana, 1e-3)
	t.Logf("implicit path with the exact score vs analytic ELBO: largest relative difference %.2g of %d gradient entries", e, len(ana))
	if e > 1e-10 {
		t.Errorf("gradient entry %d: implicit %.15g, analytic %.15g (relative %.3g)", at, got[at], ana[at], e)
	}
}

// TestNewVAEErrors checks the settings NewVAE refuses.
func TestNewVAEErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     VAEConfig
		field string
	}{
		{"no x", VAEConfig{ZDim: 2}, "VAEConfig.XDim, ZDim"},
		{"entropy", VAEConfig{XDim: 3, ZDim: 2, Entropy: "exact"}, "VAEConfig.Entropy"},
		{"activation", VAEConfig{XDim: 3, ZDim: 2, Act: "nope"}, "MLP.act"},
		{"kernel K", VAEConfig{XDim: 3, ZDim: 2, Entropy: "stein", Estimator: Config{K: 1}}, "Config.K"},
	} {
		_, err := NewVAE(tc.c)
		ce, ok := err.(*ConfigError)
		if !ok || ce.Setting() != tc.field {
			t.Errorf("%s: error %v, want a *ConfigError for %s", tc.name, err, tc.field)
		}
	}
	for _, e := range EntropyNames() {
		v, err := NewVAE(VAEConfig{XDim: 3, ZDim: 2, Entropy: e, EncHidden: []int{4}, DecHidden: []int{4}})
		if err != nil || v.Entropy() != e {
			t.Errorf("entropy %s: %v, %v", e, v, err)
		}
	}
}
