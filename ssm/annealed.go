package ssm

import "scorematch/nn"

// annealed is an annealed (NCSN) objective for a noise-conditional score net
// h(x, σ): each sample gets a level σ drawn uniformly from the schedule,
// x̃ = x + σε, and its loss is weighted by σ² (as in Song & Ermon 2019):
//
//	ncsn:        σ²·½‖h(x̃,σ) + ε/σ‖² = ½‖σh(x̃,σ) + ε‖²
//	ncsn-sse-vr: σ²·(½‖h(x̃,σ)‖² + vᵀ∇h(x̃,σ)v)
type annealed struct {
	objective
	score  nn.CondScore
	sliced bool // ncsn-sse-vr: sliced score estimation in place of DSM
}

func newNCSN(base objective) (Objective, error) {
	base.needs = Needs{Eps: true, Sigma: true}
	return &annealed{objective: base, score: base.model.(nn.CondScore)}, nil
}

func newNCSNSSEVR(base objective) (Objective, error) {
	base.needs = Needs{Projections: base.opts.M, Eps: true, Sigma: true}
	return &annealed{objective: base, score: base.model.(nn.CondScore), sliced: true}, nil
}

type annealedWorker struct {
	work
	o *annealed
}

func (o *annealed) NewWorker() Worker { return &annealedWorker{work: newWork(o.model), o: o} }

func (w *annealedWorker) Eval(b *Batch, grad bool) float64 {
	if w.o.sliced {
		return w.evalSliced(b, grad)
	}
	t := w.tape
	xt := w.noisy(b.X, b.Eps, 0, b.Sigma)
	t.Reset()
	h := w.o.score.CondScore(t, t.Input(xt, false), b.Sigma)
	r := t.Add(t.ScaleRows(h, t.Const(b.Sigma)), t.Const(b.Eps))
	l1 := t.HalfSquaredNorm(r)
	return w.finish(b.X.Rows, 1, t.Sum(l1), grad, l1)
}

func (w *annealedWorker) evalSliced(b *Batch, grad bool) float64 {
	t, m, n := w.tape, w.o.opts.M, b.X.Rows
	xt := w.noisy(b.X, b.Eps, 0, b.Sigma)
	w.replicate(xt, b.V[:m])
	w.sr.Resize(m*n, 1)
	w.aux.Resize(m*n, 1)
	for r := range w.sr.Data {
		s := b.Sigma.Data[r%n]
		w.sr.Data[r], w.aux.Data[r] = s, s*s
	}
	t.Reset(1)
	h := w.o.score.CondScore(t, t.Input(w.xr, false, w.vr), w.sr)
	s2 := t.Const(w.aux)
	l1 := t.ScaleRows(t.HalfSquaredNorm(t.Deriv(h, 0, 0)), s2)
	l2 := t.ScaleRows(t.SumRows(t.Mul(t.Deriv(h, 0, 1), t.Const(w.vr))), s2)
	root := t.Scale(1/float64(m), t.Sum(t.Add(l1, l2)))
	return w.finish(n, m, root, grad, l1, l2)
}
