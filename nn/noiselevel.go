package nn

import (
	"fmt"
	"math"

	"scorematch/ad"
)

// AtNoiseLevel returns the score net x ↦ h(x, σ) of a noise-conditional
// model at one noise level σ: a Score that shares m's parameters, for the
// objectives and samplers of score nets (the score of the data perturbed
// by N(0, σ²I)). It panics unless σ is finite and > 0.
func AtNoiseLevel(m CondScore, sigma float64) Score {
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		panic(fmt.Sprintf("nn: AtNoiseLevel(%v): want a finite noise level > 0", sigma))
	}
	return &atNoiseLevel{m: m, sigma: sigma}
}

type atNoiseLevel struct {
	m     CondScore
	sigma float64
	col   ad.Mat // the B×1 column of σ of the last call
}

func (a *atNoiseLevel) Params() []*ad.Param { return a.m.Params() }
func (a *atNoiseLevel) Dim() int            { return a.m.Dim() }

// Score records h(x, σ). The column of σ it passes is kept until a call
// with another batch size, which gets a new one: a tape may hold calls of
// both sizes.
func (a *atNoiseLevel) Score(t *ad.Tape, x *ad.Node) *ad.Node {
	if a.col.Rows != x.Rows() {
		a.col = ad.NewMat(x.Rows(), 1)
		for i := range a.col.Data {
			a.col.Data[i] = a.sigma
		}
	}
	return a.m.CondScore(t, x, a.col)
}
