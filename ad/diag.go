package ad

import (
	"fmt"
	"math"
	"sync"
)

// Curvature sweeps: the Hessian diagonal of a per-sample scalar E with
// respect to its input, estimated by approximate backpropagation (Kingma &
// LeCun 2010) or curvature propagation (Martens, Sutskever & Swersky 2012),
// as sweeps over the recorded ops that record new ops. Because every
// quantity they propagate is a node, one ordinary reverse sweep through a
// loss built from them gives that loss's exact parameter gradient.
//
// A sweep walks the nodes from E back to the input x and keeps, for each
// node y on the way, the exact gradient g_y = ∂E/∂y and either
//
//   - approx-bp: d_y ≈ diag ∇²_y E, pulled back by
//     d_x = Σ_y (∂y/∂x)²ᵀ d_y + Σ_y g_yᵀ ∂²y/∂x², where both sums keep only
//     diagonals (the cross terms between elements, and between different
//     consumers of x, are dropped); or
//   - cp: two vectors u_y and ũ_y with E[u_y ũ_yᵀ] = ∇²_y E, pulled back by
//     u_x = Σ_y J_yᵀ u_y + S r and ũ_x = Σ_y J_yᵀ ũ_y + S̃ r, where J_y is
//     ∂y/∂x, S S̃ᵀ = Σ_y g_yᵀ ∇²y is the op's own second-order term and r
//     is a fresh random vector with E[r] = 0, E[r rᵀ] = I for each op that
//     has such a term. Then E[u_x ∘ ũ_x] = diag ∇²_x E exactly, on any
//     graph: fan-out is a sum of pull-backs, and the r of different ops are
//     independent.
//
// Each op's rule (its curv method, a curvRule) sits next to its forward,
// backward and dual rules. A rule reads g_y (and d_y, or u_y and ũ_y, any
// of which may be nil: zero) from the sweep, and adds its inputs' shares
// with the sweep's add methods, recording ops on the tape. Only inputs
// that depend on x take shares (curvSweep.dep); the others are constants
// of the sweep. Most ops are linear in their x-dependent input: their rule
// is one call of curvSweep.linear with the pull-back v ↦ Jᵀv and its
// squared form v ↦ (J∘J)ᵀv.
//
// The sweeps run on plain tapes (no jet directions): every node from x to
// E has one block.

// A curvRule is an op's rule for the curvature sweeps. curv is called once
// for each node y that E depends on through x, with g_y set; it must
//
//   - add J_iᵀ g_y to every x-dependent input i (s.addG);
//   - approx-bp (!s.cp): add (J_i∘J_i)ᵀ d_y when d_y is not nil, and the
//     diagonal of g_yᵀ ∂²y/∂x_i² for its own second-order term (s.addD);
//   - cp (s.cp): add J_iᵀ u_y and J_iᵀ ũ_y when u_y is not nil, and for
//     its own second-order term H = Σ g_y ∇²y (over all x-dependent inputs
//     together) a factorisation H = S S̃ᵀ applied to fresh noise r from
//     s.noise: S r to u and S̃ r to ũ (s.addU). S = I, S̃ = H is always a
//     valid choice.
//
// Every value it builds must be a node recorded on s.t from y's inputs,
// the parameters and the sweep's nodes, never a copy of numbers, so that
// the parameter gradients stay exact. An op with no x-dependent input is
// never visited; an op whose rule cannot handle an x-dependent operand
// (a right-hand matrix factor, say) panics naming the op.
type curvRule interface {
	curv(s *curvSweep, y *Node)
}

// curvSlot holds a node's propagated quantities (nil: zero).
type curvSlot struct{ g, d, u, ut *Node }

// curvSweep is the state of a running curvature sweep, kept by the tape so
// that a sweep re-recorded after Reset allocates nothing.
type curvSweep struct {
	t        *Tape
	cp       bool // curvature propagation (else approximate backprop)
	slots    []curvSlot
	deps     []bool
	noise    func(k, rows, cols int) Mat
	draws    int
	onesBuf  []float64 // all ones; views of it are constants of the sweep
	zerosBuf []float64 // all zeros
	arena    []float64 // storage of scratch matrices, reused after Reset
	used     int       // elements of arena handed out since the last Reset
}

// ApproxHessianDiag records approximate backpropagation of the Hessian
// diagonal (Kingma & LeCun 2010) from e, a B×1 node of per-sample values
// E(x_b), to the plain input node x it was recorded from. It returns g, the
// exact gradient ∇ₓE (B×D), and d ≈ diag ∇²ₓE, in which every cross term
// between elements is dropped where it arises; d is nil when no op on the
// way adds a diagonal term (always so when E is linear in x, and also when
// E's only curvature comes from products of two different x-dependent
// nodes, whose terms are all cross terms). The result depends on how E is
// factored into ops: a quantity that reaches E along two paths loses the
// cross terms between them. On a graph whose
// intermediate Hessians are diagonal, such as Σᵢ f(xᵢ) through element-wise
// ops, d is exact. Both are nodes on t: a loss built from them has an exact
// parameter gradient by Backward. It panics on a jet tape and at an op
// without a curvature rule.
func (t *Tape) ApproxHessianDiag(e, x *Node) (g, d *Node) {
	s := t.curvStart("ApproxHessianDiag", e, x, false, nil)
	sl := s.slots[x.idx]
	return s.gradOrZero(sl.g, x), sl.d
}

// CurvatureProp records curvature propagation (Martens, Sutskever &
// Swersky 2012) from e, a B×1 node of per-sample values E(x_b), to the
// plain input node x it was recorded from. It returns g, the exact gradient
// ∇ₓE (B×D), and two B×D nodes u and ũ with E[u∘ũ] = diag ∇²ₓE: an
// unbiased estimate of the Hessian diagonal, on any graph of ops with
// curvature rules. u and ũ are nil when no op on the way has a
// second-order term (E is linear in x).
//
// noise supplies the random vectors: each op with a second-order term
// calls noise(k, rows, cols) for the k-th draw of this sweep (k = 0, 1, ...
// in the order the sweep meets the ops, from e back to x) and uses the
// returned rows×cols matrix, whose entries must be independent with mean 0
// and variance 1 (Rademacher or standard normal), as a constant: it must
// not change until t is reset. It panics on a jet tape and at an op
// without a curvature rule.
func (t *Tape) CurvatureProp(e, x *Node, noise func(k, rows, cols int) Mat) (g, u, ut *Node) {
	s := t.curvStart("CurvatureProp", e, x, true, noise)
	sl := s.slots[x.idx]
	return s.gradOrZero(sl.g, x), sl.u, sl.ut
}

// curvStart runs a curvature sweep from e to x and returns its state.
func (t *Tape) curvStart(name string, e, x *Node, cp bool, noise func(k, rows, cols int) Mat) *curvSweep {
	sameTape(t, e, x)
	if t.blocks != 1 {
		panic(fmt.Sprintf("ad: %s: the tape has jet directions; the sweep runs on plain tapes", name))
	}
	if e.val.Cols != 1 || e.rows != x.rows || e.idx < x.idx || x != t.nodes[x.idx] || e != t.nodes[e.idx] {
		panic(fmt.Sprintf("ad: %s: e is %d×%d, x %d×%d: want a B×1 node recorded after x", name, e.rows, e.val.Cols, x.rows, x.val.Cols))
	}
	s := &t.curv
	s.t, s.cp, s.noise, s.draws = t, cp, noise, 0
	if cap(s.slots) < t.n {
		s.slots = make([]curvSlot, t.n)
		s.deps = make([]bool, t.n)
	}
	s.slots, s.deps = s.slots[:t.n], s.deps[:t.n]
	clear(s.slots)
	clear(s.deps)
	// Mark the nodes that depend on x: x, and every node with an input that
	// does, except a stop-gradient's output (a constant of the sweep).
	s.deps[x.idx] = true
	for i := x.idx + 1; i <= e.idx; i++ {
		n := t.nodes[i]
		s.deps[i] = n.op != opStop && (s.dep(n.a) || s.dep(n.b) || s.dep(n.c))
	}
	if !s.deps[e.idx] {
		return s
	}
	s.slots[e.idx].g = s.ones(e.rows, 1)
	for i := e.idx; i > x.idx; i-- {
		y := t.nodes[i]
		if !s.deps[i] || s.slots[i].g == nil {
			continue
		}
		r := ruleOf(y.op)
		if r == nil {
			panic(fmt.Sprintf("ad: %s: op %T has no curvature rule", name, y.op))
		}
		r.curv(s, y)
	}
	s.noise = nil
	return s
}

// rules caches each op's curvature rule (nil when it has none): a type
// assertion to an interface may allocate now and then to fill the
// runtime's cache, and a step re-recorded on a tape must not.
var rules sync.Map // op → *curvRuleOf

type curvRuleOf struct{ r curvRule }

// ruleOf returns o's curvature rule, or nil.
func ruleOf(o op) curvRule {
	if v, ok := rules.Load(o); ok {
		return v.(*curvRuleOf).r
	}
	r, _ := o.(curvRule)
	v, _ := rules.LoadOrStore(o, &curvRuleOf{r})
	return v.(*curvRuleOf).r
}

// dep reports whether n depends on the sweep's input (n may be nil).
func (s *curvSweep) dep(n *Node) bool {
	return n != nil && n.tape == s.t && n.idx < len(s.deps) && s.t.nodes[n.idx] == n && s.deps[n.idx]
}

// slot returns y's propagated quantities.
func (s *curvSweep) slot(y *Node) *curvSlot { return &s.slots[y.idx] }

// gradOrZero returns g, or a zero node shaped like x when E does not
// depend on x.
func (s *curvSweep) gradOrZero(g, x *Node) *Node {
	if g != nil {
		return g
	}
	return s.zerosNode(x.rows, x.val.Cols)
}

// accumulate sets *dst to v, or to *dst + v when it holds a share already.
func (s *curvSweep) accumulate(dst **Node, v *Node) {
	if *dst == nil {
		*dst = v
		return
	}
	*dst = s.t.Add(*dst, v)
}

// addG adds v to x's gradient.
func (s *curvSweep) addG(x, v *Node) { s.accumulate(&s.slot(x).g, v) }

// addD adds v to x's approximate Hessian diagonal.
func (s *curvSweep) addD(x, v *Node) { s.accumulate(&s.slot(x).d, v) }

// addU adds u and ut to x's curvature propagation vectors.
func (s *curvSweep) addU(x, u, ut *Node) {
	sl := s.slot(x)
	s.accumulate(&sl.u, u)
	s.accumulate(&sl.ut, ut)
}

// linear adds the shares of x, an input of y in which y is linear, given
// pull(v, false) = J_xᵀv and pull(v, true) = (J_x∘J_x)ᵀv: the gradient,
// then d (approx-bp) or u and ũ (cp), when y has them.
func (s *curvSweep) linear(y, x *Node, pull func(v *Node, squared bool) *Node) {
	sl := s.slot(y)
	s.addG(x, pull(sl.g, false))
	switch {
	case !s.cp && sl.d != nil:
		s.addD(x, pull(sl.d, true))
	case s.cp && sl.u != nil:
		s.addU(x, pull(sl.u, false), pull(sl.ut, false))
	}
}

// identity passes every quantity of y to x unchanged (J = I).
func (s *curvSweep) identity(y, x *Node) {
	s.linear(y, x, func(v *Node, _ bool) *Node { return v })
}

// scaled passes every quantity of y to x scaled (J = c·I).
func (s *curvSweep) scaled(y, x *Node, c float64) {
	if c == 1 {
		s.identity(y, x)
		return
	}
	s.linear(y, x, func(v *Node, squared bool) *Node {
		if squared {
			return s.t.Scale(c*c, v)
		}
		return s.t.Scale(c, v)
	})
}

// draw records the next random rows×cols matrix of a cp sweep as a constant.
func (s *curvSweep) draw(rows, cols int) *Node {
	r := s.noise(s.draws, rows, cols)
	if r.Rows != rows || r.Cols != cols {
		panic(fmt.Sprintf("ad: CurvatureProp: noise draw %d is %d×%d, want %d×%d", s.draws, r.Rows, r.Cols, rows, cols))
	}
	s.draws++
	return s.t.Const(r)
}

// localDiag adds an op's own second-order term when it is diagonal,
// H = diag(h) for the B×F node h ≈ g_y ∂²y/∂x²: h itself to d
// (approx-bp), or r and h∘r for a fresh r to u and ũ (cp, S = I, S̃ = H).
func (s *curvSweep) localDiag(x, h *Node) {
	if !s.cp {
		s.addD(x, h)
		return
	}
	r := s.draw(h.rows, h.val.Cols)
	s.addU(x, r, s.t.Mul(h, r))
}

// ones returns a rows×cols constant of ones.
func (s *curvSweep) ones(rows, cols int) *Node {
	n := rows * cols
	if len(s.onesBuf) < n {
		s.onesBuf = make([]float64, n)
		for i := range s.onesBuf {
			s.onesBuf[i] = 1
		}
	}
	return s.t.Const(MatOf(rows, cols, s.onesBuf[:n]))
}

// zerosNode returns a rows×cols constant of zeros.
func (s *curvSweep) zerosNode(rows, cols int) *Node {
	n := rows * cols
	if len(s.zerosBuf) < n {
		s.zerosBuf = make([]float64, n)
	}
	return s.t.Const(MatOf(rows, cols, s.zerosBuf[:n]))
}

// scratch returns a zeroed rows×cols matrix for a rule's constants (a 0/1
// matrix of a column gather, say): it stays untouched until the tape is
// reset, so it may back a Const node. Storage is reused after Reset, so a
// re-recorded sweep allocates nothing.
func (s *curvSweep) scratch(rows, cols int) Mat {
	n := rows * cols
	if s.used+n > len(s.arena) {
		// A new block; the old one stays with the constants that use it.
		s.arena, s.used = make([]float64, max(2*len(s.arena), n)), 0
	}
	m := MatOf(rows, cols, s.arena[s.used:s.used+n])
	s.used += n
	clear(m.Data)
	return m
}

// broadcastCols returns the B×1 node v repeated over cols columns.
func (s *curvSweep) broadcastCols(v *Node, cols int) *Node {
	return s.t.ScaleRows(s.ones(v.rows, cols), v)
}

// derivatives caches Derivative(f, 1) and Derivative(f, 2) per function,
// so that sweeps re-recorded with the same functions allocate nothing.
var derivatives sync.Map // *Elementwise → *[2]*Elementwise

// derivOf returns f⁽ᵏ⁾ (k = 1 or 2) as a differentiable Elementwise.
func derivOf(f *Elementwise, k int) *Elementwise {
	if d, ok := derivatives.Load(f); ok {
		return d.(*[2]*Elementwise)[k-1]
	}
	d, _ := derivatives.LoadOrStore(f, &[2]*Elementwise{Derivative(f, 1), Derivative(f, 2)})
	return d.(*[2]*Elementwise)[k-1]
}

// sqrtAbs is √|x| and signSqrt is sign(x)√|x|, with their derivatives
// (infinite at 0): curvature propagation's factors of a diagonal
// second-order term D = S S̃ᵀ with S = √|D|, S̃ = sign(D)√|D|, as Martens et
// al. write them for element-wise activations.
var (
	sqrtAbs  = Pointwise("sqrtabs", func(v float64) (f0, f1, f2, f3 float64) { return sqrtDerivs(v, false) })
	signSqrt = Pointwise("signsqrt", func(v float64) (f0, f1, f2, f3 float64) { return sqrtDerivs(v, true) })
)

func sqrtDerivs(v float64, signed bool) (f0, f1, f2, f3 float64) {
	if v == 0 {
		// Not differentiable; 0 rather than ±Inf keeps a curvature that
		// vanishes on a whole region (ELU for x > 0) from making the
		// parameter gradient NaN.
		return 0, 0, 0, 0
	}
	a := math.Abs(v)
	r := math.Sqrt(a)
	// √|x| = r has f′ = σ/(2r), f″ = −1/(4r³), f‴ = 3σ/(8r⁵) with σ the
	// sign of x; σr has f′ = 1/(2r), f″ = −σ/(4r³), f‴ = 3/(8r⁵).
	even, odd := 1.0, 1.0 // the factors of f, f″ and of f′, f‴
	if v < 0 {
		if signed {
			even = -1
		} else {
			odd = -1
		}
	}
	return even * r, odd / (2 * r), -even / (4 * r * a), 3 * odd / (8 * r * a * a)
}
