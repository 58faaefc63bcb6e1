package ad

import "fmt"

// Binary element-wise ops, scaling, sums and derivative extraction. Operands
// of a binary op have equal shapes and are both jet nodes or both plain.
//
// Every product that is added to something is rounded explicitly,
// float64(a*b) + c: the compiler may not fuse it into a multiply-add on
// any architecture, so every platform computes the same bits.

// addOp is y = ca·a + cb·b with the node's constants ca (scalar) and cb
// (scalar2); Add and Sub are ca = 1 and cb = ±1, for which the products are
// exact.
type addOp struct{}

var opAdd op = &addOp{}

// Add records a + b.
func (t *Tape) Add(a, b *Node) *Node { return t.AddScaled(1, a, 1, b) }

// Sub records a − b.
func (t *Tape) Sub(a, b *Node) *Node { return t.AddScaled(1, a, -1, b) }

// AddScaled records ca·a + cb·b for constants ca and cb, in one pass:
// Scale, Scale and Add in one op, with their bits.
func (t *Tape) AddScaled(ca float64, a *Node, cb float64, b *Node) *Node {
	checkBinary("Add/Sub/AddScaled", a, b)
	y := t.node(opAdd, a.rows, a.val.Cols, a.blocks)
	y.scalar, y.scalar2 = ca, cb
	return t.emit(y, a, b)
}

// forward: linear, so every block alike.
func (*addOp) forward(y *Node) {
	ca, cb := y.scalar, y.scalar2
	bv := y.b.val.Data[:len(y.a.val.Data)]
	for i, v := range y.a.val.Data {
		y.val.Data[i] = float64(ca*v) + float64(cb*bv[i])
	}
}

func (o *addOp) backward(y *Node, nb int) {
	n := nb * len(y.ablk(0))
	g := y.adj.Data[:n]
	for _, in := range [...]struct {
		x *Node
		c float64
	}{{y.a, y.scalar}, {y.b, y.scalar2}} {
		if !in.x.needGrad {
			continue
		}
		if in.c == 1 {
			addTo(in.x.adj.Data[:n], g)
			continue
		}
		ax := in.x.adj.Data[:n]
		for i, v := range g {
			ax[i] += float64(in.c * v)
		}
	}
}

func (o *addOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear, J = ca·I and cb·I; an operand used twice is one input
// with J = (ca+cb)·I, so that approx-bp keeps its square exact.
func (*addOp) curv(s *curvSweep, y *Node) {
	if y.a == y.b {
		s.scaled(y, y.a, y.scalar+y.scalar2)
		return
	}
	if s.dep(y.a) {
		s.scaled(y, y.a, y.scalar)
	}
	if s.dep(y.b) {
		s.scaled(y, y.b, y.scalar2)
	}
}

type mulOp struct{}

var opMul op = &mulOp{}

// Mul records the element-wise product a∘b. On jet nodes the coefficients
// follow Leibniz's rule: c₁ = a₀b₁ + a₁b₀, c₂ = a₀b₂ + a₁b₁ + a₂b₀.
func (t *Tape) Mul(a, b *Node) *Node {
	checkBinary("Mul", a, b)
	return t.emit(t.node(opMul, a.rows, a.val.Cols, a.blocks), a, b)
}

func (*mulOp) forward(y *Node) {
	a, b := y.a, y.b
	a0, b0, y0 := a.blk(0), b.blk(0), y.blk(0)
	for i := range y0 {
		y0[i] = a0[i] * b0[i]
	}
	if y.blocks == 1 {
		return
	}
	for k, order := range y.tape.directions() {
		a1, b1, y1 := a.blk(k), b.blk(k), y.blk(k)
		for i := range y1 {
			y1[i] = float64(a0[i]*b1[i]) + float64(a1[i]*b0[i])
		}
		if order == 2 {
			a2, b2, y2 := a.blk(k+1), b.blk(k+1), y.blk(k+1)
			for i := range y2 {
				y2[i] = float64(a0[i]*b2[i]) + float64(a1[i]*b1[i]) + float64(a2[i]*b0[i])
			}
		}
	}
}

func (*mulOp) backward(y *Node, nb int) {
	mulBackward(y, y.a, y.b, nb)
	mulBackward(y, y.b, y.a, nb)
}

// mulBackward adds to a's adjoint the pull-back of y = a∘b through a:
// ā₀ += ȳ₀b₀ + ȳ₁b₁ + ȳ₂b₂, ā₁ += ȳ₁b₀ + ȳ₂b₁, ā₂ += ȳ₂b₀ per direction.
func mulBackward(y, a, b *Node, nb int) {
	if !a.needGrad {
		return
	}
	a0, b0, g0 := a.ablk(0), b.blk(0), y.ablk(0)
	for i := range a0 {
		a0[i] += float64(g0[i] * b0[i])
	}
	if nb == 1 {
		return
	}
	for k, order := range y.tape.directions() {
		a1, b1, g1 := a.ablk(k), b.blk(k), y.ablk(k)
		for i := range a0 {
			a0[i] += float64(g1[i] * b1[i])
			a1[i] += float64(g1[i] * b0[i])
		}
		if order == 2 {
			a2, b2, g2 := a.ablk(k+1), b.blk(k+1), y.ablk(k+1)
			for i := range a0 {
				a0[i] += float64(g2[i] * b2[i])
				a1[i] += float64(g2[i] * b1[i])
				a2[i] += float64(g2[i] * b0[i])
			}
		}
	}
}

// dual: ā += ȳ b, and its tangent ā' += ȳ' b + ȳ b'.
func (*mulOp) dual(y *Node) {
	mulDual(y, y.a, y.b)
	mulDual(y, y.b, y.a)
}

func mulDual(y, a, b *Node) {
	if !a.needGrad {
		return
	}
	aa, at := a.ablk(0), a.ablk(1)
	b0, bt := b.blk(0), b.blk(1)
	g, gt := y.ablk(0), y.ablk(1)
	for i := range aa {
		aa[i] += float64(g[i] * b0[i])
		at[i] += float64(gt[i]*b0[i]) + float64(g[i]*bt[i])
	}
}

// curv: J_a = diag(b), J_b = diag(a). With both operands depending on x
// the op's own term is the cross term ∂²(gᵀ(a∘b))/∂a∂b = diag(g): cp
// factors [[0, G], [G, 0]] as S = I, S̃ = itself (u_a += r_a, ũ_a += g∘r_b
// and the mirror image); approx-bp drops it. y = a∘a is one input with
// J = diag(2a) and own term diag(2g).
func (*mulOp) curv(s *curvSweep, y *Node) {
	t, a, b := s.t, y.a, y.b
	if a == b {
		two := t.Scale(2, a)
		s.linear(y, a, pullMul(t, two))
		s.localDiag(a, t.Scale(2, s.slot(y).g))
		return
	}
	da, db := s.dep(a), s.dep(b)
	if da {
		s.linear(y, a, pullMul(t, b))
	}
	if db {
		s.linear(y, b, pullMul(t, a))
	}
	if da && db && s.cp {
		g := s.slot(y).g
		ra, rb := s.draw(a.rows, a.val.Cols), s.draw(b.rows, b.val.Cols)
		s.addU(a, ra, t.Mul(g, rb))
		s.addU(b, rb, t.Mul(g, ra))
	}
}

// pullMul returns the pull-back through J = diag(c): v ↦ c∘v, squared
// v ↦ (c∘c)∘v.
func pullMul(t *Tape, c *Node) func(v *Node, squared bool) *Node {
	return func(v *Node, squared bool) *Node {
		if squared {
			return t.Mul(t.Mul(c, c), v)
		}
		return t.Mul(c, v)
	}
}

func checkBinary(name string, a, b *Node) {
	sameTape(a.tape, b)
	if a.rows != b.rows || a.val.Cols != b.val.Cols || a.blocks != b.blocks {
		panic(fmt.Sprintf("ad: %s: operands are %d×%d (%d blocks) and %d×%d (%d blocks)",
			name, a.rows, a.val.Cols, a.blocks, b.rows, b.val.Cols, b.blocks))
	}
}

type scaleOp struct{}

var opScale op = &scaleOp{}

// Scale records c·x.
func (t *Tape) Scale(c float64, x *Node) *Node {
	sameTape(t, x)
	y := t.node(opScale, x.rows, x.val.Cols, x.blocks)
	y.scalar = c
	return t.emit(y, x, nil)
}

func (*scaleOp) forward(y *Node) {
	for i, v := range y.a.val.Data {
		y.val.Data[i] = y.scalar * v
	}
}

func (*scaleOp) backward(y *Node, nb int) {
	if x := y.a; x.needGrad {
		n := nb * len(y.ablk(0))
		ax := x.adj.Data[:n]
		for i, v := range y.adj.Data[:n] {
			ax[i] += float64(y.scalar * v)
		}
	}
}

func (o *scaleOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear, J = c·I.
func (*scaleOp) curv(s *curvSweep, y *Node) { s.scaled(y, y.a, y.scalar) }

// sumOp sums each row (perRow) or everything, block by block.
type sumOp struct{ perRow bool }

var (
	opSumRows op = &sumOp{perRow: true}
	opSum     op = &sumOp{}
)

// SumRows records the per-row sums of x: a B×1 node with x's blocks.
func (t *Tape) SumRows(x *Node) *Node {
	sameTape(t, x)
	return t.emit(t.node(opSumRows, x.rows, 1, x.blocks), x, nil)
}

// Sum records the sum of all elements of each block of x: a 1×1 node with
// x's blocks. Elements are added in row-major order.
func (t *Tape) Sum(x *Node) *Node {
	sameTape(t, x)
	return t.emit(t.node(opSum, 1, 1, x.blocks), x, nil)
}

func (o *sumOp) forward(y *Node) {
	x := y.a
	if o.perRow {
		c := x.val.Cols
		for i := range y.val.Data {
			s := 0.0
			for _, v := range x.val.Data[i*c : (i+1)*c] {
				s += v
			}
			y.val.Data[i] = s
		}
		return
	}
	for k := 0; k < x.blocks; k++ {
		s := 0.0
		for _, v := range x.blk(k) {
			s += v
		}
		y.val.Data[k] = s
	}
}

func (o *sumOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	c := x.val.Cols
	if o.perRow {
		for i, g := range y.adj.Data[:nb*y.rows] {
			for j := range c {
				x.adj.Data[i*c+j] += g
			}
		}
		return
	}
	for k := 0; k < nb; k++ {
		g := y.adj.Data[k]
		a := x.ablk(k)
		for i := range a {
			a[i] += g
		}
	}
}

func (o *sumOp) dual(y *Node) { o.backward(y, 2) }

// curv: linear with entries 1: each row's quantity spread over the row
// (SumRows), or the one value over every element (Sum), squared alike.
func (o *sumOp) curv(s *curvSweep, y *Node) {
	x := y.a
	s.linear(y, x, func(v *Node, _ bool) *Node {
		if !o.perRow {
			v = s.t.MatMul(s.ones(x.rows, 1), v)
		}
		return s.broadcastCols(v, x.val.Cols)
	})
}

// halfSqNormOp is y_b = ½‖x_b‖² per row, block by block.
type halfSqNormOp struct{}

var opHalfSqNorm op = &halfSqNormOp{}

// HalfSquaredNorm records ½‖x_b‖² for every row b of x: a B×1 node with
// x's blocks, whose Taylor coefficients along a direction are those of
// ½‖x(t)‖² (Σ x₀x₁ and Σ x₀x₂ + ½x₁², normalised). It is
// Scale(0.5, SumRows(Apply(Square, x))) in one op, with the same bits: the
// squared-score terms of the objectives.
func (t *Tape) HalfSquaredNorm(x *Node) *Node {
	sameTape(t, x)
	return t.emit(t.node(opHalfSqNorm, x.rows, 1, x.blocks), x, nil)
}

func (*halfSqNormOp) forward(y *Node) {
	x := y.a
	c := x.val.Cols
	x0, y0 := x.blk(0), y.blk(0)
	for r := range x.rows {
		s := 0.0
		for _, v := range x0[r*c : (r+1)*c] {
			s += float64(v * v)
		}
		y0[r] = 0.5 * s
	}
	if x.blocks == 1 {
		return
	}
	// Square's coefficients, 2x₀x₁ and 2x₀x₂ + x₁², summed and halved.
	for k, order := range y.tape.directions() {
		x1, y1 := x.blk(k), y.blk(k)
		for r := range x.rows {
			s := 0.0
			for j := r * c; j < (r+1)*c; j++ {
				s += float64(2 * x0[j] * x1[j])
			}
			y1[r] = 0.5 * s
		}
		if order == 2 {
			x2, y2 := x.blk(k+1), y.blk(k+1)
			for r := range x.rows {
				s := 0.0
				for j := r * c; j < (r+1)*c; j++ {
					s += float64(2*x0[j]*x2[j]) + float64(0.5*2*x1[j]*x1[j])
				}
				y2[r] = 0.5 * s
			}
		}
	}
}

// backward is Scale's, SumRows' and Square's rules in turn: each row's
// adjoint ȳ becomes g = ½ȳ on every element, pulled back through x² (f′ =
// 2x₀, f″ = 2, f‴ = 0), with the same operations as those ops.
func (*halfSqNormOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	c := x.val.Cols
	x0, a0 := x.blk(0), x.ablk(0)
	for r := range y.rows {
		g0 := 0.5 * y.ablk(0)[r]
		for j := r * c; j < (r+1)*c; j++ {
			a0[j] += float64(g0 * (2 * x0[j]))
		}
	}
	if nb == 1 {
		return
	}
	for k, order := range y.tape.directions() {
		x1, a1 := x.blk(k), x.ablk(k)
		if order == 1 {
			for r := range y.rows {
				g1 := float64(0.5 * y.ablk(k)[r])
				for j := r * c; j < (r+1)*c; j++ {
					a0[j] += float64(g1 * 2 * x1[j])
					a1[j] += float64(g1 * (2 * x0[j]))
				}
			}
			continue
		}
		x2, a2 := x.blk(k+1), x.ablk(k+1)
		for r := range y.rows {
			g1, g2 := float64(0.5*y.ablk(k)[r]), float64(0.5*y.ablk(k + 1)[r])
			for j := r * c; j < (r+1)*c; j++ {
				a0[j] += float64(g1*2*x1[j]) + float64(g2*(float64(2*x2[j])+float64(0.5*0*x1[j]*x1[j])))
				a1[j] += float64(g1*(2*x0[j])) + float64(g2*2*x1[j])
				a2[j] += float64(g2 * (2 * x0[j]))
			}
		}
	}
}

// dual: x̄ += ȳx (Square's f′ = 2x times ½), and its tangent
// x̄' += ½ȳ'·2x + ½ȳ·2x'.
func (*halfSqNormOp) dual(y *Node) {
	x := y.a
	if !x.needGrad {
		return
	}
	c := x.val.Cols
	x0, xt := x.blk(0), x.blk(1)
	a, at := x.ablk(0), x.ablk(1)
	g, gt := y.ablk(0), y.ablk(1)
	for r := range y.rows {
		gr, gtr := float64(0.5*g[r]), float64(0.5*gt[r])
		for j := r * c; j < (r+1)*c; j++ {
			a[j] += float64(gr * (2 * x0[j]))
			at[j] += float64(gtr*(2*x0[j])) + float64(gr*2*xt[j])
		}
	}
}

// curv: J = xᵀ per row, and the op's own term g_b·I per row (diagonal).
func (*halfSqNormOp) curv(s *curvSweep, y *Node) {
	t, x := s.t, y.a
	s.linear(y, x, func(v *Node, squared bool) *Node {
		if squared {
			return t.ScaleRows(t.Mul(x, x), v)
		}
		return t.ScaleRows(x, v)
	})
	s.localDiag(x, s.broadcastCols(s.slot(y).g, x.val.Cols))
}

// derivOp extracts a directional derivative as a plain node.
type derivOp struct{}

var opDeriv op = &derivOp{}

// Deriv records the k-th derivative of x along jet direction d as a plain
// node: with x(t) the value at input + t·v_d, Deriv(x, d, 0) is x(0),
// Deriv(x, d, 1) is x'(0) and Deriv(x, d, 2) is x″(0) (twice the normalised
// Taylor coefficient). For a per-sample scalar f, Deriv(f, d, 1) is vᵀ∇f and
// Deriv(f, d, 2) is vᵀ∇²f v. Gradients flow back into the coefficient, so a
// loss built from derivatives has exact parameter gradients.
func (t *Tape) Deriv(x *Node, d, k int) *Node {
	sameTape(t, x)
	if x.blocks == 1 && k > 0 {
		panic("ad: Deriv: x is a plain node")
	}
	y := t.node(opDeriv, x.rows, x.val.Cols, 1)
	y.dir, y.ord = t.Block(d, k), k
	y.scalar = 1
	if k == 2 {
		y.scalar = 2
	}
	return t.emit(y, x, nil)
}

func (*derivOp) forward(y *Node) {
	for i, v := range y.a.blk(y.dir) {
		y.val.Data[i] = y.scalar * v
	}
}

func (*derivOp) backward(y *Node, _ int) {
	x := y.a
	if !x.needGrad || y.dir > 0 && y.tape.mode == sweepPrimal {
		return // the primal sweep treats higher coefficients' adjoints as zero
	}
	a := x.ablk(y.dir)
	for i, g := range y.ablk(0) {
		a[i] += float64(y.scalar * g)
	}
}

func (*derivOp) dual(*Node) { panic("ad: Deriv in a forward-over-reverse sweep") }

// curv: on the plain tapes of the sweeps only Deriv(x, d, 0), a copy, can
// occur.
func (*derivOp) curv(s *curvSweep, y *Node) {
	if y.ord != 0 {
		panic("ad: Deriv of a Taylor coefficient in a curvature sweep")
	}
	s.identity(y, y.a)
}

// addPrimalOp is y = x + c with c plain, B×F or a 1×F row broadcast to
// every row, added to block 0.
type addPrimalOp struct{}

var opAddPrimal op = &addPrimalOp{}

// AddPrimal records y = x + c where c is a plain node of x's shape (B×F) or
// a row (1×F, such as a bias) added to every row. c is added to block 0
// only: it does not depend on the jet's direction, so the Taylor
// coefficients of y are those of x.
func (t *Tape) AddPrimal(x, c *Node) *Node {
	sameTape(t, x, c)
	if c.blocks != 1 || c.val.Cols != x.val.Cols || c.val.Rows != 1 && c.val.Rows != x.rows {
		panic(fmt.Sprintf("ad: AddPrimal: c is %d×%d (%d blocks), x is %d×%d", c.val.Rows, c.val.Cols, c.blocks, x.rows, x.val.Cols))
	}
	return t.emit(t.node(opAddPrimal, x.rows, x.val.Cols, x.blocks), x, c)
}

func (*addPrimalOp) forward(y *Node) {
	x, c := y.a, y.b
	copy(y.val.Data, x.val.Data)
	n := x.val.Cols
	y0 := y.blk(0)
	for i := 0; i < len(y0); i += n {
		addTo(y0[i:i+n], c.val.Data[i%len(c.val.Data):])
	}
}

func (*addPrimalOp) backward(y *Node, nb int) {
	x, c := y.a, y.b
	if x.needGrad {
		addTo(x.adj.Data[:nb*len(y.ablk(0))], y.adj.Data)
	}
	if !c.needGrad {
		return
	}
	if c.val.Rows == 1 {
		colSums(c.adj.Data, y.ablk(0), y.val.Cols)
	} else {
		addTo(c.adj.Data, y.ablk(0))
	}
}

// dual: c is a plain operand, whose gradient reads block 0 only.
func (o *addPrimalOp) dual(y *Node) { o.backward(y, 2) }

// curv: J = I for x and for a B×F c; a 1×F row c shared by every sample
// cannot depend on the samples' input.
func (*addPrimalOp) curv(s *curvSweep, y *Node) {
	if s.dep(y.a) {
		s.identity(y, y.a)
	}
	if c := y.b; s.dep(c) {
		if c.rows != y.rows {
			panic("ad: AddPrimal: a row added to every sample depends on the input of a curvature sweep")
		}
		s.identity(y, c)
	}
}

// scaleRowsOp is y_b = c_b·x_b for every block, c a plain B×1 column.
type scaleRowsOp struct{}

var opScaleRows op = &scaleRowsOp{}

// ScaleRows records y = c∘x row by row: row b of every block of x is
// multiplied by c_b, for a plain B×1 node c (a per-sample constant such as
// 1/σ). It is linear in x, so every Taylor coefficient scales alike.
func (t *Tape) ScaleRows(x, c *Node) *Node {
	sameTape(t, x, c)
	if c.blocks != 1 || c.val.Cols != 1 || c.val.Rows != x.rows {
		panic(fmt.Sprintf("ad: ScaleRows: c is %d×%d (%d blocks), want %d×1 plain", c.val.Rows, c.val.Cols, c.blocks, x.rows))
	}
	return t.emit(t.node(opScaleRows, x.rows, x.val.Cols, x.blocks), x, c)
}

func (*scaleRowsOp) forward(y *Node) {
	x, c := y.a, y.b
	n := x.val.Cols
	for r := 0; r < x.val.Rows; r++ {
		s := c.val.Data[r%x.rows]
		xr, yr := x.val.Data[r*n:(r+1)*n], y.val.Data[r*n:(r+1)*n]
		for j, v := range xr {
			yr[j] = s * v
		}
	}
}

func (*scaleRowsOp) backward(y *Node, nb int) {
	x, c := y.a, y.b
	n := x.val.Cols
	for r := 0; r < nb*y.rows; r++ {
		gr := y.adj.Data[r*n : (r+1)*n]
		if x.needGrad {
			s := c.val.Data[r%y.rows]
			xa := x.adj.Data[r*n : (r+1)*n]
			for j, g := range gr {
				xa[j] += float64(s * g)
			}
		}
		if c.needGrad {
			xr := x.val.Data[r*n : (r+1)*n]
			acc := 0.0
			for j, g := range gr {
				acc += float64(g * xr[j])
			}
			c.adj.Data[r%y.rows] += acc
		}
	}
}

// dual: c is a plain right operand and gets the primal gradient only.
func (*scaleRowsOp) dual(y *Node) {
	x, c := y.a, y.b
	n := x.val.Cols
	if x.needGrad {
		for r := 0; r < 2*y.rows; r++ {
			s := c.val.Data[r%y.rows]
			xa, gr := x.adj.Data[r*n:(r+1)*n], y.adj.Data[r*n:(r+1)*n]
			for j, g := range gr {
				xa[j] += float64(s * g)
			}
		}
	}
	if c.needGrad {
		for r := 0; r < y.rows; r++ {
			gr, xr := y.adj.Data[r*n:(r+1)*n], x.val.Data[r*n:(r+1)*n]
			for j, g := range gr {
				c.adj.Data[r] += float64(g * xr[j])
			}
		}
	}
}

// curv: y_b = c_b·x_b. J_x = c_b·I per row; J_c = x_bᵀ per row. With both
// depending on x the op's own term is the cross term ∂²y/∂c_b∂x_bj = g_bj:
// cp uses S = I, S̃ = itself (u_x += r_x, ũ_x += r_c·g, u_c += r_c,
// ũ_c += Σ_j g_j r_xj); approx-bp drops it. With c = x (one column) it is
// Mul's y = x∘x.
func (*scaleRowsOp) curv(s *curvSweep, y *Node) {
	t, x, c := s.t, y.a, y.b
	if x == c {
		(*mulOp).curv(nil, s, y)
		return
	}
	dx, dc := s.dep(x), s.dep(c)
	if dx {
		s.linear(y, x, func(v *Node, squared bool) *Node {
			if squared {
				return t.ScaleRows(v, t.Mul(c, c))
			}
			return t.ScaleRows(v, c)
		})
	}
	if dc {
		s.linear(y, c, func(v *Node, squared bool) *Node {
			if squared {
				return t.SumRows(t.Mul(v, t.Mul(x, x)))
			}
			return t.SumRows(t.Mul(v, x))
		})
	}
	if dx && dc && s.cp {
		g := s.slot(y).g
		rx, rc := s.draw(x.rows, x.val.Cols), s.draw(c.rows, 1)
		s.addU(x, rx, t.ScaleRows(g, rc))
		s.addU(c, rc, t.SumRows(t.Mul(g, rx)))
	}
}
