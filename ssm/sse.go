package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// sse is sliced score estimation: sliced score matching of a score net h,
// with the Jacobian-vector product (∇h)v from one order-1 jet. Along a
// projection v:
//
//	sse:    ½(vᵀh)² + vᵀ(∇h)v
//	sse-vr: ½‖h‖²   + vᵀ(∇h)v
type sse struct {
	objective
	score nn.Score
	vr    bool // the variance-reduced form
}

func newSSE(base objective) (Objective, error)   { return newSliceEstimation(base, false) }
func newSSEVR(base objective) (Objective, error) { return newSliceEstimation(base, true) }

func newSliceEstimation(base objective, vr bool) (Objective, error) {
	base.needs = Needs{Projections: base.opts.M}
	return &sse{objective: base, score: base.model.(nn.Score), vr: vr}, nil
}

type sseWorker struct {
	work
	o *sse
}

func (o *sse) NewWorker() Worker { return &sseWorker{work: newWork(o.model), o: o} }

func (w *sseWorker) Eval(b *Batch, grad bool) float64 {
	t, m := w.tape, w.o.opts.M
	w.replicate(b.X, b.V[:m])
	t.Reset(1)
	h := w.o.score.Score(t, t.Input(w.xr, false, w.vr))
	v := t.Const(w.vr)
	h0 := t.Deriv(h, 0, 0)
	l2 := t.SumRows(t.Mul(t.Deriv(h, 0, 1), v))
	var l1 *ad.Node
	if w.o.vr {
		l1 = t.HalfSquaredNorm(h0)
	} else {
		l1 = t.Scale(0.5, t.Apply(ad.Square, t.SumRows(t.Mul(h0, v))))
	}
	root := t.Scale(1/float64(m), t.Sum(t.Add(l1, l2)))
	return w.finish(b.X.Rows, m, root, grad, l1, l2)
}
