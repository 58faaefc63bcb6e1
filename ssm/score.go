package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// scoreObjective is SSE, SSE-VR, exact SM or DSM for a score net h. Along a
// projection v, with the Jacobian-vector product (∇h)v from one order-1 jet:
//
//	sse:    ½(vᵀh)² + vᵀ(∇h)v
//	sse-vr: ½‖h‖²   + vᵀ(∇h)v
//	sm:     ½‖h‖²   + tr(∇h)       (D Jacobian-vector products)
//	dsm:    ½‖σ²h(x̃) + σε‖², x̃ = x + σε
type scoreObjective struct {
	objective
	score nn.Score
}

func (o *scoreObjective) NewWorker() *Worker {
	w := newWorker(o.model)
	t := w.tape
	m := float64(o.opts.M)
	switch o.name {
	case "sse", "sse-vr":
		vr := o.name == "sse-vr"
		w.eval = func(b *Batch, grad bool) float64 {
			w.replicate(b.X, b.V[:o.opts.M])
			t.Reset(1)
			h := o.score.Score(t, t.Input(w.xr, false, w.vr))
			v := t.Const(w.vr)
			h0 := t.Deriv(h, 0, 0)
			w.l2 = t.SumRows(t.Mul(t.Deriv(h, 0, 1), v))
			if vr {
				w.l1 = t.HalfSquaredNorm(h0)
			} else {
				w.l1 = t.Scale(0.5, t.Apply(ad.Square, t.SumRows(t.Mul(h0, v))))
			}
			root := t.Scale(1/m, t.Sum(t.Add(w.l1, w.l2)))
			return w.finish(b.X.Rows, o.opts.M, root, grad, w.l1, w.l2)
		}
	case "sm":
		w.eval = func(b *Batch, grad bool) float64 {
			return w.groups(b, o.opts.Group, 1, func(first bool) (float64, *ad.Node, *ad.Node) {
				t.Reset(w.orders...)
				h := o.score.Score(t, t.Input(b.X, false, w.dirs...))
				var tr *ad.Node
				for i, e := range w.dirs { // eᵢᵀ(∇h)eᵢ
					d := t.SumRows(t.Mul(t.Deriv(h, i, 1), t.Const(e)))
					if tr == nil {
						tr = d
					} else {
						tr = t.Add(tr, d)
					}
				}
				root := t.Sum(tr)
				if first {
					w.l1 = t.HalfSquaredNorm(t.Deriv(h, 0, 0))
					root = t.Add(root, t.Sum(w.l1))
				}
				if grad {
					t.Backward(root)
					w.sumGrads(t.Grad, first)
				}
				return root.Primal().Data[0], w.l1, tr
			})
		}
	case "dsm":
		sigma := o.opts.Sigma
		w.eval = func(b *Batch, grad bool) float64 {
			xt := w.noisy(b.X, b.Eps, sigma, ad.Mat{})
			t.Reset()
			h := o.score.Score(t, t.Input(xt, false))
			r := t.AddScaled(sigma*sigma, h, sigma, t.Const(b.Eps))
			w.l1 = t.HalfSquaredNorm(r)
			return w.finish(b.X.Rows, 1, t.Sum(w.l1), grad, w.l1)
		}
	}
	return w
}

// finish runs the reverse sweep from root when grad is set, records the
// per-sample terms averaged over m copies, and returns root's value.
func (w *Worker) finish(n, m int, root *ad.Node, grad bool, terms ...*ad.Node) float64 {
	if grad {
		w.tape.Backward(root)
		w.setGrads(w.tape.Grad)
	}
	w.averageTerms(n, m, terms...)
	return root.Primal().Data[0]
}
