// Package nn provides the models, optimisers and weight files of score
// matching: energy networks E: R^D → R, score networks h: R^D → R^D,
// noise-conditional score networks h(x, σ) and time-conditional score
// networks h(x, t) of score SDEs, all recorded on an ad.Tape so that
// objectives can differentiate them with respect to their input and their
// parameters.
//
// # Models
//
// A Model is a list of named parameters (*ad.Param) in a fixed order plus
// an input dimension. Energy, Score, CondScore and TimeScore add the
// forward pass:
// given a B×D input node (plain, or a jet carrying Taylor coefficients
// along projections) they record ops on a tape and return the output node.
// They never allocate once the tape's buffers have grown, and they only read
// their parameters, so one model may be evaluated on several tapes by
// several goroutines at once (an optimiser step must not run concurrently).
//
// EnergyMLP and ScoreMLP are multi-layer perceptrons laid out exactly like
// PyTorch's nn.Sequential(Linear, act, Linear, act, ..., Linear): their
// parameters are named "0.weight" (out×in), "0.bias", "2.weight", ... and
// are initialised as PyTorch initialises a Linear layer. Gaussian is the
// energy ½(x−μ)ᵀLLᵀ(x−μ) with a lower-triangular L, whose score-matching
// optimum has a closed form. NCSN is a noise-conditional score network.
// SDENet is a time-conditional score network for the forward SDEs of
// package nn/sde (VE, VP, sub-VP): an MLP whose hidden layers are shifted
// by a learnt map of a Gaussian Fourier embedding of the time, with the
// SDE recorded in its weight file.
//
// NICE is the additive-coupling flow of Dinh, Krueger & Bengio as the
// sliced score matching paper's reference code builds it (even/odd column
// split, MLP coupling functions, a diagonal scaling, a standard Gaussian
// prior): its energy is exactly −log p(x), so it is a Normalized model
// that maximum likelihood can train beside every score-matching objective,
// with Inverse and Sample for drawing from it and LogitPixels for the
// reference's preprocessing of images. DKEF is the deep kernel exponential
// family log p̃(x) = q₀(x) + Σⱼ wⱼ Σₘ αₘ kⱼ(x, zₘ) with Gaussian kernels on
// learnt features and trainable inducing points; AlphaFitter fits α in
// closed form (a linear solve on the tape, differentiated through) on one
// half of a batch for the objective's quadratic in α.
//
// Energy nets must have a nonzero second derivative: score-matching
// objectives contain ∇ₓ²E, so an energy built from ReLU (piecewise linear)
// has a zero Hessian and its parameters get no signal from that term.
// NewEnergyMLP and Load refuse it; score nets may use ReLU.
//
// # Optimisers
//
// SGD, Adam and RMSProp implement Optimizer with PyTorch's update formulas
// and defaults (torch.optim as documented for 1.13 and 2.x). Their state,
// step counts included, can be exported and restored (Optimizer.State,
// Optimizer.SetState), so that a run resumed from a checkpoint takes
// bit-identical steps. A step is Begin and then Update over ranges of each
// parameter, which a trainer may split across goroutines with the same
// bits; Adam's update is a vectorised kernel (nn/internal/fused).
// ClipGradNorm is torch.nn.utils.clip_grad_norm_.
//
// # Weight files
//
// Weights are safetensors files: an 8-byte little-endian header length N, a
// JSON header of N bytes, then the raw little-endian tensor data. The
// format itself, on an io.Reader and io.Writer, is package nn/safetensors;
// ReadSafetensors reads a file with it, validating every part, and reports
// errors naming the file and the tensor (as *FormatError);
// WriteSafetensors writes float64 tensors to a file atomically
// (nn/atomicfile). Save and Load store a model together with its
// architecture in the header's "__metadata__"; Load also reads the
// state_dict of a PyTorch nn.Sequential saved by safetensors.torch.save_file,
// given the activation and kind that such a file does not record.
//
// # Adding a model
//
// A model implements Model and one of Energy, Score, CondScore or
// TimeScore with ad
// ops on a tape; parameters carry PyTorch's state_dict names, so weight
// files are interchangeable with PyTorch's. Save records its kind and
// sizes in the file's metadata, and Load rebuilds it from them (newModel),
// so a new model is also a kind there, with its line in ArchitectureOf
// (which Load checks the tensors against before building anything).
//
// # Errors
//
// Bad input is an error value, returned where it enters: a file by Load and
// ReadSafetensors (a *FormatError naming file and tensor, non-finite
// weights included; a *MissingOptionError when a file without metadata
// needs LoadOptions, an *OptionMismatchError when LoadOptions contradict
// the file, and a *ConfigError of type "LoadOptions" for an unknown kind
// or activation), a model size by
// NewEnergyMLP, NewScoreMLP, NewNCSN and NewSDENet, a hyperparameter by an optimiser's Validate (a
// *ConfigError naming the setting, which programs match with errors.As to
// name their own flag). Programmer errors panic with a message naming the
// function: mismatched shapes, an optimiser stepped on other parameters
// than it was bound to, or with settings that Validate would have refused.
package nn
