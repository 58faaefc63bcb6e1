package ad

import "fmt"

// Column gathers: y[:, j] = x[:, cols[j]], a linear map that moves values
// between columns without arithmetic. A permutation of the columns is one
// (NICE's even/odd split), and so is picking a set of columns in any order,
// repeats allowed.

// gatherOp is y = x[:, cols] block by block; the node's aux row 0 holds
// cols (as float64, exact for any column index).
type gatherOp struct{}

var opGather op = &gatherOp{}

// GatherCols records the B×len(cols) node y with y[:, j] = x[:, cols[j]]
// in every block: a column of x may be taken several times or not at
// all. y has x's blocks (a plain x gives a plain y). cols is copied while
// recording. The reverse sweeps add y's adjoint of column j into x's
// adjoint of column cols[j]. It panics if cols is empty or holds an index
// outside [0, x.Cols()).
func (t *Tape) GatherCols(x *Node, cols []int) *Node {
	sameTape(t, x)
	if len(cols) == 0 {
		panic("ad: GatherCols: no columns")
	}
	for j, c := range cols {
		if c < 0 || c >= x.val.Cols {
			panic(fmt.Sprintf("ad: GatherCols: cols[%d] = %d, outside the %d columns of x", j, c, x.val.Cols))
		}
	}
	return t.emit(t.gatherNode(x, cols, 1), x, nil)
}

// PermuteCols records x with its columns permuted: y[:, j] = x[:, perm[j]]
// in every block, for a permutation perm of 0, ..., x.Cols()−1 (GatherCols
// with every column taken once). The inverse permutation q (q[perm[j]] = j)
// undoes it: PermuteCols(PermuteCols(x, perm), q) is x. It panics unless
// perm is a permutation of x's columns.
func (t *Tape) PermuteCols(x *Node, perm []int) *Node {
	sameTape(t, x)
	n := x.val.Cols
	if len(perm) != n {
		panic(fmt.Sprintf("ad: PermuteCols: %d indices for %d columns", len(perm), n))
	}
	// Row 1 of aux marks the columns seen: a permutation sees each once.
	y := t.gatherNode(x, perm, 2)
	seen := y.aux.Row(1)
	clear(seen)
	for j, c := range perm {
		if c < 0 || c >= n || seen[c] != 0 {
			panic(fmt.Sprintf("ad: PermuteCols: perm[%d] = %d is outside 0..%d or repeats an earlier index", j, c, n-1))
		}
		seen[c] = 1
	}
	return t.emit(y, x, nil)
}

// gatherNode returns the node of a gather of x, not yet recorded, with
// auxRows rows of scratch and the (unchecked) indices in row 0.
func (t *Tape) gatherNode(x *Node, cols []int, auxRows int) *Node {
	y := t.node(opGather, x.rows, len(cols), x.blocks)
	y.aux.Resize(auxRows, len(cols))
	for j, c := range cols {
		y.aux.Data[j] = float64(c)
	}
	return y
}

// forward: linear and without arithmetic, so every block alike, and a block
// of y is zero where x's is.
func (*gatherOp) forward(y *Node) {
	x := y.a
	c, n := x.val.Cols, y.val.Cols
	cols := y.aux.Data[:n]
	y.zero = x.zero
	for r := range y.val.Rows {
		src, dst := x.val.Data[r*c:(r+1)*c], y.val.Data[r*n:(r+1)*n]
		for j, k := range cols {
			dst[j] = src[int(k)]
		}
	}
}

// backward adds ȳ[:, j] into x̄[:, cols[j]] row by row, over the first nb
// blocks (a column taken twice gets both).
func (*gatherOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	c, n := x.val.Cols, y.val.Cols
	cols := y.aux.Data[:n]
	for r := range min(nb, x.blocks) * y.rows {
		src, dst := y.adj.Data[r*n:(r+1)*n], x.adj.Data[r*c:(r+1)*c]
		for j, k := range cols {
			dst[int(k)] += src[j]
		}
	}
}

// dual: linear, so the adjoint's tangent (block 1) moves as the adjoint.
func (o *gatherOp) dual(y *Node) { o.backward(y, 2) }
