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
// rows and the curvature sweeps see one op with an exact diagonal (see
// curv). It panics unless p and q have the same columns and q is plain.
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

func (*sqDistOp) forward(y *Node) {
	p, q := y.a, y.b
	nf, nm := p.val.Cols, q.rows
	y0, p0 := y.blk(0), p.blk(0)
	for b := range y.rows {
		pb := p0[b*nf : (b+1)*nf]
		for m := range nm {
			qm := q.val.Data[m*nf : (m+1)*nf]
			s := 0.0
			for i, v := range pb {
				d := v - qm[i]
				s += float64(d * d)
			}
			y0[b*nm+m] = s
		}
	}
	y.zero = 0
	if y.blocks == 1 {
		return
	}
	mask := p.zero
	for f, order := range y.tape.directions() {
		p1, y1 := p.blk(f), y.blk(f)
		var p2, y2 []float64
		if order == 2 {
			p2, y2 = p.blk(f+1), y.blk(f+1)
		}
		for b := range y.rows {
			pb, p1b := p0[b*nf:(b+1)*nf], p1[b*nf:(b+1)*nf]
			for m := range nm {
				qm := q.val.Data[m*nf : (m+1)*nf]
				s1, s2, s11 := 0.0, 0.0, 0.0
				for i, v := range pb {
					d := v - qm[i]
					s1 += float64(p1b[i] * d)
					if p2 != nil {
						s2 += float64(p2[b*nf+i] * d)
						s11 += float64(p1b[i] * p1b[i])
					}
				}
				y1[b*nm+m] = 2 * s1
				if p2 != nil {
					y2[b*nm+m] = s11 + float64(2*s2)
				}
			}
		}
		if isZero(mask, f) {
			y.zero |= 1 << f
			if order == 2 && isZero(mask, f+1) {
				y.zero |= 1 << (f + 1)
			}
		}
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
// with the direction terms summed over every direction.
func (*sqDistOp) backward(y *Node, nb int) {
	p, q := y.a, y.b
	nm := q.rows
	for b := range y.rows {
		p0 := rowOf(p.blk(0), b, p)
		a0 := adjRow(p, 0, b)
		for m := range nm {
			qm, qa := rowOf(q.val.Data, m, q), adjRow(q, 0, m)
			at := b*nm + m
			addDiff(a0, qa, 2*y.ablk(0)[at], p0, qm)
			if nb == 1 {
				continue
			}
			for f, order := range y.tape.directions() {
				p1, a1 := rowOf(p.blk(f), b, p), adjRow(p, f, b)
				g1 := 2 * y.ablk(f)[at]
				addDiff(a0, qa, g1, p1, nil)
				addDiff(a1, nil, g1, p0, qm)
				if order == 1 {
					continue
				}
				p2, a2 := rowOf(p.blk(f+1), b, p), adjRow(p, f+1, b)
				g2 := 2 * y.ablk(f + 1)[at]
				addDiff(a0, qa, g2, p2, nil)
				addDiff(a1, nil, g2, p1, nil)
				addDiff(a2, nil, g2, p0, qm)
			}
		}
	}
}

// rowOf returns row r of the block (or value) v of node n's shape.
func rowOf(v []float64, r int, n *Node) []float64 {
	c := n.val.Cols
	return v[r*c : (r+1)*c]
}

// adjRow returns row r of block k of n's adjoint, or nil when n needs no
// gradient.
func adjRow(n *Node, k, r int) []float64 {
	if !n.needGrad {
		return nil
	}
	return rowOf(n.ablk(k), r, n)
}

// addDiff adds w = g·(r − s) (g·r when s is nil) to pa and subtracts it
// from qa; either may be nil. A zero g adds nothing.
func addDiff(pa, qa []float64, g float64, r, s []float64) {
	if g == 0 || pa == nil && qa == nil {
		return
	}
	for i, v := range r {
		if s != nil {
			v -= s[i]
		}
		w := float64(g * v)
		if pa != nil {
			pa[i] += w
		}
		if qa != nil {
			qa[i] -= w
		}
	}
}

// dual runs the reverse rule in dual numbers along the tape's one order-1
// direction: P̄ += 2 Σₘ D̄ δ and its tangent P̄' += 2 Σₘ (D̄' δ + D̄ P'),
// with Q̄ −= 2 Σ_b D̄ δ for the plain Q (the adjoint only).
func (o *sqDistOp) dual(y *Node) {
	if y.blocks == 1 {
		o.backward(y, 1)
		return
	}
	p, q := y.a, y.b
	nm := q.rows
	for b := range y.rows {
		p0, p1 := rowOf(p.blk(0), b, p), rowOf(p.blk(1), b, p)
		a0, a1 := adjRow(p, 0, b), adjRow(p, 1, b)
		for m := range nm {
			qm := rowOf(q.val.Data, m, q)
			at := b*nm + m
			g := 2 * y.ablk(0)[at]
			addDiff(a0, adjRow(q, 0, m), g, p0, qm)
			addDiff(a1, nil, 2*y.ablk(1)[at], p0, qm)
			addDiff(a1, nil, g, p1, nil)
		}
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
