// Package implicit estimates entropy gradients of implicit distributions
// by score estimation: the piece of sliced score estimation (Song et al.
// 2019) that trains VAEs with implicit encoders and Wasserstein
// auto-encoders.
//
// # Entropy gradients
//
// A Sampler draws z = g_φ(x, ε), ε ~ N(0, I), from a distribution q_φ(z|x)
// whose density may be intractable (an Encoder: an MLP on [x, ε]). Its
// entropy's gradient needs only the score:
//
//	∇_φ H(q_φ(·|x)) = −E_ε[∇_z log q(z|x)ᵀ ∂g_φ(x, ε)/∂φ],
//
// so with a score estimate ŝ(z) ≈ ∇_z log q(z|x) at the samples it is the
// gradient of the surrogate −Σ stopgrad(ŝ(z))ᵀz (Surrogate, EntropyGrad),
// in which ŝ is held constant (ad.Tape.StopGradient).
//
// # Estimators
//
// An Estimator gives ŝ at the rows of (x, z). The registry (Names, New):
//
//	sse    a conditional score net s_ψ(z|x), an MLP on [x, z] (ScoreNet),
//	       trained by SSE-VR (package ssm's "sse-vr") on fresh samples of the
//	       sampler: one Adam step per call, as the reference trains it
//	       alongside the encoder, after Warmup steps on the first call
//	stein  the Stein gradient estimator on K samples of z per x
//	ssge   the spectral Stein gradient estimator on K samples of z per x
//	exact  a known score function, for tests
//
// The kernel estimators are package sampler's Stein and SSGE, evaluated out
// of sample at the query points. GaussianEncoder, z = μ_φ(x) + σ_φ(x)∘ε,
// is the explicit baseline and the test case: its score and entropy are
// known in closed form.
//
// # Decoders and the marginal likelihood
//
// BernoulliDecoder is p_θ(x|z) with logits from an MLP, its log-likelihood
// ad.Tape.BernoulliLogLik. Joint(x) is p_θ(x|z)N(z; 0, I) as a
// sampler.LogDensity over z, whose normalising constant is p_θ(x):
// sampler.AIS estimates log p_θ(x), and for dim z ≤ 2 sampler.GridLogZ
// computes it by quadrature.
//
// # Auto-encoders
//
// VAE is the auto-encoder with an implicit encoder (entropy "sse", "stein"
// or "ssge": each training step first updates the estimator, then (φ, θ) on
// reconstruction − log prior − the entropy surrogate) or with the explicit
// Gaussian encoder and its analytic KL ("gaussian", the baseline). WAE has
// a deterministic encoder and penalises λ·KL(q(z) ‖ N(0, I)) of the
// aggregate posterior, the KL's gradient through a score estimate on the
// batch's codes (CodeSSE, CodeKernel). Fit trains either with Adam, and NLL
// estimates the test negative log-likelihood by AIS over the latent.
//
// All networks are MLPs in PyTorch's nn.Sequential layout ("0.weight",
// "0.bias", ...). Randomness comes from repro streams of purposes named in
// package repro's list (PurposeNoise, PurposeProjection, PurposeELBONoise,
// PurposeBinarize, PurposeShuffle, PurposePrior), so results are
// bit-identical for any GOMAXPROCS. Fit runs on the calling goroutine; the
// kernel estimators and AIS split their work into fixed chunks.
package implicit
