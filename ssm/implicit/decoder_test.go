package implicit

import (
	"math"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/sampler"
)

// testDecoder returns a Bernoulli decoder z (2) → 16 → xdim whose last
// layer is scaled up, so that p(x|z) varies sharply with z and the
// posterior is much narrower than the prior, and a few observations drawn
// from the model (z from the prior, then x ~ p(x|z)).
func testDecoder(t *testing.T, xdim, n int) (*BernoulliDecoder, [][]float64) {
	dec, err := NewBernoulliDecoder(2, xdim, []int{16}, "tanh", repro.New(7, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ps := dec.Params()
	for _, p := range ps[len(ps)-2:] {
		for i := range p.Value.Data {
			p.Value.Data[i] *= 8
		}
	}
	rng := repro.New(7, repro.Data, 0, 0)
	var xs [][]float64
	tp := ad.NewTape()
	for range n {
		z := ad.MatOf(1, 2, []float64{repro.Normal(rng), repro.Normal(rng)})
		tp.Reset()
		logits := dec.Net.Forward(tp, tp.Const(z)).Primal().Data
		x := make([]float64, xdim)
		for j, l := range logits {
			if rng.Float64() < 1/(1+math.Exp(-l)) {
				x[j] = 1
			}
		}
		xs = append(xs, x)
	}
	return dec, xs
}

// TestMarginalAISGrid is must-show 2 of issue 13: for a Bernoulli decoder
// with dim z = 2, log p(x) = log ∫ p(x|z)N(z; 0, I) dz by AIS over z (HMC
// transitions, the prior as the base) agrees with trapezoid quadrature on
// [−7, 7]² within 3 standard errors, for several x; the quadrature is
// converged (two grids agree to 1e-8).
func TestMarginalAISGrid(t *testing.T) {
	dec, xs := testDecoder(t, 8, 4)
	lo, hi := []float64{-7, -7}, []float64{7, 7}
	for i, x := range xs {
		d := dec.Joint(x)
		grid, err := sampler.GridLogZ(d, lo, hi, 561)
		if err != nil {
			t.Fatal(err)
		}
		coarse, err := sampler.GridLogZ(d, lo, hi, 401)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(grid-coarse) > 1e-8 {
			t.Errorf("x %d: quadrature not converged: %.10f on 561², %.10f on 401²", i, grid, coarse)
		}
		r, err := sampler.AIS{BaseScale: 1, Temps: 300, Step: 0.2, Leapfrog: 5, Chains: 128, Seed: uint64(i)}.Run(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("x %d %v: log p(x) grid %.5f, AIS %.5f ± %.5f (ESS %.0f of 128, accept %.2f), z-score %.2f",
			i, x, grid, r.LogZ, r.StdErr, r.WeightESS, r.AcceptRate, (r.LogZ-grid)/r.StdErr)
		if math.Abs(r.LogZ-grid) > 3*r.StdErr || !(r.StdErr < 0.1) {
			t.Errorf("x %d: AIS %.5f ± %.5f, grid %.5f: want within 3 standard errors, each < 0.1", i, r.LogZ, r.StdErr, grid)
		}
		// The prior is not the posterior: a single importance weight from
		// the prior (K = 1) would be far off, so AIS has work to do.
		if grid > -1 {
			t.Errorf("x %d: log p(x) = %.3f: the decoder is too flat for the test", i, grid)
		}
	}
}

// TestJointScore checks the joint density's score against central
// differences of its log-density, and its value at z = 0 by hand.
func TestJointScore(t *testing.T) {
	dec, xs := testDecoder(t, 5, 1)
	d := dec.Joint(xs[0])
	f := d.NewLogDensityFunc()
	z := ad.MatOf(3, 2, []float64{0.3, -0.7, 1.2, 0.4, -0.05, 0})
	lp, score := make([]float64, 3), ad.NewMat(3, 2)
	f(lp, score, z)
	lp2 := make([]float64, 3)
	f(lp2, ad.Mat{}, z)
	for b := range 3 {
		if lp[b] != lp2[b] {
			t.Errorf("row %d: log-density %v with the score, %v without", b, lp[b], lp2[b])
		}
		for j := range 2 {
			h := 1e-5
			at := func(s float64) float64 {
				zz := z.Clone()
				zz.Set(b, j, z.At(b, j)+s)
				out := make([]float64, 3)
				f(out, ad.Mat{}, zz)
				return out[b]
			}
			num := (at(h) - at(-h)) / (2 * h)
			if math.Abs(num-score.At(b, j)) > 1e-6*math.Max(1, math.Abs(num)) {
				t.Errorf("row %d coordinate %d: score %.10g, central difference %.10g", b, j, score.At(b, j), num)
			}
		}
	}
	// At z = 0: Σⱼ xⱼlⱼ − log(1+e^lⱼ) − log 2π.
	tp := ad.NewTape()
	tp.Reset()
	logits := dec.Net.Forward(tp, tp.Const(ad.NewMat(1, 2))).Primal().Data
	want := -math.Log(2 * math.Pi)
	for j, l := range logits {
		want += xs[0][j]*l - math.Log1p(math.Exp(l))
	}
	got := make([]float64, 1)
	f(got, ad.Mat{}, ad.NewMat(1, 2))
	if math.Abs(got[0]-want) > 1e-12*math.Abs(want) {
		t.Errorf("log p̃(0) = %.15g, want %.15g", got[0], want)
	}
}

// rowJoint is the one-observation joint density p̃(z) = p_θ(x|z)N(z; 0, I)
// evaluated on its own, batches of z against copies of x: the reference
// for Joints.
type rowJoint struct {
	d *BernoulliDecoder
	x []float64
}

func (j rowJoint) Dim() int { return j.d.ZDim() }

func (j rowJoint) NewScoreFunc() sampler.ScoreFunc { panic("rowJoint: score only with log p̃") }

func (j rowJoint) NewLogDensityFunc() sampler.LogDensityFunc {
	t := ad.NewTape()
	t.FreezeParams(true)
	return func(logp []float64, score, z ad.Mat) {
		xs := ad.NewMat(z.Rows, len(j.x))
		for b := range z.Rows {
			copy(xs.Row(b), j.x)
		}
		f := func(t *ad.Tape, z *ad.Node) *ad.Node {
			return t.Sub(j.d.LogLik(t, z, t.Const(xs)), t.HalfSquaredNorm(z))
		}
		v := ad.InputGrad(t, f, z, score)
		for b, val := range v.Data {
			logp[b] = val + -0.5*float64(j.d.ZDim())*rmath.Log(2*math.Pi)
		}
	}
}

// aisBits flattens every number of an AIS result.
func aisBits(r sampler.AISResult) []float64 {
	out := append([]float64{r.LogZ, r.StdErr, r.WeightESS, r.AcceptRate}, r.LogWeights...)
	return append(out, r.Steps...)
}

// TestNLLMatchesPerRowAIS: with the decoder of the tool's Fashion-MNIST
// runs (z 8 → 256 → 256 → 784 logits, softplus), AIS batched over test
// rows (AIS.RunFamily on Joints, as NLL runs it) gives every row the bits
// of AIS.Run on that row alone — every log-weight, step, summary — under
// GOMAXPROCS 1, 2 and 8, and for groups of 1, 3 and all 5 rows (96 chain
// rows split into 2 chunks of 48 mix rows 0 and 1 in one evaluation); NLL
// reports those rows.
func TestNLLMatchesPerRowAIS(t *testing.T) {
	dec, err := NewBernoulliDecoder(8, 784, []int{256, 256}, "", repro.New(3, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	data := aePixels(5, 5, 784)
	a := sampler.AIS{BaseScale: 1, Temps: 6, Step: 0.1, Leapfrog: 3, Chains: 16, Seed: 40}
	want := make([][]float64, data.Rows)
	for r := range data.Rows {
		b := a
		b.Seed += uint64(r)
		out, err := b.Run(rowJoint{dec, data.Row(r)})
		if err != nil {
			t.Fatal(err)
		}
		want[r] = aisBits(out)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, maxRows := range []int{32, 96, 0} {
		for _, procs := range []int{1, 2, 8} {
			runtime.GOMAXPROCS(procs)
			a.MaxRows = maxRows
			got, err := a.RunFamily(dec.Joints(data))
			if err != nil {
				t.Fatal(err)
			}
			nll, err := NLL(dec, data, a, ad.Mat{})
			if err != nil {
				t.Fatal(err)
			}
			for r := range data.Rows {
				if !sameBits(aisBits(got[r]), want[r]) {
					t.Errorf("MaxRows %d, GOMAXPROCS %d, row %d: RunFamily differs from Run on the row", maxRows, procs, r)
				}
				if math.Float64bits(nll.Rows[r]) != math.Float64bits(-want[r][0]) {
					t.Errorf("MaxRows %d, GOMAXPROCS %d, row %d: NLL's row %v, Run's %v", maxRows, procs, r, nll.Rows[r], -want[r][0])
				}
			}
		}
	}
}

// TestNLLStdErrs: the test-set standard error is sd(rows)/√n, computed here
// from the rows, and the Monte Carlo one √(Σ se²)/n; both differ (the
// rows' spread is not AIS noise); one row has no test-set error (NaN).
func TestNLLStdErrs(t *testing.T) {
	dec, xs := testDecoder(t, 8, 4)
	data := ad.NewMat(len(xs), 8)
	for r, x := range xs {
		copy(data.Row(r), x)
	}
	a := sampler.AIS{Temps: 50, Step: 0.2, Leapfrog: 3, Chains: 32, Seed: 1}
	res, err := NLL(dec, data, a, ad.Mat{})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(xs))
	mean, sq := 0.0, 0.0
	for r := range res.Rows {
		mean += res.Rows[r] / n
		sq += res.RowErr[r] * res.RowErr[r]
	}
	ss := 0.0
	for _, v := range res.Rows {
		ss += (v - mean) * (v - mean)
	}
	wantTest, wantMC := math.Sqrt(ss/(n-1)/n), math.Sqrt(sq)/n
	if math.Abs(res.NLL-mean) > 1e-12*math.Abs(mean) || math.Abs(res.TestStdErr-wantTest) > 1e-12*wantTest || math.Abs(res.StdErr-wantMC) > 1e-12*wantMC {
		t.Errorf("NLL %v ± %v (AIS) ± %v (test set), want %v ± %v ± %v", res.NLL, res.StdErr, res.TestStdErr, mean, wantMC, wantTest)
	}
	if !(res.TestStdErr > 3*res.StdErr) {
		t.Errorf("test-set standard error %v not well above the AIS one %v: the rows' log p(x) differ by nats", res.TestStdErr, res.StdErr)
	}
	one, err := NLL(dec, data.RowRange(0, 1), a, ad.Mat{})
	if err != nil || !math.IsNaN(one.TestStdErr) || one.Rows[0] != res.Rows[0] {
		t.Errorf("one row: test-set standard error %v, row %v (want NaN and %v), error %v", one.TestStdErr, one.Rows[0], res.Rows[0], err)
	}
}

// BenchmarkNLL times the test NLL by AIS of 8 rows (16 chains, 20
// temperatures, 5 leapfrog steps) for the decoder of the tool's
// Fashion-MNIST runs, and reports the time per evaluation of one chain's
// joint density and score.
func BenchmarkNLL(b *testing.B) {
	dec, err := NewBernoulliDecoder(8, 784, []int{256, 256}, "", repro.New(3, repro.Init, 0, 0))
	if err != nil {
		b.Fatal(err)
	}
	data := aePixels(5, 8, 784)
	a := sampler.AIS{Temps: 20, Step: 0.1, Leapfrog: 5, Chains: 16, Seed: 1}
	for b.Loop() {
		if _, err := NLL(dec, data, a, ad.Mat{}); err != nil {
			b.Fatal(err)
		}
	}
	evals := data.Rows * 2 * a.Chains * ((a.Temps-1)*a.Leapfrog + 1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*evals), "ns/chain-eval")
}
