package nn

import (
	"scorematch/ad"
	"scorematch/nn/sde"
)

// A Model has named parameters in a fixed order; the names are the weight
// file's names. Dim is the input dimension D.
type Model interface {
	Params() []*ad.Param
	Dim() int
}

// An Energy is a model E: R^D → R. Energy records E on t for the B×D input
// node x (plain or jet) and returns a B×1 node whose row b depends on row b
// of x only. It panics if x does not have Dim columns.
type Energy interface {
	Model
	Energy(t *ad.Tape, x *ad.Node) *ad.Node
}

// A Normalized is an energy model whose energy is exactly −log p(x) of a
// normalised density p, as a flow's is: its mean energy over data is the
// negative log-likelihood, which maximum likelihood minimises, and
// LogDensity evaluates log p at the rows of x without a tape.
type Normalized interface {
	Energy
	LogDensity(x ad.Mat) []float64
}

// A Score is a score network h: R^D → R^D. Score records h on t for the B×D
// input node x (plain or jet) and returns a B×D node whose row b depends on
// row b of x only. It panics if x does not have Dim columns.
type Score interface {
	Model
	Score(t *ad.Tape, x *ad.Node) *ad.Node
}

// A CondScore is a noise-conditional score network h(x, σ): R^D × R₊ → R^D.
// CondScore records h on t for the B×D input node x (plain or jet) and the
// B×1 matrix sigma of per-sample noise levels (each > 0), and returns a B×D
// node. sigma is read while recording and must not change until t is reset.
// It panics if the shapes do not match.
type CondScore interface {
	Model
	CondScore(t *ad.Tape, x *ad.Node, sigma ad.Mat) *ad.Node
}

// A TimeScore is a time-conditional score network h(x, t): R^D × [0, T] →
// R^D for a score SDE, estimating ∇ₓ log p_t, the score of the data pushed
// through SDE() to time t. TimeScore records h on t for the B×D input node
// x (plain or jet) and the B×1 matrix times of per-sample times (each
// finite and ≥ 0), and returns a B×D node whose row b depends on row b of
// x and times only. times is read while recording (it is data, never
// differentiated) and must not change until t is reset. It panics if the
// shapes do not match.
type TimeScore interface {
	Model
	SDE() sde.SDE
	TimeScore(t *ad.Tape, x *ad.Node, times ad.Mat) *ad.Node
}

// The model kinds recorded in a weight file's metadata and accepted by
// LoadOptions.Kind.
const (
	KindEnergy   = "energy"   // *EnergyMLP
	KindScore    = "score"    // *ScoreMLP
	KindGaussian = "gaussian" // *GaussianEnergy
	KindNCSN     = "ncsn"     // *NCSN
	KindSDE      = "sde"      // *SDENet
	KindNICE     = "nice"     // *NICE
)

// The models implement their interfaces.
var (
	_ Energy    = (*EnergyMLP)(nil)
	_ Energy    = (*GaussianEnergy)(nil)
	_ Energy    = (*NICE)(nil)
	_ Score     = (*ScoreMLP)(nil)
	_ CondScore = (*NCSN)(nil)
	_ TimeScore = (*SDENet)(nil)
	_ Model     = (*MLP)(nil)
)
