package sampler

import (
	"fmt"
	"math"

	"scorematch/ad"
)

// Tempered turns the score s of a density p into a noise-conditional score
// by tempering: s(x, σ) = s(x)·σ_L²/σ², the score of p^(1/T) with
// T = σ²/σ_L². AnnealedLangevin with its steps αᵢ = ε·σᵢ²/σ_L² then moves
// x ← x + (ε/2)s(x) + √(εTᵢ) z: Langevin dynamics at temperature Tᵢ, whose
// stationary law p^(1/Tᵢ) is a flattened p that mixes between modes, ending
// at T = 1, p itself, on the last level σ_L.
//
// This is the annealing that makes sense for a model that is not
// noise-conditional (an energy net trained by SSM): the score of p smoothed
// by N(0, σ²I), which a noise-conditional net learns, is not available for
// it. It panics unless sigmaL is finite and positive.
func Tempered(s ScoreSource, sigmaL float64) CondScoreSource {
	if !(sigmaL > 0) || math.IsInf(sigmaL, 0) {
		panic(fmt.Sprintf("sampler: Tempered: σ_L = %v, want finite and positive", sigmaL))
	}
	return tempered{s, sigmaL}
}

type tempered struct {
	s      ScoreSource
	sigmaL float64
}

func (t tempered) Dim() int { return t.s.Dim() }

func (t tempered) NewCondScoreFunc() CondScoreFunc {
	f := t.s.NewScoreFunc()
	return func(dst, x ad.Mat, sigma float64) {
		f(dst, x)
		c := t.sigmaL * t.sigmaL / (sigma * sigma)
		for i := range dst.Data {
			dst.Data[i] *= c
		}
	}
}
