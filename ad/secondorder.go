package ad

import "fmt"

// Derivs are the per-sample quantities of a Func on a jet tape, as plain
// B×1 nodes a loss can be built from.
type Derivs struct {
	// X is the input leaf (a jet node).
	X *Node
	// Out is f's output (a jet node).
	Out *Node
	// F is f(x).
	F *Node
	// D1[d] is vᵀ∇f(x) along direction d; D2[d] is vᵀ∇²f(x)v, or nil when
	// direction d has order 1.
	D1, D2 []*Node
}

// A JetLoss builds a 1×1 loss on t from a Func's values and directional
// derivatives.
type JetLoss func(t *Tape, d *Derivs) *Node

// A GradLoss builds a 1×1 loss on t from the plain B×D node g of the input
// gradients ∇f(x_b).
type GradLoss func(t *Tape, g *Node) *Node

// A SecondOrder evaluates a loss of the form
//
//	L = JetLoss(f(x), vᵀ∇f, vᵀ∇²f v, ...) + GradLoss(∇f)
//
// and its exact gradient with respect to every Param that f uses, without a
// differentiable reverse sweep (route 2 of the package doc). Derivatives
// along the projections v come from one Taylor-mode forward pass; their
// parameter gradients from one reverse sweep over it. The gradient term uses
// ∇_θ GradLoss = ∇_θ(uᵀ∇f) with u = ∂GradLoss/∂g held fixed, and uᵀ∇f is the
// first derivative of f along u: one more order-1 direction on the same
// pass, after a plain forward and reverse pass that computes ∇f and u.
//
// A SecondOrder owns its tapes and reuses them: repeated evaluations with the
// same shapes allocate nothing. It is not safe for concurrent use.
type SecondOrder struct {
	pre, side, jet *Tape
	derivs         Derivs
	dirs           []Mat
	orders         []int
}

// NewSecondOrder returns a SecondOrder with fresh tapes.
func NewSecondOrder() *SecondOrder {
	return &SecondOrder{pre: NewTape(), side: NewTape(), jet: NewTape()}
}

// Tape returns the jet tape of the last evaluation, whose nodes (the ones
// the losses built) stay readable until the next one.
func (s *SecondOrder) Tape() *Tape { return s.jet }

// Grad returns the gradient of the last evaluated loss with respect to p
// (see Tape.Grad).
func (s *SecondOrder) Grad(p *Param) Mat { return s.jet.Grad(p) }

// Eval evaluates L at x (B×D) along the directions dirs (each B×D, one
// projection per sample) of the given orders (1 or 2), accumulates its
// parameter gradients on the jet tape and returns L. jet or grad may be nil
// (the term is then absent) but not both.
func (s *SecondOrder) Eval(f Func, x Mat, dirs []Mat, orders []int, jet JetLoss, grad GradLoss) float64 {
	if len(dirs) != len(orders) {
		panic(fmt.Sprintf("ad: SecondOrder: %d directions, %d orders", len(dirs), len(orders)))
	}
	if jet == nil && grad == nil {
		panic("ad: SecondOrder: no loss")
	}
	total := 0.0
	s.dirs, s.orders = s.dirs[:0], s.orders[:0]
	k := 0 // the jet direction of dirs[0]
	if grad != nil {
		// Plain pass: g = ∇f(x), then u = ∂GradLoss/∂g on a side tape.
		s.pre.FreezeParams(true)
		s.pre.Reset()
		in := s.pre.Input(x, true)
		s.pre.BackwardPrimal(call(f, s.pre, in), s.pre.onesCol(x.Rows))
		s.side.Reset()
		g := s.side.Var(in.adj)
		lg := grad(s.side, g)
		s.side.Backward(lg)
		total += lg.val.Data[0]
		// u is the jet's first direction: its blocks are then x, u, v, v's
		// second coefficient, …, and with one projection the input's only
		// zero block comes last, so the first layer multiplies its nonzero
		// blocks in one product forward and one for the weight gradient,
		// not two each.
		s.dirs = append(s.dirs, g.adj)
		s.orders = append(s.orders, 1)
		k = 1
	}
	s.dirs = append(s.dirs, dirs...)
	s.orders = append(s.orders, orders...)
	t := s.jet
	t.Reset(s.orders...)
	if grad != nil {
		t.primal = s.pre // the plain pass recorded f at x: block 0 is known
	}
	in := t.Input(x, false, s.dirs...)
	out := call(f, t, in)
	d := &s.derivs
	d.X, d.Out = in, out
	d.F = t.Deriv(out, 0, 0)
	d.D1, d.D2 = d.D1[:0], d.D2[:0]
	for i, o := range orders {
		d.D1 = append(d.D1, t.Deriv(out, k+i, 1))
		var d2 *Node
		if o == 2 {
			d2 = t.Deriv(out, k+i, 2)
		}
		d.D2 = append(d.D2, d2)
	}
	var root *Node
	if jet != nil {
		root = jet(t, d)
		if root.blocks != 1 || root.val.Rows != 1 || root.val.Cols != 1 {
			panic("ad: SecondOrder: JetLoss must return a 1×1 plain node")
		}
		total += root.val.Data[0]
	}
	if grad != nil {
		ug := t.Sum(t.Deriv(out, 0, 1)) // Σ_b u_bᵀ∇f(x_b)
		if root == nil {
			root = ug
		} else {
			root = t.Add(root, ug)
		}
	}
	t.Backward(root)
	return total
}
