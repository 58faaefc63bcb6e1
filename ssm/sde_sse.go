package ssm

// sde-sse-vr is sliced score estimation, variance-reduced, of a
// time-conditional score net at the perturbed data x_t of a random time
// (see sdeObjective): λ(t)·(½‖h(x_t,t)‖² + vᵀ∇ₓh(x_t,t)v), the Jacobian-
// vector product from one order-1 jet, with M projections per sample.

func newSDESSEVR(base objective) (Objective, error) { return newSDEObjective(base, true, false), nil }

func (w *sdeWorker) evalSliced(b *Batch, grad bool) float64 {
	t, m, n := w.tape, w.o.opts.M, b.X.Rows
	w.perturb(b)
	w.replicate(w.xt, b.V[:m])
	w.tr.Resize(m*n, 1)
	w.lr.Resize(m*n, 1)
	for r := range w.tr.Data {
		w.tr.Data[r], w.lr.Data[r] = b.Sigma.Data[r%n], w.lambda.Data[r%n]
	}
	t.Reset(1)
	h := w.o.score.TimeScore(t, t.Input(w.xr, false, w.vr), w.tr)
	lambda := t.Const(w.lr)
	l1 := t.ScaleRows(t.HalfSquaredNorm(t.Deriv(h, 0, 0)), lambda)
	l2 := t.ScaleRows(t.SumRows(t.Mul(t.Deriv(h, 0, 1), t.Const(w.vr))), lambda)
	root := t.Scale(1/float64(m), t.Sum(t.Add(l1, l2)))
	return w.finish(n, m, root, grad, l1, l2)
}
