package ad

import (
	"fmt"
	"math"
)

// solveOp is X = A⁻¹B for a square A; the node keeps A₀'s LU factors.
//
// The solution is differentiated, never an iteration: with normalised
// Taylor coefficients A(t)X(t) = B(t) is a Cauchy product, so along each
// direction
//
//	X₀ = A₀⁻¹B₀
//	X₁ = A₀⁻¹(B₁ − A₁X₀)
//	X₂ = A₀⁻¹(B₂ − A₁X₁ − A₂X₀)
//
// and every coefficient costs one more pair of triangular solves with the
// same factors. The reverse rule of X = A⁻¹B is W = A⁻ᵀX̄, B̄ += W,
// Ā −= WXᵀ; over a jet it runs through the equations above backwards (see
// backward), and its dual (forward over reverse) adds the tangents
// W' = A⁻ᵀ(X̄' − A'ᵀW), B̄' += W', Ā' −= W'Xᵀ + WX'ᵀ.
type solveOp struct{}

var opSolve op = &solveOp{}

// Solve records X = A⁻¹B for a square n×n node A and an n×k node B: the
// solution of AX = B, an n×k node. Either operand may be a jet or plain (a
// plain operand's Taylor coefficients are zero, and it receives the
// gradient of block 0 only, summed over the blocks it multiplies); the
// result has the larger number of blocks. The rows of a node here are the
// rows of the matrix, not a batch: X couples all rows of B.
//
// The value factorises A₀ (block 0 of A) once per recording by LU with
// partial pivoting, in plain loops, deterministically; every Taylor
// coefficient and every reverse and dual rule reuses those factors, so A
// need not be symmetric. Recording the same solve again on a reset tape
// allocates nothing.
//
// A singular A₀ is data, not misuse: when elimination meets a pivot that is
// exactly zero (or NaN), every entry of X and of its Taylor coefficients is
// NaN, and so is every adjoint the reverse sweeps send back to A and B, so
// that a loss built on it is NaN and a trainer's non-finite check rejects
// the step. A nearly singular A₀ gives large, inaccurate values, as any
// direct solver does. Shapes that do not fit panic.
func (t *Tape) Solve(a, b *Node) *Node {
	sameTape(t, a, b)
	n := a.rows
	if a.val.Cols != n || b.rows != n || a.blocks != b.blocks && a.blocks != 1 && b.blocks != 1 {
		panic(fmt.Sprintf("ad: Solve: A is %d×%d (%d blocks), B is %d×%d (%d blocks); want A square and B with as many rows",
			a.rows, a.val.Cols, a.blocks, b.rows, b.val.Cols, b.blocks))
	}
	nb := max(a.blocks, b.blocks)
	return t.emit(t.node(opSolve, n, b.val.Cols, nb), a, b)
}

// solveScratch returns views of the node's scratch: A₀'s LU factors (n×n),
// the row interchanges of the factorisation (n, as float64) and nb blocks
// of n×k for the adjoints W. It reuses the node's aux storage.
func solveScratch(y *Node) (lu, piv, w []float64) {
	n, k := y.rows, y.val.Cols
	y.aux.Resize(n*n+n+y.blocks*n*k, 1)
	d := y.aux.Data
	return d[:n*n], d[n*n : n*n+n], d[n*n+n:]
}

// singular reports whether the node's factorisation met a zero pivot; the
// forward rule records it in scalar.
func singular(y *Node) bool { return y.scalar != 0 }

func (*solveOp) forward(y *Node) {
	a, b := y.a, y.b
	n, k := y.rows, y.val.Cols
	lu, piv, _ := solveScratch(y)
	copy(lu, a.blk(0))
	y.zero = 0
	if !luFactor(lu, piv, n) {
		y.scalar = 1
		for i := range y.val.Data {
			y.val.Data[i] = math.NaN()
		}
		return
	}
	copy(y.blk(0), b.blk(0))
	luSolve(lu, piv, n, y.blk(0), k)
	if y.blocks == 1 {
		return
	}
	aMask, bMask := zeroMask(a, y.blocks), zeroMask(b, y.blocks)
	ajet, bjet := a.blocks > 1, b.blocks > 1
	x0 := y.blk(0)
	for f, order := range y.tape.directions() {
		// X₁ = A₀⁻¹(B₁ − A₁X₀).
		x1 := y.blk(f)
		rhs(x1, b, f, bjet)
		if ajet {
			mulSub(x1, a.blk(f), x0, n, k, false)
		}
		luSolve(lu, piv, n, x1, k)
		if isZero(bMask, f) && isZero(aMask, f) {
			y.zero |= 1 << f
		}
		if order == 1 {
			continue
		}
		// X₂ = A₀⁻¹(B₂ − A₁X₁ − A₂X₀).
		x2 := y.blk(f + 1)
		rhs(x2, b, f+1, bjet)
		if ajet {
			mulSub(x2, a.blk(f), x1, n, k, false)
			mulSub(x2, a.blk(f+1), x0, n, k, false)
		}
		luSolve(lu, piv, n, x2, k)
		if isZero(bMask, f+1) && isZero(aMask, f+1) && (isZero(aMask, f) || isZero(y.zero, f)) {
			y.zero |= 1 << (f + 1)
		}
	}
}

// rhs sets dst to block k of b, or to zero when b is plain.
func rhs(dst []float64, b *Node, k int, jet bool) {
	if jet {
		copy(dst, b.blk(k))
	} else {
		clear(dst)
	}
}

// isZero reports whether block k is marked zero in mask (only the first 64
// blocks are tracked).
func isZero(mask uint64, k int) bool { return k < 64 && mask&(1<<k) != 0 }

// backward pulls the adjoints of blocks [0, nb) back through the equations
// of the forward rule, last first. Along a direction of order 2 (W_k is the
// adjoint of the right-hand side of X_k's equation):
//
//	W₂ = A₀⁻ᵀX̄₂
//	W₁ = A₀⁻ᵀ(X̄₁ − A₁ᵀW₂)
//
// and then, once every direction has added its share,
// W₀ = A₀⁻ᵀ(X̄₀ − Σ (A₁ᵀW₁ + A₂ᵀW₂)). Each W_k is B_k's adjoint; A₀'s
// adjoint is −Σ_k W_kX_kᵀ over all blocks, A₁'s −(W₁X₀ᵀ + W₂X₁ᵀ) and A₂'s
// −W₂X₀ᵀ.
func (*solveOp) backward(y *Node, nb int) {
	a, b := y.a, y.b
	n, k := y.rows, y.val.Cols
	lu, piv, w := solveScratch(y)
	sz := n * k
	wb := func(i int) []float64 { return w[i*sz : (i+1)*sz] }
	ajet := a.blocks > 1
	if singular(y) {
		for i := range w[:nb*sz] {
			w[i] = math.NaN()
		}
	} else {
		w0 := wb(0)
		copy(w0, y.ablk(0))
		if nb > 1 {
			for f, order := range y.tape.directions() {
				w1 := wb(f)
				copy(w1, y.ablk(f))
				if order == 2 {
					w2 := wb(f + 1)
					copy(w2, y.ablk(f+1))
					luSolveT(lu, piv, n, w2, k)
					if ajet {
						mulSub(w1, a.blk(f), w2, n, k, true)
						mulSub(w0, a.blk(f+1), w2, n, k, true)
					}
				}
				luSolveT(lu, piv, n, w1, k)
				if ajet {
					mulSub(w0, a.blk(f), w1, n, k, true)
				}
			}
		}
		luSolveT(lu, piv, n, w0, k)
	}
	if b.needGrad {
		addTo(b.adj.Data[:min(nb, b.blocks)*sz], w)
	}
	if !a.needGrad {
		return
	}
	a0 := a.ablk(0)
	for i := range nb {
		outerSub(a0, wb(i), y.blk(i), n, k)
	}
	if nb == 1 || !ajet {
		return
	}
	x0 := y.blk(0)
	for f, order := range y.tape.directions() {
		a1 := a.ablk(f)
		outerSub(a1, wb(f), x0, n, k)
		if order == 2 {
			outerSub(a1, wb(f+1), y.blk(f), n, k)
			outerSub(a.ablk(f+1), wb(f+1), x0, n, k)
		}
	}
}

// dual runs the reverse rule in dual numbers along the tape's one order-1
// direction: W = A₀⁻ᵀX̄ and its tangent W' = A₀⁻ᵀ(X̄' − A'ᵀW); B̄ += W,
// B̄' += W'; Ā −= WXᵀ, Ā' −= W'Xᵀ + WX'ᵀ. A plain operand takes the
// adjoint only.
func (o *solveOp) dual(y *Node) {
	if y.blocks == 1 {
		o.backward(y, 1)
		return
	}
	a, b := y.a, y.b
	n, k := y.rows, y.val.Cols
	lu, piv, w := solveScratch(y)
	sz := n * k
	w0, w1 := w[:sz], w[sz:2*sz]
	ajet := a.blocks > 1
	if singular(y) {
		for i := range w[:2*sz] {
			w[i] = math.NaN()
		}
	} else {
		copy(w0, y.ablk(0))
		luSolveT(lu, piv, n, w0, k)
		copy(w1, y.ablk(1))
		if ajet {
			mulSub(w1, a.blk(1), w0, n, k, true)
		}
		luSolveT(lu, piv, n, w1, k)
	}
	if b.needGrad {
		addTo(b.adj.Data[:b.blocks*sz], w)
	}
	if !a.needGrad {
		return
	}
	outerSub(a.ablk(0), w0, y.blk(0), n, k)
	if ajet {
		a1 := a.ablk(1)
		outerSub(a1, w1, y.blk(0), n, k)
		outerSub(a1, w0, y.blk(1), n, k)
	}
}

// curv: linear in B, J = A⁻¹ acting on every column: v ↦ A⁻ᵀv (a solve
// with Aᵀ), squared v ↦ (A⁻¹∘A⁻¹)ᵀv with A⁻¹ = Solve(A, I); no
// second-order term. A is a constant of the sweep: it may depend on
// parameters, not on the input. The rows of X couple the rows of B, so
// the sweep's quantities are those of Σ_b E_b over all entries of x.
func (*solveOp) curv(s *curvSweep, y *Node) {
	t, a := s.t, y.a
	if s.dep(a) {
		panic("ad: Solve: the matrix A depends on the input of a curvature sweep")
	}
	s.linear(y, y.b, func(v *Node, squared bool) *Node {
		if !squared {
			return t.Solve(t.Transpose(a), v)
		}
		n := a.rows
		eye := s.scratch(n, n)
		for i := range n {
			eye.Data[i*n+i] = 1
		}
		inv := t.Solve(a, t.Const(eye))
		return t.MatMul(t.Transpose(t.Mul(inv, inv)), v)
	})
}

// luFactor overwrites the n×n matrix lu with its LU factorisation with
// partial pivoting, PA = LU (L unit lower triangular below the diagonal, U
// on and above it), and sets piv[j] to the row interchanged with row j at
// step j. It reports false, leaving lu partly factorised, when a pivot is
// zero or NaN.
func luFactor(lu, piv []float64, n int) bool {
	for j := range n {
		p, big := j, math.Abs(lu[j*n+j])
		for i := j + 1; i < n; i++ {
			if v := math.Abs(lu[i*n+j]); v > big {
				p, big = i, v
			}
		}
		piv[j] = float64(p)
		if !(big > 0) {
			return false
		}
		if p != j {
			rj, rp := lu[j*n:(j+1)*n], lu[p*n:(p+1)*n]
			for c := range rj {
				rj[c], rp[c] = rp[c], rj[c]
			}
		}
		d := lu[j*n+j]
		uj := lu[j*n+j+1 : (j+1)*n]
		for i := j + 1; i < n; i++ {
			l := lu[i*n+j] / d
			lu[i*n+j] = l
			ri := lu[i*n+j+1 : (i+1)*n]
			for c, u := range uj {
				ri[c] -= float64(l * u)
			}
		}
	}
	return true
}

// luSolve overwrites the n×k matrix x with A⁻¹x, A = PᵀLU factorised by
// luFactor: the row interchanges in order, then L and U.
func luSolve(lu, piv []float64, n int, x []float64, k int) {
	for j := range n {
		swapRows(x, j, int(piv[j]), k)
	}
	triSolve(lu, n, x, k, true, false)
	triSolve(lu, n, x, k, false, false)
}

// luSolveT overwrites the n×k matrix x with A⁻ᵀx: Aᵀ = UᵀLᵀP, so Uᵀ, then
// Lᵀ, then the row interchanges in reverse order.
func luSolveT(lu, piv []float64, n int, x []float64, k int) {
	triSolve(lu, n, x, k, false, true)
	triSolve(lu, n, x, k, true, true)
	for j := n - 1; j >= 0; j-- {
		swapRows(x, j, int(piv[j]), k)
	}
}

// triSolve overwrites the n×k matrix x with T⁻¹x, or T⁻ᵀx when trans is
// set, for a triangle T of the LU factors lu: the unit lower L when lower
// is set, else the upper U. A lower matrix (L or Uᵀ) is solved from the
// first row down, an upper one (U or Lᵀ) from the last row up.
func triSolve(lu []float64, n int, x []float64, k int, lower, trans bool) {
	down := lower != trans
	for s := range n {
		i, lo, hi := s, 0, s
		if !down {
			i, lo, hi = n-1-s, n-s, n
		}
		xi := x[i*k : (i+1)*k]
		subRows(xi, lu, x, i, lo, hi, n, k, trans)
		if !lower {
			d := lu[i*n+i]
			for c := range xi {
				xi[c] /= d
			}
		}
	}
}

// swapRows exchanges rows i and j of the matrix x of k columns.
func swapRows(x []float64, i, j, k int) {
	if i == j {
		return
	}
	ri, rj := x[i*k:(i+1)*k], x[j*k:(j+1)*k]
	for c := range ri {
		ri[c], rj[c] = rj[c], ri[c]
	}
}

// mulSub sets dst −= A·X, or dst −= Aᵀ·X when trans is set, for an n×n A
// and n×k X and dst.
func mulSub(dst, a, x []float64, n, k int, trans bool) {
	for i := range n {
		subRows(dst[i*k:(i+1)*k], a, x, i, 0, n, n, k, trans)
	}
}

// subRows sets the row dst (k values) −= Σ_j A_ij·x_j over j in [lo, hi),
// x_j being row j of the n×k matrix x and A the n×n matrix a, or Aᵀ when
// trans is set.
func subRows(dst, a, x []float64, i, lo, hi, n, k int, trans bool) {
	for j := lo; j < hi; j++ {
		aij := a[i*n+j]
		if trans {
			aij = a[j*n+i]
		}
		xj := x[j*k : (j+1)*k]
		for c := range dst {
			dst[c] -= float64(aij * xj[c])
		}
	}
}

// outerSub sets the n×n dst −= W·Xᵀ for n×k W and X.
func outerSub(dst, w, x []float64, n, k int) {
	for i := range n {
		wi := w[i*k : (i+1)*k]
		for j := range n {
			xj := x[j*k : (j+1)*k]
			s := 0.0
			for c, v := range wi {
				s += float64(v * xj[c])
			}
			dst[i*n+j] -= s
		}
	}
}
