package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
)

// smallDKEF returns a DKEF of D = 3, M = 6, F = 4 and the reference's three
// kernels, its inducing points drawn from N(0, I), with kernel weights
// and bandwidths moved off their initial values, and α random.
func smallDKEF(t *testing.T, seed uint64) *DKEF {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 14))
	z := ad.MatOf(adtest.RandMat(rng, 6, 3, 1))
	m, err := NewDKEF(DKEFConfig{Dim: 3, Inducing: 6, Features: 4}, z, rng)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.weights.Value.Data, []float64{0.3, -0.2, 0.1})
	for j, k := range m.kernels {
		k.logSigma.Value.Data[0] += 0.1 * float64(j+1)
	}
	for i := range m.alpha.Value.Data {
		m.alpha.Value.Data[i] = rng.NormFloat64()
	}
	return m
}

// TestDKEFParams checks the parameters' names, order and shapes against
// the reference module's state_dict (and α last).
func TestDKEFParams(t *testing.T) {
	m := smallDKEF(t, 1)
	var got []string
	for _, p := range m.Params() {
		got = append(got, p.Name+" "+dkefShape(p.Value))
	}
	want := []string{"kernel_weights 1×3", "z 6×3", "log_lambd 1×1"}
	for j := range 3 {
		k := fmt.Sprintf("kernel.%d.", j)
		want = append(want, k+"log_sigma 1×1", k+"phi_w.skip.weight 4×3",
			k+"phi_w.net.0.weight 4×3", k+"phi_w.net.0.bias 1×4",
			k+"phi_w.net.2.weight 4×4", k+"phi_w.net.2.bias 1×4",
			k+"phi_w.net.4.weight 4×4", k+"phi_w.net.4.bias 1×4")
	}
	want = append(want, "alpha 6×1")
	if !slices.Equal(got, want) {
		t.Errorf("parameters\n%q\nwant\n%q", got, want)
	}
	if m.Alpha() != m.Params()[len(want)-1] || m.LogLambda().Value.Data[0] != -2 {
		t.Error("Alpha is not the last parameter, or log_lambd does not start at −2")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ns, err := NewDKEF(DKEFConfig{Dim: 2, Inducing: 1, Kernels: 1, NoSkip: true}, ad.NewMat(1, 2), rng)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ns.Params()); n != 3+1+6+1 {
		t.Errorf("one kernel without skip: %d parameters, want 11", n)
	}
	if s := ns.Config(); s.Features != 30 || s.LogSigmas[0] != 0 {
		t.Errorf("defaults: %d features, log σ %v; want 30 and [0]", s.Features, s.LogSigmas)
	}
}

func dkefShape(m ad.Mat) string { return fmt.Sprintf("%d×%d", m.Rows, m.Cols) }

// TestDKEFInit checks the initial draws: the skip and net weights scaled
// by 1/√out, the defaults of the other parameters, and z copied.
func TestDKEFInit(t *testing.T) {
	const d, f = 5, 30
	z := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(2, 2)), 7, d, 1))
	m, err := NewDKEF(DKEFConfig{Dim: d, Inducing: 7}, z, repro.New(3, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(m.z.Value.Data, z.Data) {
		t.Error("z is not the given inducing points")
	}
	z.Data[0] = 99
	if m.z.Value.Data[0] == 99 {
		t.Error("z shares the caller's storage")
	}
	for j, k := range m.kernels {
		if k.logSigma.Value.Data[0] != DefaultDKEFLogSigmas[j] {
			t.Errorf("kernel %d: log σ %v, want %v", j, k.logSigma.Value.Data[0], DefaultDKEFLogSigmas[j])
		}
		// Every weight and bias has N(0, 1/out) entries: the mean square
		// times out is about 1 (900 entries for the 30×30 layers, 150 for
		// 30×5 ones, 30 for a bias: ±0.26 at 1/√30·√2, 5 standard errors).
		for _, p := range append([]*ad.Param{k.skip}, k.net.params...) {
			ms := 0.0
			for _, v := range p.Value.Data {
				ms += v * v
			}
			ms *= float64(f) / float64(len(p.Value.Data))
			if math.Abs(ms-1) > 5*math.Sqrt(2/float64(len(p.Value.Data))) {
				t.Errorf("%s: mean square × out = %.3f, want 1", p.Name, ms)
			}
		}
	}
	for _, v := range append(m.weights.Value.Data, m.alpha.Value.Data...) {
		if v != 0 {
			t.Fatalf("kernel weights or α not zero: %v, %v", m.weights.Value.Data, m.alpha.Value.Data)
		}
	}
}

// dkefByHand evaluates log p̃ at each row of x from the formula, with the
// feature nets run on a tape and everything else in plain loops: squared
// distances as sums of squared differences, the softmax directly.
func dkefByHand(m *DKEF, x ad.Mat) []float64 {
	c := m.Config()
	feats := func(k dkefKernel, x ad.Mat) ad.Mat {
		tp := ad.NewTape()
		return k.features(tp, tp.Input(x, false)).Primal().Clone()
	}
	w := make([]float64, c.Kernels)
	total := 0.0
	for j, v := range m.weights.Value.Data {
		w[j] = math.Exp(v)
		total += w[j]
	}
	out := make([]float64, x.Rows)
	for b := range x.Rows {
		s := 0.0
		for _, v := range x.Row(b) {
			s += v * v
		}
		out[b] = -s / (2 * DKEFQ0Sigma * DKEFQ0Sigma)
	}
	for j, k := range m.kernels {
		px, pz := feats(k, x), feats(k, m.z.Value)
		bw := 2 * math.Pow(10, k.logSigma.Value.Data[0])
		for b := range x.Rows {
			for mm := range c.Inducing {
				d2 := 0.0
				for i, v := range px.Row(b) {
					d2 += (v - pz.At(mm, i)) * (v - pz.At(mm, i))
				}
				out[b] += w[j] / total * m.alpha.Value.Data[mm] * math.Exp(-d2/bw)
			}
		}
	}
	return out
}

// TestDKEFEnergy checks Energy against the formula evaluated by hand, and
// that row b of the energy depends on row b of x only.
func TestDKEFEnergy(t *testing.T) {
	m := smallDKEF(t, 2)
	rng := rand.New(rand.NewPCG(2, 3))
	x := ad.MatOf(adtest.RandMat(rng, 5, 3, 1))
	copy(x.Row(4), m.z.Value.Row(2)) // a row on an inducing point: distance 0
	got, want := energies(m, x), dkefByHand(m, x)
	for b := range got {
		if !relClose(got[b], -want[b], 1e-12) {
			t.Errorf("row %d: E = %.17g, −log p̃ by hand %.17g", b, got[b], -want[b])
		}
	}
	one := energies(m, ad.MatOf(1, 3, append([]float64(nil), x.Row(1)...)))
	if !relClose(one[0], got[1], 1e-14) {
		t.Errorf("row 1 alone %.17g, in the batch %.17g", one[0], got[1])
	}
}

// TestDKEFEnergyDerivatives checks the energy's input gradient, Taylor
// coefficients and HVP against central differences, and the parameter
// gradient of an SSM-VR loss (ad.SecondOrder) with α a parameter.
func TestDKEFEnergyDerivatives(t *testing.T) {
	m := smallDKEF(t, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	x := ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	v := ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	tp := ad.NewTape()
	values := func(x ad.Mat) []float64 { return energies(m, x) }
	g := ad.NewMat(4, 3)
	grads := func(x ad.Mat) []float64 { ad.InputGrad(tp, m.Energy, x, g); return slices.Clone(g.Data) }
	xs := x.Clone()
	num := make([]float64, len(x.Data))
	fd.NumGrad(func() float64 { return dkefSum(values(xs)) }, xs.Data, num, fd.DefaultStep)
	dkefClose(t, "input gradient", grads(x), num, 1e-7)
	jet := func(x ad.Mat, k int) []float64 {
		tp.Reset(2)
		out := m.Energy(tp, tp.Input(x, false, v))
		return slices.Clone(tp.Deriv(out, 0, k).Value().Data)
	}
	dkefClose(t, "first Taylor coefficient", jet(x, 1), dkefDirDeriv(x, v, values), 1e-7)
	dkefClose(t, "second Taylor coefficient", jet(x, 2), dkefDirDeriv(x, v, func(x ad.Mat) []float64 { return jet(x, 1) }), 1e-7)
	hv := ad.NewMat(4, 3)
	ad.HVP(tp, m.Energy, x, v, ad.Mat{}, hv)
	dkefClose(t, "HVP", hv.Data, dkefDirDeriv(x, v, grads), 1e-7)

	so := ad.NewSecondOrder()
	loss := func() float64 {
		return so.Eval(m.Energy, x, []ad.Mat{v}, []int{2},
			func(t *ad.Tape, d *ad.Derivs) *ad.Node { return t.Scale(-0.25, t.Sum(d.D2[0])) },
			func(t *ad.Tape, g *ad.Node) *ad.Node { return t.Scale(0.125, t.Sum(t.Apply(ad.Square, g))) })
	}
	loss()
	var got, want []float64
	for _, p := range m.Params() {
		gp := so.Grad(p)
		if len(gp.Data) == 0 {
			gp = ad.NewMat(p.Value.Rows, p.Value.Cols)
		}
		got = append(got, gp.Data...)
	}
	for _, p := range m.Params() { // after the gradients: NumGrad re-evaluates
		n := make([]float64, len(p.Value.Data))
		fd.NumGrad(loss, p.Value.Data, n, fd.DefaultStep)
		want = append(want, n...)
	}
	dkefClose(t, "parameter gradient of an SSM-VR loss", got, want, 1e-6)
}

func dkefSum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// dirDeriv is the central difference in s of the vector function
// s ↦ f(x + s·v).
func dkefDirDeriv(x, v ad.Mat, f func(ad.Mat) []float64) []float64 {
	xs := x.Clone()
	out := make([]float64, len(f(x)))
	for i := range out {
		out[i] = fd.CentralDiff(func(s float64) float64 {
			for j := range xs.Data {
				xs.Data[j] = x.Data[j] + s*v.Data[j]
			}
			return f(xs)[i]
		}, 0, fd.DefaultStep)
	}
	return out
}

func dkefClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e, at := fd.RelErr(got, want, 1e-3); e > tol {
		t.Errorf("%s: relative error %.3g at %d (got %.15g, want %.15g), tolerance %.1g", what, e, at, got[at], want[at], tol)
	}
}

// fitData returns a half batch of n rows for kind: data, Rademacher
// projections, noise and σ = 0.3.
func fitData(rng *rand.Rand, n, d int) AlphaData {
	v := ad.NewMat(n, d)
	for i := range v.Data {
		v.Data[i] = float64(2*rng.IntN(2) - 1)
	}
	return AlphaData{X: ad.MatOf(adtest.RandMat(rng, n, d, 1)), V: v, Eps: ad.MatOf(adtest.RandMat(rng, n, d, 1)), Sigma: 0.3}
}

var alphaFits = []struct {
	name string
	kind AlphaFit
}{{"exact", AlphaExact}, {"sliced", AlphaSliced}, {"sliced-vr", AlphaSlicedVR}, {"denoising", AlphaDenoising}}

// fitLoss evaluates, with the model's current α, the loss whose quadratic
// kind's fit solves, on the fit half d, from the energy's jets (an
// independent route: no G or b): the mean over rows of ½‖s‖² + tr ∇s,
// ½(vᵀs)² + vᵀ(∇s)v, ½‖s‖² + vᵀ(∇s)v, or ½‖σ²s(x̃) + σε‖².
func fitLoss(m *DKEF, kind AlphaFit, d AlphaData) float64 {
	n, dim := d.X.Rows, d.X.Cols
	x := d.X.Clone()
	if kind == AlphaDenoising {
		for i, e := range d.Eps.Data {
			x.Data[i] += d.Sigma * e
		}
	}
	// Directions: v, then the D unit vectors; all of order 2.
	dirs := []ad.Mat{d.V}
	for j := range dim {
		e := ad.NewMat(n, dim)
		for i := range n {
			e.Set(i, j, 1)
		}
		dirs = append(dirs, e)
	}
	orders := make([]int, len(dirs))
	for i := range orders {
		orders[i] = 2
	}
	tp := ad.NewTape()
	tp.Reset(orders...)
	e := m.Energy(tp, tp.Input(x, false, dirs...))
	total := 0.0
	for i := range n {
		// s = −∇E: ∂_j E = D1 along e_j, vᵀ(∇s)v = −D2 along v.
		sv, d2v := -tp.Deriv(e, 0, 1).Value().Data[i], -tp.Deriv(e, 0, 2).Value().Data[i]
		ss, tr, dsm := 0.0, 0.0, 0.0
		for j := range dim {
			sj := -tp.Deriv(e, 1+j, 1).Value().Data[i]
			ss += sj * sj
			tr -= tp.Deriv(e, 1+j, 2).Value().Data[i]
			r := d.Sigma*d.Sigma*sj + d.Sigma*d.Eps.At(i, j)
			dsm += r * r
		}
		switch kind {
		case AlphaExact:
			total += 0.5*ss + tr
		case AlphaSliced:
			total += 0.5*sv*sv + d2v
		case AlphaSlicedVR:
			total += 0.5*ss + d2v
		case AlphaDenoising:
			total += 0.5 * dsm
		}
	}
	return total / float64(n)
}

// alphaQuadratic returns ½αᵀGα + bᵀα + ½λ‖α‖² for the fitter's last system.
func alphaQuadratic(f *AlphaFitter, lambda float64, alpha []float64) float64 {
	g, b := f.System()
	mm := len(alpha)
	q := 0.0
	for i := range mm {
		gi := 0.0
		for j := range mm {
			gi += g.Value().At(i, j) * alpha[j]
		}
		q += 0.5*alpha[i]*gi + b.Value().Data[i]*alpha[i] + 0.5*lambda*alpha[i]*alpha[i]
	}
	return q
}

// TestAlphaFitQuadratic checks each fit's system against its loss and its
// solution against every perturbation: the loss of the fit half computed
// from the energy's jets differs from ½αᵀGα + bᵀα by the same constant
// at five values of α (so G and b are that loss's quadratic), the closed
// form satisfies (G + λI)α + b = 0 to rounding, and it beats 200 random
// perturbations of relative sizes 1e-4 to 1 on ½αᵀGα + bᵀα + ½λ‖α‖².
func TestAlphaFitQuadratic(t *testing.T) {
	for i, c := range alphaFits {
		t.Run(c.name, func(t *testing.T) {
			m := smallDKEF(t, 4)
			rng := rand.New(rand.NewPCG(4, uint64(i)))
			d := fitData(rng, 9, 3)
			f := NewAlphaFitter(m)
			alpha := slices.Clone(f.Fit(c.kind, d).Data)
			lambda := math.Pow(10, m.logLambda.Value.Data[0])

			var consts []float64
			for trial := range 5 {
				a := slices.Clone(alpha)
				if trial > 0 {
					for j := range a {
						a[j] += rng.NormFloat64()
					}
				}
				copy(m.alpha.Value.Data, a)
				consts = append(consts, fitLoss(m, c.kind, d)-(alphaQuadratic(f, lambda, a)-0.5*lambda*dkefDot(a, a)))
			}
			for k, v := range consts[1:] {
				if math.Abs(v-consts[0]) > 1e-9*math.Max(1, math.Abs(consts[0])) {
					t.Errorf("loss − quadratic is %.15g at α %d, %.15g at the fit", v, k+1, consts[0])
				}
			}

			g, b := f.System()
			worst, scale := 0.0, 0.0
			for r := range alpha {
				res := b.Value().Data[r] + lambda*alpha[r]
				for j, a := range alpha {
					res += g.Value().At(r, j) * a
					scale = math.Max(scale, math.Abs(g.Value().At(r, j)*a))
				}
				worst = math.Max(worst, math.Abs(res))
			}
			if worst > 1e-10*math.Max(1, scale) {
				t.Errorf("max |(G + λI)α + b| = %.3g (terms up to %.3g)", worst, scale)
			}

			best := alphaQuadratic(f, lambda, alpha)
			norm := math.Sqrt(dkefDot(alpha, alpha))
			for trial := range 200 {
				size := norm * math.Pow(10, -4+4*float64(trial)/199)
				a := slices.Clone(alpha)
				dir := make([]float64, len(a))
				for j := range dir {
					dir[j] = rng.NormFloat64()
				}
				for j := range a {
					a[j] += size * dir[j] / math.Sqrt(dkefDot(dir, dir))
				}
				if q := alphaQuadratic(f, lambda, a); !(q > best) {
					t.Fatalf("perturbation %d of size %.3g: quadratic %.17g, at the fit %.17g", trial, size, q, best)
				}
			}
		})
	}
}

func dkefDot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestAlphaFitGradient checks the gradient through the fit: the exact-SM
// loss of a second half batch, with α fitted on the first, as a function
// of every parameter but α. Its gradient — the loss tape's own gradient
// plus the fit tape's reverse sweep seeded with ∂loss/∂α — matches central
// differences that refit α at every step.
func TestAlphaFitGradient(t *testing.T) {
	for i, c := range alphaFits {
		t.Run(c.name, func(t *testing.T) {
			m := smallDKEF(t, 5)
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			d := fitData(rng, 8, 3)
			lossHalf := fitData(rng, 5, 3)
			f := NewAlphaFitter(m)
			f.Chunks = 2 // the chunked sums and their reverse sweeps
			so := ad.NewSecondOrder()
			e := ad.NewMat(5, 3)
			dirs, orders := []ad.Mat{}, []int{}
			for j := range 3 {
				e := e.Clone()
				for r := range 5 {
					e.Set(r, j, 1)
				}
				dirs, orders = append(dirs, e), append(orders, 2)
			}
			// Exact SM on the loss half: mean(−Σ_j ∂²_jj E) + ½ mean ‖∇E‖².
			jetLoss := func(t *ad.Tape, d *ad.Derivs) *ad.Node {
				s := d.D2[0]
				for _, d2 := range d.D2[1:] {
					s = t.Add(s, d2)
				}
				return t.Scale(-1.0/5, t.Sum(s))
			}
			gradLoss := func(t *ad.Tape, g *ad.Node) *ad.Node { return t.Scale(0.5/5, t.Sum(t.Apply(ad.Square, g))) }
			loss := func() float64 {
				copy(m.alpha.Value.Data, f.Fit(c.kind, d).Data)
				return so.Eval(m.Energy, lossHalf.X, dirs, orders, jetLoss, gradLoss)
			}
			loss()
			f.Backward(so.Grad(m.alpha))
			params := m.Params()[:len(m.Params())-1]
			var got, want []float64
			for _, p := range params {
				gp := ad.NewMat(p.Value.Rows, p.Value.Cols)
				if sg := so.Grad(p); len(sg.Data) > 0 {
					copy(gp.Data, sg.Data)
				}
				if fg := f.Grad(p); len(fg.Data) > 0 {
					for k := range gp.Data {
						gp.Data[k] += fg.Data[k]
					}
				}
				got = append(got, gp.Data...)
			}
			through := 0.0 // the size of the part through α
			for _, p := range params {
				for _, v := range f.Grad(p).Data {
					through = math.Max(through, math.Abs(v))
				}
			}
			if through == 0 {
				t.Fatal("no gradient flows through the fit")
			}
			for _, p := range params {
				n := make([]float64, len(p.Value.Data))
				fd.NumGrad(loss, p.Value.Data, n, fd.DefaultStep)
				want = append(want, n...)
			}
			dkefClose(t, "gradient through the fit", got, want, 1e-6)
		})
	}
}

// TestAlphaFitterAllocs checks that a repeated fit and its reverse sweep
// allocate nothing.
func TestAlphaFitterAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := smallDKEF(t, 6)
	d := fitData(rand.New(rand.NewPCG(6, 6)), 7, 3)
	f := NewAlphaFitter(m)
	seed := ad.MatOf(6, 1, []float64{1, -1, 2, 0, 0.5, 3})
	for _, c := range alphaFits {
		run := func() { f.Fit(c.kind, d); f.Backward(seed) }
		run()
		if a := testing.AllocsPerRun(10, run); a != 0 {
			t.Errorf("%s: %v allocations per repeated fit, want 0", c.name, a)
		}
	}
}

// TestDKEFConfigErrors checks that bad settings are *ConfigErrors naming
// the field.
func TestDKEFConfigErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		cfg   DKEFConfig
		z     ad.Mat
		field string
	}{
		{DKEFConfig{Dim: 0, Inducing: 1}, ad.NewMat(1, 0), "Dim"},
		{DKEFConfig{Dim: 2, Inducing: 0}, ad.NewMat(0, 2), "Inducing"},
		{DKEFConfig{Dim: 2, Inducing: 3}, ad.NewMat(2, 2), "Inducing"},
		{DKEFConfig{Dim: 2, Inducing: 1, Kernels: -1}, ad.NewMat(1, 2), "Kernels"},
		{DKEFConfig{Dim: 2, Inducing: 1, Features: -3}, ad.NewMat(1, 2), "Features"},
		{DKEFConfig{Dim: 2, Inducing: 1, Kernels: 2, LogSigmas: []float64{1}}, ad.NewMat(1, 2), "LogSigmas"},
		{DKEFConfig{Dim: 2, Inducing: 1, LogSigmas: []float64{0, math.NaN(), 1}}, ad.NewMat(1, 2), "LogSigmas"},
	} {
		_, err := NewDKEF(c.cfg, c.z, rng)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Type != "DKEFConfig" || ce.Field != c.field {
			t.Errorf("%+v: error %v, want a DKEFConfig error naming %s", c.cfg, err, c.field)
		}
	}
	m := smallDKEF(t, 8)
	f := NewAlphaFitter(m)
	mustPanic(t, "X is", func() { f.Fit(AlphaExact, AlphaData{X: ad.NewMat(3, 2)}) })
	mustPanic(t, "V is", func() { f.Fit(AlphaSliced, AlphaData{X: ad.NewMat(3, 3)}) })
	mustPanic(t, "Sigma", func() {
		f.Fit(AlphaDenoising, AlphaData{X: ad.NewMat(3, 3), Eps: ad.NewMat(3, 3)})
	})
	mustPanic(t, "columns", func() { m.Energy(ad.NewTape(), ad.NewTape().Input(ad.NewMat(2, 2), false)) })
}

// dkefGolden is testdata/dkef_golden.json, written by dkef_golden.py: a
// DKEF in PyTorch (float64) with fixed weights, α fitted on a half batch
// xt by each of the four fits as the reference code fits it, and, at the
// other half xv, the energy, the score, the HVP along vv and the
// parameter gradients (through α) of the exact score-matching loss.
type dkefGolden struct {
	Dim, Inducing, Features, Kernels int
	Sigma                            float64
	Tensors                          map[string][]float64
	XT, VT, ET, XV, VV               []float64
	Cases                            []struct {
		Fit                       string
		Alpha, Energy, Score, HVP []float64
		Loss                      float64
		Grads                     map[string][]float64
	}
}

// TestDKEFGolden compares the α of every fit, the energy, score and HVP
// with it, and the exact-SM loss's parameter gradients through the fit
// with PyTorch's, to 1e-10 relative (gradients relative to the largest of
// their tensor).
func TestDKEFGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dkef_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g dkefGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	m := newDKEF(DKEFConfig{Dim: g.Dim, Inducing: g.Inducing, Features: g.Features, Kernels: g.Kernels})
	params := m.Params()[:len(m.Params())-1]
	for _, p := range params {
		v, ok := g.Tensors[p.Name]
		if !ok || len(v) != len(p.Value.Data) {
			t.Fatalf("%s: %d values in the golden file, want %d", p.Name, len(v), len(p.Value.Data))
		}
		copy(p.Value.Data, v)
	}
	nt, nv := len(g.XT)/g.Dim, len(g.XV)/g.Dim
	data := AlphaData{X: ad.MatOf(nt, g.Dim, g.XT), V: ad.MatOf(nt, g.Dim, g.VT), Eps: ad.MatOf(nt, g.Dim, g.ET), Sigma: g.Sigma}
	xv, vv := ad.MatOf(nv, g.Dim, g.XV), ad.MatOf(nv, g.Dim, g.VV)
	kinds := map[string]AlphaFit{"exact": AlphaExact, "sliced": AlphaSliced, "sliced_vr": AlphaSlicedVR, "dsm": AlphaDenoising}
	if len(g.Cases) != len(kinds) {
		t.Fatalf("%d cases, want %d", len(g.Cases), len(kinds))
	}
	var dirs []ad.Mat
	var orders []int
	for j := range g.Dim {
		e := ad.NewMat(nv, g.Dim)
		for r := range nv {
			e.Set(r, j, 1)
		}
		dirs, orders = append(dirs, e), append(orders, 2)
	}
	for _, c := range g.Cases {
		t.Run(c.Fit, func(t *testing.T) {
			worst := 0.0
			// check compares relative to max(|want|, 1e-3·scale), scale the
			// largest |want| of the tensor and of floor.
			check := func(what string, got, want []float64, floor ...float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, PyTorch %d", what, len(got), len(want))
				}
				scale := 0.0
				for _, w := range append(want, floor...) {
					scale = math.Max(scale, math.Abs(w))
				}
				for i, w := range want {
					e := math.Abs(got[i]-w) / math.Max(math.Abs(w), 1e-3*scale)
					worst = math.Max(worst, e)
					if e > 1e-10 {
						t.Errorf("%s[%d] = %.17g, PyTorch %.17g", what, i, got[i], w)
					}
				}
			}
			f := NewAlphaFitter(m)
			alpha := f.Fit(kinds[c.Fit], data)
			check("alpha", alpha.Data, c.Alpha)
			copy(m.alpha.Value.Data, alpha.Data)
			tp := ad.NewTape()
			grad, hv := ad.NewMat(nv, g.Dim), ad.NewMat(nv, g.Dim)
			e := ad.InputGrad(tp, m.Energy, xv, grad)
			check("energy", e.Data, c.Energy)
			for i := range grad.Data {
				grad.Data[i] = -grad.Data[i]
			}
			check("score", grad.Data, c.Score)
			ad.HVP(tp, m.Energy, xv, vv, ad.Mat{}, hv)
			check("HVP", hv.Data, c.HVP)

			so := ad.NewSecondOrder()
			loss := so.Eval(m.Energy, xv, dirs, orders, func(t *ad.Tape, d *ad.Derivs) *ad.Node {
				s := d.D2[0]
				for _, d2 := range d.D2[1:] {
					s = t.Add(s, d2)
				}
				return t.Scale(-1/float64(nv), t.Sum(s))
			}, func(t *ad.Tape, g *ad.Node) *ad.Node { return t.Scale(0.5/float64(nv), t.Sum(t.Apply(ad.Square, g))) })
			check("loss", []float64{loss}, []float64{c.Loss})
			f.Backward(so.Grad(m.alpha))
			// The last layers' biases shift φ(x) and φ(z) alike, so their
			// gradients are zero up to rounding: gradients are compared
			// relative to the largest of all of them.
			var all []float64
			for _, w := range c.Grads {
				all = append(all, w...)
			}
			for _, p := range params {
				got := make([]float64, len(p.Value.Data))
				for _, src := range []ad.Mat{so.Grad(p), f.Grad(p)} {
					for i, v := range src.Data {
						got[i] += v
					}
				}
				check("∂loss/∂"+p.Name, got, c.Grads[p.Name], all...)
			}
			t.Logf("%s: largest relative difference from PyTorch %.2g", c.Fit, worst)
		})
	}
}

// TestAlphaSystem checks that accumulating two half batches gives the
// system of the fit on both at once (the same α to rounding), and that
// the α of the system differentiates in log_lambd only, with the
// derivative of central differences.
func TestAlphaSystem(t *testing.T) {
	for i, c := range alphaFits {
		t.Run(c.name, func(t *testing.T) {
			m := smallDKEF(t, 9)
			rng := rand.New(rand.NewPCG(9, uint64(i)))
			a, b := fitData(rng, 4, 3), fitData(rng, 6, 3)
			both := AlphaData{Sigma: a.Sigma}
			for _, p := range []struct{ dst, x, y *ad.Mat }{{&both.X, &a.X, &b.X}, {&both.V, &a.V, &b.V}, {&both.Eps, &a.Eps, &b.Eps}} {
				*p.dst = ad.MatOf(10, 3, append(slices.Clone(p.x.Data), p.y.Data...))
			}
			f := NewAlphaFitter(m)
			want := slices.Clone(f.Fit(c.kind, both).Data)
			var s AlphaSystem
			s.Reset(6)
			f.Accumulate(&s, c.kind, a)
			f.Accumulate(&s, c.kind, b)
			if s.N != 10 {
				t.Errorf("N = %d, want 10", s.N)
			}
			tp := ad.NewTape()
			alpha := m.AlphaFromSystem(tp, &s)
			dkefClose(t, "α of the accumulated system", alpha.Value().Data, want, 1e-12)

			seed := ad.MatOf(6, 1, []float64{0.3, -1, 2, 0.7, -0.2, 1.1})
			tp.BackwardFrom(alpha, seed)
			got := tp.Grad(m.logLambda).Data
			for _, p := range m.Params() {
				if g := tp.Grad(p); p != m.logLambda && len(g.Data) > 0 {
					t.Errorf("%s has a gradient through the system's α", p.Name)
				}
			}
			num := make([]float64, 1)
			fd.NumGrad(func() float64 {
				tp := ad.NewTape()
				return dkefDot(m.AlphaFromSystem(tp, &s).Value().Data, seed.Data)
			}, m.logLambda.Value.Data, num, fd.DefaultStep)
			dkefClose(t, "∂(seedᵀα)/∂log λ", got, num, 1e-8)
		})
	}
}

// Fit a DKEF's α in closed form on one half batch by sliced score
// matching, evaluate the energy with it on the other half, and carry a
// loss's gradient with respect to α back to the feature nets.
func ExampleAlphaFitter() {
	rng := repro.New(1, repro.Init, 0, 0)
	const d, m = 2, 8
	z := ad.NewMat(m, d) // inducing points: here on a small grid
	for i := range m {
		z.Set(i, 0, float64(i%4)-1.5)
		z.Set(i, 1, float64(i/4)-0.5)
	}
	model, err := NewDKEF(DKEFConfig{Dim: d, Inducing: m, Features: 5}, z, rng)
	if err != nil {
		panic(err)
	}
	fit, loss := ad.NewMat(16, d), ad.NewMat(4, d)
	for i := range fit.Data {
		fit.Data[i] = repro.Normal(rng)
	}
	v := ad.NewMat(16, d)
	for i := range v.Data {
		v.Data[i] = float64(2*rng.IntN(2) - 1)
	}
	f := NewAlphaFitter(model)
	alpha := f.Fit(AlphaSliced, AlphaData{X: fit, V: v})
	copy(model.Alpha().Value.Data, alpha.Data)

	// A loss of the other half: here the mean energy.
	t := ad.NewTape()
	e := t.Sum(model.Energy(t, t.Input(loss, false)))
	t.Backward(e)
	f.Backward(t.Grad(model.Alpha())) // through α to the other parameters
	fmt.Println(len(alpha.Data), f.Grad(model.LogLambda()).Data[0] != 0)
	// Output:
	// 8 true
}

// TestAlphaFitterChunks checks a fit split into 3 chunks of rows against
// the fit in one: α and the gradients through it agree to rounding, and
// the chunked fit gives the same bits with GOMAXPROCS 1 and 4.
func TestAlphaFitterChunks(t *testing.T) {
	for i, c := range alphaFits {
		t.Run(c.name, func(t *testing.T) {
			m := smallDKEF(t, 10)
			d := fitData(rand.New(rand.NewPCG(10, uint64(i))), 11, 3)
			seed := ad.MatOf(6, 1, []float64{1, -1, 2, 0, 0.5, 3})
			run := func(chunks, procs int) (alpha, grads []float64) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				f := NewAlphaFitter(m)
				f.Chunks = chunks
				alpha = slices.Clone(f.Fit(c.kind, d).Data)
				f.Backward(seed)
				for _, p := range m.Params() {
					if g := f.Grad(p); len(g.Data) > 0 {
						grads = append(grads, g.Data...)
					}
				}
				return alpha, grads
			}
			a1, g1 := run(1, 1)
			a3, g3 := run(3, 1)
			a3p, g3p := run(3, 4)
			dkefClose(t, "α in 3 chunks", a3, a1, 1e-12)
			dkefClose(t, "gradients in 3 chunks", g3, g1, 1e-11)
			if !adtest.SameBits(a3, a3p) || !adtest.SameBits(g3, g3p) {
				t.Error("3 chunks: GOMAXPROCS 4 gives other bits than 1")
			}
			if adtest.SameBits(a3, a1) && adtest.SameBits(g3, g1) {
				t.Log("3 chunks gave the bits of 1 (the sums happened to round alike)")
			}
		})
	}
}

// dkefRefApproxBP computes, in plain loops, the Hessian diagonal that the
// sliced score matching reference's approximate backprop (its
// Kernel_approx_bp) gives for E = −log p̃ at each row of x: for every
// kernel the exact diagonal in feature space, with a_m = −wⱼαₘ, kₘ the
// kernel, β = 1/(2·10^s) and δ = φ − φ(z_m),
//
//	H_i = Σₘ aₘkₘ(4β²δᵢ² − 2β),  g_i = −2β Σₘ aₘkₘδᵢ,
//
// then back through the feature net layer by layer (Σ W²·H through a
// linear layer, f′²H + f″g through softplus) and through the skip layer,
// the two branches' cross terms dropped; plus q₀'s exact 1/σ₀².
func dkefRefApproxBP(m *DKEF, x ad.Mat) ad.Mat {
	c := m.Config()
	out := ad.NewMat(x.Rows, x.Cols)
	for i := range out.Data {
		out.Data[i] = 1 / (DKEFQ0Sigma * DKEFQ0Sigma)
	}
	total := 0.0
	for _, v := range m.weights.Value.Data {
		total += math.Exp(v)
	}
	// layer returns W·in + b for a weight out×in and a bias 1×out.
	layer := func(w, b ad.Mat, in []float64) []float64 {
		o := make([]float64, w.Rows)
		for r := range w.Rows {
			o[r] = b.Data[r]
			for j, v := range in {
				o[r] += w.At(r, j) * v
			}
		}
		return o
	}
	softplus := func(a []float64) (h, d1, d2 []float64) {
		for _, v := range a {
			s := 1 / (1 + math.Exp(-v))
			h, d1, d2 = append(h, math.Log1p(math.Exp(v))), append(d1, s), append(d2, s*(1-s))
		}
		return h, d1, d2
	}
	// back pulls (g, H) of a layer's output back to its input.
	back := func(w ad.Mat, g, h []float64) (gi, hi []float64) {
		gi, hi = make([]float64, w.Cols), make([]float64, w.Cols)
		for r := range w.Rows {
			for j := range w.Cols {
				gi[j] += w.At(r, j) * g[r]
				hi[j] += w.At(r, j) * w.At(r, j) * h[r]
			}
		}
		return gi, hi
	}
	// act pulls (g, H) back through softplus.
	act := func(d1, d2, g, h []float64) {
		for i := range g {
			h[i] = d1[i]*d1[i]*h[i] + d2[i]*g[i]
			g[i] *= d1[i]
		}
	}
	for j, k := range m.kernels {
		p := k.net.params
		w1, b1, w2, b2, w3, b3 := p[0].Value, p[1].Value, p[2].Value, p[3].Value, p[4].Value, p[5].Value
		phi := func(in []float64) (f []float64, d1a, d2a, d1b, d2b []float64) {
			h1, d1a, d2a := softplus(layer(w1, b1, in))
			h2, d1b, d2b := softplus(layer(w2, b2, h1))
			f = layer(w3, b3, h2)
			for r := range f {
				for i, v := range in {
					f[r] += k.skip.Value.At(r, i) * v
				}
			}
			return f, d1a, d2a, d1b, d2b
		}
		beta := 1 / (2 * math.Pow(10, k.logSigma.Value.Data[0]))
		wj := math.Exp(m.weights.Value.Data[j]) / total
		for b := range x.Rows {
			f, d1a, d2a, d1b, d2b := phi(x.Row(b))
			g, h := make([]float64, c.Features), make([]float64, c.Features)
			for mm := range c.Inducing {
				fz, _, _, _, _ := phi(m.z.Value.Row(mm))
				dist := 0.0
				for i := range f {
					dist += (f[i] - fz[i]) * (f[i] - fz[i])
				}
				ak := -wj * m.alpha.Value.Data[mm] * math.Exp(-beta*dist)
				for i := range f {
					d := f[i] - fz[i]
					h[i] += ak * (4*beta*beta*d*d - 2*beta)
					g[i] += ak * (-2 * beta * d)
				}
			}
			_, hs := back(k.skip.Value, g, h)
			g2, h2 := back(w3, g, h)
			act(d1b, d2b, g2, h2)
			g1, h1 := back(w2, g2, h2)
			act(d1a, d2a, g1, h1)
			_, hx := back(w1, g1, h1)
			for i := range hx {
				out.Data[b*x.Cols+i] += hx[i] + hs[i]
			}
		}
	}
	return out
}

// TestDKEFApproxBPReference checks the approximate backprop diagonal of a
// DKEF's energy against the reference's rule computed by hand
// (dkefRefApproxBP) to 1e-10: each kernel's squared distance is one op, so
// the diagonal in feature space is exact and cross terms are dropped only
// inside the feature nets and between net and skip.
func TestDKEFApproxBPReference(t *testing.T) {
	m := smallDKEF(t, 5)
	x := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(5, 3)), 4, 3, 1))
	tp := ad.NewTape()
	tp.FreezeParams(true)
	in := tp.Input(x, false)
	_, d := tp.ApproxHessianDiag(m.Energy(tp, in), in)
	dkefClose(t, "approx-bp diagonal", d.Value().Data, dkefRefApproxBP(m, x).Data, 1e-10)
}

// TestDKEFLargeKernelWeights checks the log-softmax of the kernel weights
// past exp's overflow: weights 800, 799, 0 give the energy of 1, 0, −799
// (the softmax is shift invariant), finite.
func TestDKEFLargeKernelWeights(t *testing.T) {
	m := smallDKEF(t, 6)
	x := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(6, 3)), 3, 3, 1))
	copy(m.weights.Value.Data, []float64{1, 0, -799})
	want := energies(m, x)
	copy(m.weights.Value.Data, []float64{800, 799, 0})
	got := energies(m, x)
	for b := range got {
		if math.IsNaN(got[b]) || math.IsInf(got[b], 0) || !relClose(got[b], want[b], 1e-13) {
			t.Errorf("row %d: E = %.17g with large weights, %.17g shifted", b, got[b], want[b])
		}
	}
}
