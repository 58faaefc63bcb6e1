package ad

import "fmt"

// sqDistOp is D = SqDist(P, Q): D[b][m] = Σᵢ (P[b][i] − Q[m][i])² for a
// node P (B×F, plain or a jet) and a plain Q (M×F).
//
// With δ = P₀ − Q_m and normalised Taylor coefficients P₁, P₂ of row b
// along a direction (Q has none), D(t) = ‖P(t) − Q_m‖² is a Cauchy
// product of P(t) − Q_m with itself:
//
//	D₀ = δ·δ
//	D₁ = 2 P₁·δ
//	D₂ = P₁·P₁ + 2 P₂·δ
//
// Its reverse rule is P̄ += 2 Σₘ D̄ₘ δₘ, Q̄ₘ −= 2 Σ_b D̄ₘ δₘ; over a jet each
// coefficient's adjoint is spread by the partial derivatives of the
// equations above (see backward).
type sqDistOp struct{}

var opSqDist op = &sqDistOp{}

// SqDist records the B×M node of squared Euclidean distances between the
// rows of p (B×F, plain or a jet) and those of q (M×F, plain):
// D[b][m] = Σᵢ (p[b][i] − q[m][i])². The result has p's blocks; q, which
// has no Taylor coefficients (it does not depend on the jet's input: the
// features of a kernel's inducing points, say), receives the gradient of
// every block. Each distance is summed from the differences, never
// expanded as ‖p‖² − 2p·q + ‖q‖², so that it keeps its accuracy for nearby
// rows; the Taylor coefficients and the reverse rules take their B×M×F
// work as matrix products. Being one op, it shows the curvature sweeps an
// exact diagonal (see curv). It panics unless p and q have the same
// columns and q is plain.
func (t *Tape) SqDist(p, q *Node) *Node {
	sameTape(t, p, q)
	if q.blocks != 1 {
		panic(fmt.Sprintf("ad: SqDist: q carries Taylor coefficients (%d blocks); want a plain node", q.blocks))
	}
	if p.val.Cols != q.val.Cols {
		panic(fmt.Sprintf("ad: SqDist: p is %d×%d, q is %d×%d; want as many columns", p.rows, p.val.Cols, q.rows, q.val.Cols))
	}
	return t.emit(t.node(opSqDist, p.rows, q.rows, p.blocks), p, q)
}

// sqDistScratch returns views of the node's scratch: nb blocks of B×F for
// the products D̄Q of the reverse rules, and M×F for Σ D̄ᵀP. It reuses the
// node's aux storage.
func sqDistScratch(y *Node, nb int) (w, qt []float64) {
	nf := y.a.val.Cols
	sz := nb * y.rows * nf
	y.aux.Resize(sz+y.b.rows*nf, 1)
	clear(y.aux.Data)
	return y.aux.Data[:sz], y.aux.Data[sz:]
}

// forward: block 0 from the differences; the Taylor blocks from one
// product G = P_kQᵀ over all of them (D₁ = 2P₁·P₀ − 2G₁, D₂ = P₁·P₁ +
// 2P₂·P₀ − 2G₂), skipping the blocks of P known to be zero.
func (*sqDistOp) forward(y *Node) {
	t, p, q := y.tape, y.a, y.b
	nf, nm, rows := p.val.Cols, q.rows, y.rows
	y0, p0 := y.blk(0), p.blk(0)
	for b := range rows {
		pb := p0[b*nf : (b+1)*nf]
		for m := range nm {
			y0[b*nm+m] = distRow(pb, q.val.Data[m*nf:(m+1)*nf])
		}
	}
	y.zero = 0
	if y.blocks == 1 {
		return
	}
	clear(y.val.Data[rows*nm:])
	for blk := 1; blk < y.blocks; {
		lo, hi := nextRun(p.zero, blk, y.blocks)
		if lo == y.blocks {
			break
		}
		t.gemmNT((hi-lo)*rows, nm, nf, p.val.Data[lo*rows*nf:], nf, q.val.Data, nf, y.val.Data[lo*rows*nm:], nm)
		blk = hi
	}
	for f, order := range t.directions() {
		for b := range rows {
			p1 := rowOf(p.blk(f), b, p)
			c1 := float64(2 * dot(p1, rowOf(p0, b, p)))
			shiftRow(rowOf(y.blk(f), b, y), c1)
			if order == 2 {
				c2 := dot(p1, p1) + float64(2*dot(rowOf(p.blk(f+1), b, p), rowOf(p0, b, p)))
				shiftRow(rowOf(y.blk(f+1), b, y), c2)
			}
		}
		if isZero(p.zero, f) {
			y.zero |= 1 << f
			if order == 2 && isZero(p.zero, f+1) {
				y.zero |= 1 << (f + 1)
			}
		}
	}
}

// distRow returns Σᵢ (aᵢ − bᵢ)², in four partial sums over i mod 4 added
// at the end (so that the loop pipelines), in a fixed order.
func distRow(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += float64(d0 * d0)
		s1 += float64(d1 * d1)
		s2 += float64(d2 * d2)
		s3 += float64(d3 * d3)
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += float64(d * d)
	}
	return (s0 + s1) + (s2 + s3)
}

// dot returns Σᵢ aᵢbᵢ.
func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += float64(v * b[i])
	}
	return s
}

// shiftRow sets every g in row to c − 2g.
func shiftRow(row []float64, c float64) {
	for i, g := range row {
		row[i] = c - float64(2*g)
	}
}

// backward pulls the adjoints of blocks [0, nb) back. With δ = P₀ − Qₘ
// and, along a direction of order 2, D̄₁ and D̄₂ the adjoints of its
// coefficients, the partial derivatives of the forward equations give
//
//	P̄₀ += 2 Σₘ (D̄₀ δ + D̄₁ P₁ + D̄₂ P₂)
//	P̄₁ += 2 Σₘ (D̄₁ δ + D̄₂ P₁)
//	P̄₂ += 2 Σₘ D̄₂ δ
//	Q̄ₘ −= 2 Σ_b (D̄₀ δ + D̄₁ P₁ + D̄₂ P₂)
//
// with the direction terms summed over every direction. Every Σₘ D̄_k δ
// is (Σₘ D̄_k)P₀ − D̄_kQ, one product over all blocks, and Q̄ takes
// 2(Σ_b D̄₀)Q − 2Σ_k D̄_kᵀP_k, another.
func (*sqDistOp) backward(y *Node, nb int) {
	t, p, q := y.tape, y.a, y.b
	nf, nm, rows := p.val.Cols, q.rows, y.rows
	w, qt := sqDistScratch(y, nb)
	if p.needGrad {
		t.gemmNN(nb*rows, nf, nm, y.adj.Data, nm, q.val.Data, nf, w, nf)
		for k := range nb {
			pullRows(y, k, k, w, 0)
		}
		if nb > 1 {
			for f, order := range t.directions() {
				pullRows(y, f, 0, nil, f) // D̄₁P₁ into P̄₀
				if order == 2 {
					pullRows(y, f+1, 0, nil, f+1) // D̄₂P₂ into P̄₀
					pullRows(y, f+1, f, nil, f)   // D̄₂P₁ into P̄₁
				}
			}
		}
	}
	if q.needGrad {
		pullQ(y, nb, qt)
	}
}

// pullRows adds to block k of p's adjoint, row by row, 2(Σₘ D̄_j)·(P₀ −
// W_j) with W_j block j of w (the rows of D̄_jQ), or, when w is nil,
// 2(Σₘ D̄_j)·P_s.
func pullRows(y *Node, j, k int, w []float64, s int) {
	p := y.a
	nf := p.val.Cols
	for b := range y.rows {
		sum := 2 * rowSum(rowOf(y.ablk(j), b, y))
		if sum == 0 && w == nil {
			continue
		}
		pa, ps := rowOf(p.ablk(k), b, p), rowOf(p.blk(s), b, p)
		if w == nil {
			for i, v := range ps {
				pa[i] += float64(sum * v)
			}
			continue
		}
		wr := w[(j*y.rows+b)*nf : (j*y.rows+b+1)*nf]
		for i, v := range ps {
			pa[i] += float64(sum*v) - float64(2*wr[i])
		}
	}
}

// pullQ adds q's share of blocks [0, nb): Q̄ₘ += 2(Σ_b D̄₀)Qₘ −
// 2Σ_k (D̄_kᵀP_k)ₘ, with qt (M×F, zero) as scratch.
func pullQ(y *Node, nb int, qt []float64) {
	t, p, q := y.tape, y.a, y.b
	nf, nm := p.val.Cols, q.rows
	t.gemmTN(nm, nf, nb*y.rows, y.adj.Data, nm, p.val.Data, nf, qt, nf)
	a0 := y.ablk(0)
	for m := range nm {
		c := 0.0
		for b := range y.rows {
			c += a0[b*nm+m]
		}
		c *= 2
		qa, qm := rowOf(q.adj.Data, m, q), rowOf(q.val.Data, m, q)
		for i, v := range qm {
			qa[i] += float64(c*v) - float64(2*qt[m*nf+i])
		}
	}
}

// rowSum returns the sum of a row.
func rowSum(r []float64) float64 {
	s := 0.0
	for _, v := range r {
		s += v
	}
	return s
}

// rowOf returns row r of the block (or value) v of node n's shape.
func rowOf(v []float64, r int, n *Node) []float64 {
	c := n.val.Cols
	return v[r*c : (r+1)*c]
}

// dual runs the reverse rule in dual numbers along the tape's one order-1
// direction: P̄ += 2 Σₘ D̄ δ and its tangent P̄' += 2 Σₘ (D̄' δ + D̄ P'),
// with Q̄ −= 2 Σ_b D̄ δ for the plain Q (the adjoint only).
func (o *sqDistOp) dual(y *Node) {
	if y.blocks == 1 {
		o.backward(y, 1)
		return
	}
	t, p, q := y.tape, y.a, y.b
	nf, nm := p.val.Cols, q.rows
	w, qt := sqDistScratch(y, 2)
	if p.needGrad {
		t.gemmNN(2*y.rows, nf, nm, y.adj.Data, nm, q.val.Data, nf, w, nf)
		pullRows(y, 0, 0, w, 0)
		pullRows(y, 1, 1, w, 0)
		pullRows(y, 0, 1, nil, 1) // D̄P' into P̄'
	}
	if q.needGrad {
		pullQ(y, 1, qt)
	}
}

// curv: row b of D depends on row b of p alone, J = 2(p_b − q_m)ᵀ for
// column m: v ↦ Σₘ vₘ·2(p − qₘ) = 2(p∘Σₘvₘ − vQ), squared v ↦
// Σₘ vₘ·4(p − qₘ)² = 4(p∘p∘Σₘvₘ − 2p∘vQ + v(Q∘Q)); and the op's own
// term, ∂²D_bm/∂p_bi∂p_bj = 2 if i = j (else 0), weighted by g, is the
// diagonal 2Σₘ g_bm on row b. The distances are separate functions of
// one row, so the exact Hessian diagonal of a separable energy of D passes
// through unchanged. Q is a constant of the sweep: it may depend on
// parameters, not on the input.
func (*sqDistOp) curv(s *curvSweep, y *Node) {
	t, p, q := s.t, y.a, y.b
	if s.dep(q) {
		panic("ad: SqDist: q depends on the input of a curvature sweep")
	}
	s.linear(y, p, func(v *Node, squared bool) *Node {
		sum := t.SumRows(v)
		vq := t.MatMul(v, q)
		if !squared {
			return t.Scale(2, t.Sub(t.ScaleRows(p, sum), vq))
		}
		u := t.AddScaled(1, t.ScaleRows(t.Mul(p, p), sum), -2, t.Mul(p, vq))
		return t.Scale(4, t.Add(u, t.MatMul(v, t.Mul(q, q))))
	})
	s.localDiag(p, s.broadcastCols(t.Scale(2, t.SumRows(s.slot(y).g)), p.val.Cols))
}
