package sampler

import (
	"fmt"

	"scorematch/ad"
	"scorematch/nn"
)

// FromTimeScore returns the time-conditional score network m (an
// nn.SDENet, say) as a DivScoreSource, for the reverse-time SDE samplers
// and the probability-flow ODE. Every evaluator owns one ad.Tape with
// frozen parameters and reuses it and its buffers, so evaluating batches of
// one shape allocates nothing after the first call; the model's parameters
// are read, never written, and must not change while a sampler runs.
//
// The divergence ∇ₓ·h(x_b, t_b) is computed by forward mode, never by
// reverse sweeps: exactly, the input carries the D basis directions
// e₁, …, e_D as order-1 jets in one stacked pass (1 + D blocks of B rows
// through every layer), and the trace is Σᵢ (∂h/∂eᵢ)ᵢ; with K probes, the
// input carries the K probes as order-1 jets in one stacked pass, and the
// Hutchinson estimate is (1/K) Σ_k v_kᵀ(∇ₓh)v_k. Memory grows with
// (1 + D)·B or (1 + K)·B rows per layer. It panics if m is nil.
func FromTimeScore(m nn.TimeScore) DivScoreSource {
	if m == nil {
		panic("sampler: FromTimeScore: nil model")
	}
	return timeScoreModel{m}
}

type timeScoreModel struct{ m nn.TimeScore }

func (s timeScoreModel) Dim() int { return s.m.Dim() }

// timeEval is the state of one evaluator: its tape, the times as a B×1
// matrix and the stacked directions.
type timeEval struct {
	m     nn.TimeScore
	tape  *ad.Tape
	times ad.Mat
	basis ad.Mat   // D·B×D storage of the basis directions
	dirs  []ad.Mat // the directions of one pass
	ord   []int    // their orders, all 1
}

func newTimeEval(m nn.TimeScore) *timeEval {
	t := ad.NewTape()
	t.FreezeParams(true)
	return &timeEval{m: m, tape: t}
}

// setTimes points e.times at t, checking its length.
func (e *timeEval) setTimes(name string, x ad.Mat, t []float64) {
	if len(t) != x.Rows {
		panic(fmt.Sprintf("sampler: %s: %d times for %d rows", name, len(t), x.Rows))
	}
	e.times = ad.MatOf(x.Rows, 1, t)
}

func (s timeScoreModel) NewTimeScoreFunc() TimeScoreFunc {
	e := newTimeEval(s.m)
	return func(dst, x ad.Mat, t []float64) {
		checkPair("time score model", dst, x, s.m.Dim())
		e.setTimes("time score model", x, t)
		e.tape.Reset()
		copyOut(dst, s.m.TimeScore(e.tape, e.tape.Input(x, false), e.times))
	}
}

func (s timeScoreModel) NewDivScoreFunc() DivScoreFunc {
	e := newTimeEval(s.m)
	return e.eval
}

// eval is the DivScoreFunc of an evaluator.
func (e *timeEval) eval(dst ad.Mat, div []float64, x ad.Mat, t []float64, probes []ad.Mat) {
	const name = "time score model divergence"
	d := e.m.Dim()
	checkPair(name, dst, x, d)
	e.setTimes(name, x, t)
	if len(div) != x.Rows {
		panic(fmt.Sprintf("sampler: %s: div has %d entries for %d rows", name, len(div), x.Rows))
	}
	n := x.Rows
	e.dirs, e.ord = e.dirs[:0], e.ord[:0]
	if len(probes) == 0 {
		// The basis directions e_i (B×D each, a 1 in column i).
		e.basis.Resize(d*n, d)
		clear(e.basis.Data)
		for i := range d {
			ei := e.basis.RowRange(i*n, (i+1)*n)
			for r := range n {
				ei.Set(r, i, 1)
			}
			e.dirs = append(e.dirs, ei)
		}
	} else {
		for k, v := range probes {
			if !v.SameShape(x) {
				panic(fmt.Sprintf("sampler: %s: probe %d is %d×%d, x is %d×%d", name, k, v.Rows, v.Cols, x.Rows, x.Cols))
			}
			e.dirs = append(e.dirs, v)
		}
	}
	for range e.dirs {
		e.ord = append(e.ord, 1)
	}
	tp := e.tape
	tp.Reset(e.ord...)
	out := e.m.TimeScore(tp, tp.Input(x, false, e.dirs...), e.times)
	copyOut(dst, out)
	clear(div)
	if len(probes) == 0 {
		for i := range d { // Σᵢ ∂hᵢ/∂xᵢ, in the order of i
			ji := out.Coef(tp.Block(i, 1))
			for r := range n {
				div[r] += ji.At(r, i)
			}
		}
		return
	}
	for k, v := range probes { // vᵀ(∇h)v per probe, summed in probe order
		jv := out.Coef(tp.Block(k, 1))
		for r := range n {
			s := 0.0
			vr, jr := v.Row(r), jv.Row(r)
			for j := range vr {
				s += float64(vr[j] * jr[j])
			}
			div[r] += s
		}
	}
	for r := range div {
		div[r] /= float64(len(probes))
	}
}
