package implicit

import (
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/nn"
)

func testWAE(t *testing.T, entropy string, xdim, zdim int, lambda float64) *WAE {
	t.Helper()
	w, err := NewWAE(WAEConfig{XDim: xdim, ZDim: zdim, Entropy: entropy, Lambda: lambda, EncHidden: []int{6}, DecHidden: []int{7},
		Act: "tanh", Seed: 12, Estimator: Config{Hidden: []int{8}}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWAELossGrad checks the full WAE loss's parameter gradients (φ and θ)
// against central differences in float64, with the score estimate held
// fixed, and its value by hand: Recon + λ(½‖z‖² + ŝᵀz) (means over rows),
// with z = f_φ(x).
func TestWAELossGrad(t *testing.T) {
	const xdim, zdim, n, lambda = 5, 3, 4, 2.5
	x, score := aePixels(5, n, xdim), aeMat(6, n, zdim)
	w := testWAE(t, "sse", xdim, zdim, lambda)
	checkLossGrad(t, "wae", w.Params(), func(tp *ad.Tape) *ad.Node { return w.Loss(tp, x, score).Loss })

	tp := ad.NewTape()
	tp.Reset()
	terms := w.Loss(tp, x, score)
	z := w.Encode(x)
	tp.Reset()
	logits := w.Decoder.Net.Forward(tp, tp.Const(z)).Primal()
	var recon, half, sz float64
	for b := range n {
		for j := range xdim {
			l, xv := logits.At(b, j), x.At(b, j)
			recon -= xv*l - math.Log1p(math.Exp(l))
		}
		for j := range zdim {
			half += 0.5 * z.At(b, j) * z.At(b, j)
			sz += score.At(b, j) * z.At(b, j)
		}
	}
	recon, half, sz = recon/n, half/n, sz/n
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"Recon", terms.Recon, recon},
		{"Prior", terms.Prior, half + 0.5*zdim*math.Log(2*math.Pi)},
		{"loss", terms.Loss.Primal().Data[0], recon + lambda*(half+sz)},
	} {
		if math.Abs(c.got-c.want) > 1e-12*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %.15g, want %.15g", c.what, c.got, c.want)
		}
	}
}

// TestWAEKLGradient checks the WAE's KL gradient on codes whose aggregate
// distribution is known: with an encoder that is affine in its input,
// f(x) = Ax + c, and x ~ N(0, I), q(z) = N(c, AAᵀ) and KL(q ‖ N(0, I)) has
// a closed form in (A, c). Driving the WAE's surrogate with q's exact score
// on a cubature rule for x (±√d·e_j, whose mean is 0 and second moment I)
// must give the closed form's gradient with respect to A and c.
func TestWAEKLGradient(t *testing.T) {
	const d = 3
	enc, err := NewMLP([]int{d, d}, "tanh", aeRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	w := &WAE{Encoder: enc, Decoder: testWAE(t, "sse", d, d, 1).Decoder, Lambda: 1}
	x := ad.NewMat(2*d, d)
	for j := range d {
		x.Set(2*j, j, math.Sqrt(d))
		x.Set(2*j+1, j, -math.Sqrt(d))
	}
	A, c := enc.Params()[0].Value, enc.Params()[1].Value // z = xAᵀ + c
	// Σ = AAᵀ; the exact score of N(c, Σ) is −Σ⁻¹(z − c).
	sigma := ad.NewMat(d, d)
	for i := range d {
		for k := range d {
			for j := range d {
				sigma.Data[i*d+k] += A.At(i, j) * A.At(k, j)
			}
		}
	}
	inv := invert(t, sigma)
	z := w.Encode(x)
	score := ad.NewMat(2*d, d)
	for b := range 2 * d {
		for i := range d {
			for k := range d {
				score.Data[b*d+i] -= inv.At(i, k) * (z.At(b, k) - c.Data[k])
			}
		}
	}
	// Only the KL term: the reconstruction is switched off by a weight λ
	// large enough to dominate, and compared with λ·∇KL + ∇Recon, the
	// latter from the loss with a zero λ-term subtracted.
	tp := ad.NewTape()
	grad := func(lambda float64) []float64 {
		w.Lambda = lambda
		tp.Reset()
		tp.Backward(w.Loss(tp, x, score).Loss)
		return append(append([]float64(nil), tp.Grad(enc.Params()[0]).Data...), tp.Grad(enc.Params()[1]).Data...)
	}
	g1, g0 := grad(1), grad(0)
	// KL = ½(tr Σ + ‖c‖² − d − log det Σ): ∂/∂A = A − A⁻ᵀ, ∂/∂c = c.
	ainv := invert(t, A)
	var want []float64
	for i := range d {
		for j := range d {
			want = append(want, A.At(i, j)-ainv.At(j, i))
		}
	}
	want = append(want, c.Data...)
	got := make([]float64, len(g1))
	for i := range got {
		got[i] = g1[i] - g0[i]
	}
	e, at := relErr(got, want)
	t.Logf("KL gradient through the surrogate vs closed form: largest relative error %.2g", e)
	if e > 1e-10 {
		t.Errorf("entry %d: %.15g, want %.15g", at, got[at], want[at])
	}
}

// TestCodeEstimators checks the WAE's estimators on codes from N(0, I) in
// 2 dimensions, whose score is −z: the kernel estimators on the codes
// themselves and the score net after 300 SSE-VR steps on fresh draws are
// close to it (relative squared error Σ(ŝ+z)²/Σz² below 0.15 for Stein,
// 0.2 for SSGE, whose truncation to the leading eigenfunctions biases it,
// and 0.05 for the net; a zero estimate scores 1), and the score net's loss
// falls towards the optimum −½E‖z‖² = −1.
func TestCodeEstimators(t *testing.T) {
	const n = 256
	for _, tc := range []struct {
		name string
		tol  float64
	}{{"stein", 0.15}, {"ssge", 0.2}, {"sse", 0.05}} {
		name := tc.name
		w, err := NewWAE(WAEConfig{XDim: 1, ZDim: 2, Entropy: name, Seed: 4, Estimator: Config{Hidden: []int{32}, LR: 1e-2}})
		if err != nil {
			t.Fatal(err)
		}
		dst := ad.NewMat(n, 2)
		var codes ad.Mat
		steps := 1
		if name == "sse" {
			steps = 300
		}
		for s := range steps {
			codes = aeMat(uint64(100+s), n, 2)
			w.Score.Estimate(dst, codes, uint64(s))
		}
		var num, den float64
		for i, v := range dst.Data {
			num += (v + codes.Data[i]) * (v + codes.Data[i])
			den += codes.Data[i] * codes.Data[i]
		}
		rel := num / den
		msg := ""
		if s, ok := w.Score.(*CodeSSE); ok {
			msg = " (SSE-VR loss of the last step %.3f)"
			t.Logf("%s: relative squared error %.3f"+msg, name, rel, s.Loss())
			if !(s.Loss() < -0.7) {
				t.Errorf("sse: last SSE-VR loss %.3f, want near −1", s.Loss())
			}
		} else {
			t.Logf("%s: relative squared error %.3f", name, rel)
		}
		if !(rel < tc.tol) {
			t.Errorf("%s: relative squared error %.3f of the score −z, want < %g", name, rel, tc.tol)
		}
	}
}

// TestNewWAEErrors checks the settings NewWAE refuses.
func TestNewWAEErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     WAEConfig
		field string
	}{
		{"no z", WAEConfig{XDim: 2}, "WAEConfig.XDim, ZDim"},
		{"lambda", WAEConfig{XDim: 2, ZDim: 2, Lambda: -1}, "WAEConfig.Lambda"},
		{"entropy", WAEConfig{XDim: 2, ZDim: 2, Entropy: "gaussian"}, "WAEConfig.Entropy"},
		{"lr", WAEConfig{XDim: 2, ZDim: 2, Estimator: Config{LR: -1}}, "WAEConfig.Estimator.LR"},
	} {
		_, err := NewWAE(tc.c)
		ce, ok := err.(*ConfigError)
		if !ok || ce.Setting() != tc.field {
			t.Errorf("%s: error %v, want a *ConfigError for %s", tc.name, err, tc.field)
		}
	}
}

// relErr is fd.RelErr with a floor of 1e-3.
func relErr(got, want []float64) (float64, int) {
	worst, at := 0.0, 0
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range got {
		e := math.Abs(got[i]-want[i]) / max(math.Abs(got[i]), math.Abs(want[i]), 1e-3*scale)
		if e > worst {
			worst, at = e, i
		}
	}
	return worst, at
}

// invert returns the inverse of a small square matrix by Gauss–Jordan
// elimination with partial pivoting.
func invert(t *testing.T, m ad.Mat) ad.Mat {
	n := m.Rows
	a := m.Clone()
	inv := ad.NewMat(n, n)
	for i := range n {
		inv.Set(i, i, 1)
	}
	for col := range n {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a.At(r, col)) > math.Abs(a.At(p, col)) {
				p = r
			}
		}
		if a.At(p, col) == 0 {
			t.Fatal("invert: singular matrix")
		}
		for k := range n {
			a.Data[col*n+k], a.Data[p*n+k] = a.Data[p*n+k], a.Data[col*n+k]
			inv.Data[col*n+k], inv.Data[p*n+k] = inv.Data[p*n+k], inv.Data[col*n+k]
		}
		piv := a.At(col, col)
		for k := range n {
			a.Data[col*n+k] /= piv
			inv.Data[col*n+k] /= piv
		}
		for r := range n {
			if r == col {
				continue
			}
			f := a.At(r, col)
			for k := range n {
				a.Data[r*n+k] -= f * a.At(col, k)
				inv.Data[r*n+k] -= f * inv.At(col, k)
			}
		}
	}
	return inv
}

// TestCodeSSEResume: a score net whose weights and optimiser state are
// copied into a fresh one with SetUpdates continues bit for bit (the same
// projections, the same step).
func TestCodeSSEResume(t *testing.T) {
	mk := func() resumable {
		w, err := NewWAE(WAEConfig{XDim: 1, ZDim: 2, Seed: 4, Estimator: Config{Hidden: []int{8}}})
		if err != nil {
			t.Fatal(err)
		}
		return w.Score.(*CodeSSE)
	}
	checkResume(t, mk, aeMat(1, 16, 2))
}

// A resumable estimator is SSE or CodeSSE: a score net trained step by
// step, whose step count fixes the next step's randomness.
type resumable interface {
	Update(ad.Mat) float64
	Updates() uint64
	SetUpdates(uint64)
	net() []*ad.Param
	opt() nn.Optimizer
}

func (c *CodeSSE) net() []*ad.Param  { return c.Net.Params() }
func (c *CodeSSE) opt() nn.Optimizer { return c.Opt }
func (e *SSE) net() []*ad.Param      { return e.Net.Params() }
func (e *SSE) opt() nn.Optimizer     { return e.Opt }

// checkResume takes 3 steps on an estimator from mk, restores its net and
// optimiser state and its step count into a second one, and requires the
// fourth step to give the same loss and weights bit for bit; a third
// estimator restored without the count must differ (it would repeat step
// 0's randomness), so that the comparison is not vacuous.
func checkResume(t *testing.T, mk func() resumable, x ad.Mat) {
	t.Helper()
	restore := func(dst, src resumable) {
		for i, p := range src.net() {
			copy(dst.net()[i].Value.Data, p.Value.Data)
		}
	}
	a, b := mk(), mk()
	for range 3 {
		a.Update(x)
	}
	restore(b, a)
	if err := b.opt().SetState(a.opt().State()); err != nil {
		t.Fatal(err)
	}
	b.SetUpdates(a.Updates())
	if la, lb := a.Update(x), b.Update(x); la != lb {
		t.Errorf("step 4: loss %v, resumed %v", la, lb)
	}
	for i, p := range a.net() {
		if !sameBits(p.Value.Data, b.net()[i].Value.Data) {
			t.Errorf("parameter %s differs after the resumed step", p.Name)
		}
	}
	c := mk()
	restore(c, a)
	if la, lc := a.Update(x), c.Update(x); la == lc {
		t.Errorf("without SetUpdates the randomness repeats step 0's: the same loss %v", la)
	}
}
