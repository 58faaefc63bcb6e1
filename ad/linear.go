package ad

import (
	"fmt"
	"sync/atomic"
)

// Linear maps act on every Taylor coefficient block alike, so a jet node of
// B rows and nb blocks goes through one GEMM of nb·B rows: the cost model of
// the package doc counts these GEMMs.

// matmulT is the op Y = X·Wᵀ (+ b on block 0), W plain.
type matmulT struct{ bias bool }

// matmulN is the op Y = X·W, W plain.
type matmulN struct{}

var (
	opMatMulT op = &matmulT{}
	opLinear  op = &matmulT{bias: true}
	opMatMulN op = &matmulN{}
)

// MatMulT records Y = X·Wᵀ for a node X (B×k, plain or jet) and a plain node
// W (n×k), the layout of a PyTorch Linear weight. Y is B×n with X's blocks.
func (t *Tape) MatMulT(x, w *Node) *Node {
	checkMatMul("MatMulT", x, w, w.val.Cols)
	return t.linearT(opMatMulT, x, w, nil)
}

// Linear records the affine map Y = X·Wᵀ + b of a PyTorch Linear layer: W is
// a plain n×k node, b a plain 1×n node added to every row of block 0 (the
// bias does not depend on the jet's direction, so higher coefficients get
// only X·Wᵀ). Each output starts from its bias and accumulates along k.
func (t *Tape) Linear(x, w, b *Node) *Node {
	checkMatMul("Linear", x, w, w.val.Cols)
	if b.blocks != 1 || b.val.Rows != 1 || b.val.Cols != w.val.Rows {
		panic(fmt.Sprintf("ad: Linear: bias is %d×%d, want 1×%d", b.val.Rows, b.val.Cols, w.val.Rows))
	}
	sameTape(t, b)
	return t.linearT(opLinear, x, w, b)
}

// linearT records X·Wᵀ (+ b on block 0 when b is not nil).
func (t *Tape) linearT(o op, x, w, b *Node) *Node {
	y := t.node(o, x.rows, w.val.Rows, x.blocks)
	record(y, x, w)
	y.c = b
	y.needGrad = y.needGrad || b != nil && b.needGrad
	y.op.forward(y)
	return y
}

// forward: blocks of X known to be zero give zero blocks without a
// product, and block 0 comes from the primal tape when it has it; every
// other output is computed as the reference GEMM computes it, so skipping
// work changes no bit. With a bias, each output of block 0 starts from its
// bias and accumulates along k; every other output starts from zero, which
// the product writes itself (no pass to clear the blocks first).
func (*matmulT) forward(y *Node) {
	t, x, w, b := y.tape, y.a, y.b, y.c
	y.zero = x.zero
	n, k, rows := y.val.Cols, x.val.Cols, x.rows
	from, biased := 0, false // the first block to compute; block 0 holds the bias
	if src := t.primalOf(y); src != nil {
		copy(y.blk(0), src.val.Data)
		from = 1
	} else if b != nil {
		y0 := y.blk(0)
		for i := 0; i < rows; i++ {
			copy(y0[i*n:(i+1)*n], b.val.Data)
		}
		biased = true
	}
	for blk := from; blk < y.blocks; {
		lo, hi := nextRun(y.zero, blk, y.blocks)
		clear(y.val.Data[blk*rows*n : lo*rows*n]) // blocks known to be zero
		if lo == y.blocks {
			break
		}
		xs, ys := x.val.Data[lo*rows*k:], y.val.Data[lo*rows*n:]
		if biased && lo == 0 {
			clear(y.val.Data[rows*n : hi*rows*n])
			t.gemmNT((hi-lo)*rows, n, k, xs, k, w.val.Data, k, ys, n)
		} else {
			t.setNT((hi-lo)*rows, n, k, xs, k, w.val.Data, k, ys, n)
		}
		blk = hi
	}
}

func (m *matmulT) backward(y *Node, nb int) {
	x, w := y.a, y.b
	rows, n, k := nb*y.rows, w.val.Rows, w.val.Cols
	if x.needGrad { // X̄ += Ȳ·W
		productNN(y.tape, x, rows, k, n, y.adj.Data, n, w.val.Data, k)
	}
	m.backwardParams(y, nb)
}

// productNN adds the m×n product A·B to the first m rows of x's adjoint
// (stride n); a fresh adjoint gets the product written outright and its
// other rows zeroed.
func productNN(t *Tape, x *Node, m, n, k int, a []float64, lda int, b []float64, ldb int) {
	if !x.fresh {
		t.gemmNN(m, n, k, a, lda, b, ldb, x.adj.Data, n)
		return
	}
	t.setNN(m, n, k, a, lda, b, ldb, x.adj.Data, n)
	clear(x.adj.Data[m*n:])
	x.fresh = false
}

// backwardParams accumulates W̄ += Ȳᵀ·X over blocks [0, nb), skipping the
// blocks of X known to be zero (they add nothing), and, for Linear,
// b̄ += the column sums of Ȳ's block 0. A fresh W̄ gets the first product
// written outright.
func (m *matmulT) backwardParams(y *Node, nb int) {
	x, w := y.a, y.b
	n, k, rows := w.val.Rows, w.val.Cols, y.rows
	if w.needGrad {
		for blk := 0; blk < nb; {
			lo, hi := nextRun(x.zero, blk, nb)
			if lo == nb {
				break
			}
			a, b := y.adj.Data[lo*rows*n:], x.val.Data[lo*rows*k:]
			if w.fresh {
				y.tape.setTN(n, k, (hi-lo)*rows, a, n, b, k, w.adj.Data, k)
				w.fresh = false
			} else {
				y.tape.gemmTN(n, k, (hi-lo)*rows, a, n, b, k, w.adj.Data, k)
			}
			blk = hi
		}
		w.materialize() // when every block was zero
	}
	if m.bias && y.c.needGrad {
		y.c.materialize()
		colSums(y.c.adj.Data, y.ablk(0), n)
	}
}

// dual propagates the adjoint and its tangent to X; the weights get the
// plain gradient (block 0) only.
func (m *matmulT) dual(y *Node) {
	x, w := y.a, y.b
	n, k := w.val.Rows, w.val.Cols
	if x.needGrad {
		productNN(y.tape, x, 2*y.rows, k, n, y.adj.Data, n, w.val.Data, k)
	}
	m.backwardParams(y, 1)
}

// curv: linear in X, J = W per row: v ↦ v·W, squared v ↦ v·(W∘W). W and
// the bias are constants of the sweep: they may depend on parameters, not
// on the input.
func (*matmulT) curv(s *curvSweep, y *Node) {
	t, w := s.t, y.b
	if s.dep(w) || s.dep(y.c) {
		panic("ad: MatMulT/Linear: the weight or bias depends on the input of a curvature sweep")
	}
	s.linear(y, y.a, func(v *Node, squared bool) *Node {
		if squared {
			return t.MatMul(v, t.Mul(w, w))
		}
		return t.MatMul(v, w)
	})
}

// MatMul records Y = X·W for a node X (B×k, plain or jet) and a plain node W (k×n).
func (t *Tape) MatMul(x, w *Node) *Node {
	checkMatMul("MatMul", x, w, w.val.Rows)
	return t.emit(t.node(opMatMulN, x.rows, w.val.Cols, x.blocks), x, w)
}

func (*matmulN) forward(y *Node) {
	x, w := y.a, y.b
	y.tape.setNN(y.val.Rows, y.val.Cols, x.val.Cols, x.val.Data, x.val.Cols, w.val.Data, w.val.Cols, y.val.Data, y.val.Cols)
}

func (*matmulN) backward(y *Node, nb int) {
	x, w := y.a, y.b
	rows, k, n := nb*y.rows, w.val.Rows, w.val.Cols
	if x.needGrad { // X̄ += Ȳ·Wᵀ
		y.tape.gemmNT(rows, k, n, y.adj.Data, n, w.val.Data, n, x.adj.Data, k)
	}
	if w.needGrad { // W̄ += Xᵀ·Ȳ
		y.tape.gemmTN(k, n, rows, x.val.Data, k, y.adj.Data, n, w.adj.Data, n)
	}
}

func (*matmulN) dual(y *Node) {
	x, w := y.a, y.b
	k, n := w.val.Rows, w.val.Cols
	if x.needGrad {
		y.tape.gemmNT(2*y.rows, k, n, y.adj.Data, n, w.val.Data, n, x.adj.Data, k)
	}
	if w.needGrad {
		y.tape.gemmTN(k, n, y.rows, x.val.Data, k, y.adj.Data, n, w.adj.Data, n)
	}
}

// curv: linear in X, J = Wᵀ per row: v ↦ v·Wᵀ, squared v ↦ v·(W∘W)ᵀ.
func (*matmulN) curv(s *curvSweep, y *Node) {
	t, w := s.t, y.b
	if s.dep(w) {
		panic("ad: MatMul: the right operand depends on the input of a curvature sweep")
	}
	s.linear(y, y.a, func(v *Node, squared bool) *Node {
		if squared {
			return t.MatMulT(v, t.Mul(w, w))
		}
		return t.MatMulT(v, w)
	})
}

func checkMatMul(name string, x, w *Node, inner int) {
	sameTape(x.tape, w)
	if w.blocks != 1 {
		panic(fmt.Sprintf("ad: %s: the right operand must be plain (a parameter or constant)", name))
	}
	if x.val.Cols != inner {
		panic(fmt.Sprintf("ad: %s: X is %d×%d, W is %d×%d", name, x.rows, x.val.Cols, w.val.Rows, w.val.Cols))
	}
}

// colSums adds the column sums of the r×n matrix a to dst (length n), row by row.
func colSums(dst, a []float64, n int) {
	for i := 0; i+n <= len(a); i += n {
		row := a[i : i+n]
		for j, v := range row {
			dst[j] += v
		}
	}
}

// addTo adds src to dst element-wise over len(dst) elements.
func addTo(dst, src []float64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// The tape's matrix products: the GEMMs of its workspace, counted while
// CountFLOPs runs.

func (t *Tape) gemmNN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.NN(m, n, k, a, lda, b, ldb, c, ldc)
}

func (t *Tape) gemmNT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.NT(m, n, k, a, lda, b, ldb, c, ldc)
}

func (t *Tape) gemmTN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.TN(m, n, k, a, lda, b, ldb, c, ldc)
}

// setNN, setNT and setTN overwrite C with the product instead of adding
// to it (see gemm.Workspace.SetNN).
func (t *Tape) setNN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.SetNN(m, n, k, a, lda, b, ldb, c, ldc)
}

func (t *Tape) setNT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.SetNT(m, n, k, a, lda, b, ldb, c, ldc)
}

func (t *Tape) setTN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	count(m, n, k)
	t.ws.SetTN(m, n, k, a, lda, b, ldb, c, ldc)
}

// flops counts the matrix products' floating-point operations while
// counting is set (see CountFLOPs).
var (
	counting atomic.Bool
	flops    atomic.Uint64
)

func count(m, n, k int) {
	if counting.Load() {
		flops.Add(uint64(2 * m * n * k))
	}
}

// CountFLOPs runs f and returns the floating-point operations of the matrix
// products that tapes did meanwhile, on any goroutine: 2mnk for each m×k by
// k×n product (the products skipped over zero blocks are not done and not
// counted). With the time f takes, it gives the rate at which a training
// step multiplies matrices. Calls must not overlap.
func CountFLOPs(f func()) uint64 {
	flops.Store(0)
	counting.Store(true)
	defer counting.Store(false)
	f()
	return flops.Load()
}
