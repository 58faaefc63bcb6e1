package ssm

import (
	"scorematch/ad"
	"scorematch/nn"
)

// Denoising score matching (Vincent 2011) at one noise level σ, with
// x̃ = x + σε; the loss is σ⁴ times ½‖s(x̃) + ε/σ‖²:
//
//	energy E, s = −∇ₓE: ½‖σ²s(x̃) + σε‖² = ½‖σε − σ²∇E(x̃)‖²
//	score net h:        ½‖σ²h(x̃) + σε‖²
type (
	denoisingEnergy struct {
		objective
		f ad.Func
	}
	denoisingScore struct {
		objective
		score nn.Score
	}
)

// newDenoising takes the energy form for a model that is an energy.
func newDenoising(base objective) (Objective, error) {
	base.needs = Needs{Eps: true}
	if e, ok := base.model.(nn.Energy); ok {
		return &denoisingEnergy{objective: base, f: e.Energy}, nil
	}
	return &denoisingScore{objective: base, score: base.model.(nn.Score)}, nil
}

type denoisingEnergyWorker struct {
	work
	o        *denoisingEnergy
	l1       *ad.Node
	eps      ad.Mat // the noise of the batch being evaluated
	gradLoss ad.GradLoss
}

func (o *denoisingEnergy) NewWorker() Worker {
	w := &denoisingEnergyWorker{work: newWork(o.model), o: o}
	w.gradLoss = w.loss
	return w
}

// loss is ½‖σε − σ²∇E(x̃)‖² from the gradient g = ∇E(x̃).
func (w *denoisingEnergyWorker) loss(t *ad.Tape, g *ad.Node) *ad.Node {
	sigma := w.o.opts.Sigma
	r := t.AddScaled(sigma, t.Const(w.eps), -sigma*sigma, g)
	w.l1 = t.HalfSquaredNorm(r)
	return t.Sum(w.l1)
}

func (w *denoisingEnergyWorker) Eval(b *Batch, grad bool) float64 {
	w.eps = b.Eps
	xt := w.noisy(b.X, b.Eps, w.o.opts.Sigma, ad.Mat{})
	loss := w.so.Eval(w.o.f, xt, nil, nil, nil, w.gradLoss)
	w.averageTerms(b.X.Rows, 1, w.l1)
	if grad {
		w.setGrads(w.so.Grad)
	}
	w.eps = ad.Mat{}
	return loss
}

type denoisingScoreWorker struct {
	work
	o *denoisingScore
}

func (o *denoisingScore) NewWorker() Worker {
	return &denoisingScoreWorker{work: newWork(o.model), o: o}
}

func (w *denoisingScoreWorker) Eval(b *Batch, grad bool) float64 {
	t, sigma := w.tape, w.o.opts.Sigma
	xt := w.noisy(b.X, b.Eps, sigma, ad.Mat{})
	t.Reset()
	h := w.o.score.Score(t, t.Input(xt, false))
	r := t.AddScaled(sigma*sigma, h, sigma, t.Const(b.Eps))
	l1 := t.HalfSquaredNorm(r)
	return w.finish(b.X.Rows, 1, t.Sum(l1), grad, l1)
}
