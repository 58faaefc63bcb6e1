package ssm

import (
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
)

// A Batch is what an objective evaluates: rows of data and the randomness
// drawn for them. Which random parts an objective reads is given by its
// Needs; the trainer draws them with Objective.Fill.
type Batch struct {
	// X is the B×D data.
	X ad.Mat
	// V holds M projection matrices, each B×D: row b of V[m] is the m-th
	// projection of sample b.
	V []ad.Mat
	// Eps is B×D standard normal noise (DSM and annealed objectives).
	Eps ad.Mat
	// Sigma is the B×1 per-sample noise level (annealed objectives).
	Sigma ad.Mat
	// R holds curvature propagation's random vectors: one (M·B)×width
	// matrix per hidden layer, row m·B+b for copy m of sample b.
	R []ad.Mat
}

// Needs says which random parts of a Batch an objective reads.
type Needs struct {
	Projections int   // number of projection matrices M (0: none)
	Eps         bool  // standard normal noise
	Sigma       bool  // per-sample noise levels
	Hidden      []int // widths of curvature propagation's random vectors
	Copies      int   // copies per sample of those vectors (rows of R are Copies·B)
}

// An Objective is a score-matching loss of one model. Its value on a batch is
// the mean over samples of a per-sample loss, usually the sum of two terms
// (see Worker.Terms).
type Objective interface {
	// Name is the objective's name as the tool spells it ("ssm", "ssm-vr", ...).
	Name() string
	// Model is the model whose parameters the gradients refer to.
	Model() nn.Model
	// Needs says which random parts of a Batch Eval reads.
	Needs() Needs
	// Fill draws the randomness of sample row of b from r.
	Fill(b *Batch, row int, r *rand.Rand)
	// NewWorker returns the per-goroutine state for evaluating the objective.
	NewWorker() Worker
}

// A Worker evaluates one objective on batches with reusable buffers. It is
// not safe for concurrent use: give each goroutine its own.
type Worker interface {
	// Eval evaluates the objective on b and returns the SUM over samples of
	// the per-sample loss. With grad set, Grads holds the gradient of that
	// sum with respect to the model's parameters afterwards.
	Eval(b *Batch, grad bool) float64
	// Terms returns the per-sample terms of the last Eval: B×2 [loss1,
	// loss2] (loss1 the squared-score term, loss2 the derivative term, as
	// in the reference implementation) or B×1 for DSM-type objectives.
	Terms() ad.Mat
	// Grads returns the gradients of the last Eval, one per model parameter
	// in Model().Params() order. They may share storage with the worker's
	// tapes: they are valid until the next Eval, and the caller must not
	// modify them.
	Grads() []ad.Mat
}

// Options configure an objective.
type Options struct {
	// Projection is the distribution of the slicing vectors (default Rademacher).
	Projection Projection
	// M is the number of projections per sample (default 1).
	M int
	// Sigma is the noise level of DSM.
	Sigma float64
	// Sigmas is the noise schedule of annealed objectives, σ₁ > … > σ_L.
	Sigmas []float64
	// Group is the number of basis directions per pass of exact score
	// matching (default 16); it bounds memory, not the result.
	Group int
}

// objective holds what every objective has; the concrete types embed it.
type objective struct {
	name  string
	model nn.Model
	opts  Options
	needs Needs
}

func (o *objective) Name() string    { return o.name }
func (o *objective) Model() nn.Model { return o.model }
func (o *objective) Needs() Needs    { return o.needs }

// Fill draws, in this order: a noise level index, the noise ε, then the M
// projections, each from r.
func (o *objective) Fill(b *Batch, row int, r *rand.Rand) {
	n := o.needs
	if n.Sigma {
		b.Sigma.Data[row] = o.opts.Sigmas[r.IntN(len(o.opts.Sigmas))]
	}
	if n.Eps {
		for i := range b.Eps.Row(row) {
			b.Eps.Row(row)[i] = repro.Normal(r)
		}
	}
	for m := 0; m < n.Projections; m++ {
		o.opts.Projection.Draw(b.V[m].Row(row), r)
	}
	for m := 0; m < o.opts.M && len(n.Hidden) > 0; m++ {
		for l := range n.Hidden {
			o.opts.Projection.Draw(b.R[l].Row(m*b.X.Rows+row), r)
		}
	}
}

// Draw sizes b's random parts for b.X and obj's Needs, then draws the
// randomness of every row: row i from the stream of (seed, p, step,
// first+i) (repro.Batch for training, repro.Validation for validation).
// The storage of earlier draws is reused.
func (b *Batch) Draw(obj Objective, s *repro.Stream, seed uint64, p repro.Purpose, step uint64, first int) {
	needs := obj.Needs()
	n, d := b.X.Rows, b.X.Cols
	if needs.Eps {
		b.Eps.Resize(n, d)
	}
	if needs.Sigma {
		b.Sigma.Resize(n, 1)
	}
	for len(b.V) < needs.Projections {
		b.V = append(b.V, ad.Mat{})
	}
	for m := range needs.Projections {
		b.V[m].Resize(n, d)
	}
	for len(b.R) < len(needs.Hidden) {
		b.R = append(b.R, ad.Mat{})
	}
	for l, w := range needs.Hidden {
		b.R[l].Resize(needs.Copies*n, w)
	}
	for i := range n {
		obj.Fill(b, i, s.Seed(seed, p, step, uint64(first+i)))
	}
}
