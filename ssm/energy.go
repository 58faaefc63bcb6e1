package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// energyObjective is SSM, SSM-VR, exact SM or DSM for an energy net, with
// s = −∇ₓE. Along a projection v, with D1 = vᵀ∇E and D2 = vᵀ∇²E v:
//
//	ssm:    ½(vᵀs)² + vᵀ(∇s)v = ½D1² − D2
//	ssm-vr: ½‖s‖²  + vᵀ(∇s)v = ½‖∇E‖² − D2
//	sm:     ½‖s‖²  + tr(∇s)  = ½‖∇E‖² − Σᵢ eᵢᵀ∇²E eᵢ
//	dsm:    ½‖σ²s(x̃) + σε‖² = ½‖σε − σ²∇E(x̃)‖², x̃ = x + σε
//	grad:   E(x), the mean energy: not a score-matching loss, but the
//	        plain gradient step that the cost of the others is measured against
//
// Gradients come from ad.SecondOrder: exact, one Taylor-mode pass and one
// reverse sweep (plus a plain pass when the loss has a ‖∇E‖² term).
type energyObjective struct {
	objective
	energy nn.Energy
	f      ad.Func
}

func (o *energyObjective) NewWorker() *Worker {
	w := newWorker(o.model)
	m := float64(o.opts.M)
	var batch *Batch
	halfNorm := func(t *ad.Tape, g *ad.Node) *ad.Node {
		w.l1 = t.HalfSquaredNorm(g)
		return t.Scale(1/m, t.Sum(w.l1))
	}
	switch o.name {
	case "ssm", "ssm-vr":
		vr := o.name == "ssm-vr"
		jet := func(t *ad.Tape, d *ad.Derivs) *ad.Node {
			w.l2 = t.Scale(-1, d.D2[0])
			if vr {
				return t.Scale(1/m, t.Sum(w.l2))
			}
			w.l1 = t.Scale(0.5, t.Apply(ad.Square, d.D1[0]))
			return t.Scale(1/m, t.Sum(t.Add(w.l1, w.l2)))
		}
		var gradLoss ad.GradLoss
		if vr {
			gradLoss = halfNorm
		}
		orders := []int{2}
		w.eval = func(b *Batch, grad bool) float64 {
			w.replicate(b.X, b.V[:o.opts.M])
			w.dirs = append(w.dirs[:0], w.vr)
			loss := w.so.Eval(o.f, w.xr, w.dirs, orders, jet, gradLoss)
			w.averageTerms(b.X.Rows, o.opts.M, w.l1, w.l2)
			if grad {
				w.setGrads(w.so.Grad)
			}
			return loss
		}
	case "sm":
		m = 1
		jet := func(t *ad.Tape, d *ad.Derivs) *ad.Node {
			tr := d.D2[0]
			for _, d2 := range d.D2[1:] {
				tr = t.Add(tr, d2)
			}
			w.l2 = t.Scale(-1, tr)
			return t.Sum(w.l2)
		}
		w.eval = func(b *Batch, grad bool) float64 {
			return w.groups(b, o.opts.Group, 2, func(first bool) (float64, *ad.Node, *ad.Node) {
				var gradLoss ad.GradLoss
				if first {
					gradLoss = halfNorm
				}
				loss := w.so.Eval(o.f, b.X, w.dirs, w.orders, jet, gradLoss)
				if grad {
					w.sumGrads(w.so.Grad, first)
				}
				return loss, w.l1, w.l2
			})
		}
	case "grad":
		t := w.tape
		w.eval = func(b *Batch, grad bool) float64 {
			t.Reset()
			w.l1 = o.f(t, t.Input(b.X, false))
			return w.finish(b.X.Rows, 1, t.Sum(w.l1), grad, w.l1)
		}
	case "dsm":
		sigma := o.opts.Sigma
		gradLoss := func(t *ad.Tape, g *ad.Node) *ad.Node {
			r := t.AddScaled(sigma, t.Const(batch.Eps), -sigma*sigma, g)
			w.l1 = t.HalfSquaredNorm(r)
			return t.Sum(w.l1)
		}
		w.eval = func(b *Batch, grad bool) float64 {
			batch = b
			xt := w.noisy(b.X, b.Eps, sigma, ad.Mat{})
			loss := w.so.Eval(o.f, xt, nil, nil, nil, gradLoss)
			w.averageTerms(b.X.Rows, 1, w.l1)
			if grad {
				w.setGrads(w.so.Grad)
			}
			batch = nil
			return loss
		}
	}
	return w
}
