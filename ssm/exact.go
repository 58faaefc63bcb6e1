package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// Exact score matching (Hyvärinen 2005) with the trace over all D unit
// directions eᵢ, in groups of Options.Group directions per pass (bounding
// memory, not changing the result):
//
//	energy E, s = −∇ₓE: ½‖∇E‖² − Σᵢ eᵢᵀ∇²E eᵢ  (order-2 jets, ad.SecondOrder)
//	score net h:        ½‖h‖²  + Σᵢ eᵢᵀ(∇h)eᵢ  (order-1 jets)
//
// The cost grows linearly with D.
type (
	exactEnergy struct {
		objective
		f ad.Func
	}
	exactScore struct {
		objective
		score nn.Score
	}
)

// newExact takes the energy form for a model that is an energy.
func newExact(base objective) (Objective, error) {
	if e, ok := base.model.(nn.Energy); ok {
		return &exactEnergy{objective: base, f: e.Energy}, nil
	}
	return &exactScore{objective: base, score: base.model.(nn.Score)}, nil
}

type exactEnergyWorker struct {
	work
	o        *exactEnergy
	l1, l2   *ad.Node // the first group's ½‖∇E‖², a group's −Σ D2
	jet      ad.JetLoss
	halfNorm ad.GradLoss
}

func (o *exactEnergy) NewWorker() Worker {
	w := &exactEnergyWorker{work: newWork(o.model), o: o}
	w.jet, w.halfNorm = w.jetLoss, w.halfNormLoss
	return w
}

// jetLoss is minus the group's part of the trace, Σ over its directions of D2.
func (w *exactEnergyWorker) jetLoss(t *ad.Tape, d *ad.Derivs) *ad.Node {
	tr := d.D2[0]
	for _, d2 := range d.D2[1:] {
		tr = t.Add(tr, d2)
	}
	w.l2 = t.Scale(-1, tr)
	return t.Sum(w.l2)
}

func (w *exactEnergyWorker) halfNormLoss(t *ad.Tape, g *ad.Node) *ad.Node {
	w.l1 = t.HalfSquaredNorm(g)
	return t.Scale(1, t.Sum(w.l1))
}

func (w *exactEnergyWorker) Eval(b *Batch, grad bool) float64 {
	return w.groups(b, w.o.opts.Group, 2, func(first bool) (float64, *ad.Node, *ad.Node) {
		var gradLoss ad.GradLoss
		if first { // ½‖∇E‖² once, with the first group
			gradLoss = w.halfNorm
		}
		loss := w.so.Eval(w.o.f, b.X, w.dirs, w.orders, w.jet, gradLoss)
		if grad {
			w.sumGrads(w.so.Grad, first)
		}
		return loss, w.l1, w.l2
	})
}

type exactScoreWorker struct {
	work
	o  *exactScore
	l1 *ad.Node // ½‖h‖² of the first group
}

func (o *exactScore) NewWorker() Worker {
	return &exactScoreWorker{work: newWork(o.model), o: o}
}

func (w *exactScoreWorker) Eval(b *Batch, grad bool) float64 {
	t := w.tape
	return w.groups(b, w.o.opts.Group, 1, func(first bool) (float64, *ad.Node, *ad.Node) {
		t.Reset(w.orders...)
		h := w.o.score.Score(t, t.Input(b.X, false, w.dirs...))
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
