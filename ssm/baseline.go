package ssm

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/nn"
)

// A LayeredEnergy is an MLP energy net that exposes its layers: Linear
// layers (weights out×in, biases 1×out) with the activation between them and
// none after the last, whose output has width 1. The baselines need it.
type LayeredEnergy interface {
	nn.Energy
	Layers() (weights, biases []*ad.Param, act *ad.Elementwise)
}

// baseline is approximate backpropagation (approx-bp) or curvature
// propagation (cp) of the Hessian's diagonal, plugged into exact score
// matching in place of tr(∇ₓs) = −tr(∇²E):
//
//	loss = ½‖∇E‖² − Σᵢ d̂ᵢ,  d̂ ≈ diag ∇²E
//
// Both propagate the diagonal from the output to the input alongside the
// exact gradient g, layer by layer. For a linear map y = Wh:
// g_h = Wᵀg_y. For an element-wise map h = f(z): g_z = f′(z)∘g_h.
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
// r (E[rrᵀ] = I) per hidden layer; E[u_x∘ũ_x] = diag ∇²E, so d̂ = u_x∘ũ_x is
// unbiased, with high variance.
//
// The recursions are recorded as tape ops, so the parameter gradient is the
// exact gradient of each baseline's own loss.
type baseline struct {
	objective
	cp     bool // curvature propagation (else approximate backprop)
	energy LayeredEnergy
	w, b   []*ad.Param
	act    *ad.Elementwise
	d1, d2 *ad.Elementwise // f′ and f″ as differentiable functions
}

func newApproxBP(base objective) (Objective, error) {
	base.opts.M = 1 // deterministic: one copy is the estimate
	return newBaseline(base, false)
}

func newCurvatureProp(base objective) (Objective, error) { return newBaseline(base, true) }

func newBaseline(base objective, cp bool) (Objective, error) {
	le, ok := base.model.(LayeredEnergy)
	if !ok {
		return nil, fmt.Errorf("ssm: %s needs an MLP energy net, whose layers it propagates through; this energy model has none", base.name)
	}
	o := &baseline{objective: base, cp: cp, energy: le}
	o.w, o.b, o.act = le.Layers()
	if cp {
		var hidden []int
		for _, w := range o.w[:len(o.w)-1] {
			hidden = append(hidden, w.Value.Rows)
		}
		o.needs = Needs{Hidden: hidden, Copies: o.opts.M}
	}
	o.d1, o.d2 = ad.Derivative(o.act, 1), ad.Derivative(o.act, 2)
	return o, nil
}

// sqrtAbs is √|x| and signSqrt is sign(x)√|x|, with their derivatives
// (infinite at 0, where curvature propagation's D is zero only by accident).
var (
	sqrtAbs  = ad.Pointwise("sqrtabs", func(v float64) (f0, f1, f2, f3 float64) { return sqrtDerivs(v, false) })
	signSqrt = ad.Pointwise("signsqrt", func(v float64) (f0, f1, f2, f3 float64) { return sqrtDerivs(v, true) })
)

func sqrtDerivs(v float64, signed bool) (f0, f1, f2, f3 float64) {
	a := math.Abs(v)
	r := math.Sqrt(a)
	s := 1.0
	if v < 0 {
		s = -1
	}
	// √|x|: f′ = s/(2r), f″ = −1/(4r³), f‴ = 3s/(8r⁵);
	// s√|x|: f′ = 1/(2r), f″ = −s/(4r³), f‴ = 3/(8r⁵).
	if signed {
		return s * r, 1 / (2 * r), -s / (4 * r * a), 3 / (8 * r * a * a)
	}
	return r, s / (2 * r), -1 / (4 * r * a), 3 * s / (8 * r * a * a)
}

type baselineWorker struct {
	work
	o    *baseline
	z, h []*ad.Node // pre-activations; layer inputs, h[0] = x
}

func (o *baseline) NewWorker() Worker {
	return &baselineWorker{work: newWork(o.model), o: o, z: make([]*ad.Node, len(o.w)), h: make([]*ad.Node, len(o.w))}
}

func (w *baselineWorker) Eval(b *Batch, grad bool) float64 {
	o, t, z, h := w.o, w.tape, w.z, w.h
	layers := len(o.w)
	m := o.opts.M
	if o.cp {
		w.replicate(b.X, make2(b.X, m, &w.dirs))
	} else {
		w.xr.Resize(b.X.Rows, b.X.Cols)
		copy(w.xr.Data, b.X.Data)
	}
	n := w.xr.Rows
	t.Reset()
	h[0] = t.Input(w.xr, false)
	for l := range layers {
		z[l] = t.Linear(h[l], t.Param(o.w[l]), t.Param(o.b[l]))
		if l+1 < layers {
			h[l+1] = t.Apply(o.act, z[l])
		}
	}
	w.aux.Resize(n, 1)
	for i := range w.aux.Data {
		w.aux.Data[i] = 1
	}
	g := t.Const(w.aux) // ∂E/∂z_L
	var d, u, ut *ad.Node
	for l := layers - 1; l >= 0; l-- {
		wl := t.Param(o.w[l])
		gh := t.MatMul(g, wl)
		switch {
		case !o.cp && d != nil:
			d = t.MatMul(d, t.Mul(wl, wl))
		case u != nil:
			u, ut = t.MatMul(u, wl), t.MatMul(ut, wl)
		}
		if l == 0 {
			g = gh
			break
		}
		fp := t.Apply(o.d1, z[l-1])
		dz := t.Mul(t.Apply(o.d2, z[l-1]), gh) // f″(z)∘g_h
		g = t.Mul(fp, gh)
		if !o.cp {
			if d == nil {
				d = dz
			} else {
				d = t.Add(dz, t.Mul(t.Apply(ad.Square, fp), d))
			}
		} else {
			r := t.Const(b.R[l-1])
			su, sut := t.Mul(t.Apply(sqrtAbs, dz), r), t.Mul(t.Apply(signSqrt, dz), r)
			if u == nil {
				u, ut = su, sut
			} else {
				u, ut = t.Add(t.Mul(fp, u), su), t.Add(t.Mul(fp, ut), sut)
			}
		}
	}
	var tr *ad.Node
	switch {
	case !o.cp && d != nil:
		tr = t.SumRows(d)
	case o.cp && u != nil:
		tr = t.SumRows(t.Mul(u, ut))
	default: // a single linear layer has zero Hessian
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
