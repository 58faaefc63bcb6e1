package ad

import (
	"fmt"
	"iter"

	"scorematch/ad/internal/gemm"
)

// A Param is a trainable tensor. Its Value is read by the ops that use it; a
// tape accumulates the gradient with respect to it separately (see Tape.Grad),
// so several tapes may use one Param at the same time.
type Param struct {
	Name  string
	Value Mat
}

// NewParam returns a zeroed r×c parameter.
func NewParam(name string, r, c int) *Param {
	return &Param{Name: name, Value: NewMat(r, c)}
}

// A Tape records tensor ops for a reverse sweep. Every value on a tape may
// carry truncated Taylor coefficients along one or more directions (its jet),
// stacked below the primal value: a jet node of a batch of B rows holds
// blocks 0, 1, ... of B rows each, block 0 being the value itself. The
// tape's jet layout (see Reset) fixes the directions and their orders.
//
// A Tape is not safe for concurrent use; use one tape per goroutine.
// Reset rewinds a tape and keeps its buffers, so recording the same sequence
// of ops again allocates nothing.
type Tape struct {
	nodes  []*Node        // arena of recorded nodes, reused after Reset
	n      int            // number of live nodes
	orders []int          // order (1 or 2) of each jet direction
	first  []int          // first[d] is the block of coefficient 1 along direction d
	blocks int            // 1 + Σ orders
	ones   Mat            // a column of ones for seeding per-sample sweeps
	mode   int            // the running sweep's mode
	ws     gemm.Workspace // packing buffers of this tape's matrix products

	// frozen makes Param leaves constants: no parameter gradients are
	// accumulated. It is per tape, never global.
	frozen bool

	// primal, when set, is a plain tape on which the same ops were recorded
	// at the same inputs: node i of this tape may take its block 0 from
	// node i of primal instead of computing it (see primalOf).
	primal *Tape

	// curv is the state of the curvature sweeps (see diag.go).
	curv curvSweep
}

// NewTape returns an empty tape with no jet directions.
func NewTape() *Tape {
	t := &Tape{}
	t.Reset()
	return t
}

// Reset discards every recorded node and sets the jet layout: one direction
// per element of orders, each of order 1 (first derivatives) or 2 (first and
// second). With no orders the tape records plain values.
func (t *Tape) Reset(orders ...int) {
	t.n = 0
	t.primal = nil
	t.curv.used = 0 // the sweeps' scratch constants are free again
	t.orders = append(t.orders[:0], orders...)
	t.first = t.first[:0]
	t.blocks = 1
	for d, o := range orders {
		if o != 1 && o != 2 {
			panic(fmt.Sprintf("ad: Reset: direction %d has order %d, want 1 or 2", d, o))
		}
		t.first = append(t.first, t.blocks)
		t.blocks += o
	}
}

// FreezeParams sets whether Param leaves are treated as constants by the
// reverse sweep. It holds until changed and survives Reset.
func (t *Tape) FreezeParams(frozen bool) { t.frozen = frozen }

// Dirs returns the number of jet directions.
func (t *Tape) Dirs() int { return len(t.orders) }

// Order returns the order of jet direction d.
func (t *Tape) Order(d int) int { return t.orders[d] }

// Blocks returns the number of stacked coefficient blocks of a jet node:
// 1 + the sum of the directions' orders.
func (t *Tape) Blocks() int { return t.blocks }

// Block returns the block index of the order-k Taylor coefficient along
// direction d (k ≥ 1), or 0 for k = 0.
func (t *Tape) Block(d, k int) int {
	if k == 0 {
		return 0
	}
	if k < 0 || k > t.orders[d] {
		panic(fmt.Sprintf("ad: direction %d has order %d, no coefficient %d", d, t.orders[d], k))
	}
	return t.first[d] + k - 1
}

// A Node is a value recorded on a tape. A jet node stacks its Taylor
// coefficients (see Tape); a plain node has one block.
type Node struct {
	tape     *Tape
	op       op
	a, b, c  *Node // inputs
	param    *Param
	fn       *Elementwise // Apply's function
	scalar   float64      // op parameter (Scale factor, Deriv factor, AddScaled's a)
	scalar2  float64      // op parameter (AddScaled's b)
	dir, ord int          // op parameters (Deriv)
	rows     int          // rows per block
	blocks   int          // number of stacked blocks
	idx      int          // position on the tape
	zero     uint64       // bit k set: block k (k ≥ 1) is known to be all zeros
	needGrad bool
	fresh    bool // during a sweep: nothing added to adj yet, which reads as zero
	val      Mat  // blocks*rows × cols; buf, or shared storage for leaves
	buf      Mat  // storage owned by the node, reused after Reset
	adj      Mat  // same shape as val; valid after a reverse sweep
	aux      Mat  // op scratch kept for the reverse sweep
}

// Value returns all blocks of the node's value (blocks*rows × cols).
func (n *Node) Value() Mat { return n.val }

// Primal returns block 0: the value without its Taylor coefficients.
func (n *Node) Primal() Mat { return n.Coef(0) }

// Coef returns block k of the node's value. It shares the node's storage.
func (n *Node) Coef(block int) Mat { return n.val.RowRange(block*n.rows, (block+1)*n.rows) }

// Adj returns the node's adjoint (all blocks) after a reverse sweep; its
// contents are meaningful only for nodes that need a gradient.
func (n *Node) Adj() Mat { return n.adj }

// AdjCoef returns block k of the node's adjoint.
func (n *Node) AdjCoef(block int) Mat { return n.adj.RowRange(block*n.rows, (block+1)*n.rows) }

// Rows returns the number of rows per block (the batch size).
func (n *Node) Rows() int { return n.rows }

// Cols returns the number of columns.
func (n *Node) Cols() int { return n.val.Cols }

// Blocks returns the number of stacked blocks: the tape's Blocks for a jet
// node, 1 for a plain one.
func (n *Node) Blocks() int { return n.blocks }

// blk returns block k of the value as a slice.
func (n *Node) blk(k int) []float64 {
	sz := n.rows * n.val.Cols
	return n.val.Data[k*sz : (k+1)*sz]
}

// ablk returns block k of the adjoint as a slice.
func (n *Node) ablk(k int) []float64 {
	sz := n.rows * n.val.Cols
	return n.adj.Data[k*sz : (k+1)*sz]
}

// node returns a fresh node from the arena with a value of the given shape
// in its own storage.
func (t *Tape) node(o op, rows, cols, blocks int) *Node {
	n := t.next(o, rows, blocks)
	n.buf.Resize(rows*blocks, cols)
	n.val = n.buf
	return n
}

// next returns the next arena node, cleared, with no value storage.
func (t *Tape) next(o op, rows, blocks int) *Node {
	if t.n == len(t.nodes) {
		t.nodes = append(t.nodes, &Node{})
	}
	n := t.nodes[t.n]
	n.idx = t.n
	t.n++
	n.tape, n.op, n.a, n.b, n.c, n.param, n.fn = t, o, nil, nil, nil, nil, nil
	n.scalar, n.scalar2, n.dir, n.ord, n.zero = 0, 0, 0, 0, 0
	n.rows, n.blocks, n.needGrad = rows, blocks, false
	return n
}

// Input records x as a jet leaf: block 0 holds x and coefficient 1 along
// direction d holds dirs[d]; all other coefficients are zero. It panics
// unless there is one direction per jet direction of the tape, each shaped
// like x. With grad set, the reverse sweep computes the leaf's adjoint.
func (t *Tape) Input(x Mat, grad bool, dirs ...Mat) *Node {
	if len(dirs) != len(t.orders) {
		panic(fmt.Sprintf("ad: Input: %d directions for a tape with %d", len(dirs), len(t.orders)))
	}
	n := t.node(opInput, x.Rows, x.Cols, t.blocks)
	n.needGrad = grad
	copy(n.blk(0), x.Data)
	for d, v := range dirs {
		if !v.SameShape(x) {
			panic(fmt.Sprintf("ad: Input: direction %d is %d×%d, x is %d×%d", d, v.Rows, v.Cols, x.Rows, x.Cols))
		}
		copy(n.blk(t.first[d]), v.Data)
		if t.orders[d] == 2 {
			clear(n.blk(t.first[d] + 1)) // the second coefficient of a line is zero
			if t.first[d]+1 < 64 {
				n.zero |= 1 << (t.first[d] + 1)
			}
		}
	}
	return n
}

// shortcuts enables the work a tape skips without changing a bit: block 0
// from the primal tape and products over blocks known to be zero. Tests turn
// it off to check that claim.
var shortcuts = true

// primalOf returns the node of t's primal tape recorded at y's position
// when it computed y's block 0: the same op and function, on the inputs at
// the same positions, with the same shape, as a plain node. Otherwise it
// returns nil and y computes block 0 itself.
func (t *Tape) primalOf(y *Node) *Node {
	p := t.primal
	if p == nil || !shortcuts || y.idx >= p.n {
		return nil
	}
	src := p.nodes[y.idx]
	if src.op != y.op || src.fn != y.fn || src.blocks != 1 || src.rows != y.rows || src.val.Cols != y.val.Cols ||
		!samePosition(src.a, y.a) || !samePosition(src.b, y.b) || !samePosition(src.c, y.c) {
		return nil
	}
	return src
}

// samePosition reports whether a and b are both nil or at the same
// position of their tapes.
func samePosition(a, b *Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.idx == b.idx
}

// nextRun returns the first run [lo, hi) of consecutive blocks at or after
// block from, below nb, none of which is in the zero mask; lo == nb when
// there is none. Products skip the blocks in between, which are zero.
func nextRun(zero uint64, from, nb int) (lo, hi int) {
	if !shortcuts {
		zero = 0
	}
	lo = from
	for lo < nb && lo < 64 && zero&(1<<lo) != 0 {
		lo++
	}
	hi = lo
	for hi < nb && (hi >= 64 || zero&(1<<hi) == 0) {
		hi++
	}
	return lo, hi
}

// Const records m as a plain constant: its value shares m's storage, which
// must not change until the tape is reset.
func (t *Tape) Const(m Mat) *Node {
	n := t.next(opConst, m.Rows, 1)
	n.val = m
	return n
}

// Var records m as a plain leaf whose adjoint the reverse sweep computes.
// Its value shares m's storage, which must not change until the tape is reset.
func (t *Tape) Var(m Mat) *Node {
	n := t.Const(m)
	n.needGrad = true
	return n
}

// Param records p as a plain leaf. A parameter used several times on one
// tape is one leaf, so Grad returns its whole gradient.
func (t *Tape) Param(p *Param) *Node {
	for _, n := range t.nodes[:t.n] {
		if n.op == opParam && n.param == p {
			return n
		}
	}
	n := t.Const(p.Value)
	n.op = opParam
	n.param = p
	n.needGrad = !t.frozen
	return n
}

// Grad returns the gradient with respect to p accumulated by the last
// reverse sweep, or an empty Mat when p was not used or parameters are
// frozen. It shares the tape's storage until the next Reset.
func (t *Tape) Grad(p *Param) Mat {
	for _, n := range t.nodes[:t.n] {
		if n.op == opParam && n.param == p && n.needGrad {
			return n.adj
		}
	}
	return Mat{}
}

// Backward runs the reverse sweep from a 1×1 plain root, seeding its adjoint
// with 1: afterwards every node that needs a gradient holds ∂root/∂node
// in its adjoint, for every Taylor coefficient block.
func (t *Tape) Backward(root *Node) {
	if root.blocks != 1 || root.val.Rows != 1 || root.val.Cols != 1 {
		panic(fmt.Sprintf("ad: Backward: root is %d×%d with %d blocks, want a 1×1 plain node", root.rows, root.val.Cols, root.blocks))
	}
	t.sweep(root, nil, sweepJet)
}

// BackwardFrom runs the reverse sweep from root with the given seed for its
// adjoint (shaped like root.Value()): it computes the vector-Jacobian product
// seedᵀ·∂root/∂node for every node, over all Taylor coefficient blocks.
func (t *Tape) BackwardFrom(root *Node, seed Mat) {
	t.sweep(root, &seed, sweepJet)
}

// BackwardPrimal is BackwardFrom restricted to block 0: it propagates the
// adjoint of root's primal value only, treating every higher Taylor
// coefficient's adjoint as zero. seed is shaped like root.Primal(). It costs
// about what a reverse sweep over plain values costs.
func (t *Tape) BackwardPrimal(root *Node, seed Mat) {
	t.sweep(root, &seed, sweepPrimal)
}

// sweep modes.
const (
	sweepJet    = iota // adjoints of every block (reverse over Taylor mode)
	sweepPrimal        // adjoint of block 0 only
	sweepDual          // forward over reverse: block 0 adjoint, block 1 its tangent
)

func (t *Tape) sweep(root *Node, seed *Mat, mode int) {
	if root.tape != t {
		panic("ad: root is not on this tape")
	}
	last := -1
	for i, n := range t.nodes[:t.n] {
		if n == root {
			last = i
		}
		if n.needGrad {
			n.adj.Resize(n.val.Rows, n.val.Cols)
			n.fresh = true
		}
	}
	// Adjoints are zeroed when first needed, or written outright by an op
	// that overwrites fresh adjoints; the ones nothing reached end zero.
	defer func() {
		for _, n := range t.nodes[:t.n] {
			n.materialize()
		}
	}()
	if last < 0 {
		panic("ad: root is not a live node of this tape")
	}
	if !root.needGrad {
		return
	}
	t.mode = mode
	root.materialize()
	switch {
	case seed == nil:
		root.adj.Data[0] = 1
	case mode == sweepJet:
		if !seed.SameShape(root.val) {
			panic(fmt.Sprintf("ad: seed is %d×%d, root value is %d×%d", seed.Rows, seed.Cols, root.val.Rows, root.val.Cols))
		}
		copy(root.adj.Data, seed.Data)
	default:
		if seed.Rows != root.rows || seed.Cols != root.val.Cols {
			panic(fmt.Sprintf("ad: seed is %d×%d, root primal is %d×%d", seed.Rows, seed.Cols, root.rows, root.val.Cols))
		}
		copy(root.ablk(0), seed.Data)
	}
	for i := last; i >= 0; i-- {
		n := t.nodes[i]
		if !n.needGrad || n.a == nil {
			continue
		}
		n.materialize()
		if !overwrites(n.op) {
			n.a.materialize()
			if n.b != nil {
				n.b.materialize()
			}
			if n.c != nil {
				n.c.materialize()
			}
		}
		switch mode {
		case sweepDual:
			n.op.dual(n)
		case sweepPrimal:
			n.op.backward(n, 1)
		default:
			n.op.backward(n, n.blocks)
		}
	}
}

// materialize zeroes a fresh adjoint: from then on ops add to it.
func (n *Node) materialize() {
	if n.fresh {
		n.adj.zero()
		n.fresh = false
	}
}

// overwrites reports whether o's reverse rules (backward and dual) look at
// their inputs' fresh flags themselves: they write a fresh adjoint outright
// (clearing the flag), which saves the pass that zeroes it, with the bits
// that adding to zeros gives. The sweep zeroes the fresh inputs of every
// other op before its rule runs, and of every op when shortcuts is off.
// (A type switch on the concrete types: an assertion to an interface may
// allocate the first time.)
func overwrites(o op) bool {
	if !shortcuts {
		return false
	}
	switch o.(type) {
	case *matmulT, *unaryOp:
		return true
	}
	return false
}

// An op is one primitive: its value rule and its derivative rules, side
// by side in one type, each with the same shape.
type op interface {
	// forward sets the node's value, every Taylor coefficient block, from
	// its inputs and constants (the Taylor rule runs once per direction,
	// over Tape.directions). It runs when the op is recorded.
	forward(n *Node)
	// backward adds the node's adjoint, pulled back through the op, to its
	// inputs' adjoints, for blocks [0, nb). With nb == 1 only the primal
	// adjoint is propagated (higher adjoints are treated as zero).
	backward(n *Node, nb int)
	// dual is the reverse rule in dual numbers along the tape's single
	// order-1 direction: block 0 of an adjoint is the adjoint, block 1 its
	// tangent (forward over reverse).
	dual(n *Node)
}

// leaf is the op of nodes without inputs; kind tells the leaves apart.
type leaf struct{ kind int }

func (*leaf) forward(*Node)       {}
func (*leaf) backward(*Node, int) {}
func (*leaf) dual(*Node)          {}

var (
	opInput op = &leaf{1}
	opConst op = &leaf{2}
	opParam op = &leaf{3}
)

// record links a new node to its inputs and decides whether it needs a gradient.
func record(n, a, b *Node) *Node {
	n.a, n.b = a, b
	n.needGrad = a.needGrad || b != nil && b.needGrad
	return n
}

// emit records y on its inputs a and b (b may be nil) and computes its
// value by its op's forward rule.
func (t *Tape) emit(y, a, b *Node) *Node {
	record(y, a, b)
	y.op.forward(y)
	return y
}

// directions yields the block of every jet direction's first Taylor
// coefficient and the direction's order (1 or 2): the loop of every Taylor
// rule, forward and reverse.
func (t *Tape) directions() iter.Seq2[int, int] {
	return func(yield func(block, order int) bool) {
		for d, o := range t.orders {
			if !yield(t.first[d], o) {
				return
			}
		}
	}
}

// sameTape panics unless all nodes are on tape t.
func sameTape(t *Tape, ns ...*Node) {
	for _, n := range ns {
		if n.tape != t {
			panic("ad: nodes from different tapes")
		}
	}
}
