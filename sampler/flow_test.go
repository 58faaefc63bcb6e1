package sampler

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// flowPoints returns n points drawn from m (fixed seed) followed by two
// points in its tails.
func flowPoints(m *Mixture, n int) ad.Mat {
	x := ad.NewMat(n+2, m.Dim())
	m.Sample(x.RowRange(0, n), newRand(21))
	copy(x.Row(n), []float64{3, -3})
	copy(x.Row(n+1), []float64{-4, 2.5})
	return x
}

// TestFlowLikelihoodExact is Must-show (a): with the exact score of a 2-D
// Gaussian mixture and the exact p_T as end density, the probability-flow
// log-likelihood equals the exact log p_Eps(x) to within the solver's
// tolerance, for VE, VP and sub-VP: at rtol = atol = 1e-8 the agreement is
// better than 1e-5 nats (measured: a few 1e-7), and it shrinks with the
// tolerance. With the SDE's prior as the end density the error is the
// prior's mismatch instead (logged).
func TestFlowLikelihoodExact(t *testing.T) {
	m := skewMixture(t)
	x := flowPoints(m, 14)
	for _, s := range testSDEs {
		p := NewPerturbedMixture(m, s)
		eps := sde.TrainEps
		want := make([]float64, x.Rows)
		for b := range want {
			want[b] = p.LogDensity(x.Row(b), eps)
		}
		endT := func(y []float64) float64 { return p.LogDensity(y, s.T()) }
		cases := []struct {
			solver ODESolver
			bound  float64
		}{
			{RK45{Rtol: 1e-5, Atol: 1e-5}, 1e-2},
			{RK45{Rtol: 1e-8, Atol: 1e-8}, 1e-5},
			{RK45{Rtol: 1e-10, Atol: 1e-10}, 2e-7},
			{RK4{Steps: 200}, 1e-3},
		}
		for _, c := range cases {
			got, st, err := FlowLikelihood{SDE: s, Solver: c.solver, EndLogDensity: endT}.Run(p, x)
			if err != nil {
				t.Fatal(err)
			}
			e := 0.0
			for b := range got {
				e = math.Max(e, math.Abs(got[b]-want[b]))
			}
			if e > c.bound {
				t.Errorf("%v %+v: largest error %.3g nats, want ≤ %g", s, c.solver, e, c.bound)
			}
			t.Logf("%v %+v: |log p − exact| ≤ %.2g nats; NFE per point %.1f (max %d), steps %d accepted, %d rejected", s, c.solver, e, st.MeanEvals(), st.MaxEvals, st.Accepted, st.Rejected)
		}
		got, _, err := FlowLikelihood{SDE: s, Solver: RK45{Rtol: 1e-8, Atol: 1e-8}}.Run(p, x)
		if err != nil {
			t.Fatal(err)
		}
		e, mean := 0.0, 0.0
		for b := range got {
			e = math.Max(e, math.Abs(got[b]-want[b]))
			mean += (got[b] - want[b]) / float64(len(got))
		}
		t.Logf("%v with the prior as p_T: largest error %.3g nats, mean %.3g", s, e, mean)
	}
}

// analyticHessian returns the Hessian of log p_t at x for the mixture p
// (D = 2), computed directly from the components N(αμₖ, α²Σₖ + s²I) with
// explicit 2×2 inverses:
//
//	∇²log p = Σₖ rₖ(gₖgₖᵀ − Cₖ⁻¹) − ḡḡᵀ,  gₖ = −Cₖ⁻¹(x − mₖ),  ḡ = Σₖ rₖgₖ,
//
// independently of PerturbedMixture's Cholesky-based evaluation.
func analyticHessian(m *Mixture, s sde.SDE, x []float64, t float64) [2][2]float64 {
	alpha, std := s.Marginal(t)
	k := len(m.mean)
	logr := make([]float64, k)
	gs := make([][2]float64, k)
	invs := make([][2][2]float64, k)
	for j := range k {
		c := m.cov[j]
		a := alpha*alpha*c[0] + std*std
		b := alpha * alpha * c[1]
		d := alpha*alpha*c[3] + std*std
		det := a*d - b*b
		inv := [2][2]float64{{d / det, -b / det}, {-b / det, a / det}}
		u := [2]float64{x[0] - alpha*m.mean[j][0], x[1] - alpha*m.mean[j][1]}
		g := [2]float64{-(inv[0][0]*u[0] + inv[0][1]*u[1]), -(inv[1][0]*u[0] + inv[1][1]*u[1])}
		logr[j] = m.logw[j] - 0.5*math.Log(det) + 0.5*(g[0]*u[0]+g[1]*u[1])
		gs[j], invs[j] = g, inv
	}
	mx := math.Inf(-1)
	for _, v := range logr {
		mx = math.Max(mx, v)
	}
	z := 0.0
	for _, v := range logr {
		z += math.Exp(v - mx)
	}
	var h [2][2]float64
	var gbar [2]float64
	for j := range k {
		r := math.Exp(logr[j]-mx) / z
		for i := range 2 {
			gbar[i] += r * gs[j][i]
			for l := range 2 {
				h[i][l] += r * (gs[j][i]*gs[j][l] - invs[j][i][l])
			}
		}
	}
	for i := range 2 {
		for l := range 2 {
			h[i][l] -= gbar[i] * gbar[l]
		}
	}
	return h
}

// TestFlowDivergence is the mixture part of Must-show (c): for every SDE at
// several times and points, the exact divergence of PerturbedMixture's
// score equals the trace of the independently computed analytic Hessian to
// 1e-10 (relative to the Hessian's scale) and the trace of the central
// differences of the score to 1e-7; and the Hutchinson mean over 10⁴
// Rademacher and over 10⁴ Gaussian probes lies within 4 standard errors of
// it, with the sample variance of vᵀHv matching its closed form,
// 2(‖H‖²_F − Σᵢ Hᵢᵢ²) for Rademacher and 2‖H‖²_F for Gaussian probes, to
// 15%.
func TestFlowDivergence(t *testing.T) {
	m := skewMixture(t)
	const n = 10000
	pts := [][]float64{{-2, 0.1}, {0.3, 0.7}, {1.9, 1.2}, {3, -3}}
	for _, s := range testSDEs {
		p := NewPerturbedMixture(m, s)
		df := p.NewDivScoreFunc()
		sf := p.NewTimeScoreFunc()
		for _, tt := range []float64{1e-5, 0.01, 0.2, 0.6, 1} {
			for _, pt := range pts {
				h := analyticHessian(m, s, pt, tt)
				tr := h[0][0] + h[1][1]
				scale := math.Max(math.Abs(h[0][0]), math.Max(math.Abs(h[1][1]), math.Abs(h[0][1])))
				score := ad.NewMat(1, 2)
				div := []float64{0}
				df(score, div, ad.MatOf(1, 2, append([]float64(nil), pt...)), []float64{tt}, nil)
				if e := math.Abs(div[0]-tr) / scale; e > 1e-10 {
					t.Errorf("%v t=%g x=%v: divergence %.15g, analytic trace %.15g (relative %.2g)", s, tt, pt, div[0], tr, e)
				}
				// Central differences of the score.
				fdTr := 0.0
				for i := range 2 {
					y := append([]float64(nil), pt...)
					fdTr += fd.CentralDiff(func(v float64) float64 {
						y[i] = v
						sf(score, ad.MatOf(1, 2, y), []float64{tt})
						return score.Data[i]
					}, pt[i], 1e-3*math.Max(1, math.Sqrt(1/scale)))
				}
				if e := math.Abs(fdTr-tr) / scale; e > 1e-7 {
					t.Errorf("%v t=%g x=%v: finite-difference trace %.12g, analytic %.12g (relative %.2g)", s, tt, pt, fdTr, tr, e)
				}
			}
		}
		// Hutchinson at one point and time per SDE.
		pt, tt := []float64{0.3, 0.7}, 0.05
		h := analyticHessian(m, s, pt, tt)
		tr := h[0][0] + h[1][1]
		fro := h[0][0]*h[0][0] + h[1][1]*h[1][1] + 2*h[0][1]*h[0][1]
		x := ad.NewMat(n, 2)
		times := make([]float64, n)
		for b := range n {
			copy(x.Row(b), pt)
			times[b] = tt
		}
		for _, gauss := range []bool{false, true} {
			probes := FlowLikelihood{Probes: 1, GaussianProbes: gauss, Seed: 5}.drawProbes(n, 2)
			div := make([]float64, n)
			df(ad.NewMat(n, 2), div, x, times, probes)
			var mean, sq float64
			for _, v := range div {
				mean += v
			}
			mean /= n
			for _, v := range div {
				sq += (v - mean) * (v - mean)
			}
			variance := sq / (n - 1)
			se := math.Sqrt(variance / n)
			wantVar := 2 * (fro - h[0][0]*h[0][0] - h[1][1]*h[1][1])
			name := "Rademacher"
			if gauss {
				wantVar, name = 2*fro, "Gaussian"
			}
			if math.Abs(mean-tr) > 4*se {
				t.Errorf("%v %s: Hutchinson mean %.6g, exact %.6g, SE %.3g", s, name, mean, tr, se)
			}
			if math.Abs(variance-wantVar) > 0.15*wantVar {
				t.Errorf("%v %s: probe variance %.4g, closed form %.4g", s, name, variance, wantVar)
			}
			t.Logf("%v %s: mean of %d probes %.6f, exact %.6f, (mean − exact)/SE = %.2f", s, name, n, mean, tr, (mean-tr)/se)
		}
	}
}

// TestFlowLikelihoodHutchinson checks that the likelihood with one probe
// per row is unbiased: 400 copies of a point, each with its own probe,
// average within 4 standard errors of the exact-divergence likelihood, for
// Rademacher and Gaussian probes; and that Probes = K averages K probes
// (its spread across rows shrinks about as 1/√K).
func TestFlowLikelihoodHutchinson(t *testing.T) {
	m := skewMixture(t)
	s := testSDEs[1]
	p := NewPerturbedMixture(m, s)
	pt := []float64{0.3, 0.7}
	const n = 400
	x := ad.NewMat(n, 2)
	for b := range n {
		copy(x.Row(b), pt)
	}
	solver := RK45{Rtol: 1e-6, Atol: 1e-6}
	exact, _, err := FlowLikelihood{SDE: s, Solver: solver}.Run(p, x.RowRange(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, gauss := range []bool{false, true} {
		sds := map[int]float64{}
		for _, k := range []int{1, 4} {
			got, st, err := FlowLikelihood{SDE: s, Solver: solver, Probes: k, GaussianProbes: gauss, Seed: 9}.Run(p, x)
			if err != nil {
				t.Fatal(err)
			}
			var mean, sq float64
			for _, v := range got {
				mean += v / n
			}
			for _, v := range got {
				sq += (v - mean) * (v - mean)
			}
			sd := math.Sqrt(sq / (n - 1))
			sds[k] = sd
			if se := sd / math.Sqrt(n); math.Abs(mean-exact[0]) > 4*se || sd == 0 {
				t.Errorf("gaussian=%v K=%d: mean %.5f, exact %.5f, SE %.3g", gauss, k, mean, exact[0], se)
			}
			t.Logf("gaussian=%v K=%d: mean log p %.5f ± %.5f (SE), exact %.5f; per-row sd %.4f; NFE per row %.1f", gauss, k, mean, sd/math.Sqrt(n), exact[0], sd, st.MeanEvals())
		}
		if r := sds[1] / sds[4]; r < 1.6 || r > 2.5 {
			t.Errorf("gaussian=%v: sd with 1 probe / with 4 = %.2f, want about 2", gauss, r)
		}
	}
}

// tanhField is a smooth vector field that is not a score,
// s(x, t) = (1 + t)·tanh(Wx + t·c), with its exact divergence and probe
// quadratic forms: a DivScoreSource for checking the flow's change of
// variables on something other than a mixture.
type tanhField struct {
	w [3][3]float64
	c [3]float64
}

var testTanhField = tanhField{
	w: [3][3]float64{{-1.2, 0.4, 0.3}, {0.5, -0.8, -0.6}, {0.2, 0.9, -1.5}},
	c: [3]float64{0.3, -0.5, 0.8},
}

func (f tanhField) Dim() int { return 3 }

// eval sets s and the derivative factors u'ᵢ = (1 + t)(1 − tanh²) at x.
func (f tanhField) eval(s, du, x []float64, t float64) {
	for i := range 3 {
		u := t * f.c[i]
		for j := range 3 {
			u += f.w[i][j] * x[j]
		}
		th := math.Tanh(u)
		s[i] = (1 + t) * th
		du[i] = (1 + t) * (1 - th*th)
	}
}

func (f tanhField) NewTimeScoreFunc() TimeScoreFunc {
	du := make([]float64, 3)
	return func(dst, x ad.Mat, t []float64) {
		for b := range x.Rows {
			f.eval(dst.Row(b), du, x.Row(b), t[b])
		}
	}
}

func (f tanhField) NewDivScoreFunc() DivScoreFunc {
	du := make([]float64, 3)
	return func(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat) {
		for b := range x.Rows {
			f.eval(dst.Row(b), du, x.Row(b), t[b])
			div[b] = 0
			if len(probes) == 0 {
				for i := range 3 {
					div[b] += du[i] * f.w[i][i]
				}
				continue
			}
			for _, p := range probes {
				v := p.Row(b)
				for i := range 3 {
					div[b] += v[i] * du[i] * (f.w[i][0]*v[0] + f.w[i][1]*v[1] + f.w[i][2]*v[2])
				}
			}
			div[b] /= float64(len(probes))
		}
	}
}

// TestFlowChangeOfVariables checks the likelihood's integral of the
// divergence against the flow map Φ: x(Eps) ↦ x(T) itself, for a field that
// is not a score (tanhField) under each SDE: ℓ(T) = ∫∇·f̃ dt must equal
// log |det ∂Φ/∂x|, the Jacobian taken by central differences of Φ
// (solved at rtol = atol = 1e-11), to 1e-6; and ProbabilityFlow.Run
// carries x(T) back to x to 1e-7 (the two directions agree).
func TestFlowChangeOfVariables(t *testing.T) {
	for _, s := range testSDEs {
		for _, pt := range [][]float64{{0.2, -0.3, 0.5}, {1.5, 0.7, -1.1}} {
			checkChangeOfVariables(t, s, testTanhField, pt, 0.05)
		}
	}
}

// checkChangeOfVariables runs the checks of TestFlowChangeOfVariables for
// src (D = 3) at the point pt from time eps.
func checkChangeOfVariables(t *testing.T, s sde.SDE, src DivScoreSource, pt []float64, eps float64) {
	t.Helper()
	solver := RK45{Rtol: 1e-11, Atol: 1e-11}
	// phi returns Φ at the rows of x and ℓ(T).
	phi := func(x ad.Mat) (ad.Mat, []float64) {
		end := ad.NewMat(x.Rows, 3)
		b := 0
		ell, _, err := FlowLikelihood{SDE: s, Solver: solver, Eps: eps, EndLogDensity: func(y []float64) float64 {
			copy(end.Row(b), y)
			b++
			return 0
		}}.Run(src, x)
		if err != nil {
			t.Fatal(err)
		}
		return end, ell
	}
	x := ad.MatOf(1, 3, append([]float64(nil), pt...))
	xT, ell := phi(x)
	// J[i][j] = ∂Φᵢ/∂xⱼ by central differences.
	var jac [3][3]float64
	for j := range 3 {
		for i := range 3 {
			jac[i][j] = fd.CentralDiff(func(v float64) float64 {
				y := ad.MatOf(1, 3, append([]float64(nil), pt...))
				y.Data[j] = v
				e, _ := phi(y)
				return e.Data[i]
			}, pt[j], 1e-3)
		}
	}
	det := jac[0][0]*(jac[1][1]*jac[2][2]-jac[1][2]*jac[2][1]) -
		jac[0][1]*(jac[1][0]*jac[2][2]-jac[1][2]*jac[2][0]) +
		jac[0][2]*(jac[1][0]*jac[2][1]-jac[1][1]*jac[2][0])
	if e := math.Abs(ell[0] - math.Log(math.Abs(det))); e > 1e-6 {
		t.Errorf("%v x=%v: ∫∇·f̃ = %.10f, log|det ∂Φ/∂x| = %.10f", s, pt, ell[0], math.Log(math.Abs(det)))
	}
	back := xT.Clone()
	if _, err := (ProbabilityFlow{SDE: s, Solver: solver, Eps: eps}).Run(src, back); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if e := math.Abs(back.Data[i] - pt[i]); e > 1e-7 {
			t.Errorf("%v x=%v: the flow back from x(T) gives %v", s, pt, back.Data)
			break
		}
	}
	t.Logf("%v x=%v: ∫∇·f̃ dt = %.9f, log|det ∂Φ/∂x| = %.9f", s, pt, ell[0], math.Log(math.Abs(det)))
}

// TestFlowNet runs the likelihood through a time-conditional score net
// (FromTimeScore of an SDENet with perturbed weights, D = 3) for each SDE
// (VE with σmax = 2: the untrained net's VE field, of size σ(t)·ln(σmax/σmin)
// times its output, would carry x far out at σmax = 20, where the ODE's
// error, relative to |x|, swamps these checks):
// the change of variables and the round trip as in
// TestFlowChangeOfVariables (from Eps = 1e-3); one Rademacher probe per row
// over 400 copies of a point averages within 4 standard errors of the
// exact divergence's likelihood; and the likelihoods (exact and with
// probes) are bit-identical for GOMAXPROCS 1, 2 and 8 and for 1 and 7
// chunks.
func TestFlowNet(t *testing.T) {
	for _, s := range []sde.SDE{sde.VE{SigmaMin: 0.01, SigmaMax: 2}, testSDEs[1], testSDEs[2]} {
		m, x, _ := testTimeNet(t, s)
		src := FromTimeScore(m)
		checkChangeOfVariables(t, s, src, x.Row(1), 1e-3)

		const n = 400
		solver := RK45{Rtol: 1e-6, Atol: 1e-6}
		rep := ad.NewMat(n, 3)
		for b := range n {
			copy(rep.Row(b), x.Row(2))
		}
		exact, st, err := FlowLikelihood{SDE: s, Solver: solver}.Run(src, rep.RowRange(0, 1))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := FlowLikelihood{SDE: s, Solver: solver, Probes: 1, Seed: 2}.Run(src, rep)
		if err != nil {
			t.Fatal(err)
		}
		var mean, sq float64
		for _, v := range got {
			mean += v / n
		}
		for _, v := range got {
			sq += (v - mean) * (v - mean)
		}
		se := math.Sqrt(sq / (n - 1) / n)
		if math.Abs(mean-exact[0]) > 4*se || se == 0 {
			t.Errorf("%v: Hutchinson likelihood %.5f ± %.5f, exact %.5f", s, mean, se, exact[0])
		}
		t.Logf("%v: exact log p %.5f (NFE %d), one probe: %.5f ± %.5f (SE)", s, exact[0], st.Evals, mean, se)

		run := func(chunks int) []float64 {
			var out []float64
			for _, k := range []int{0, 2} {
				lp, _, err := FlowLikelihood{SDE: s, Solver: RK45{Rtol: 1e-5, Atol: 1e-5, Chunks: chunks}, Probes: k, Seed: 3}.Run(src, rep.RowRange(0, 100))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, lp...)
			}
			return out
		}
		// Distinct points: perturb the copies.
		rng := newRand(6)
		for i := range rep.Data {
			rep.Data[i] += rng.NormFloat64()
		}
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			runtime.GOMAXPROCS(1)
			ref := run(0)
			for _, procs := range []int{2, 8} {
				runtime.GOMAXPROCS(procs)
				for _, chunks := range []int{0, 1, 7} {
					got := run(chunks)
					for i := range got {
						if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
							t.Fatalf("%v: GOMAXPROCS %d, %d chunks: value %d is %v, reference %v", s, procs, chunks, i, got[i], ref[i])
						}
					}
				}
			}
		}()
	}
}

// TestFlowDeterminism checks that likelihoods (exact and with probes) and
// probability-flow samples have the same bits for GOMAXPROCS 1, 2 and 8
// and for any chunk count of the solver.
func TestFlowDeterminism(t *testing.T) {
	m := skewMixture(t)
	s := testSDEs[0]
	p := NewPerturbedMixture(m, s)
	x := ad.NewMat(150, 2)
	m.Sample(x, newRand(4))
	run := func(chunks int) []float64 {
		var out []float64
		for _, k := range []int{0, 2} {
			lp, _, err := FlowLikelihood{SDE: s, Solver: RK45{Rtol: 1e-5, Atol: 1e-5, Chunks: chunks}, Probes: k, Seed: 3}.Run(p, x)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, lp...)
		}
		for _, solver := range []ODESolver{RK45{Rtol: 1e-5, Atol: 1e-5, Chunks: chunks}, RK4{Steps: 20, Chunks: chunks}} {
			y, _, err := ProbabilityFlow{SDE: s, Solver: solver, Seed: 8, Denoise: true}.Sample(p, 150)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, y.Data...)
		}
		return out
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	ref := run(0)
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		for _, chunks := range []int{0, 1, 7} {
			if procs == 1 && chunks == 0 {
				continue
			}
			got := run(chunks)
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
					t.Fatalf("GOMAXPROCS %d, %d chunks: value %d is %v, reference %v", procs, chunks, i, got[i], ref[i])
				}
			}
		}
	}
}

// TestFlowArchHashes pins the bits of probability-flow likelihoods (exact
// and with Rademacher and Gaussian probes) and samples (RK45 and RK4, with
// denoising) through a time-conditional net, one per SDE, recorded on
// amd64: the same bits on every architecture (CI runs this on 386 and
// arm64).
func TestFlowArchHashes(t *testing.T) {
	want := map[string]uint64{
		"ve:0.01:2":    0xeec9e88d885f0836,
		"vp:0.1:20":    0xcf049ef65158411f,
		"subvp:0.1:20": 0x54e5fcdc29ee2c6a,
	}
	for _, s := range []sde.SDE{sde.VE{SigmaMin: 0.01, SigmaMax: 2}, testSDEs[1], testSDEs[2]} {
		m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: 3, Hidden: []int{16, 16}, Activation: "softplus"}, repro.New(1, repro.Init, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		src := FromTimeScore(m)
		x := ad.NewMat(5, 3)
		rng := repro.New(1, repro.Data, 0, 0)
		for i := range x.Data {
			x.Data[i] = repro.Normal(rng)
		}
		h := adtest.NewHash()
		for _, l := range []FlowLikelihood{
			{SDE: s},
			{SDE: s, Probes: 2, Seed: 1},
			{SDE: s, Probes: 1, GaussianProbes: true, Seed: 2, Solver: RK4{Steps: 10}},
		} {
			lp, st, err := l.Run(src, x)
			if err != nil {
				t.Fatal(err)
			}
			h.Add(lp...).Add(float64(st.Evals), float64(st.Accepted), float64(st.Rejected))
		}
		for _, f := range []ProbabilityFlow{
			{SDE: s, Seed: 3, Denoise: true},
			{SDE: s, Seed: 4, Solver: RK4{Steps: 10}},
		} {
			y, st, err := f.Sample(src, 6)
			if err != nil {
				t.Fatal(err)
			}
			h.Add(y.Data...).Add(float64(st.Evals))
		}
		if got := h.Sum64(); got != want[s.String()] {
			t.Errorf("%v: hash %#016x, want %#016x (recorded on amd64)", s, got, want[s.String()])
		}
	}
}

// TestProbabilityFlowSample integrates 2000 draws of the exact p_T of the
// NCSN toy mixture 0.2·N((−5,−5), I) + 0.8·N((5,5), I) down to SampleEps
// through the flow of its exact score, and checks the weight of the (5,5)
// mode within 3 standard errors of 0.8 and each mode's mean and second
// moment within 4 standard errors (the samples are of p_Eps, whose
// variance exceeds 1 by s(Eps)², negligible here). For VP and sub-VP,
// whose prior is p_T up to α(T) ≈ 0.007, Sample from the prior passes the
// same checks; VE's prior N(0, 20²I) is not its p_T (the modes at ±5 are a
// quarter of σmax away), which shifts the weights by several standard
// errors (logged). The RK4 path with 100 steps agrees with RK45 at 1e-8 to
// 1e-3.
func TestProbabilityFlowSample(t *testing.T) {
	m := NCSNMixture()
	const n = 2000
	for _, s := range testSDEs {
		p := NewPerturbedMixture(m, s)
		x := ad.NewMat(n, 2)
		p.At(s.T()).Sample(x, newRand(33))
		st, err := ProbabilityFlow{SDE: s}.Run(p, x)
		if err != nil {
			t.Fatal(err)
		}
		checkNCSNModes(t, s.String()+" from p_T", x, st, true)
		x, st, err = ProbabilityFlow{SDE: s, Seed: 4}.Sample(p, n)
		if err != nil {
			t.Fatal(err)
		}
		checkNCSNModes(t, s.String()+" from the prior", x, st, s.Kind() != "ve")
		// The fixed-step path on a few samples.
		a, _, err := ProbabilityFlow{SDE: s, Solver: RK4{Steps: 100}, Seed: 2}.Sample(p, 20)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := ProbabilityFlow{SDE: s, Solver: RK45{Rtol: 1e-8, Atol: 1e-8}, Seed: 2}.Sample(p, 20)
		if err != nil {
			t.Fatal(err)
		}
		e := 0.0
		for i := range a.Data {
			e = math.Max(e, math.Abs(a.Data[i]-b.Data[i]))
		}
		if e > 1e-3 {
			t.Errorf("%v: RK4 (100 steps) and RK45 (1e-8) samples differ by %.3g", s, e)
		}
		t.Logf("%v: RK4 with 100 steps vs RK45 at 1e-8: %.2g", s, e)
	}
}

// checkNCSNModes checks samples x of the NCSN toy mixture (see
// TestProbabilityFlowSample) if check is set, and logs the weight.
func checkNCSNModes(t *testing.T, name string, x ad.Mat, st ODEStats, check bool) {
	t.Helper()
	n := x.Rows
	var cnt [2]int
	var mean, m2 [2][2]float64
	for b := range n {
		k := 0
		if x.At(b, 0)+x.At(b, 1) > 0 {
			k = 1
		}
		cnt[k]++
		for i := range 2 {
			v := x.At(b, i) - 5*float64(2*k-1)
			mean[k][i] += v
			m2[k][i] += v * v
		}
	}
	frac := float64(cnt[1]) / float64(n)
	se := math.Sqrt(0.8 * 0.2 / float64(n))
	t.Logf("%s: weight of (5,5) %.4f (%.1f SE from 0.8), NFE per sample %.1f (max %d)", name, frac, (frac-0.8)/se, st.MeanEvals(), st.MaxEvals)
	if !check {
		return
	}
	if math.Abs(frac-0.8) > 3*se {
		t.Errorf("%s: weight of the (5,5) mode %.4f, want 0.8 ± 3·%.4f", name, frac, se)
	}
	for k := range 2 {
		c := float64(cnt[k])
		for i := range 2 {
			mu, v := mean[k][i]/c, m2[k][i]/c
			if math.Abs(mu) > 4/math.Sqrt(c) || math.Abs(v-1) > 4*math.Sqrt(2/c) {
				t.Errorf("%s mode %d coordinate %d: mean offset %.3f, second moment %.3f", name, k, i, mu, v)
			}
		}
	}
}

// TestProbabilityFlowDenoise checks the denoising step against Tweedie's
// formula for a Gaussian N(μ, Σ) computed in closed form: at Eps,
// E[x₀ | x] = μ + αΣ(α²Σ + s²I)⁻¹(x − αμ), applied to the undenoised samples
// of the same seed; and that Run leaves x untouched on a settings error.
func TestProbabilityFlowDenoise(t *testing.T) {
	mu := []float64{1, -2}
	cov := []float64{0.5, 0.2, 0.2, 0.3}
	g, err := NewGaussianTarget(mu, ad.MatOf(2, 2, cov))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range testSDEs {
		p := NewPerturbedMixture(g, s)
		eps := 0.01
		plain, _, err := ProbabilityFlow{SDE: s, Eps: eps, Seed: 1}.Sample(p, 10)
		if err != nil {
			t.Fatal(err)
		}
		den, st, err := ProbabilityFlow{SDE: s, Eps: eps, Seed: 1, Denoise: true}.Sample(p, 10)
		if err != nil {
			t.Fatal(err)
		}
		_, st0, _ := ProbabilityFlow{SDE: s, Eps: eps, Seed: 1}.Sample(p, 10)
		if st.Evals != st0.Evals+10 {
			t.Errorf("%v: Denoise counted %d evaluations, want %d + 10", s, st.Evals, st0.Evals)
		}
		alpha, std := s.Marginal(eps)
		a := alpha*alpha*cov[0] + std*std
		b := alpha * alpha * cov[1]
		d := alpha*alpha*cov[3] + std*std
		det := a*d - b*b
		for r := range 10 {
			u := []float64{plain.At(r, 0) - alpha*mu[0], plain.At(r, 1) - alpha*mu[1]}
			w := []float64{(d*u[0] - b*u[1]) / det, (-b*u[0] + a*u[1]) / det}
			for i := range 2 {
				want := mu[i] + alpha*(cov[2*i]*w[0]+cov[2*i+1]*w[1])
				if e := math.Abs(den.At(r, i) - want); e > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("%v row %d coordinate %d: denoised %.15g, Tweedie %.15g", s, r, i, den.At(r, i), want)
				}
			}
		}
	}
}

// TestFlowConfigErrors checks that every invalid setting is a
// *ConfigError naming it, returned before any work.
func TestFlowConfigErrors(t *testing.T) {
	m := skewMixture(t)
	ve := testSDEs[0]
	p := NewPerturbedMixture(m, ve)
	good := RK45{Rtol: 1e-3, Atol: 1e-3}
	cases := []struct {
		name    string
		solver  ODESolver
		s       sde.SDE
		eps     float64
		probes  int
		setting string
	}{
		{"eps negative", good, ve, -1e-3, 0, ".Eps"},
		{"eps = T", good, ve, 1, 0, ".Eps"},
		{"eps > T", good, ve, 2, 0, ".Eps"},
		{"eps NaN", good, ve, math.NaN(), 0, ".Eps"},
		{"rtol 0", RK45{Atol: 1e-3}, ve, 0, 0, "RK45.Rtol"},
		{"rtol < 0", RK45{Rtol: -1, Atol: 1e-3}, ve, 0, 0, "RK45.Rtol"},
		{"atol 0", RK45{Rtol: 1e-3}, ve, 0, 0, "RK45.Atol"},
		{"steps 0", RK4{}, ve, 0, 0, "RK4.Steps"},
		{"steps < 0", RK4{Steps: -1}, ve, 0, 0, "RK4.Steps"},
		{"no SDE", good, nil, 0, 0, ".SDE"},
		{"probes < 0", good, ve, 0, -1, "FlowLikelihood.Probes"},
	}
	for _, c := range cases {
		x := flowPoints(m, 3)
		before := x.Clone()
		calls := 0
		src := countingDiv{p, &calls}
		_, _, errL := FlowLikelihood{SDE: c.s, Solver: c.solver, Eps: c.eps, Probes: c.probes}.Run(src, x)
		var ce *ConfigError
		if !errors.As(errL, &ce) || !hasSuffixOrEqual(ce.Setting(), c.setting) {
			t.Errorf("%s: FlowLikelihood error %v, want a ConfigError for %s", c.name, errL, c.setting)
		}
		if c.probes == 0 {
			_, errS := ProbabilityFlow{SDE: c.s, Solver: c.solver, Eps: c.eps}.Run(src, x)
			if !errors.As(errS, &ce) || !hasSuffixOrEqual(ce.Setting(), c.setting) {
				t.Errorf("%s: ProbabilityFlow error %v, want a ConfigError for %s", c.name, errS, c.setting)
			}
		}
		if calls != 0 || x.Data[0] != before.Data[0] {
			t.Errorf("%s: work done before the settings error (%d evaluator calls)", c.name, calls)
		}
	}
	// An invalid SDE is a ConfigError for the SDE field.
	_, _, err := FlowLikelihood{SDE: sde.VE{SigmaMin: 2, SigmaMax: 1}}.Run(p, flowPoints(m, 1))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting() != "FlowLikelihood.SDE" {
		t.Errorf("invalid SDE: error %v, want a ConfigError for FlowLikelihood.SDE", err)
	}
}

// nanField is a DivScoreSource on R² whose score is NaN below t = 0.5.
type nanField struct{}

func (nanField) Dim() int { return 2 }
func (nanField) NewTimeScoreFunc() TimeScoreFunc {
	return func(dst, x ad.Mat, t []float64) {
		for b := range x.Rows {
			for i := range 2 {
				dst.Set(b, i, -x.At(b, i))
				if t[b] < 0.5 {
					dst.Set(b, i, math.NaN())
				}
			}
		}
	}
}
func (f nanField) NewDivScoreFunc() DivScoreFunc {
	sf := f.NewTimeScoreFunc()
	return func(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat) {
		sf(dst, x, t)
		for b := range div {
			div[b] = -2
		}
	}
}

// TestFlowFailure checks that a score that turns non-finite is an error of
// the flow naming the row, not a hang or a NaN result.
func TestFlowFailure(t *testing.T) {
	s := testSDEs[1]
	x := ad.MatOf(2, 2, []float64{0.1, 0.2, 0.3, 0.4})
	_, err := ProbabilityFlow{SDE: s}.Run(nanField{}, x.Clone())
	if err == nil || !strings.HasPrefix(err.Error(), "sampler: ProbabilityFlow: RK45: system 0") {
		t.Errorf("ProbabilityFlow: error %v", err)
	}
	_, err = ProbabilityFlow{SDE: s, Solver: RK4{Steps: 5}}.Run(nanField{}, x.Clone())
	if err == nil || !strings.HasPrefix(err.Error(), "sampler: ProbabilityFlow: RK4: system 0") {
		t.Errorf("ProbabilityFlow with RK4: error %v", err)
	}
	lp, _, err := FlowLikelihood{SDE: s}.Run(nanField{}, x)
	if err == nil || lp != nil || !strings.HasPrefix(err.Error(), "sampler: FlowLikelihood: RK45: system 0") {
		t.Errorf("FlowLikelihood: %v, error %v", lp, err)
	}
	t.Log(err)
}

// hasSuffixOrEqual reports whether s ends with suffix.
func hasSuffixOrEqual(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// countingDiv counts the evaluators' calls of a DivScoreSource.
type countingDiv struct {
	p     *PerturbedMixture
	calls *int
}

func (c countingDiv) Dim() int { return c.p.Dim() }
func (c countingDiv) NewTimeScoreFunc() TimeScoreFunc {
	f := c.p.NewTimeScoreFunc()
	return func(dst, x ad.Mat, t []float64) { *c.calls++; f(dst, x, t) }
}
func (c countingDiv) NewDivScoreFunc() DivScoreFunc {
	f := c.p.NewDivScoreFunc()
	return func(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat) {
		*c.calls++
		f(dst, div, x, t, probes)
	}
}

// TestBitsPerDim checks the dequantisation convention on densities whose
// discrete probabilities are known: the uniform density on [0, 1]^D is
// 8 bits per dimension for 8-bit data scaled to [0, 1] (bin 1/256), and so
// is the uniform density on [−1, 1]^D for data scaled to [−1, 1]
// (bin 2/256, the reference's offset 7); a density constant on each bin
// gives exactly −log₂ P(k)/D; bin width 1 is plain nats to bits.
func TestBitsPerDim(t *testing.T) {
	for _, d := range []int{1, 3, 784} {
		if got := BitsPerDim(0, d, 1.0/256); math.Abs(got-8) > 1e-12 {
			t.Errorf("D=%d: uniform on [0,1]: %v bits/dim, want 8", d, got)
		}
		if got := BitsPerDim(-float64(d)*math.Ln2, d, 2.0/256); math.Abs(got-8) > 1e-12 {
			t.Errorf("D=%d: uniform on [−1,1]: %v bits/dim, want 8", d, got)
		}
	}
	// Two 8-bit pixels with P(k) = 2⁻¹⁰ ⇒ density 2⁻¹⁰·256² on its bin.
	logp := -10*math.Ln2 + 2*math.Log(256)
	if got := BitsPerDim(logp, 2, 1.0/256); math.Abs(got-5) > 1e-12 {
		t.Errorf("P(k) = 2⁻¹⁰, D = 2: %v bits/dim, want 5", got)
	}
	if got := BitsPerDim(-3, 2, 1); math.Abs(got-3/(2*math.Ln2)) > 1e-15 {
		t.Errorf("bin 1: %v, want %v", got, 3/(2*math.Ln2))
	}
	for _, bad := range []func(){
		func() { BitsPerDim(0, 0, 1) },
		func() { BitsPerDim(0, 2, 0) },
		func() { BitsPerDim(0, 2, math.Inf(1)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("BitsPerDim: no panic for invalid arguments")
				}
			}()
			bad()
		}()
	}
}

// The probability-flow log-likelihood of a point under the exact score of
// a Gaussian mixture pushed through the VP SDE, against the closed form.
func ExampleFlowLikelihood() {
	m := NCSNMixture()
	s := sde.VP{BetaMin: 0.1, BetaMax: 20}
	p := NewPerturbedMixture(m, s)
	x := ad.MatOf(1, 2, []float64{4.5, 5.5})
	lik := FlowLikelihood{
		SDE:           s,
		Solver:        RK45{Rtol: 1e-8, Atol: 1e-8},
		EndLogDensity: func(y []float64) float64 { return p.LogDensity(y, s.T()) },
	}
	logp, st, err := lik.Run(p, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("flow %.6f, exact %.6f, %.2f bits/dim, NFE %v\n", logp[0], p.LogDensity(x.Row(0), sde.TrainEps), BitsPerDim(logp[0], 2, 1), st.Evals)
	// Output: flow -2.311021, exact -2.311021, 1.67 bits/dim, NFE 194
}

// Samples of the NCSN toy mixture by the probability-flow ODE of its exact
// score: the mode weights, which plain Langevin dynamics cannot see, come
// out right.
func ExampleProbabilityFlow() {
	m := NCSNMixture()
	s := sde.VP{BetaMin: 0.1, BetaMax: 20}
	x, st, err := ProbabilityFlow{SDE: s, Solver: RK45{Rtol: 1e-5, Atol: 1e-5}, Seed: 1}.Sample(NewPerturbedMixture(m, s), 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for b := range x.Rows {
		if x.At(b, 0)+x.At(b, 1) > 0 {
			n++
		}
	}
	fmt.Printf("fraction near (5,5): %.2f, NFE per sample %.0f\n", float64(n)/1000, st.MeanEvals())
	// Output: fraction near (5,5): 0.81, NFE per sample 68
}
