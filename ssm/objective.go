package ssm

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"scorematch/ad"
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
	NewWorker() *Worker
}

// A Worker evaluates one objective on batches with reusable buffers. It is
// not safe for concurrent use: give each goroutine its own.
type Worker struct {
	params []*ad.Param
	grads  []ad.Mat // gradient of the summed loss, per parameter: own or a tape's
	own    []ad.Mat // the worker's gradient storage
	terms  ad.Mat   // per-sample terms
	eval   func(b *Batch, grad bool) float64

	so         *ad.SecondOrder
	tape       *ad.Tape
	l1, l2     *ad.Node // per-row loss terms of the last pass
	xr, xt, vr ad.Mat   // replicated data, noisy data, stacked projections
	sr, aux    ad.Mat   // replicated noise levels, scratch
	dirs       []ad.Mat // projection or basis directions of one pass
	orders     []int
}

func newWorker(m nn.Model) *Worker {
	w := &Worker{params: m.Params(), so: ad.NewSecondOrder(), tape: ad.NewTape()}
	for _, p := range w.params {
		w.own = append(w.own, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
	w.grads = append([]ad.Mat(nil), w.own...)
	return w
}

// Eval evaluates the objective on b and returns the SUM over samples of the
// per-sample loss. With grad set, Grads holds the gradient of that sum with
// respect to the model's parameters afterwards.
func (w *Worker) Eval(b *Batch, grad bool) float64 { return w.eval(b, grad) }

// Terms returns the per-sample terms of the last Eval: B×2 [loss1, loss2]
// (loss1 the squared-score term, loss2 the derivative term, as in the
// reference implementation) or B×1 for DSM-type objectives.
func (w *Worker) Terms() ad.Mat { return w.terms }

// Grads returns the gradients of the last Eval, one per model parameter in
// Model().Params() order. They may share storage with the worker's tapes:
// they are valid until the next Eval, and the caller must not modify them.
func (w *Worker) Grads() []ad.Mat { return w.grads }

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

// Names lists the objectives New accepts.
var Names = []string{"ssm", "ssm-vr", "sm", "dsm", "sse", "sse-vr", "ncsn", "ncsn-sse-vr", "approx-bp", "cp", "grad"}

// New returns the objective called name for model m: "ssm", "ssm-vr",
// "approx-bp", "cp" and "grad" (the mean energy, a plain gradient step for
// comparing costs) need an nn.Energy; "sse", "sse-vr" an nn.Score;
// "sm" and "dsm" either; "ncsn" (annealed DSM) and "ncsn-sse-vr" an
// nn.CondScore.
func New(name string, m nn.Model, o Options) (Objective, error) {
	if o.M == 0 {
		o.M = 1
	}
	if o.Group == 0 {
		o.Group = 16
	}
	if o.M < 0 || o.Group < 0 {
		return nil, fmt.Errorf("ssm: %s: M = %d and Group = %d must be positive", name, o.M, o.Group)
	}
	needSigma := name == "dsm"
	if needSigma && !(o.Sigma > 0) {
		return nil, fmt.Errorf("ssm: %s needs a noise level σ > 0, have %g", name, o.Sigma)
	}
	if name == "ncsn" || name == "ncsn-sse-vr" {
		if len(o.Sigmas) == 0 {
			return nil, fmt.Errorf("ssm: %s needs a noise schedule", name)
		}
		for i, s := range o.Sigmas {
			if !(s > 0) || i > 0 && s >= o.Sigmas[i-1] {
				return nil, fmt.Errorf("ssm: %s: the schedule must be positive and decreasing, have %v", name, o.Sigmas)
			}
		}
	}
	base := objective{name: name, model: m, opts: o}
	energy, isEnergy := m.(nn.Energy)
	score, isScore := m.(nn.Score)
	switch name {
	case "ssm", "ssm-vr", "approx-bp", "cp", "grad":
		if !isEnergy {
			return nil, fmt.Errorf("ssm: %s needs an energy model, not a %T", name, m)
		}
		if name == "approx-bp" || name == "cp" {
			return newBaseline(base, energy)
		}
		return &energyObjective{objective: base, energy: energy, f: energy.Energy}, nil
	case "sm", "dsm":
		switch {
		case isEnergy:
			return &energyObjective{objective: base, energy: energy, f: energy.Energy}, nil
		case isScore:
			return &scoreObjective{objective: base, score: score}, nil
		}
		return nil, fmt.Errorf("ssm: %s needs an energy or score model, not a %T", name, m)
	case "sse", "sse-vr":
		if !isScore {
			return nil, fmt.Errorf("ssm: %s needs a score model, not a %T", name, m)
		}
		return &scoreObjective{objective: base, score: score}, nil
	case "ncsn", "ncsn-sse-vr":
		c, ok := m.(nn.CondScore)
		if !ok {
			return nil, fmt.Errorf("ssm: %s needs a noise-conditional score model, not a %T", name, m)
		}
		return &condObjective{objective: base, score: c}, nil
	}
	return nil, fmt.Errorf("ssm: unknown objective %q (want one of %s)", name, strings.Join(Names, ", "))
}

// objective holds what every objective has.
type objective struct {
	name   string
	model  nn.Model
	opts   Options
	hidden []int // hidden widths (cp)
}

func (o *objective) Name() string    { return o.name }
func (o *objective) Model() nn.Model { return o.model }

func (o *objective) Needs() Needs {
	switch o.name {
	case "ssm", "ssm-vr", "sse", "sse-vr":
		return Needs{Projections: o.opts.M}
	case "cp":
		return Needs{Hidden: o.hidden, Copies: o.opts.M}
	case "ncsn-sse-vr":
		return Needs{Projections: o.opts.M, Eps: true, Sigma: true}
	case "dsm":
		return Needs{Eps: true}
	case "ncsn":
		return Needs{Eps: true, Sigma: true}
	}
	return Needs{}
}

// Fill draws, in this order: a noise level index, the noise ε, then the M
// projections, each from r.
func (o *objective) Fill(b *Batch, row int, r *rand.Rand) {
	n := o.Needs()
	if n.Sigma {
		b.Sigma.Data[row] = o.opts.Sigmas[r.IntN(len(o.opts.Sigmas))]
	}
	if n.Eps {
		for i := range b.Eps.Row(row) {
			b.Eps.Row(row)[i] = r.NormFloat64()
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

// replicate sets w.xr to M copies of x stacked, and w.vr to V[0..M) stacked.
func (w *Worker) replicate(x ad.Mat, v []ad.Mat) {
	m := len(v)
	resize(&w.xr, m*x.Rows, x.Cols)
	resize(&w.vr, m*x.Rows, x.Cols)
	for i := range m {
		copy(w.xr.Data[i*len(x.Data):], x.Data)
		if !v[i].SameShape(x) {
			panic(fmt.Sprintf("ssm: projection %d is %d×%d, data %d×%d", i, v[i].Rows, v[i].Cols, x.Rows, x.Cols))
		}
		copy(w.vr.Data[i*len(x.Data):], v[i].Data)
	}
}

// averageTerms sets w.terms (B×k) to the mean over the M stacked copies of
// each per-row node (k = 1 or 2 nodes of M·B rows).
func (w *Worker) averageTerms(b, m int, nodes ...*ad.Node) {
	resize(&w.terms, b, len(nodes))
	clear(w.terms.Data)
	for j, n := range nodes {
		for r, v := range n.Primal().Data {
			w.terms.Data[(r%b)*len(nodes)+j] += v / float64(m)
		}
	}
}

// setGrads makes w.grads the gradients held by grad: views of a tape's
// storage, valid until the tape's next pass.
func (w *Worker) setGrads(grad func(*ad.Param) ad.Mat) {
	for i, p := range w.params {
		if g := grad(p); len(g.Data) > 0 {
			w.grads[i] = g
		} else {
			clear(w.own[i].Data)
			w.grads[i] = w.own[i]
		}
	}
}

// sumGrads sets (first) or adds to w.grads the gradients held by grad, in
// the worker's own storage: for objectives of several passes on one tape.
func (w *Worker) sumGrads(grad func(*ad.Param) ad.Mat, first bool) {
	for i, p := range w.params {
		g, own := grad(p), w.own[i]
		w.grads[i] = own
		if first {
			clear(own.Data)
		}
		for j, v := range g.Data {
			own.Data[j] += v
		}
	}
}

// noisy sets w.xt = x + σ∘ε with σ a scalar (sigma) or per row (rows).
func (w *Worker) noisy(x, eps ad.Mat, sigma float64, rows ad.Mat) ad.Mat {
	resize(&w.xt, x.Rows, x.Cols)
	for r := 0; r < x.Rows; r++ {
		s := sigma
		if len(rows.Data) > 0 {
			s = rows.Data[r]
		}
		xr, er, tr := x.Row(r), eps.Row(r), w.xt.Row(r)
		for j := range xr {
			tr[j] = xr[j] + s*er[j]
		}
	}
	return w.xt
}

// basis sets w.dirs to the unit directions e_lo, …, e_hi−1 as B×D matrices
// (reusing w.aux as storage) with the given order.
func (w *Worker) basis(b, d, lo, hi, order int) {
	resize(&w.aux, (hi-lo)*b, d)
	clear(w.aux.Data)
	w.dirs, w.orders = w.dirs[:0], w.orders[:0]
	for i := lo; i < hi; i++ {
		e := w.aux.RowRange((i-lo)*b, (i-lo+1)*b)
		for r := range b {
			e.Set(r, i, 1)
		}
		w.dirs = append(w.dirs, e)
		w.orders = append(w.orders, order)
	}
}

// groups evaluates exact score matching in groups of at most size basis
// directions of the given order: for each group it sets w.dirs and w.orders
// and calls pass, which returns the group's loss and its per-row nodes of
// loss1 (read from the first group only) and of its part of loss2 (summed
// over groups). It returns the total loss and fills w.terms.
func (w *Worker) groups(b *Batch, size, order int, pass func(first bool) (loss float64, l1, l2 *ad.Node)) float64 {
	n, dim := b.X.Rows, b.X.Cols
	resize(&w.terms, n, 2)
	clear(w.terms.Data)
	total := 0.0
	for lo := 0; lo < dim; lo += size {
		w.basis(n, dim, lo, min(dim, lo+size), order)
		loss, l1, l2 := pass(lo == 0)
		total += loss
		for r := range n {
			if lo == 0 {
				w.terms.Data[2*r] = l1.Primal().Data[r]
			}
			w.terms.Data[2*r+1] += l2.Primal().Data[r]
		}
	}
	return total
}

// resize makes m an r×c matrix, reusing its storage when large enough.
func resize(m *ad.Mat, r, c int) {
	if cap(m.Data) < r*c {
		m.Data = make([]float64, r*c)
	}
	m.Data = m.Data[:r*c]
	m.Rows, m.Cols = r, c
}

// Draw sizes b's random parts for b.X and obj's Needs, then draws the
// randomness of every row: row i from the stream of (seed, step, first+i).
// The storage of earlier draws is reused.
func (b *Batch) Draw(obj Objective, s *Stream, seed, step uint64, first int) {
	needs := obj.Needs()
	n, d := b.X.Rows, b.X.Cols
	if needs.Eps {
		resize(&b.Eps, n, d)
	}
	if needs.Sigma {
		resize(&b.Sigma, n, 1)
	}
	for len(b.V) < needs.Projections {
		b.V = append(b.V, ad.Mat{})
	}
	for m := range needs.Projections {
		resize(&b.V[m], n, d)
	}
	for len(b.R) < len(needs.Hidden) {
		b.R = append(b.R, ad.Mat{})
	}
	for l, w := range needs.Hidden {
		resize(&b.R[l], needs.Copies*n, w)
	}
	for i := range n {
		obj.Fill(b, i, s.Seed(seed, step, first+i))
	}
}
