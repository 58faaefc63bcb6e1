package sampler

import "scorematch/ad"

// A TimeScoreFunc sets dst (B×D) to the time-dependent score
// ∇ₓ log p_t(x) at every row b of x (B×D) at time t[b], where p_t is the
// law at time t of a forward SDE (package nn/sde) started from the data.
// len(t) must be x.Rows. Like a ScoreFunc it must not retain its arguments
// and is not safe for concurrent use.
type TimeScoreFunc func(dst, x ad.Mat, t []float64)

// A TimeScoreSource gives time-dependent scores, as the reverse-time SDE
// samplers and the probability-flow ODE need. NewTimeScoreFunc follows the
// rules of ScoreSource.NewScoreFunc: one evaluator per goroutine.
type TimeScoreSource interface {
	// Dim returns D, the dimension of the sample space.
	Dim() int
	// NewTimeScoreFunc returns an evaluator for one goroutine.
	NewTimeScoreFunc() TimeScoreFunc
}

// A DivScoreFunc sets dst as a TimeScoreFunc does and div[b] to the
// divergence ∇ₓ·s(x_b, t_b) of the score at row b: exactly (the trace of the
// Jacobian) when probes is empty, and otherwise the Hutchinson mean over the
// K probes of vᵀ(∇ₓs)v, where probes[k] is B×D and its row b is the probe
// of row b. len(div) and len(t) must be x.Rows.
type DivScoreFunc func(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat)

// A DivScoreSource is a TimeScoreSource that also gives the divergence of
// its score, as likelihoods by the probability-flow ODE need.
// NewDivScoreFunc follows the rules of ScoreSource.NewScoreFunc.
type DivScoreSource interface {
	TimeScoreSource
	// NewDivScoreFunc returns an evaluator for one goroutine.
	NewDivScoreFunc() DivScoreFunc
}
