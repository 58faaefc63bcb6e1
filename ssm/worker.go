package ssm

import (
	"fmt"

	"scorematch/ad"
	"scorematch/nn"
)

// work is the state every objective's worker shares: the gradient storage,
// the per-sample terms, the tapes, and scratch matrices. Workers embed it
// and add their own state; its methods are the steps objectives share.
type work struct {
	params []*ad.Param
	grads  []ad.Mat // gradient of the summed loss, per parameter: own or a tape's
	own    []ad.Mat // the worker's gradient storage
	terms  ad.Mat   // per-sample terms

	so         *ad.SecondOrder
	tape       *ad.Tape
	xr, xt, vr ad.Mat   // replicated data, noisy data, stacked projections
	sr, aux    ad.Mat   // replicated noise levels, scratch
	dirs       []ad.Mat // projection or basis directions of one pass
	orders     []int
}

func newWork(m nn.Model) work {
	w := work{params: m.Params(), so: ad.NewSecondOrder(), tape: ad.NewTape()}
	for _, p := range w.params {
		w.own = append(w.own, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
	w.grads = append([]ad.Mat(nil), w.own...)
	return w
}

// Terms returns the per-sample terms of the last Eval (see Worker).
func (w *work) Terms() ad.Mat { return w.terms }

// Grads returns the gradients of the last Eval (see Worker).
func (w *work) Grads() []ad.Mat { return w.grads }

// replicate sets w.xr to M copies of x stacked, and w.vr to V[0..M) stacked.
func (w *work) replicate(x ad.Mat, v []ad.Mat) {
	m := len(v)
	w.xr.Resize(m*x.Rows, x.Cols)
	w.vr.Resize(m*x.Rows, x.Cols)
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
func (w *work) averageTerms(b, m int, nodes ...*ad.Node) {
	w.terms.Resize(b, len(nodes))
	clear(w.terms.Data)
	for j, n := range nodes {
		for r, v := range n.Primal().Data {
			w.terms.Data[(r%b)*len(nodes)+j] += v / float64(m)
		}
	}
}

// setGrads makes w.grads the gradients held by grad: views of a tape's
// storage, valid until the tape's next pass.
func (w *work) setGrads(grad func(*ad.Param) ad.Mat) {
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
func (w *work) sumGrads(grad func(*ad.Param) ad.Mat, first bool) {
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
func (w *work) noisy(x, eps ad.Mat, sigma float64, rows ad.Mat) ad.Mat {
	w.xt.Resize(x.Rows, x.Cols)
	for r := 0; r < x.Rows; r++ {
		s := sigma
		if len(rows.Data) > 0 {
			s = rows.Data[r]
		}
		xr, er, tr := x.Row(r), eps.Row(r), w.xt.Row(r)
		for j := range xr {
			tr[j] = xr[j] + float64(s*er[j])
		}
	}
	return w.xt
}

// basis sets w.dirs to the unit directions e_lo, …, e_hi−1 as B×D matrices
// (reusing w.aux as storage) with the given order.
func (w *work) basis(b, d, lo, hi, order int) {
	w.aux.Resize((hi-lo)*b, d)
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
func (w *work) groups(b *Batch, size, order int, pass func(first bool) (loss float64, l1, l2 *ad.Node)) float64 {
	n, dim := b.X.Rows, b.X.Cols
	w.terms.Resize(n, 2)
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

// finish runs the reverse sweep from root when grad is set, records the
// per-sample terms averaged over m copies, and returns root's value.
func (w *work) finish(n, m int, root *ad.Node, grad bool, terms ...*ad.Node) float64 {
	if grad {
		w.tape.Backward(root)
		w.setGrads(w.tape.Grad)
	}
	w.averageTerms(n, m, terms...)
	return root.Primal().Data[0]
}
