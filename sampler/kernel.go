package sampler

import (
	"fmt"
	"math"
	"slices"

	"scorematch/ad"
	"scorematch/ad/linalg"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// Kernel-based score estimators and two-sample statistics. They all use the
// Gaussian (RBF) kernel k(x, y) = exp(−‖x − y‖²/(2h²)) with, by default, the
// median heuristic: h is the median of the pairwise Euclidean distances of
// the sample (MedianBandwidth). Memory is O(M²) for M samples.

// MedianBandwidth returns the median of the Euclidean distances ‖xᵢ − xⱼ‖
// over the pairs i < j of rows of x (the mean of the two middle values for
// an even count). It panics if x has fewer than two rows.
func MedianBandwidth(x ad.Mat) float64 {
	n := x.Rows
	if n < 2 {
		panic(fmt.Sprintf("sampler: MedianBandwidth: %d samples, want ≥ 2", n))
	}
	d := make([]float64, 0, n*(n-1)/2)
	for i := range n {
		for j := i + 1; j < n; j++ {
			d = append(d, math.Sqrt(sqDist(x.Row(i), x.Row(j))))
		}
	}
	slices.Sort(d)
	m := len(d)
	if m%2 == 1 {
		return d[m/2]
	}
	return 0.5 * (d[m/2-1] + d[m/2])
}

// sqDist returns ‖a − b‖².
func sqDist(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		t := v - b[i]
		s += float64(t * t)
	}
	return s
}

// bandwidth returns h, or the median heuristic of samples when h is zero.
func bandwidth(name string, h float64, samples ad.Mat) float64 {
	switch {
	case h == 0:
		h = MedianBandwidth(samples)
		if !(h > 0) {
			panic(fmt.Sprintf("sampler: %s: the samples coincide, the median bandwidth is 0", name))
		}
	case !(h > 0) || math.IsInf(h, 0):
		panic(fmt.Sprintf("sampler: %s: Bandwidth = %v, want finite and ≥ 0", name, h))
	}
	return h
}

// gram returns the M×M kernel matrix K of the samples and the M×D matrix
// B with rows bᵢ = Σₘ (xᵢ − xₘ)Kᵢₘ/h², the "⟨∇, K⟩" of Li & Turner (row i
// is Σₘ ∇_{xₘ} k(xₘ, xᵢ)).
func gram(samples ad.Mat, h float64) (k, b ad.Mat) {
	m, d := samples.Rows, samples.Cols
	k = ad.NewMat(m, m)
	b = ad.NewMat(m, d)
	inv := 1 / (2 * h * h)
	for i := range m {
		k.Set(i, i, 1)
		for j := i + 1; j < m; j++ {
			v := rmath.Exp(-sqDist(samples.Row(i), samples.Row(j)) * inv)
			k.Set(i, j, v)
			k.Set(j, i, v)
		}
	}
	for i := range m {
		xi, bi := samples.Row(i), b.Row(i)
		for j := range m {
			kij := k.At(i, j)
			for t, v := range samples.Row(j) {
				bi[t] += float64((xi[t] - v) * kij)
			}
		}
		for t := range bi {
			bi[t] /= h * h
		}
	}
	return k, b
}

// checkEstimate panics unless dst and x are shaped alike with the samples'
// columns and there are at least two samples.
func checkEstimate(name string, dst, x, samples ad.Mat) {
	if samples.Rows < 2 || x.Cols != samples.Cols || !dst.SameShape(x) {
		panic(fmt.Sprintf("sampler: %s: dst is %d×%d, x %d×%d, samples %d×%d: want dst and x alike, matching columns, ≥ 2 samples",
			name, dst.Rows, dst.Cols, x.Rows, x.Cols, samples.Rows, samples.Cols))
	}
}

// Stein is the Stein gradient estimator of Li & Turner (2018). From M
// samples xₘ of q it estimates G = (∇log q(xₘ))ₘ by kernel ridge regression
// on Stein's identity E_q[k(·, x)∇log q(x) + ∇ₓk(·, x)] = 0:
//
//	Ĝ = −(K + ηI)⁻¹ ⟨∇, K⟩,  ⟨∇, K⟩ᵢ = Σₘ ∇_{xₘ} k(xₘ, xᵢ),
//
// with the RBF kernel of bandwidth h (see MedianBandwidth).
type Stein struct {
	// Eta is the ridge η ≥ 0 added to the diagonal of K (whose diagonal
	// is 1 and whose eigenvalues grow like M); 0 means 0.01·M, which did
	// well on Gaussians for M from 100 to 2000. Larger η smooths more.
	Eta float64
	// Bandwidth is h; 0 means the median heuristic on the samples.
	Bandwidth float64
}

// eta returns η for m samples, checked.
func (s Stein) eta(m int) float64 {
	switch {
	case s.Eta == 0:
		return 0.01 * float64(m)
	case !(s.Eta > 0) || math.IsInf(s.Eta, 0):
		panic(fmt.Sprintf("sampler: Stein: Eta = %v, want finite and ≥ 0", s.Eta))
	}
	return s.Eta
}

// factor returns the Cholesky factor of K + ηI (in place of K), the kernel
// gradient sums B, the bandwidth h and η for the samples.
func (s Stein) factor(samples ad.Mat) (k, b ad.Mat, h, eta float64) {
	h = bandwidth("Stein", s.Bandwidth, samples)
	k, b = gram(samples, h)
	m := samples.Rows
	eta = s.eta(m)
	for i := range m {
		k.Data[i*m+i] += eta
	}
	if linalg.Cholesky(k.Data, k.Data, m) != nil {
		panic("sampler: Stein: kernel matrix not positive definite; increase Eta")
	}
	return k, b, h, eta
}

// EstimateAtSamples sets dst (M×D) to the in-sample estimate Ĝ at the rows
// of samples. It costs O(M³) for one Cholesky factorisation. It panics on a
// shape mismatch or fewer than two samples.
func (s Stein) EstimateAtSamples(dst, samples ad.Mat) {
	checkEstimate("Stein", dst, samples, samples)
	k, b, _, _ := s.factor(samples)
	m, d := samples.Rows, samples.Cols
	col := make([]float64, m)
	for t := range d {
		for i := range m {
			col[i] = b.At(i, t)
		}
		linalg.SolveLower(col, k.Data, col, m)
		linalg.SolveLowerT(col, k.Data, col, m)
		for i := range m {
			dst.Set(i, t, -col[i])
		}
	}
}

// Estimate sets dst (N×D) to estimates of ∇log q at the rows of x, out of
// sample: each query point x* is treated as an extra sample, and the
// estimator's row for it is computed from one factorisation of K + ηI by
// block elimination. With k* = (k(xₘ, x*))ₘ, A = K + ηI and
// B′ = ⟨∇, K⟩ updated with x*'s kernel terms (row m gains
// (xₘ − x*)k(xₘ, x*)/h²),
//
//	ĝ(x*) = −(b* − k*ᵀA⁻¹B′) / (1 + η − k*ᵀA⁻¹k*),  b* = Σₘ (x* − xₘ)k(x*, xₘ)/h².
//
// It costs O(M³) once and O(M² + MD) per query point; the bandwidth comes
// from the samples only. It panics on a shape mismatch or fewer than two
// samples.
func (s Stein) Estimate(dst, x, samples ad.Mat) {
	checkEstimate("Stein", dst, x, samples)
	k, b, h, eta := s.factor(samples)
	m, d := samples.Rows, samples.Cols
	ks := make([]float64, m)
	v := make([]float64, m)
	inv, h2 := 1/(2*h*h), h*h
	for q := range x.Rows {
		xq, out := x.Row(q), dst.Row(q)
		for i := range m {
			ks[i] = rmath.Exp(-sqDist(samples.Row(i), xq) * inv)
		}
		linalg.SolveLower(v, k.Data, ks, m)
		schur := 1 + eta
		for i := range m {
			schur -= float64(v[i] * v[i])
		}
		linalg.SolveLowerT(v, k.Data, v, m)
		clear(out)
		for i := range m {
			xi, bi := samples.Row(i), b.Row(i)
			for t := range d {
				bstar := (xq[t] - xi[t]) * ks[i] / h2
				bprime := bi[t] + (xi[t]-xq[t])*ks[i]/h2
				out[t] += bstar - float64(v[i]*bprime)
			}
		}
		for t := range out {
			out[t] = -out[t] / schur
		}
	}
}

// SSGE is the spectral Stein gradient estimator of Shi, Sun & Zhu (2018).
// It expands ∇log q in the top eigenfunctions ψⱼ of the RBF kernel under q,
// estimated by the Nyström method from M samples: with K = Σⱼ λⱼuⱼuⱼᵀ,
//
//	ψⱼ(x) = (√M/λⱼ) Σₘ k(x, xₘ)uⱼₘ,  βⱼ = −(1/M) Σₘ ∇ψⱼ(xₘ),  ĝ(x) = Σⱼ βⱼψⱼ(x),
//
// the coefficients βⱼ following from Stein's identity E_q[ψⱼ∇log q + ∇ψⱼ] = 0
// and the eigenfunctions' orthonormality. In matrix form
// ĝ(x) = −Σₘ k(x, xₘ)Cₘ with C = U_J Λ_J⁻² U_Jᵀ ⟨∇, K⟩.
//
// The eigendecomposition (Householder reduction and QL) costs about 4M³
// flops; M = 1000 takes about a second.
type SSGE struct {
	// J is the number of eigenfunctions; 0 means: the fewest whose
	// eigenvalues hold a fraction Ratio of the trace of K.
	J int
	// Ratio is that fraction, in (0, 1]; 0 means 0.95.
	Ratio float64
	// Bandwidth is h; 0 means the median heuristic on the samples.
	Bandwidth float64
}

// Estimate sets dst (N×D) to estimates of ∇log q at the rows of x from the
// samples of q. It panics on a shape mismatch, fewer than two samples, J < 0
// or Ratio outside [0, 1].
func (s SSGE) Estimate(dst, x, samples ad.Mat) {
	checkEstimate("SSGE", dst, x, samples)
	if s.J < 0 || !(s.Ratio >= 0 && s.Ratio <= 1) {
		panic(fmt.Sprintf("sampler: SSGE: J = %d, Ratio = %v: want J ≥ 0 and Ratio in [0, 1]", s.J, s.Ratio))
	}
	ratio := s.Ratio
	if ratio == 0 {
		ratio = 0.95
	}
	h := bandwidth("SSGE", s.Bandwidth, samples)
	k, b := gram(samples, h)
	m, d := samples.Rows, samples.Cols
	vals, vecs := make([]float64, m), make([]float64, m*m)
	linalg.SymEigen(vals, vecs, k.Data, m)
	trace := 0.0
	for _, l := range vals {
		trace += math.Max(l, 0)
	}
	j := s.J
	if j == 0 {
		acc := 0.0
		for j < m && acc < ratio*trace {
			acc += math.Max(vals[j], 0)
			j++
		}
	}
	j = min(j, m)
	for j > 0 && !(vals[j-1] > 1e-12*vals[0]) {
		j-- // drop numerically zero eigenvalues
	}
	// C = U_J Λ_J⁻² U_Jᵀ B.
	proj := make([]float64, d)
	c := ad.NewMat(m, d)
	for e := range j {
		clear(proj)
		vec := vecs[e*m : (e+1)*m]
		for i, u := range vec {
			for t, v := range b.Row(i) {
				proj[t] += float64(u * v)
			}
		}
		w := 1 / (vals[e] * vals[e])
		for i := range m {
			u := w * vec[i]
			for t, p := range proj {
				c.Data[i*d+t] += float64(u * p)
			}
		}
	}
	inv := 1 / (2 * h * h)
	for q := range x.Rows {
		xq, out := x.Row(q), dst.Row(q)
		clear(out)
		for i := range m {
			kq := rmath.Exp(-sqDist(samples.Row(i), xq) * inv)
			for t, v := range c.Row(i) {
				out[t] -= float64(kq * v)
			}
		}
	}
}

// FisherDivergence returns ½·mean_b ‖got_b − want_b‖², the Fisher divergence
// between two score fields sampled at the same points (rows), for example
// EvalScore of a model and of the true distribution, or an estimator's
// output. It panics if the shapes differ or there are no rows.
func FisherDivergence(got, want ad.Mat) float64 {
	if !got.SameShape(want) || got.Rows == 0 {
		panic(fmt.Sprintf("sampler: FisherDivergence: %d×%d and %d×%d", got.Rows, got.Cols, want.Rows, want.Cols))
	}
	s := 0.0
	for i, v := range got.Data {
		t := v - want.Data[i]
		s += float64(t * t)
	}
	return 0.5 * s / float64(got.Rows)
}

// An MMDResult is the outcome of MMDTest.
type MMDResult struct {
	// MMD2 is the unbiased estimate of the squared maximum mean discrepancy.
	MMD2 float64
	// Bandwidth is the kernel bandwidth h used.
	Bandwidth float64
	// PValue is the permutation p-value (1 + #{MMD2 of a permutation ≥
	// MMD2}) / (1 + perms), or NaN when perms is zero.
	PValue float64
}

// MMDTest compares the samples x (n×D) and y (m×D) by the unbiased squared
// MMD with the RBF kernel whose bandwidth is the median heuristic on the
// pooled sample,
//
//	MMD² = Σ_{i≠j} k(xᵢ, xⱼ)/(n(n−1)) + Σ_{i≠j} k(yᵢ, yⱼ)/(m(m−1)) − 2Σᵢⱼ k(xᵢ, yⱼ)/(nm),
//
// and a permutation test of equal distributions: perms random splits of the
// pooled sample into n and m points, permutation p shuffled by its own
// stream of (seed, p), so the p-value is deterministic. Permutations run in
// repro.DefaultChunks parallel chunks. It costs O((n+m)²) memory and time per
// permutation. It panics if the columns differ, n or m is below 2, or perms
// is negative.
func MMDTest(x, y ad.Mat, perms int, seed uint64) MMDResult {
	n, m := x.Rows, y.Rows
	if x.Cols != y.Cols || n < 2 || m < 2 || perms < 0 {
		panic(fmt.Sprintf("sampler: MMDTest: x is %d×%d, y %d×%d, perms = %d: want matching columns, ≥ 2 rows each, perms ≥ 0", n, x.Cols, m, y.Cols, perms))
	}
	pool := ad.NewMat(n+m, x.Cols)
	copy(pool.Data, x.Data)
	copy(pool.Data[len(x.Data):], y.Data)
	h := MedianBandwidth(pool)
	if !(h > 0) {
		h = 1 // all points coincide: any bandwidth gives MMD² = 0
	}
	N := n + m
	k := make([]float64, N*N)
	inv := 1 / (2 * h * h)
	for i := range N {
		for j := i + 1; j < N; j++ {
			k[i*N+j] = rmath.Exp(-sqDist(pool.Row(i), pool.Row(j)) * inv)
		}
	}
	inX := make([]bool, N)
	for i := range n {
		inX[i] = true
	}
	res := MMDResult{MMD2: mmd2(k, inX, n, m), Bandwidth: h, PValue: math.NaN()}
	if perms == 0 {
		return res
	}
	chunks := repro.DefaultChunks(perms)
	counts := make([]int, chunks)
	repro.Run(perms, chunks, func(c, lo, hi int) {
		idx := make([]int, N)
		lab := make([]bool, N)
		for p := lo; p < hi; p++ {
			for i := range idx {
				idx[i] = i
			}
			rng := repro.New(seed, repro.Permutation, 0, uint64(p))
			rng.Shuffle(N, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			clear(lab)
			for _, i := range idx[:n] {
				lab[i] = true
			}
			if mmd2(k, lab, n, m) >= res.MMD2 {
				counts[c]++
			}
		}
	})
	total := 0
	for _, c := range counts {
		total += c
	}
	res.PValue = float64(1+total) / float64(1+perms)
	return res
}

// mmd2 returns the unbiased MMD² of the split inX of the pooled points,
// from the strict upper triangle of the kernel matrix k.
func mmd2(k []float64, inX []bool, n, m int) float64 {
	N := len(inX)
	var sxx, syy, sxy float64
	for i := range N {
		row := k[i*N : (i+1)*N]
		for j := i + 1; j < N; j++ {
			switch {
			case inX[i] && inX[j]:
				sxx += row[j]
			case !inX[i] && !inX[j]:
				syy += row[j]
			default:
				sxy += row[j]
			}
		}
	}
	fn, fm := float64(n), float64(m)
	return 2*sxx/(fn*(fn-1)) + 2*syy/(fm*(fm-1)) - 2*sxy/(fn*fm)
}
