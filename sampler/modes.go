package sampler

import (
	"scorematch/ad"
	"scorematch/ad/rmath"
)

// Weights returns the mixture's normalised component weights.
func (m *Mixture) Weights() []float64 {
	w := make([]float64, len(m.logw))
	for k, l := range m.logw {
		w[k] = rmath.Exp(l)
	}
	return w
}

// ModeWeights returns the fraction of the rows of x (samples, one per
// row) that fall in each component: the component of largest posterior
// probability given the row. Compared with Weights, it tells whether a
// sampler put the right mass in each mode. It panics unless x has the
// mixture's dimension.
func (m *Mixture) ModeWeights(x ad.Mat) []float64 {
	checkCols("Mixture.ModeWeights", x, m.dim)
	e := m.newEval()
	w := make([]float64, len(m.mean))
	for b := range x.Rows {
		e.eval(m.base, x.Row(b), nil)
		best := 0
		for k, l := range e.logs {
			if l > e.logs[best] {
				best = k
			}
		}
		w[best]++
	}
	for k := range w {
		w[k] /= float64(max(x.Rows, 1))
	}
	return w
}
