package ssm

import (
	"fmt"
	"slices"

	"scorematch/ad"
	"scorematch/nn"
)

// baseline is approximate backpropagation (approx-bp) or curvature
// propagation (cp) of the Hessian's diagonal, plugged into exact score
// matching in place of tr(∇ₓs) = −tr(∇²E):
//
//	loss = ½‖∇E‖² − Σᵢ d̂ᵢ,  d̂ ≈ diag ∇²E
//
// Both are sweeps over the energy's recorded ops (ad.Tape.ApproxHessianDiag
// and ad.Tape.CurvatureProp) that propagate the diagonal from the output to
// the input alongside the exact gradient g, with a rule per op, so they work
// for every energy built from ad ops. On an MLP, for a linear map y = Wh:
// g_h = Wᵀg_y; for an element-wise map h = f(z): g_z = f′(z)∘g_h.
//
// approx-bp (Kingma & LeCun 2010) keeps only diagonals, d_h = (W∘W)ᵀd_y and
// d_z = f″(z)∘g_h + f′(z)²∘d_h: deterministic and biased. With two or more
// hidden layers its loss is unbounded below: it can fall without end while
// the exact SM loss climbs (the paper finds it worse than SSM for this
// reason), so the tool checks it against exact SM during training.
//
// cp (Martens, Sutskever & Swersky 2012) writes ∇²E = Σ_l J_lᵀ D_l J_l with
// D_l = f″(z_l)∘g_h and propagates two random vectors, u_h = Wᵀu_y,
// u_z = f′(z)∘u_h + √|D|∘r and ũ_z = f′(z)∘ũ_h + sign(D)√|D|∘r, with fresh
// r (E[rrᵀ] = I) per op with a second-order term; E[u_x∘ũ_x] = diag ∇²E,
// so d̂ = u_x∘ũ_x is unbiased, with high variance. The random vectors are
// Batch.R: R[i] feeds the i-th such op in the order the energy records
// them (on an MLP, hidden layer i), found at construction by recording the
// energy once on a two-row input.
//
// The sweeps are recorded as tape ops, so the parameter gradient is the
// exact gradient of each baseline's own loss.
type baseline struct {
	objective
	cp     bool // curvature propagation (else approximate backprop)
	energy nn.Energy
}

func newApproxBP(base objective) (Objective, error) {
	base.opts.M = 1 // deterministic: one copy is the estimate
	return newBaseline(base, false)
}

func newCurvatureProp(base objective) (Objective, error) { return newBaseline(base, true) }

func newBaseline(base objective, cp bool) (Objective, error) {
	e, ok := base.model.(nn.Energy)
	if !ok {
		return nil, fmt.Errorf("ssm: %s needs an energy model, whose recorded ops it propagates through", base.name)
	}
	o := &baseline{objective: base, cp: cp, energy: e}
	if cp {
		o.needs = Needs{Hidden: noiseWidths(e), Copies: o.opts.M}
	}
	return o, nil
}

// noiseWidths records e once on a two-row input and returns the widths of
// the random vectors curvature propagation draws, in the order the energy
// records their ops (the reverse of the sweep's).
func noiseWidths(e nn.Energy) []int {
	t := ad.NewTape()
	t.FreezeParams(true)
	x := t.Input(ad.NewMat(2, e.Dim()), false)
	var widths []int
	t.CurvatureProp(e.Energy(t, x), x, func(_, rows, cols int) ad.Mat {
		widths = append(widths, cols)
		return ad.NewMat(rows, cols)
	})
	slices.Reverse(widths)
	return widths
}

type baselineWorker struct {
	work
	o     *baseline
	b     *Batch                         // the batch being evaluated
	noise func(k, rows, cols int) ad.Mat // Batch.R, last first
}

func (o *baseline) NewWorker() Worker {
	w := &baselineWorker{work: newWork(o.model), o: o}
	w.noise = func(k, rows, cols int) ad.Mat {
		i := len(w.b.R) - 1 - k
		r := w.b.R[i]
		if r.Rows != rows || r.Cols != cols {
			panic(fmt.Sprintf("ssm: cp: random vectors %d are %d×%d, the sweep wants %d×%d", i, r.Rows, r.Cols, rows, cols))
		}
		return r
	}
	return w
}

func (w *baselineWorker) Eval(b *Batch, grad bool) float64 {
	o, t := w.o, w.tape
	m := o.opts.M
	if o.cp {
		w.replicate(b.X, make2(b.X, m, &w.dirs))
	} else {
		w.xr.Resize(b.X.Rows, b.X.Cols)
		copy(w.xr.Data, b.X.Data)
	}
	t.Reset()
	x := t.Input(w.xr, false)
	e := o.energy.Energy(t, x)
	var g, d *ad.Node
	if o.cp {
		w.b = b
		var u, ut *ad.Node
		g, u, ut = t.CurvatureProp(e, x, w.noise)
		w.b = nil
		if u != nil {
			d = t.Mul(u, ut)
		}
	} else {
		g, d = t.ApproxHessianDiag(e, x)
	}
	var tr *ad.Node
	if d != nil {
		tr = t.SumRows(d)
	} else { // no op added a diagonal term (E linear in x, or only cross terms)
		tr = t.Scale(0, t.SumRows(g))
	}
	l1 := t.HalfSquaredNorm(g)
	l2 := t.Scale(-1, tr)
	root := t.Scale(1/float64(m), t.Sum(t.Add(l1, l2)))
	return w.finish(b.X.Rows, m, root, grad, l1, l2)
}

// make2 returns m matrices shaped like x (reusing *buf's backing array for
// the slice header only); cp replicates x m times, projections are unused.
func make2(x ad.Mat, m int, buf *[]ad.Mat) []ad.Mat {
	*buf = (*buf)[:0]
	for range m {
		*buf = append(*buf, x)
	}
	return *buf
}
