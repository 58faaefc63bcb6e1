package ad

import "fmt"

// transposeOp is y = xᵀ, block by block.
type transposeOp struct{}

var opTranspose op = &transposeOp{}

// Transpose records the transpose of x: a node of x.Cols() rows per block
// and x.Rows() columns, with x's blocks, each block the transpose of x's
// (transposing is linear, so every Taylor coefficient is transposed
// alike). The rows of the result are x's columns, not a batch: it is for
// matrices such as the Gram matrix Σ_b ∂f(x_b)∂f(x_b)ᵀ of a
// closed-form fit, formed as MatMul(Transpose(K), K).
func (t *Tape) Transpose(x *Node) *Node {
	sameTape(t, x)
	return t.emit(t.node(opTranspose, x.val.Cols, x.rows, x.blocks), x, nil)
}

func (*transposeOp) forward(y *Node) {
	x := y.a
	y.zero = x.zero
	for k := range y.blocks {
		transposeAdd(y.blk(k), x.blk(k), x.rows, x.val.Cols, false)
	}
}

func (*transposeOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	for k := range min(nb, y.blocks) {
		transposeAdd(x.ablk(k), y.ablk(k), y.rows, y.val.Cols, true)
	}
}

func (o *transposeOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear with a 0/1 Jacobian (J∘J = J): every quantity of y goes
// back transposed; no second-order term.
func (*transposeOp) curv(s *curvSweep, y *Node) {
	s.linear(y, y.a, func(v *Node, _ bool) *Node { return s.t.Transpose(v) })
}

// transposeAdd sets (or, with add, increments) the c×r matrix dst by the
// transpose of the r×c matrix src.
func transposeAdd(dst, src []float64, r, c int, add bool) {
	if len(dst) != r*c || len(src) != r*c {
		panic(fmt.Sprintf("ad: Transpose: %d and %d elements for a %d×%d matrix", len(dst), len(src), r, c))
	}
	for i := range r {
		row := src[i*c : (i+1)*c]
		for j, v := range row {
			if add {
				dst[j*r+i] += v
			} else {
				dst[j*r+i] = v
			}
		}
	}
}
