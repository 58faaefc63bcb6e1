package ad

import "fmt"

// Column gathers and scatters: linear maps that move values between
// columns without arithmetic other than the sums of a scatter. A gather
// y[:, j] = x[:, cols[j]] picks columns in any order, repeats allowed; a
// permutation of the columns is one (NICE's even/odd split). A scatter
// y[:, cols[j]] += x[:, j] is its transpose: each op's reverse rule is the
// other's forward rule.

// colMapOp is a gather or, with scatter set, a scatter, block by block;
// the node's aux row 0 holds cols (as float64, exact for any column index).
type colMapOp struct{ scatter bool }

var (
	opGather  op = &colMapOp{}
	opScatter op = &colMapOp{scatter: true}
)

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
	checkCols("GatherCols", cols, x.val.Cols)
	return t.emit(t.colMapNode(opGather, x, len(cols), cols, 1), x, nil)
}

// ScatterCols records the B×n node y that is zero but for
// y[:, cols[j]] += x[:, j] for every column j of x, in every block: the
// transpose of GatherCols(·, cols), so that Σ yᵀw = Σ xᵀ GatherCols(w,
// cols). Columns of x sent to one column of y add up, in the order of j.
// y has x's blocks. cols is copied while recording. It panics unless cols
// has one index in [0, n) per column of x.
func (t *Tape) ScatterCols(x *Node, cols []int, n int) *Node {
	sameTape(t, x)
	if len(cols) != x.val.Cols {
		panic(fmt.Sprintf("ad: ScatterCols: %d indices for %d columns", len(cols), x.val.Cols))
	}
	checkCols("ScatterCols", cols, n)
	return t.emit(t.colMapNode(opScatter, x, n, cols, 1), x, nil)
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
	checkCols("PermuteCols", perm, n)
	// Row 1 of aux marks the columns seen: a permutation sees each once.
	y := t.colMapNode(opGather, x, n, perm, 2)
	seen := y.aux.Row(1)
	clear(seen)
	for j, c := range perm {
		if seen[c] != 0 {
			panic(fmt.Sprintf("ad: PermuteCols: perm[%d] = %d repeats an earlier index", j, c))
		}
		seen[c] = 1
	}
	return t.emit(y, x, nil)
}

// checkCols panics unless every index is in [0, n).
func checkCols(name string, cols []int, n int) {
	for j, c := range cols {
		if c < 0 || c >= n {
			panic(fmt.Sprintf("ad: %s: cols[%d] = %d, outside the %d columns", name, j, c, n))
		}
	}
}

// colMapNode returns the node of a gather or scatter of x with n columns,
// not yet recorded, with auxRows rows of scratch and the indices in row 0.
func (t *Tape) colMapNode(o op, x *Node, n int, cols []int, auxRows int) *Node {
	y := t.node(o, x.rows, n, x.blocks)
	y.aux.Resize(auxRows, len(cols))
	for j, c := range cols {
		y.aux.Data[j] = float64(c)
	}
	return y
}

// colMapT records the transpose of the gather or scatter y applied to v
// (shaped like y): a gather's transpose scatters by its indices, a
// scatter's gathers. The result is shaped like y's operand.
func (t *Tape) colMapT(y, v *Node) *Node {
	o := opScatter
	if y.op == opScatter {
		o = opGather
	}
	idx := y.colIndices()
	z := t.node(o, v.rows, y.a.val.Cols, v.blocks)
	z.aux.Resize(1, len(idx))
	copy(z.aux.Data, idx)
	return t.emit(z, v, nil)
}

// forward: linear, so every block alike, and a block of y is zero where
// x's is.
func (o *colMapOp) forward(y *Node) {
	y.zero = y.a.zero
	if o.scatter {
		clear(y.val.Data)
		scatterAdd(y.a.val, y.val, y.colIndices(), y.val.Rows)
	} else {
		gather(y.a.val, y.val, y.colIndices(), y.val.Rows, false)
	}
}

// backward pulls ȳ back over the first nb blocks, adding into x̄: a
// gather's adjoint scatters, a scatter's gathers.
func (o *colMapOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	rows := min(nb, x.blocks) * y.rows
	if o.scatter {
		gather(y.adj, x.adj, y.colIndices(), rows, true)
	} else {
		scatterAdd(y.adj, x.adj, y.colIndices(), rows)
	}
}

// dual: linear, so the adjoint's tangent (block 1) moves as the adjoint.
func (o *colMapOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear with a 0/1 Jacobian J (one 1 per row of a gather's, per
// column of a scatter's), so J∘J = J and every quantity of y goes back by
// the transposed map, recorded as the other op; no second-order term.
func (*colMapOp) curv(s *curvSweep, y *Node) {
	s.linear(y, y.a, func(v *Node, _ bool) *Node { return s.t.colMapT(y, v) })
}

// colIndices returns the column indices of a gather or scatter node.
func (y *Node) colIndices() []float64 { return y.aux.Row(0) }

// gather sets (or with add, adds to) dst[r, j] the value src[r, cols[j]]
// for the first rows rows; dst has len(cols) columns.
func gather(src, dst Mat, cols []float64, rows int, add bool) {
	cs, cd := src.Cols, dst.Cols
	for r := range rows {
		s, d := src.Data[r*cs:(r+1)*cs], dst.Data[r*cd:(r+1)*cd]
		for j, k := range cols {
			if add {
				d[j] += s[int(k)]
			} else {
				d[j] = s[int(k)]
			}
		}
	}
}

// scatterAdd adds src[r, j] to dst[r, cols[j]] for the first rows rows, in
// the order of j; src has len(cols) columns.
func scatterAdd(src, dst Mat, cols []float64, rows int) {
	cs, cd := src.Cols, dst.Cols
	for r := range rows {
		s, d := src.Data[r*cs:(r+1)*cs], dst.Data[r*cd:(r+1)*cd]
		for j, k := range cols {
			d[int(k)] += s[j]
		}
	}
}
