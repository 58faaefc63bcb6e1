package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// meanEnergy is the mean energy E(x) over the batch: not a score-matching
// loss, but the plain gradient step that the cost of the others is
// measured against.
type meanEnergy struct {
	objective
	f ad.Func
}

func newMeanEnergy(base objective) (Objective, error) {
	return &meanEnergy{objective: base, f: base.model.(nn.Energy).Energy}, nil
}

type meanEnergyWorker struct {
	work
	o *meanEnergy
}

func (o *meanEnergy) NewWorker() Worker { return &meanEnergyWorker{work: newWork(o.model), o: o} }

func (w *meanEnergyWorker) Eval(b *Batch, grad bool) float64 {
	t := w.tape
	t.Reset()
	e := w.o.f(t, t.Input(b.X, false))
	return w.finish(b.X.Rows, 1, t.Sum(e), grad, e)
}
