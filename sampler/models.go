package sampler

import (
	"fmt"

	"scorematch/ad"
	"scorematch/nn"
)

// Adapters from the models of package nn to the sources the samplers take.
// Every evaluator owns an ad.Tape with frozen parameters and reuses it, so
// evaluating batches of one size allocates nothing after the first call.
// The models' parameters are read, never written, and may be shared by the
// evaluators of several goroutines; they must not change while a sampler
// runs.

// FromEnergy returns the distribution p̃ = exp(−E) of an energy model as a
// LogDensity: log p̃(x) = −E(x) (the normalising constant is unknown; see
// AIS and GridLogZ) and score −∇ₓE(x), from one forward pass and one reverse
// sweep (ad.InputGrad). It panics if m is nil.
func FromEnergy(m nn.Energy) LogDensity {
	if m == nil {
		panic("sampler: FromEnergy: nil model")
	}
	return energyModel{m}
}

type energyModel struct{ m nn.Energy }

func (e energyModel) Dim() int { return e.m.Dim() }

func (e energyModel) NewScoreFunc() ScoreFunc {
	f := e.NewLogDensityFunc()
	var lp []float64
	return func(dst, x ad.Mat) {
		checkPair("energy model score", dst, x, e.m.Dim())
		if cap(lp) < x.Rows {
			lp = make([]float64, x.Rows)
		}
		f(lp[:x.Rows], dst, x)
	}
}

func (e energyModel) NewLogDensityFunc() LogDensityFunc {
	t := ad.NewTape()
	t.FreezeParams(true)
	return func(logp []float64, score, x ad.Mat) {
		checkLogDensity("energy model", logp, score, x, e.m.Dim())
		var en ad.Mat
		if len(score.Data) == 0 {
			t.Reset()
			out := e.m.Energy(t, t.Input(x, false))
			if out.Rows() != x.Rows || out.Cols() != 1 {
				panic(fmt.Sprintf("sampler: energy model returned %d×%d for %d rows", out.Rows(), out.Cols(), x.Rows))
			}
			en = out.Primal()
		} else {
			en = ad.InputGrad(t, e.m.Energy, x, score)
			for i, v := range score.Data {
				score.Data[i] = -v
			}
		}
		for b, v := range en.Data {
			logp[b] = -v
		}
	}
}

// FromScore returns the score network m as a ScoreSource. It panics if m
// is nil.
func FromScore(m nn.Score) ScoreSource {
	if m == nil {
		panic("sampler: FromScore: nil model")
	}
	return scoreModel{m}
}

type scoreModel struct{ m nn.Score }

func (s scoreModel) Dim() int { return s.m.Dim() }

func (s scoreModel) NewScoreFunc() ScoreFunc {
	t := ad.NewTape()
	t.FreezeParams(true)
	return func(dst, x ad.Mat) {
		checkPair("score model", dst, x, s.m.Dim())
		t.Reset()
		out := s.m.Score(t, t.Input(x, false))
		copyOut(dst, out)
	}
}

// FromCondScore returns the noise-conditional score network m as a
// CondScoreSource; every row is evaluated at the same noise level. It
// panics if m is nil.
func FromCondScore(m nn.CondScore) CondScoreSource {
	if m == nil {
		panic("sampler: FromCondScore: nil model")
	}
	return condScoreModel{m}
}

type condScoreModel struct{ m nn.CondScore }

func (c condScoreModel) Dim() int { return c.m.Dim() }

func (c condScoreModel) NewCondScoreFunc() CondScoreFunc {
	t := ad.NewTape()
	t.FreezeParams(true)
	var sig ad.Mat
	return func(dst, x ad.Mat, sigma float64) {
		checkPair("conditional score model", dst, x, c.m.Dim())
		if cap(sig.Data) < x.Rows {
			sig.Data = make([]float64, x.Rows)
		}
		sig = ad.MatOf(x.Rows, 1, sig.Data[:x.Rows])
		for i := range sig.Data {
			sig.Data[i] = sigma
		}
		t.Reset()
		out := c.m.CondScore(t, t.Input(x, false), sig)
		copyOut(dst, out)
	}
}

// copyOut copies a model's B×D output to dst, checking its shape.
func copyOut(dst ad.Mat, out *ad.Node) {
	if out.Rows() != dst.Rows || out.Cols() != dst.Cols {
		panic(fmt.Sprintf("sampler: score model returned %d×%d, want %d×%d", out.Rows(), out.Cols(), dst.Rows, dst.Cols))
	}
	copy(dst.Data, out.Primal().Data)
}
