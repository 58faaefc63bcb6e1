package ssm

import "scorematch/nn"

// condObjective is an annealed (NCSN) objective for a noise-conditional
// score net h(x, σ): each sample gets a level σ drawn uniformly from the
// schedule, x̃ = x + σε, and its loss is weighted by σ² (as in Song & Ermon
// 2019):
//
//	ncsn:        σ²·½‖h(x̃,σ) + ε/σ‖² = ½‖σh(x̃,σ) + ε‖²
//	ncsn-sse-vr: σ²·(½‖h(x̃,σ)‖² + vᵀ∇h(x̃,σ)v)
type condObjective struct {
	objective
	score nn.CondScore
}

func (o *condObjective) NewWorker() *Worker {
	w := newWorker(o.model)
	t := w.tape
	m := float64(o.opts.M)
	switch o.name {
	case "ncsn":
		w.eval = func(b *Batch, grad bool) float64 {
			xt := w.noisy(b.X, b.Eps, 0, b.Sigma)
			t.Reset()
			h := o.score.CondScore(t, t.Input(xt, false), b.Sigma)
			r := t.Add(t.ScaleRows(h, t.Const(b.Sigma)), t.Const(b.Eps))
			w.l1 = t.HalfSquaredNorm(r)
			return w.finish(b.X.Rows, 1, t.Sum(w.l1), grad, w.l1)
		}
	case "ncsn-sse-vr":
		w.eval = func(b *Batch, grad bool) float64 {
			n := b.X.Rows
			xt := w.noisy(b.X, b.Eps, 0, b.Sigma)
			w.replicate(xt, b.V[:o.opts.M])
			resize(&w.sr, o.opts.M*n, 1)
			resize(&w.aux, o.opts.M*n, 1)
			for r := range w.sr.Data {
				s := b.Sigma.Data[r%n]
				w.sr.Data[r], w.aux.Data[r] = s, s*s
			}
			t.Reset(1)
			h := o.score.CondScore(t, t.Input(w.xr, false, w.vr), w.sr)
			s2 := t.Const(w.aux)
			w.l1 = t.ScaleRows(t.HalfSquaredNorm(t.Deriv(h, 0, 0)), s2)
			w.l2 = t.ScaleRows(t.SumRows(t.Mul(t.Deriv(h, 0, 1), t.Const(w.vr))), s2)
			root := t.Scale(1/m, t.Sum(t.Add(w.l1, w.l2)))
			return w.finish(n, o.opts.M, root, grad, w.l1, w.l2)
		}
	}
	return w
}
