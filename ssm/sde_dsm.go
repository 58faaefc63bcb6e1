package ssm

import (
	"fmt"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// Continuous-time objectives of a time-conditional score net h(x, t) for a
// score SDE (Song et al., "Score-Based Generative Modeling through
// Stochastic Differential Equations", 2021). Each sample draws a time
// t ~ U(sde.TrainEps, T) and noise z ~ N(0, I) and is perturbed through the
// SDE's Gaussian kernel, x_t = α(t)·x + s(t)·z. The losses are weighted by
// λ(t) = s(t)², so that every time contributes on the same scale:
//
//	sde-dsm:    λ·½‖h(x_t,t) + z/s‖² = ½‖s·h(x_t,t) + z‖²
//	sde-sse-vr: λ·(½‖h(x_t,t)‖² + vᵀ∇ₓh(x_t,t)v)      (SSE-VR at x_t, v a projection)
//
// With the likelihood weighting λ(t) = g(t)² (Song, Durkan, Murray & Ermon
// 2021), whose DSM loss bounds the negative log-likelihood, the losses are
// ½g²‖h + z/s‖² and g²·(½‖h‖² + vᵀ∇h v); LikelihoodWeighting selects it.
//
// Scale convention: ours is ½ times the sum of squares over the D
// coordinates. The reference code (score_sde_pytorch's losses.py) reduces
// each sample's squares by its reduce_op: with reduce_mean=False (its VE
// configurations) that is 0.5·sum, our value exactly; with
// reduce_mean=True (its VP configurations) it is the mean over the
// coordinates without the ½, 2/D times ours. The optimum is the same.
// sde-sse-vr's value differs from sde-dsm's by a data constant: both
// estimate λ-weighted Fisher divergences of h from ∇log p_t, up to
// constants. Unlike the sliced loss of a public fork of the reference
// (½(vᵀh)² + vᵀ(∇h)v at x_t with no λ(t), whose terms grow like 1/s(t)²
// as t → 0), sde-sse-vr weights every time by λ(t).
//
// The time of each sample travels in Batch.Sigma (the per-sample noise
// level of the annealed objectives: here the time that fixes the level
// s(t)), drawn by Fill from the sample's stream before its noise and
// projections, so training is bit-identical for any GOMAXPROCS.
type sdeObjective struct {
	objective
	score      nn.TimeScore
	sde        sde.SDE
	sliced     bool // sde-sse-vr: sliced score estimation in place of DSM
	likelihood bool // λ(t) = g(t)² in place of s(t)²
}

func newSDEDSM(base objective) (Objective, error) { return newSDEObjective(base, false, false), nil }

// newSDEObjective returns the DSM (sliced false) or SSE-VR objective of a
// time-conditional score net with weighting s² or, with likelihood, g².
func newSDEObjective(base objective, sliced, likelihood bool) *sdeObjective {
	m := base.model.(nn.TimeScore)
	base.needs = Needs{Eps: true, Sigma: true}
	if sliced {
		base.needs.Projections = base.opts.M
	}
	return &sdeObjective{objective: base, score: m, sde: m.SDE(), sliced: sliced, likelihood: likelihood}
}

// Fill draws, in this order: the time t ~ U(sde.TrainEps, T) (into
// b.Sigma), the noise z, then the M projections, each from r.
func (o *sdeObjective) Fill(b *Batch, row int, r *rand.Rand) {
	lo := sde.TrainEps
	b.Sigma.Data[row] = float64((o.sde.T()-lo)*r.Float64()) + lo
	e := b.Eps.Row(row)
	for i := range e {
		e[i] = repro.Normal(r)
	}
	for m := 0; m < o.needs.Projections; m++ {
		o.opts.Projection.Draw(b.V[m].Row(row), r)
	}
}

// LikelihoodWeighting returns a copy of obj, an objective of a score SDE
// (sde-dsm or sde-sse-vr, as New returns them), that weights each time by
// the likelihood weighting λ(t) = g(t)² in place of s(t)². A checkpoint
// records the weighting ("Weighting": "sigma2" or "likelihood"), so a run
// resumes only with the same one. It returns an error for other
// objectives.
func LikelihoodWeighting(obj Objective) (Objective, error) {
	o, ok := obj.(*sdeObjective)
	if !ok {
		return nil, fmt.Errorf("ssm: %s has no likelihood weighting (only the objectives of score SDEs have)", obj.Name())
	}
	c := *o
	c.likelihood = true
	return &c, nil
}

// recordedOptions adds the weighting to the options a checkpoint records.
func (o *sdeObjective) recordedOptions() []runSetting {
	w := "sigma2"
	if o.likelihood {
		w = "likelihood"
	}
	return append(o.objective.recordedOptions(), runSetting{name: "Weighting", value: w, option: true})
}

type sdeWorker struct {
	work
	o               *sdeObjective
	xt, std, lambda ad.Mat // perturbed rows, s(t) and λ(t) per row
	tr, lr          ad.Mat // times and λ(t) repeated for the M projections
}

func (o *sdeObjective) NewWorker() Worker { return &sdeWorker{work: newWork(o.model), o: o} }

// perturb sets w.xt = α(t)·x + s(t)·z row by row, w.std to s(t) and
// w.lambda to the weight λ(t) of each row.
func (w *sdeWorker) perturb(b *Batch) {
	n, d := b.X.Rows, b.X.Cols
	w.xt.Resize(n, d)
	w.std.Resize(n, 1)
	w.lambda.Resize(n, 1)
	for r := range n {
		t := b.Sigma.Data[r]
		alpha, s := w.o.sde.Marginal(t)
		w.std.Data[r] = s
		if w.o.likelihood {
			g := w.o.sde.Diffusion(t)
			w.lambda.Data[r] = g * g
		} else {
			w.lambda.Data[r] = s * s
		}
		x, z, xt := b.X.Row(r), b.Eps.Row(r), w.xt.Row(r)
		for j := range d {
			xt[j] = float64(alpha*x[j]) + float64(s*z[j])
		}
	}
}

func (w *sdeWorker) Eval(b *Batch, grad bool) float64 {
	if w.o.sliced {
		return w.evalSliced(b, grad)
	}
	t := w.tape
	w.perturb(b)
	t.Reset()
	h := w.o.score.TimeScore(t, t.Input(w.xt, false), b.Sigma)
	// ½‖s·h + z‖², times g²/s² for the likelihood weighting.
	l1 := t.HalfSquaredNorm(t.Add(t.ScaleRows(h, t.Const(w.std)), t.Const(b.Eps)))
	if w.o.likelihood {
		for r, s := range w.std.Data {
			w.lambda.Data[r] /= s * s
		}
		l1 = t.ScaleRows(l1, t.Const(w.lambda))
	}
	return w.finish(b.X.Rows, 1, t.Sum(l1), grad, l1)
}
