// Package sampler draws samples from, and evaluates, distributions known
// through their score ∇ₓ log p: trained energy models and score networks
// (FromEnergy, FromScore, FromCondScore adapt the models of package nn),
// and analytic distributions with exact densities.
//
// # Sources
//
// Samplers take small interfaces: a ScoreSource (∇log p), a LogDensity
// (log p̃ and its score, for the Metropolis-adjusted samplers, AIS and
// quadrature) and a CondScoreSource (the score of p convolved with
// N(0, σ²I), for annealed Langevin). Each is a factory of evaluators: every
// goroutine gets its own, so a model evaluator can own an ad.Tape and
// scratch buffers. (They are sources of scores, not models: the score
// networks of package nn are nn.Score and nn.CondScore, which FromScore and
// FromCondScore turn into sources.)
//
// For score SDEs (package nn/sde) the sources are time-conditional: a
// TimeScoreSource gives ∇ₓ log p_t at per-row times, and a DivScoreSource
// also the divergence of that score, exactly or by Hutchinson probes, as the
// probability-flow likelihood needs. FromTimeScore adapts nn.TimeScore (the
// exact divergence is one forward-mode pass along the D basis directions),
// and PerturbedMixture is the exact time score of a Gaussian mixture pushed
// through an SDE, for tests and for seeing the samplers on a known target.
//
// # Samplers
//
// Langevin (unadjusted), AnnealedLangevin (the NCSN schedule), MALA and HMC
// (with dual-averaging step-size adaptation during warm-up). The chains
// (rows of x) are split into a fixed number of contiguous chunks
// (repro.DefaultChunks unless set), each running all of its steps on its
// own goroutine with its own evaluator (repro.Run). Chain i draws every
// random number from its own stream, that of (seed, repro.Chain, 0, i),
// never from a shared generator, so the output is bit-identical for any
// GOMAXPROCS.
//
// The reverse-time SDE sampler is PC, a predictor–corrector sampler with
// a predictor from Predictors (Euler–Maruyama "em", "reverse-diffusion",
// "ancestral" or "none") and a corrector from Correctors ("langevin" with
// the signal-to-noise step rule, or "none"): reverse-time Euler–Maruyama
// is PC{Predictor: "em"} with no corrector, and so on. ProbabilityFlow
// integrates the probability-flow ODE with an ODESolver: RK4 (fixed steps)
// or RK45 (adaptive Dormand–Prince; each row keeps its own step sizes, so a
// row's result does not depend on the others).
//
// # Evaluation
//
// AIS and GridLogZ estimate log Z of an energy model; AIS.RunReverse runs
// AIS from draws of the target back to the base, a stochastic upper bound
// that AISInterval combines with the forward lower bound (bidirectional
// Monte Carlo); LogLikelihood turns log Z into a held-out log-likelihood.
// FlowLikelihood is the exact log-density of a score SDE model through the
// probability-flow ODE, and BitsPerDim converts it. FisherDivergence compares score
// fields, MMDTest compares samples, and Stein and SSGE are the kernel score
// estimators of Li & Turner (2018) and Shi, Sun & Zhu (2018) that sliced
// score matching is compared with. Trace.ESS estimates effective sample
// sizes.
//
// # Distributions
//
// Mixture (Gaussians with full covariances, NewGaussianTarget, NewMixture,
// NCSNMixture, EightGaussians, Grid), Banana and the two moons (samples only)
// are analytic test distributions; Datasets lists them by name.
//
// # Adding a sampler
//
// A sampler is a settings struct whose Run checks every setting first
// (returning a *ConfigError), splits its chains with repro.Run in
// repro.DefaultChunks chunks, gives each chunk its own evaluator, and
// draws chain i's numbers from the stream (Seed, purpose, 0, i), so that
// its output is the same for any GOMAXPROCS.
//
// # Errors
//
// A sampler's settings are checked when it runs, before any work: Run
// returns a *ConfigError naming the field, the value and what is expected
// (programs match it with errors.As to name their own flag), and an error
// when chains leave the finite numbers. Programmer errors panic with the
// function's name: chains with the wrong number of columns, mismatched
// shapes, a panic in a model's evaluator (re-raised in the caller).
package sampler
