package ad

import "fmt"

// Structural ops: column concatenation and slicing, which move values
// between columns without arithmetic, and a stop-gradient, which passes a
// value through as a constant. Conditional networks use the first two (an
// encoder on [x, ε], a score net on [x, z]); the entropy surrogates of
// implicit distributions use the third.

// highBlocks returns the zero mask of a node of nb blocks whose blocks
// 1, ..., nb−1 are all zero (only the first 64 blocks are tracked).
func highBlocks(nb int) uint64 {
	if nb >= 64 {
		return ^uint64(1)
	}
	return (uint64(1)<<nb - 1) &^ 1
}

// zeroMask returns the zero mask of n seen as an operand of nb blocks: a
// plain node's missing Taylor coefficients are zero.
func zeroMask(n *Node, nb int) uint64 {
	if n.blocks == 1 {
		return highBlocks(nb)
	}
	return n.zero
}

// concatOp is y = [a, b] column by column, block by block.
type concatOp struct{}

var opConcat op = &concatOp{}

// ConcatCols records the column concatenation [a, b]: a B×(Ca+Cb) node
// whose row r is row r of a followed by row r of b. The operands have
// equal rows and either equal blocks or one of them plain: a plain operand
// does not depend on the jet's directions, so its columns of every Taylor
// coefficient are zero (as for a conditioning input x beside a jet z), and
// it receives the gradient of block 0 only. It panics on other shapes.
func (t *Tape) ConcatCols(a, b *Node) *Node {
	sameTape(t, a, b)
	if a.rows != b.rows || a.blocks != b.blocks && a.blocks != 1 && b.blocks != 1 {
		panic(fmt.Sprintf("ad: ConcatCols: operands are %d×%d (%d blocks) and %d×%d (%d blocks)",
			a.rows, a.val.Cols, a.blocks, b.rows, b.val.Cols, b.blocks))
	}
	nb := max(a.blocks, b.blocks)
	y := t.node(opConcat, a.rows, a.val.Cols+b.val.Cols, nb)
	return t.emit(y, a, b)
}

func (*concatOp) forward(y *Node) {
	a, b := y.a, y.b
	ca, cb, n := a.val.Cols, b.val.Cols, y.val.Cols
	y.zero = zeroMask(a, y.blocks) & zeroMask(b, y.blocks)
	for r := range y.val.Rows {
		yr := y.val.Data[r*n : (r+1)*n]
		if r < a.val.Rows {
			copy(yr[:ca], a.val.Data[r*ca:(r+1)*ca])
		} else {
			clear(yr[:ca])
		}
		if r < b.val.Rows {
			copy(yr[ca:], b.val.Data[r*cb:(r+1)*cb])
		} else {
			clear(yr[ca:])
		}
	}
}

func (*concatOp) backward(y *Node, nb int) {
	a, b := y.a, y.b
	ca, n := a.val.Cols, y.val.Cols
	for _, in := range [...]struct {
		x   *Node
		off int
	}{{a, 0}, {b, ca}} {
		x := in.x
		if !x.needGrad {
			continue
		}
		c := x.val.Cols
		for r := range min(nb, x.blocks) * y.rows {
			addTo(x.adj.Data[r*c:(r+1)*c], y.adj.Data[r*n+in.off:])
		}
	}
}

// dual: a jet operand takes the adjoint and its tangent, a plain one the
// adjoint only.
func (o *concatOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear, each operand takes its columns of every quantity.
func (*concatOp) curv(s *curvSweep, y *Node) {
	ca := y.a.val.Cols
	for _, in := range [...]struct {
		x      *Node
		lo, hi int
	}{{y.a, 0, ca}, {y.b, ca, y.val.Cols}} {
		if s.dep(in.x) {
			s.linear(y, in.x, func(v *Node, _ bool) *Node { return s.t.SliceCols(v, in.lo, in.hi) })
		}
	}
}

// sliceOp is y = x[:, lo:hi], block by block; scalar holds lo.
type sliceOp struct{}

var opSlice op = &sliceOp{}

// SliceCols records columns [lo, hi) of x: a B×(hi−lo) node with x's
// blocks. It panics unless 0 ≤ lo < hi ≤ x.Cols().
func (t *Tape) SliceCols(x *Node, lo, hi int) *Node {
	sameTape(t, x)
	if lo < 0 || hi <= lo || hi > x.val.Cols {
		panic(fmt.Sprintf("ad: SliceCols: columns [%d, %d) of a %d-column node", lo, hi, x.val.Cols))
	}
	y := t.node(opSlice, x.rows, hi-lo, x.blocks)
	y.dir = lo
	return t.emit(y, x, nil)
}

func (*sliceOp) forward(y *Node) {
	x := y.a
	c, n, lo := x.val.Cols, y.val.Cols, y.dir
	y.zero = x.zero
	for r := range y.val.Rows {
		copy(y.val.Data[r*n:(r+1)*n], x.val.Data[r*c+lo:r*c+lo+n])
	}
}

func (*sliceOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	c, n, lo := x.val.Cols, y.val.Cols, y.dir
	for r := range nb * y.rows {
		addTo(x.adj.Data[r*c+lo:r*c+lo+n], y.adj.Data[r*n:])
	}
}

func (o *sliceOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear, every quantity goes back to columns [lo, hi) with zeros
// elsewhere.
func (*sliceOp) curv(s *curvSweep, y *Node) {
	x := y.a
	lo, hi, c := y.dir, y.dir+y.val.Cols, x.val.Cols
	s.linear(y, x, func(v *Node, _ bool) *Node {
		if lo > 0 {
			v = s.t.ConcatCols(s.zerosNode(v.rows, lo), v)
		}
		if hi < c {
			v = s.t.ConcatCols(v, s.zerosNode(v.rows, c-hi))
		}
		return v
	})
}

// stopOp passes block 0 through and zeroes the rest; it has no adjoint.
type stopOp struct{}

var opStop op = &stopOp{}

// StopGradient records x as a constant: the value of block 0 passes
// through, every higher Taylor coefficient is zero (as JAX's stop_gradient
// has a zero tangent), and the reverse sweeps send nothing back to x. The
// result has x's blocks, so it combines with x's relatives in binary ops.
// The entropy surrogate −Σ stopgrad(ŝ(z))ᵀz of an implicit distribution
// uses it to hold a score estimate fixed while z is differentiated.
func (t *Tape) StopGradient(x *Node) *Node {
	sameTape(t, x)
	y := t.emit(t.node(opStop, x.rows, x.val.Cols, x.blocks), x, nil)
	y.needGrad = false
	return y
}

func (*stopOp) forward(y *Node) {
	copy(y.blk(0), y.a.blk(0))
	clear(y.val.Data[len(y.blk(0)):])
	y.zero = highBlocks(y.blocks)
}

func (*stopOp) backward(*Node, int) {}
func (*stopOp) dual(*Node)          {}

// curv: never called: the sweeps treat a stop-gradient's output as a
// constant, as the reverse sweeps do.
func (*stopOp) curv(*curvSweep, *Node) {}
