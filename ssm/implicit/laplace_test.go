package implicit

import (
	"errors"
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/sampler"
)

// gaussFamily is a family of Gaussian densities N(μ_r, Σ_r) over R^d,
// unnormalised by a known constant c_r: p̃_r = exp(c_r)·N(μ_r, Σ_r), so
// log Z_r = c_r. Σ_r⁻¹ = P_r is given.
type gaussFamily struct {
	mu   ad.Mat
	prec [][]float64 // P_r, d×d row-major
	c    []float64
}

func (g gaussFamily) Dim() int { return g.mu.Cols }
func (g gaussFamily) Len() int { return g.mu.Rows }

func (g gaussFamily) NewFamilyFunc() sampler.FamilyFunc {
	d := g.mu.Cols
	return func(logp []float64, score, x ad.Mat, member []int) {
		for b, r := range member {
			p, mu, xr := g.prec[r], g.mu.Row(r), x.Row(b)
			diff := make([]float64, d)
			for i := range d {
				diff[i] = xr[i] - mu[i]
			}
			q, logDetP := 0.0, logDetSPD(p, d)
			for i := range d {
				s := 0.0
				for j := range d {
					s += p[i*d+j] * diff[j]
				}
				q += diff[i] * s
				if len(score.Data) > 0 {
					score.Row(b)[i] = -s
				}
			}
			logp[b] = g.c[r] - 0.5*q + 0.5*logDetP - 0.5*float64(d)*math.Log(2*math.Pi)
		}
	}
}

// logDetSPD is log det of a small SPD matrix by Gaussian elimination.
func logDetSPD(a []float64, d int) float64 {
	m := append([]float64(nil), a...)
	s := 0.0
	for k := range d {
		s += math.Log(m[k*d+k])
		for i := k + 1; i < d; i++ {
			f := m[i*d+k] / m[k*d+k]
			for j := k; j < d; j++ {
				m[i*d+j] -= f * m[k*d+j]
			}
		}
	}
	return s
}

// testGaussFamily returns n random Gaussians in d dimensions: means
// around 2, precisions AAᵀ + 0.5I, constants in [−5, 5].
func testGaussFamily(n, d int) gaussFamily {
	rng := repro.New(11, repro.Data, 0, 0)
	g := gaussFamily{mu: ad.NewMat(n, d), c: make([]float64, n)}
	for r := range n {
		for i := range d {
			g.mu.Set(r, i, 2+repro.Normal(rng))
		}
		a := make([]float64, d*d)
		for i := range a {
			a[i] = repro.Normal(rng)
		}
		p := make([]float64, d*d)
		for i := range d {
			for j := range d {
				for k := range d {
					p[i*d+j] += a[i*d+k] * a[j*d+k]
				}
			}
			p[i*d+i] += 0.5
		}
		g.prec = append(g.prec, p)
		g.c[r] = 10*rng.Float64() - 5
	}
	return g
}

// TestLaplaceGaussian: for Gaussian members the Laplace approximation is
// exact: Newton's method reaches the mean from a start far away, and
// L Lᵀ = inflate²·Σ, to finite-difference accuracy; the warped member's
// log Z, by quadrature at d = 2, is the member's.
func TestLaplaceGaussian(t *testing.T) {
	const n, d, inflate = 4, 3, 1.5
	g := testGaussFamily(n, d)
	start := ad.NewMat(n, d) // the origin: a few standard deviations off
	lap, err := FitLaplace(g, start, inflate)
	if err != nil {
		t.Fatal(err)
	}
	for r := range n {
		for i := range d {
			if diff := math.Abs(lap.Mean.At(r, i) - g.mu.At(r, i)); diff > 1e-7 {
				t.Errorf("member %d: mode %v, mean %v", r, lap.Mean.Row(r), g.mu.Row(r))
				break
			}
		}
		// L Lᵀ P = inflate² I.
		l, p := lap.Chol[r*d*d:(r+1)*d*d], g.prec[r]
		for i := range d {
			for j := range d {
				s := 0.0
				for k := range d {
					llt := 0.0
					for m := range d {
						llt += l[i*d+m] * l[k*d+m]
					}
					s += llt * p[k*d+j]
				}
				want := 0.0
				if i == j {
					want = inflate * inflate
				}
				if math.Abs(s-want) > 1e-5 {
					t.Errorf("member %d: (L Lᵀ P)[%d][%d] = %v, want %v", r, i, j, s, want)
				}
			}
		}
	}
	// Quadrature of the warped members at d = 2 recovers log Z = c.
	g2 := testGaussFamily(3, 2)
	lap2, err := FitLaplace(g2, ad.NewMat(3, 2), inflate)
	if err != nil {
		t.Fatal(err)
	}
	w := lap2.Warp(g2)
	for r := range 3 {
		logZ, err := sampler.GridLogZ(sampler.Member(w, r), []float64{-12, -12}, []float64{12, 12}, 401)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(logZ-g2.c[r]) > 1e-8 {
			t.Errorf("member %d: the warped log Z %v, want %v", r, logZ, g2.c[r])
		}
	}
}

// TestWarpScore: the warped members' scores are the gradients of their
// log-densities (central differences).
func TestWarpScore(t *testing.T) {
	dec, xs := testDecoder(t, 8, 3)
	data := ad.NewMat(len(xs), 8)
	for r, x := range xs {
		copy(data.Row(r), x)
	}
	f := dec.Joints(data)
	lap, err := FitLaplace(f, ad.NewMat(len(xs), 2), 1.3)
	if err != nil {
		t.Fatal(err)
	}
	w := lap.Warp(f).NewFamilyFunc()
	u := ad.MatOf(3, 2, []float64{0.3, -0.7, 1.1, 0.2, -0.4, -0.9})
	member := []int{0, 1, 2}
	lp, score := make([]float64, 3), ad.NewMat(3, 2)
	w(lp, score, u, member)
	const h = 1e-5
	for b := range 3 {
		for j := range 2 {
			up, down := u.Clone(), u.Clone()
			up.Row(b)[j] += h
			down.Row(b)[j] -= h
			lu, ld := make([]float64, 3), make([]float64, 3)
			w(lu, ad.Mat{}, up, member)
			w(ld, ad.Mat{}, down, member)
			if fd := (lu[b] - ld[b]) / (2 * h); math.Abs(fd-score.At(b, j)) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("member %d, u_%d: score %v, central difference %v", b, j, score.At(b, j), fd)
			}
		}
	}
}

// TestNLLLaplaceGrid: with dim z = 2, NLL started from the Laplace
// approximation at the prior's mean agrees with quadrature within 3
// standard errors with a tenth of the prior-based test's temperatures,
// with less than half the AIS error and a higher weight ESS than the
// prior-started run at the same settings.
func TestNLLLaplaceGrid(t *testing.T) {
	dec, xs := testDecoder(t, 8, 4)
	data := ad.NewMat(len(xs), 8)
	for r, x := range xs {
		copy(data.Row(r), x)
	}
	a := sampler.AIS{BaseScale: 1, Temps: 30, Step: 0.2, Leapfrog: 5, Chains: 128, Seed: 5}
	warm, err := NLL(dec, data, a, ad.NewMat(len(xs), 2))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := NLL(dec, data, a, ad.Mat{})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := []float64{-7, -7}, []float64{7, 7}
	for r, x := range xs {
		grid, err := sampler.GridLogZ(dec.Joint(x), lo, hi, 561)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("row %d: −log p(x) grid %.5f, Laplace-started AIS %.5f ± %.5f, prior-started %.5f ± %.5f", r, -grid, warm.Rows[r], warm.RowErr[r], cold.Rows[r], cold.RowErr[r])
		if math.Abs(warm.Rows[r]+grid) > 3*warm.RowErr[r] || !(warm.RowErr[r] < 0.05) {
			t.Errorf("row %d: Laplace-started AIS %.5f ± %.5f, grid %.5f: want within 3 standard errors, each < 0.05", r, warm.Rows[r], warm.RowErr[r], -grid)
		}
	}
	if !(warm.StdErr < cold.StdErr/2) || !(warm.MinESS > cold.MinESS) {
		t.Errorf("AIS error %.4f and min weight ESS %.1f from the Laplace base, %.4f and %.1f from the prior: want less than half the error and a higher ESS",
			warm.StdErr, warm.MinESS, cold.StdErr, cold.MinESS)
	}
}

func TestLaplaceErrors(t *testing.T) {
	g := testGaussFamily(2, 3)
	var ce *ConfigError
	for _, c := range []struct {
		start   ad.Mat
		inflate float64
	}{
		{ad.NewMat(1, 3), 1},
		{ad.NewMat(2, 2), 1},
		{ad.NewMat(2, 3), 0},
		{ad.NewMat(2, 3), math.Inf(1)},
	} {
		if _, err := FitLaplace(g, c.start, c.inflate); !errors.As(err, &ce) {
			t.Errorf("start %d×%d, inflate %v: error %v, want a *ConfigError", c.start.Rows, c.start.Cols, c.inflate, err)
		}
	}
	nan := ad.NewMat(2, 3)
	nan.Set(1, 0, math.NaN())
	if _, err := FitLaplace(g, nan, 1); err == nil {
		t.Error("a NaN start: no error")
	}
}

// TestLaplaceGroups: fitting the members in groups of one gives the bits
// of one group for all.
func TestLaplaceGroups(t *testing.T) {
	g := testGaussFamily(7, 3)
	start := ad.NewMat(7, 3)
	whole, err := FitLaplace(g, start, 1.2)
	if err != nil {
		t.Fatal(err)
	}
	defer func(v int) { laplaceMaxRows = v }(laplaceMaxRows)
	laplaceMaxRows = 6 // 2d points: one member per group
	single, err := FitLaplace(g, start, 1.2)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(whole.Mean.Data, single.Mean.Data) || !sameBits(whole.Chol, single.Chol) || !sameBits(whole.LogDet, single.LogDet) {
		t.Error("groups of one member give other bits than one group")
	}
}

// infScore is a family whose member 1 has a finite log-density and an
// infinite score: its Hessian cannot be estimated.
type infScore struct{ gaussFamily }

func (f infScore) NewFamilyFunc() sampler.FamilyFunc {
	base := f.gaussFamily.NewFamilyFunc()
	return func(logp []float64, score, x ad.Mat, member []int) {
		base(logp, score, x, member)
		for b, r := range member {
			if r == 1 && len(score.Data) > 0 {
				score.Row(b)[0] = math.Inf(1)
			}
		}
	}
}

// TestLaplaceNonFiniteHessian: a member whose Hessian is not finite gets
// its start and inflate·I, and the others are fitted as usual (no hang).
func TestLaplaceNonFiniteHessian(t *testing.T) {
	g := testGaussFamily(3, 2)
	start := ad.MatOf(3, 2, []float64{0.5, -0.5, 1, 2, 0, 0})
	lap, err := FitLaplace(infScore{g}, start, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	if got := lap.Mean.Row(1); got[0] != 1 || got[1] != 2 {
		t.Errorf("member 1: mean %v, want its start [1 2]", got)
	}
	if l := lap.Chol[4:8]; l[0] != 1.5 || l[1] != 0 || l[2] != 0 || l[3] != 1.5 {
		t.Errorf("member 1: L %v, want 1.5·I", l)
	}
	for _, r := range []int{0, 2} {
		for i := range 2 {
			if math.Abs(lap.Mean.At(r, i)-g.mu.At(r, i)) > 1e-7 {
				t.Errorf("member %d: mode %v, mean %v", r, lap.Mean.Row(r), g.mu.Row(r))
			}
		}
	}
}

// TestNLLWideLatent: above LaplaceMaxDim latent dimensions NLL ignores the
// start and runs from the prior, with the same bits as without one.
func TestNLLWideLatent(t *testing.T) {
	const z = LaplaceMaxDim + 1
	dec, err := NewBernoulliDecoder(z, 4, []int{3}, "", repro.New(1, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	data := aePixels(2, 2, 4)
	a := sampler.AIS{BaseScale: 1, Temps: 3, Step: 0.1, Leapfrog: 1, Chains: 2, Seed: 1}
	with, err := NLL(dec, data, a, ad.NewMat(2, z))
	if err != nil {
		t.Fatal(err)
	}
	without, err := NLL(dec, data, a, ad.Mat{})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(with.Rows, without.Rows) {
		t.Errorf("rows %v with a start, %v without", with.Rows, without.Rows)
	}
}
