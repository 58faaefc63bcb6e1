package ad

import (
	"fmt"

	"scorematch/ad/internal/vmath"
)

// bernoulliOp is y_r = Σ_j g(l_rj; x_rj), the Bernoulli log-likelihood of
// targets x under logits l, per row; aux keeps g′, g″ and g‴ at block 0.
type bernoulliOp struct{}

var opBernoulli op = &bernoulliOp{}

// BernoulliLogLik records the log-likelihood of targets x under independent
// Bernoulli distributions with logits l, summed over each row:
//
//	y_r = Σ_j x_rj·l_rj − softplus(l_rj) = −Σ_j (1−x_rj)·softplus(l_rj) + x_rj·softplus(−l_rj),
//
// a B×1 node with l's blocks. It is evaluated in the second form, in which
// each term is exact to rounding for any logit (no log σ(l) that underflows
// to log 0, and no cancellation between x·l and softplus(l) in either
// tail), and so are its derivatives g′ = (1−x)(−σ(l)) + x·σ(−l),
// g″ = −σ(l)σ(−l) and g‴. The targets x are a plain B×D node, usually in
// [0, 1] (binary pixels, or grey levels as probabilities); their gradient
// is l (the form is linear in x). l may be a jet: the Taylor coefficients
// follow the chain rule of Apply, summed over each row. It is one op,
// rather than Mul, Apply and SumRows, because a plain x cannot multiply a
// jet l element-wise, and so that every term is evaluated in its stable
// form.
func (t *Tape) BernoulliLogLik(l, x *Node) *Node {
	sameTape(t, l, x)
	if x.blocks != 1 || x.rows != l.rows || x.val.Cols != l.val.Cols {
		panic(fmt.Sprintf("ad: BernoulliLogLik: targets are %d×%d (%d blocks), logits %d×%d: want plain targets shaped like the logits",
			x.rows, x.val.Cols, x.blocks, l.rows, l.val.Cols))
	}
	return t.emit(t.node(opBernoulli, l.rows, 1, l.blocks), l, x)
}

func (*bernoulliOp) forward(y *Node) {
	l, x := y.a, y.b
	c, rows := l.val.Cols, l.rows
	sz := rows * c
	// aux: g′, g″, g‴, then softplus and its derivatives at +l and at −l,
	// and −l itself.
	y.aux.Resize(12*rows, c)
	part := func(i int) []float64 { return y.aux.Data[i*sz : (i+1)*sz] }
	g1, g2, g3 := part(0), part(1), part(2)
	sp, sp1, sp2, sp3 := part(3), part(4), part(5), part(6)
	sn, sp1n, sp2n, sp3n, neg := part(7), part(8), part(9), part(10), part(11)
	l0, xv := l.blk(0), x.val.Data
	for i, v := range l0 {
		neg[i] = -v
	}
	vmath.Softplus(l0, sp, sp1, sp2, sp3)
	vmath.Softplus(neg, sn, sp1n, sp2n, sp3n)
	y0 := y.blk(0)
	for r := range rows {
		s := 0.0
		for j := r * c; j < (r+1)*c; j++ {
			s -= float64((1-xv[j])*sp[j]) + float64(xv[j]*sn[j])
		}
		y0[r] = s
	}
	for i := range g1 {
		w := 1 - xv[i]
		g1[i] = float64(xv[i]*sp1n[i]) - float64(w*sp1[i])
		g2[i] = -(float64(w*sp2[i]) + float64(xv[i]*sp2n[i]))
		g3[i] = float64(xv[i]*sp3n[i]) - float64(w*sp3[i])
	}
	if y.blocks == 1 {
		return
	}
	for k, order := range y.tape.directions() {
		l1, y1 := l.blk(k), y.blk(k)
		for r := range rows {
			s := 0.0
			for j := r * c; j < (r+1)*c; j++ {
				s += float64(g1[j] * l1[j])
			}
			y1[r] = s
		}
		if order == 2 {
			l2, y2 := l.blk(k+1), y.blk(k+1)
			for r := range rows {
				s := 0.0
				for j := r * c; j < (r+1)*c; j++ {
					s += float64(g1[j]*l2[j]) + float64(0.5*g2[j]*l1[j]*l1[j])
				}
				y2[r] = s
			}
		}
	}
}

// backward is Apply's rule for g followed by SumRows': every element of row
// r gets the row's adjoint ȳ_r; the targets get l block by block.
func (*bernoulliOp) backward(y *Node, nb int) {
	l, x := y.a, y.b
	c, rows := l.val.Cols, l.rows
	sz := rows * c
	g1, g2, g3 := y.aux.Data[:sz], y.aux.Data[sz:2*sz], y.aux.Data[2*sz:3*sz]
	if x.needGrad {
		for k := range nb {
			lk, gk := l.blk(k), y.ablk(k)
			for j := range x.adj.Data {
				x.adj.Data[j] += float64(gk[j/c] * lk[j])
			}
		}
	}
	if !l.needGrad {
		return
	}
	a0, u0 := l.ablk(0), y.ablk(0)
	for j := range a0 {
		a0[j] += float64(u0[j/c] * g1[j])
	}
	if nb == 1 {
		return
	}
	for k, order := range y.tape.directions() {
		l1, a1, u1s := l.blk(k), l.ablk(k), y.ablk(k)
		if order == 1 {
			for j := range a0 {
				a0[j] += float64(u1s[j/c] * g2[j] * l1[j])
				a1[j] += float64(u1s[j/c] * g1[j])
			}
			continue
		}
		l2, a2, u2s := l.blk(k+1), l.ablk(k+1), y.ablk(k+1)
		for j := range a0 {
			u1, u2 := u1s[j/c], u2s[j/c]
			a0[j] += float64(u1*g2[j]*l1[j]) + float64(u2*(float64(g2[j]*l2[j])+float64(0.5*g3[j]*l1[j]*l1[j])))
			a1[j] += float64(u1*g1[j]) + float64(u2*g2[j]*l1[j])
			a2[j] += float64(u2 * g1[j])
		}
	}
}

// dual: l̄ += ȳ g′(l) and its tangent l̄′ += ȳ′ g′(l) + ȳ g″(l) l′; the
// plain targets get the adjoint only, ȳ l.
func (*bernoulliOp) dual(y *Node) {
	l, x := y.a, y.b
	c, rows := l.val.Cols, l.rows
	sz := rows * c
	g1, g2 := y.aux.Data[:sz], y.aux.Data[sz:2*sz]
	g, gt := y.ablk(0), y.ablk(1)
	if x.needGrad {
		l0 := l.blk(0)
		for j := range x.adj.Data {
			x.adj.Data[j] += float64(g[j/c] * l0[j])
		}
	}
	if !l.needGrad {
		return
	}
	lt, a, at := l.blk(1), l.ablk(0), l.ablk(1)
	for j := range a {
		a[j] += float64(g[j/c] * g1[j])
		at[j] += float64(gt[j/c]*g1[j]) + float64(g[j/c]*g2[j]*lt[j])
	}
}

// curv: y_r = Σ_j x_rj·l_rj − softplus(l_rj). For the logits J = g′(l)ᵀ =
// (x − σ(l))ᵀ per row and the own term is diag(g″(l)·ȳ_r), g″ = −σ′(l);
// for targets that depend on the input J = lᵀ per row, with no own term
// but the cross term ∂²y/∂l_rj∂x_rj = 1. cp uses S = I and S̃ = the whole
// own term over the x-dependent operands; approx-bp drops the cross term.
// σ and σ′ are applied as differentiable functions, so the parameter
// gradient stays exact.
func (*bernoulliOp) curv(s *curvSweep, y *Node) {
	t, l, x := s.t, y.a, y.b
	g := s.slot(y).g
	dl, dx := s.dep(l), s.dep(x)
	if dx {
		s.linear(y, x, func(v *Node, squared bool) *Node {
			if squared {
				return t.ScaleRows(t.Mul(l, l), v)
			}
			return t.ScaleRows(l, v)
		})
	}
	if !dl {
		return
	}
	j := t.Sub(x, t.Apply(Sigmoid, l)) // g′(l)
	s.linear(y, l, func(v *Node, squared bool) *Node {
		if squared {
			return t.ScaleRows(t.Mul(j, j), v)
		}
		return t.ScaleRows(j, v)
	})
	h := t.ScaleRows(t.Scale(-1, t.Apply(derivOf(Sigmoid, 1), l)), g) // g″(l)·ȳ
	if !s.cp || !dx {
		s.localDiag(l, h)
		return
	}
	rl, rx := s.draw(l.rows, l.val.Cols), s.draw(x.rows, x.val.Cols)
	s.addU(l, rl, t.Add(t.Mul(h, rl), t.ScaleRows(rx, g)))
	s.addU(x, rx, t.ScaleRows(rl, g))
}
