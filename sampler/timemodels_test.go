package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// testTimeNet returns an SDENet on R³ for s with every parameter
// perturbed, a batch and per-row times.
func testTimeNet(t *testing.T, s sde.SDE) (*nn.SDENet, ad.Mat, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(31, 32))
	m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: 3, Hidden: []int{8, 8}, Activation: "softplus", FourierDim: 4, FourierScale: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += float64(0.3 * rng.NormFloat64())
		}
	}
	x := ad.MatOf(adtest.RandMat(rng, 5, 3, 1))
	return m, x, []float64{1e-3, 0.1, 0.4, 0.75, 1}
}

// jacobians returns the per-row Jacobians ∂h_i/∂x_j of m at (x, t), row b
// at [b][i][j], from D reverse sweeps.
func jacobians(m nn.TimeScore, x ad.Mat, t []float64) [][][]float64 {
	d := m.Dim()
	tape := ad.NewTape()
	tape.FreezeParams(true)
	jac := make([][][]float64, x.Rows)
	for b := range jac {
		jac[b] = make([][]float64, d)
	}
	for i := range d {
		tape.Reset()
		in := tape.Input(x, true)
		out := m.TimeScore(tape, in, ad.MatOf(x.Rows, 1, t))
		seed := ad.NewMat(x.Rows, d)
		for b := range x.Rows {
			seed.Set(b, i, 1)
		}
		tape.BackwardFrom(out, seed)
		for b := range x.Rows {
			jac[b][i] = append([]float64(nil), in.Adj().Row(b)...)
		}
	}
	return jac
}

// quad returns vᵀJv.
func quad(j [][]float64, v []float64) float64 {
	s := 0.0
	for i := range v {
		for k := range v {
			s += v[i] * j[i][k] * v[k]
		}
	}
	return s
}

// TestFromTimeScore checks the adapter's scores against the model's, and
// its exact divergence (one forward pass with D order-1 jets) against the
// trace of the Jacobian built from D reverse sweeps, for every SDE.
func TestFromTimeScore(t *testing.T) {
	for _, s := range []sde.SDE{sde.VE{SigmaMin: 0.01, SigmaMax: 5}, sde.VP{BetaMin: 0.1, BetaMax: 20}, sde.SubVP{BetaMin: 0.1, BetaMax: 20}} {
		m, x, times := testTimeNet(t, s)
		src := FromTimeScore(m)
		if src.Dim() != 3 {
			t.Fatalf("Dim %d", src.Dim())
		}
		tape := ad.NewTape()
		want := m.TimeScore(tape, tape.Input(x, false), ad.MatOf(x.Rows, 1, times)).Primal()
		got := ad.NewMat(x.Rows, x.Cols)
		src.NewTimeScoreFunc()(got, x, times)
		if !adtest.SameBits(got.Data, want.Data) {
			t.Errorf("%v: TimeScoreFunc differs from the model", s)
		}
		f := src.NewDivScoreFunc()
		dst, div := ad.NewMat(x.Rows, x.Cols), make([]float64, x.Rows)
		f(dst, div, x, times, nil)
		if !adtest.SameBits(dst.Data, want.Data) {
			t.Errorf("%v: DivScoreFunc's scores differ from the model", s)
		}
		jac := jacobians(m, x, times)
		for b := range x.Rows {
			tr := 0.0
			for i := range x.Cols {
				tr += jac[b][i][i]
			}
			if math.Abs(div[b]-tr) > 1e-10*math.Max(1, math.Abs(tr)) {
				t.Errorf("%v: row %d: divergence %.15g, trace of the reverse-mode Jacobian %.15g", s, b, div[b], tr)
			}
		}
		// The same evaluator on a batch of another size.
		f(dst.RowRange(0, 2), div[:2], x.RowRange(0, 2), times[:2], nil)
		first := div[0]
		f(dst, div, x, times, nil)
		if first != div[0] {
			t.Errorf("%v: row 0's divergence depends on the batch size: %g vs %g", s, first, div[0])
		}
	}
}

// TestFromTimeScoreHutchinson checks the probe estimate: (a) with the D
// probes √D·eᵢ it equals the exact divergence (their mean is the trace);
// (b) with any probes it is the mean of vᵀJv over the probes, J from
// reverse sweeps; (c) over 10⁴ Rademacher probes it is within 4 standard
// errors of the exact divergence, the standard error being that of vᵀJv
// over the probes.
func TestFromTimeScoreHutchinson(t *testing.T) {
	m, x, times := testTimeNet(t, sde.VE{SigmaMin: 0.01, SigmaMax: 5})
	src := FromTimeScore(m)
	f := src.NewDivScoreFunc()
	n, d := x.Rows, x.Cols
	dst, exact, div := ad.NewMat(n, d), make([]float64, n), make([]float64, n)
	f(dst, exact, x, times, nil)

	var basis []ad.Mat
	for i := range d {
		e := ad.NewMat(n, d)
		for r := range n {
			e.Set(r, i, math.Sqrt(float64(d)))
		}
		basis = append(basis, e)
	}
	f(dst, div, x, times, basis)
	for r := range n {
		if math.Abs(div[r]-exact[r]) > 1e-12*math.Max(1, math.Abs(exact[r])) {
			t.Errorf("row %d: Hutchinson over √D·eᵢ %.15g, exact %.15g", r, div[r], exact[r])
		}
	}

	const k = 10000
	rng := repro.New(7, repro.Chain, 0, 0)
	probes := make([]ad.Mat, k)
	for i := range probes {
		probes[i] = ad.NewMat(n, d)
		for j := range probes[i].Data {
			probes[i].Data[j] = float64(1 - 2*int(rng.Uint64()&1))
		}
	}
	f(dst, div, x, times, probes)
	jac := jacobians(m, x, times)
	for r := range n {
		var mean, sq float64
		for _, v := range probes {
			q := quad(jac[r], v.Row(r))
			mean += q / k
			sq += q * q / k
		}
		if math.Abs(div[r]-mean) > 1e-10*math.Max(1, math.Abs(mean)) {
			t.Errorf("row %d: Hutchinson %.15g, mean of vᵀJv over the probes %.15g", r, div[r], mean)
		}
		se := math.Sqrt((sq - mean*mean) / (k - 1))
		if math.Abs(div[r]-exact[r]) > 4*se {
			t.Errorf("row %d: Hutchinson over %d probes %.6g, exact %.6g: %.1f standard errors (%.3g) apart", r, k, div[r], exact[r], math.Abs(div[r]-exact[r])/se, se)
		}
		t.Logf("row %d: exact %.6g, Hutchinson (10⁴ Rademacher) %.6g, standard error %.3g", r, exact[r], div[r], se)
	}
}

// TestFromTimeScoreConcurrent runs four evaluators of one model on four
// goroutines (the race detector checks the sharing) and compares their
// results with one evaluator's, bit for bit.
func TestFromTimeScoreConcurrent(t *testing.T) {
	m, x, times := testTimeNet(t, sde.SubVP{BetaMin: 0.1, BetaMax: 20})
	src := FromTimeScore(m)
	wantS, wantD := ad.NewMat(x.Rows, x.Cols), make([]float64, x.Rows)
	src.NewDivScoreFunc()(wantS, wantD, x, times, nil)
	fs := make([]DivScoreFunc, 4)
	for i := range fs {
		fs[i] = src.NewDivScoreFunc()
	}
	type result struct {
		s ad.Mat
		d []float64
	}
	out := make([]result, len(fs))
	repro.Run(len(fs), len(fs), func(c, lo, hi int) {
		for range 20 {
			s, d := ad.NewMat(x.Rows, x.Cols), make([]float64, x.Rows)
			fs[c](s, d, x, times, nil)
			out[c] = result{s, d}
		}
	})
	for c, r := range out {
		if !adtest.SameBits(r.s.Data, wantS.Data) || !adtest.SameBits(r.d, wantD) {
			t.Errorf("evaluator %d: results differ", c)
		}
	}
}

func TestFromTimeScorePanics(t *testing.T) {
	m, x, times := testTimeNet(t, sde.VP{BetaMin: 0.1, BetaMax: 20})
	src := FromTimeScore(m)
	f, g := src.NewDivScoreFunc(), src.NewTimeScoreFunc()
	dst, div := ad.NewMat(x.Rows, x.Cols), make([]float64, x.Rows)
	for _, c := range []struct {
		want string
		run  func()
	}{
		{"4 times for 5 rows", func() { g(dst, x, times[:4]) }},
		{"4 times for 5 rows", func() { f(dst, div, x, times[:4], nil) }},
		{"div has 3 entries", func() { f(dst, div[:3], x, times, nil) }},
		{"probe 1 is 5×2", func() { f(dst, div, x, times, []ad.Mat{ad.NewMat(5, 3), ad.NewMat(5, 2)}) }},
		{"dimension 3", func() { g(ad.NewMat(5, 2), x, times) }},
		{"nil model", func() { FromTimeScore(nil) }},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Errorf("panic %v, want one containing %q", r, c.want)
				}
			}()
			c.run()
		}()
	}
}

// ExampleFromTimeScore evaluates an untrained time-conditional net's
// score and its exact divergence at two points and times.
func ExampleFromTimeScore() {
	m, err := nn.NewSDENet(nn.SDENetConfig{SDE: sde.VP{BetaMin: 0.1, BetaMax: 20}, Dim: 2, Hidden: []int{16}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	src := FromTimeScore(m)
	x := ad.MatOf(2, 2, []float64{0.5, -1, 2, 0})
	score, div := ad.NewMat(2, 2), make([]float64, 2)
	src.NewDivScoreFunc()(score, div, x, []float64{0.1, 0.9}, nil)
	for b := range 2 {
		fmt.Printf("h(%v, t) = [%.4f %.4f], ∇·h = %.4f\n", x.Row(b), score.At(b, 0), score.At(b, 1), div[b])
	}
	// Output:
	// h([0.5 -1], t) = [0.6375 1.2817], ∇·h = -0.1227
	// h([2 0], t) = [1.1058 2.1440], ∇·h = -0.0091
}
