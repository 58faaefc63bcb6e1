// Package ssm trains energy-based models and score networks by score
// matching: it provides the objectives and a deterministic parallel trainer.
//
// # Objectives
//
// Every objective is "Fisher divergence minus a data constant", minimised,
// so its value is usually negative. For an energy E with score s = −∇ₓE, a
// score net h, and a random projection v with E[vvᵀ] = I:
//
//	ssm          ½(vᵀs)² + vᵀ(∇s)v        sliced score matching (Song et al. 2019)
//	ssm-vr       ½‖s‖²  + vᵀ(∇s)v        its variance-reduced form
//	sm           ½‖s‖²  + tr(∇s)         exact score matching (Hyvärinen 2005), D passes
//	dsm          ½‖σ²s(x̃) + σε‖²         denoising score matching, x̃ = x + σε
//	sse, sse-vr  as ssm, ssm-vr for a score net h in place of s
//	ncsn         annealed DSM over a σ schedule (noise-conditional net)
//	ncsn-sse-vr  annealed SSE-VR over a σ schedule
//	sde-dsm      ½‖s(t)h(x_t,t) + z‖², t ~ U(1e-5, 1): continuous-time DSM of a score SDE
//	sde-sse-vr   s(t)²(½‖h‖² + vᵀ(∇h)v) at x_t: SSE-VR of a score SDE
//	approx-bp    exact SM with the Hessian diagonal by approximate backprop
//	cp           exact SM with the Hessian diagonal by curvature propagation
//	mle          −log p(x), the mean energy of a normalised model (a flow): maximum likelihood
//	grad         the mean energy: a plain gradient step, for cost comparisons
//
// Projections are Rademacher, Gaussian or uniform on the sphere of radius
// √D (never unit-norm: the reference code's unit vectors scale the loss by
// 1/D). With M projections per sample, each sample is replicated M times
// with independent v and its loss averaged over the copies.
//
// Per-sample terms follow the reference implementation: loss1 is the
// squared-score term and loss2 the derivative term (DSM has one term).
// Gradients with respect to the parameters are exact: energies go through
// ad.SecondOrder (Taylor mode and one reverse sweep), score nets through an
// order-1 jet. The cost of an SSM step is about three plain gradient steps
// and does not grow with D; exact SM grows linearly with D.
//
// The objectives of score SDEs (Song et al. 2021) train a time-conditional
// score net h(x, t) (nn.TimeScore) on x_t = α(t)·x + s(t)·z, the data
// pushed through the SDE's kernel at a random time, weighted by λ(t) =
// s(t)² or, with LikelihoodWeighting, by g(t)².
//
// # Training
//
// Train splits the data, shuffles it per epoch, evaluates each batch in a
// fixed number of chunks on goroutines (one per 64 rows unless set), then
// sums the chunks' gradients in chunk order and takes the optimiser step
// with every worker on its own range of the parameters.
// Every random number comes from a stream derived from (seed, purpose,
// step, sample) (package repro), so the result is bit-identical for any
// GOMAXPROCS and after a stop and resume from a checkpoint.
//
// Config.Schedule sets the learning rate per step (linear warm-up, then
// constant, cosine or linear decay to a final rate at the last planned
// step), and Config.EMA keeps an exponential moving average of the
// weights, which validation evaluates and Train returns; a checkpoint
// records both and a resume with other values is refused.
//
// TrainDKEF trains a deep kernel exponential family (nn.DKEF) as the
// sliced score matching paper does: at every step α is fitted in closed
// form on one half batch for the objective's quadratic in α, the
// objective's loss is taken on the other half, and the gradient flows
// through the fit; early stopping on validation, then a stage that fits λ
// alone.
//
// # Adding an objective
//
// An objective is one file and one table row. The file holds its type,
// which embeds objective (name, model, options, needs) and sets its Needs
// in its constructor, and its worker type, which embeds work (gradient
// storage, tapes, the shared steps: replicate, noisy, finish...) and
// implements Eval from a batch. The row in the registry (registry.go)
// gives its name, the model kinds it trains, the Options it reads (New
// checks the required ones), whether it measures fit, a one-line doc and
// the constructor; New, Names, Specs and the tool's help come from it, and
// no other code may spell its name (TestNamesOnlyInRegistry). Its
// gradient check is a case in objectiveCases (TestRegistryCovered).
//
// # Errors
//
// Bad configuration is an error value from New or from Train (before any
// work): a *ConfigError names the Options or Config field, the value and
// what is expected, and programs match it with errors.As to name their own
// flag. A divergent run ends with an error wrapping ErrNonFinite.
// Programmer errors (a batch shaped unlike the model) panic.
package ssm
