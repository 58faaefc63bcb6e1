package nn

import (
	"fmt"
	"math"

	"scorematch/ad"
)

// AtNoiseLevel returns the score net x ↦ h(x, σ) of a noise-conditional
// model at one noise level σ: a Score that shares m's parameters, for the
// objectives and samplers of score nets (the score of the data perturbed
// by N(0, σ²I)). It is safe for concurrent use, as the models are; each
// call of its Score allocates the column of σ it passes. It panics unless
// σ is finite and > 0.
func AtNoiseLevel(m CondScore, sigma float64) Score {
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		panic(fmt.Sprintf("nn: AtNoiseLevel(%v): want a finite noise level > 0", sigma))
	}
	return &atNoiseLevel{m: m, sigma: sigma}
}

type atNoiseLevel struct {
	m     CondScore
	sigma float64
}

func (a *atNoiseLevel) Params() []*ad.Param { return a.m.Params() }
func (a *atNoiseLevel) Dim() int            { return a.m.Dim() }

// Score records h(x, σ) with a new B×1 column of σ, which the tape keeps:
// calls from several goroutines (on their own tapes) share nothing.
func (a *atNoiseLevel) Score(t *ad.Tape, x *ad.Node) *ad.Node {
	col := ad.NewMat(x.Rows(), 1)
	for i := range col.Data {
		col.Data[i] = a.sigma
	}
	return a.m.CondScore(t, x, col)
}
