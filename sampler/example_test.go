package sampler_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/nn/sde"
	"scorematch/sampler"
)

// Annealed Langevin dynamics recovers the mixture weights that plain
// Langevin dynamics cannot see (T6 of the design notes).
func ExampleAnnealedLangevin() {
	m := sampler.NCSNMixture()
	rng := rand.New(rand.NewPCG(1, 2))
	x := ad.NewMat(1280, 2)
	for i := range x.Data {
		x.Data[i] = 16*rng.Float64() - 8
	}
	al := sampler.AnnealedLangevin{Sigmas: sampler.GeometricSigmas(20, 1, 10), Step: 0.1, Steps: 100, Seed: 1}
	if err := al.Run(m, x); err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for b := range x.Rows {
		if x.At(b, 0)+x.At(b, 1) > 0 {
			n++
		}
	}
	fmt.Printf("fraction near (5,5): %.1f\n", float64(n)/1280)
	// Output: fraction near (5,5): 0.8
}

// HMC with step sizes adapted during warm-up, and its diagnostics.
func ExampleHMC() {
	g, _ := sampler.NewGaussianTarget([]float64{1, -1}, ad.MatOf(2, 2, []float64{1, 0.8, 0.8, 1}))
	x := ad.NewMat(16, 2) // 16 chains started at the origin
	tr, st, err := sampler.HMC{Step: 0.5, Leapfrog: 8, Jitter: 0.2, Warmup: 200, Draws: 500, Seed: 3}.Run(g, x)
	if err != nil {
		fmt.Println(err)
		return
	}
	mean := [2]float64{}
	s := tr.Samples()
	for b := range s.Rows {
		mean[0] += s.At(b, 0) / float64(s.Rows)
		mean[1] += s.At(b, 1) / float64(s.Rows)
	}
	ess := tr.ESS()
	fmt.Printf("acceptance ≈ %.1f, mean ≈ (%.1f, %.1f), ESS > 1000: %v\n", st.AcceptRate, mean[0], mean[1], ess[0] > 1000 && ess[1] > 1000)
	// Output: acceptance ≈ 0.9, mean ≈ (1.0, -1.0), ESS > 1000: true
}

// Normalising constants by quadrature and by annealed importance sampling.
func ExampleAIS() {
	g, _ := sampler.NewGaussianTarget([]float64{0, 0}, ad.MatOf(2, 2, []float64{2, 0, 0, 0.5}))
	// g is normalised: log Z = 0.
	z, _ := sampler.GridLogZ(g, []float64{-12, -6}, []float64{12, 6}, 201)
	fmt.Printf("quadrature: %.6f\n", math.Abs(z))
	r, _ := sampler.AIS{BaseScale: 2, Temps: 200, Step: 0.5, Leapfrog: 5, Chains: 256, Seed: 1}.Run(g)
	fmt.Printf("AIS within 3 standard errors: %v\n", math.Abs(r.LogZ) < 3*r.StdErr)
	// Output:
	// quadrature: 0.000000
	// AIS within 3 standard errors: true
}

// Estimating a score from samples with the Stein gradient estimator, and
// scoring the estimate by Fisher divergence against the truth.
func ExampleStein() {
	g := sampler.NCSNMixture()
	rng := rand.New(rand.NewPCG(4, 5))
	samples := ad.NewMat(400, 2)
	g.Sample(samples, rng)
	query := samples.RowRange(0, 100)
	est := ad.NewMat(100, 2)
	sampler.Stein{}.Estimate(est, query, samples)
	truth := sampler.EvalScore(g, query)
	zero := ad.NewMat(100, 2)
	fmt.Printf("Fisher divergence below that of a zero estimate: %v\n",
		sampler.FisherDivergence(est, truth) < sampler.FisherDivergence(zero, truth))
	// Output: Fisher divergence below that of a zero estimate: true
}

// A two-sample test.
func ExampleMMDTest() {
	rng := rand.New(rand.NewPCG(6, 7))
	moons := sampler.TwoMoons(0.1)
	x, y := ad.NewMat(200, 2), ad.NewMat(200, 2)
	moons.Sample(x, rng)
	sampler.EightGaussians().Sample(y, rng)
	r := sampler.MMDTest(x, y, 99, 1)
	fmt.Printf("p-value %.2f\n", r.PValue)
	// Output: p-value 0.01
}

func ExampleDatasets() {
	for _, d := range sampler.Datasets() {
		_, density := d.Dist.(sampler.LogDensity)
		fmt.Printf("%s (density: %v)\n", d.Name, density)
	}
	// Output:
	// ncsn (density: true)
	// 8gaussians (density: true)
	// grid (density: true)
	// banana (density: true)
	// moons (density: false)
}

// A predictor–corrector sampler of the reverse-time VP SDE, with the exact
// time score of the NCSN toy mixture, puts 0.2 of its samples in the
// (−5,−5) mode, which plain Langevin dynamics cannot.
func ExamplePC() {
	m := sampler.NCSNMixture()
	s := sde.VP{BetaMin: 0.1, BetaMax: 20}
	x := ad.NewMat(1000, 2)
	sde.SamplePrior(s, x, 1) // x_T from the prior N(0, I)
	pc := sampler.PC{SDE: s, Predictor: "reverse-diffusion", Corrector: "langevin", CorrectorSteps: 1, SNR: 0.16, Steps: 200, Seed: 1}
	if err := pc.Run(sampler.NewPerturbedMixture(m, s), x); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mode weights: %.1f\n", m.ModeWeights(x))
	// Output: mode weights: [0.2 0.8]
}
