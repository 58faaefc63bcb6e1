package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// sliced is sliced score matching of an energy net, with s = −∇ₓE. Along a
// projection v, with D1 = vᵀ∇E and D2 = vᵀ∇²E v:
//
//	ssm:    ½(vᵀs)² + vᵀ(∇s)v = ½D1² − D2
//	ssm-vr: ½‖s‖²  + vᵀ(∇s)v = ½‖∇E‖² − D2
//
// Gradients come from ad.SecondOrder: exact, one Taylor-mode pass and one
// reverse sweep (plus a plain pass for ssm-vr's ‖∇E‖² term). Each sample is
// replicated M times with independent projections.
type sliced struct {
	objective
	f  ad.Func
	vr bool // the variance-reduced form
}

func newSSM(base objective) (Objective, error)   { return newSliced(base, false) }
func newSSMVR(base objective) (Objective, error) { return newSliced(base, true) }

func newSliced(base objective, vr bool) (Objective, error) {
	base.needs = Needs{Projections: base.opts.M}
	return &sliced{objective: base, f: base.model.(nn.Energy).Energy, vr: vr}, nil
}

type slicedWorker struct {
	work
	o        *sliced
	l1, l2   *ad.Node // per-row loss terms of the last pass
	jet      ad.JetLoss
	gradLoss ad.GradLoss // nil for ssm
}

func (o *sliced) NewWorker() Worker {
	w := &slicedWorker{work: newWork(o.model), o: o}
	w.orders = []int{2}
	w.jet = w.jetLoss
	if o.vr {
		w.gradLoss = w.halfNorm
	}
	return w
}

// jetLoss is the projected part of the loss: −D2 (and ½D1² for ssm),
// averaged over the M copies.
func (w *slicedWorker) jetLoss(t *ad.Tape, d *ad.Derivs) *ad.Node {
	m := float64(w.o.opts.M)
	w.l2 = t.Scale(-1, d.D2[0])
	if w.o.vr {
		return t.Scale(1/m, t.Sum(w.l2))
	}
	w.l1 = t.Scale(0.5, t.Apply(ad.Square, d.D1[0]))
	return t.Scale(1/m, t.Sum(t.Add(w.l1, w.l2)))
}

// halfNorm is ssm-vr's ½‖∇E‖², averaged over the M copies.
func (w *slicedWorker) halfNorm(t *ad.Tape, g *ad.Node) *ad.Node {
	w.l1 = t.HalfSquaredNorm(g)
	return t.Scale(1/float64(w.o.opts.M), t.Sum(w.l1))
}

func (w *slicedWorker) Eval(b *Batch, grad bool) float64 {
	w.replicate(b.X, b.V[:w.o.opts.M])
	w.dirs = append(w.dirs[:0], w.vr)
	loss := w.so.Eval(w.o.f, w.xr, w.dirs, w.orders, w.jet, w.gradLoss)
	w.averageTerms(b.X.Rows, w.o.opts.M, w.l1, w.l2)
	if grad {
		w.setGrads(w.so.Grad)
	}
	return loss
}
