package ad

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"scorematch/ad/internal/vmath"
)

// An Elementwise function f: R → R with its first three derivatives, the
// value rule and derivative rules of every element-wise op. The
// activations of the package (Exp, Softplus, Sigmoid, Tanh, SiLU, ELU)
// have vectorised kernels that give the same bits on every platform: a
// pure-Go reference in explicit fused multiply-adds, and AVX2 or AVX-512
// assembly chosen at start-up (see Kernel); each is accurate to a few ulps
// and never calls a platform-dependent math function. Three
// derivatives are what a reverse sweep over second-order Taylor
// coefficients needs.
type Elementwise struct {
	// Name is the function's name, as used in model specs ("softplus").
	Name string
	// Eval sets f0[i], f1[i], f2[i], f3[i] to f and its first three
	// derivatives at x[i]. Each output is nil (not wanted: it is neither
	// computed nor written) or has len(x).
	Eval func(x, f0, f1, f2, f3 []float64)
}

// The element-wise functions of the package. Each is exact to rounding over
// the whole float64 range unless its doc says otherwise.
var (
	// Square is x².
	Square = Pointwise("square", square)
	// Exp is eˣ; it overflows to +Inf above about 709.78.
	Exp = &Elementwise{"exp", vmath.Exp}
	// Log is the natural logarithm, as rmath.Log computes it (the same
	// bits on every architecture); NaN for x < 0 and -Inf at 0.
	Log = Pointwise("log", log)
	// Sigmoid is σ(x) = 1/(1+e⁻ˣ), evaluated without overflow for any x.
	Sigmoid = &Elementwise{"sigmoid", vmath.Sigmoid}
	// Softplus is log(1+eˣ) = max(x,0) + log1p(e^-|x|), stable for any x;
	// its derivatives are σ(x), σ(x)σ(−x), σ(x)σ(−x)(σ(−x)−σ(x)).
	Softplus = &Elementwise{"softplus", vmath.Softplus}
	// Tanh is the hyperbolic tangent, with sech² computed without cancellation.
	Tanh = &Elementwise{"tanh", vmath.Tanh}
	// SiLU (swish) is x·σ(x).
	SiLU = &Elementwise{"silu", vmath.SiLU}
	// ELU is x for x > 0 and eˣ−1 otherwise (α = 1). Its second derivative
	// jumps at 0 (from 1 to 0).
	ELU = &Elementwise{"elu", vmath.ELU}
)

// Activations lists the element-wise functions by name.
var Activations = map[string]*Elementwise{
	"square": Square, "exp": Exp, "log": Log, "sigmoid": Sigmoid,
	"softplus": Softplus, "tanh": Tanh, "silu": SiLU, "elu": ELU,
}

// Pointwise returns the element-wise function named name whose value and
// first three derivatives at one point are fn(v). It suits functions off
// the hot path; the activations of the package have vectorised kernels.
func Pointwise(name string, fn func(v float64) (f0, f1, f2, f3 float64)) *Elementwise {
	return &Elementwise{Name: name, Eval: pointwise(fn)}
}

// pointwise makes an Eval from a scalar function that returns f and its
// first three derivatives at one point.
func pointwise(fn func(v float64) (f0, f1, f2, f3 float64)) func(x, f0, f1, f2, f3 []float64) {
	return func(x, f0, f1, f2, f3 []float64) {
		checkOutputs(len(x), f0, f1, f2, f3)
		for i, v := range x {
			y0, y1, y2, y3 := fn(v)
			if f0 != nil {
				f0[i] = y0
			}
			if f1 != nil {
				f1[i] = y1
			}
			if f2 != nil {
				f2[i] = y2
			}
			if f3 != nil {
				f3[i] = y3
			}
		}
	}
}

// checkOutputs panics unless every output is nil or has n elements.
func checkOutputs(n int, f0, f1, f2, f3 []float64) {
	for _, out := range [...][]float64{f0, f1, f2, f3} {
		if out != nil && len(out) != n {
			panic(fmt.Sprintf("ad: Elementwise.Eval: an output has %d elements, x has %d", len(out), n))
		}
	}
}

func square(v float64) (f0, f1, f2, f3 float64) { return v * v, 2 * v, 2, 0 }

func log(v float64) (f0, f1, f2, f3 float64) {
	r := 1 / v
	return vmath.LogScalar(v), r, -r * r, 2 * r * r * r
}

// unaryOp applies the node's Elementwise function; aux keeps the first three
// derivatives at block 0.
type unaryOp struct{}

var opUnary op = &unaryOp{}

// Apply records y = f(x) element-wise. On a jet node the Taylor coefficients
// along each direction follow the chain rule for normalised coefficients:
// y₁ = f'(x₀)x₁ and y₂ = f'(x₀)x₂ + ½f″(x₀)x₁².
//
// f is asked only for the derivatives the tape's sweeps use: f and f′ on a
// plain node, f″ too on a jet of order 1, and f‴ on a jet of order 2. On a
// tape with a primal tape, f and f′ are taken from it.
func (t *Tape) Apply(f *Elementwise, x *Node) *Node {
	sameTape(t, x)
	y := t.node(opUnary, x.rows, x.val.Cols, x.blocks)
	y.fn = f
	return t.emit(y, x, nil)
}

func (*unaryOp) forward(y *Node) {
	t, x, f := y.tape, y.a, y.fn
	sz := x.rows * x.val.Cols
	y.aux.Resize(3*x.rows, x.val.Cols)
	d1, d2, d3 := y.aux.Data[:sz], y.aux.Data[sz:2*sz], y.aux.Data[2*sz:]
	var want2, want3 []float64
	if x.blocks > 1 {
		want2 = d2
		if slices.Contains(t.orders, 2) {
			want3 = d3
		}
	}
	if src := t.primalOf(y); src != nil {
		copy(y.blk(0), src.val.Data)
		copy(d1, src.aux.Data[:sz])
		f.Eval(x.blk(0), nil, nil, want2, want3)
	} else {
		f.Eval(x.blk(0), y.blk(0), d1, want2, want3)
	}
	if x.blocks == 1 {
		return
	}
	for b, order := range t.directions() {
		x1, y1 := x.blk(b), y.blk(b)
		if order == 1 {
			for i := range y1 {
				y1[i] = d1[i] * x1[i]
			}
			y.zero |= x.zero & (1 << b)
			continue
		}
		x2, y2 := x.blk(b+1), y.blk(b+1)
		for i := range y1 {
			y1[i] = d1[i] * x1[i]
			y2[i] = float64(d1[i]*x2[i]) + float64(0.5*d2[i]*x1[i]*x1[i])
		}
		if b+1 < 64 {
			y.zero |= x.zero & (1 << b)
			if x.zero&(1<<b) != 0 {
				y.zero |= x.zero & (1 << (b + 1))
			}
		}
	}
}

// backward writes a fresh x̄ outright, each block once; 0 + v gives the
// bits of v added to a zeroed adjoint (−0 becomes +0).
func (*unaryOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	fresh := x.fresh
	x.fresh = false
	sz := y.rows * y.val.Cols
	d1, d2, d3 := y.aux.Data[:sz], y.aux.Data[sz:2*sz], y.aux.Data[2*sz:]
	a0, g0 := x.ablk(0), y.ablk(0)
	if fresh {
		for i := range a0 {
			a0[i] = 0 + float64(g0[i]*d1[i])
		}
		if nb == 1 {
			clear(x.adj.Data[sz:])
		}
	} else {
		for i := range a0 {
			a0[i] += float64(g0[i] * d1[i])
		}
	}
	if nb == 1 {
		return
	}
	for b, order := range y.tape.directions() {
		x1, a1, g1 := x.blk(b), x.ablk(b), y.ablk(b)
		if order == 1 {
			if fresh {
				for i := range a0 {
					a0[i] += float64(g1[i] * d2[i] * x1[i])
					a1[i] = 0 + float64(g1[i]*d1[i])
				}
				continue
			}
			for i := range a0 {
				a0[i] += float64(g1[i] * d2[i] * x1[i])
				a1[i] += float64(g1[i] * d1[i])
			}
			continue
		}
		x2, a2, g2 := x.blk(b+1), x.ablk(b+1), y.ablk(b+1)
		if fresh {
			for i := range a0 {
				a0[i] += float64(g1[i]*d2[i]*x1[i]) + float64(g2[i]*(float64(d2[i]*x2[i])+float64(0.5*d3[i]*x1[i]*x1[i])))
				a1[i] = 0 + (float64(g1[i]*d1[i]) + float64(g2[i]*d2[i]*x1[i]))
				a2[i] = 0 + float64(g2[i]*d1[i])
			}
			continue
		}
		for i := range a0 {
			a0[i] += float64(g1[i]*d2[i]*x1[i]) + float64(g2[i]*(float64(d2[i]*x2[i])+float64(0.5*d3[i]*x1[i]*x1[i])))
			a1[i] += float64(g1[i]*d1[i]) + float64(g2[i]*d2[i]*x1[i])
			a2[i] += float64(g2[i] * d1[i])
		}
	}
}

// dual: x̄ += ȳ f'(x), and its tangent x̄' += ȳ' f'(x) + ȳ f″(x) x'; a
// fresh x̄ is written outright (see backward).
func (*unaryOp) dual(y *Node) {
	x := y.a
	if !x.needGrad {
		return
	}
	sz := y.rows * y.val.Cols
	d1, d2 := y.aux.Data[:sz], y.aux.Data[sz:2*sz]
	xt := x.blk(1)
	a, at := x.ablk(0), x.ablk(1)
	g, gt := y.ablk(0), y.ablk(1)
	if x.fresh {
		x.fresh = false
		clear(x.adj.Data[2*sz:])
		for i := range a {
			a[i] = 0 + float64(g[i]*d1[i])
			at[i] = 0 + (float64(gt[i]*d1[i]) + float64(g[i]*d2[i]*xt[i]))
		}
		return
	}
	for i := range a {
		a[i] += float64(g[i] * d1[i])
		at[i] += float64(gt[i]*d1[i]) + float64(g[i]*d2[i]*xt[i])
	}
}

// curv: J = diag(f′(x)) and the op's own term D = diag(f″(x)∘g_y), with
// f′ and f″ applied as differentiable functions (Derivative). approx-bp:
// d_x = D + f′(x)²∘d_y. cp: u_x = f′(x)∘u_y + √|D|∘r and
// ũ_x = f′(x)∘ũ_y + sign(D)√|D|∘r (Martens et al.'s symmetric factors).
// The ops are recorded in the order of the MLP recursion this replaced, so
// its results keep their bits.
func (*unaryOp) curv(s *curvSweep, y *Node) {
	t, x, sl := s.t, y.a, s.slot(y)
	g := sl.g
	fp := t.Apply(derivOf(y.fn, 1), x)
	dz := t.Mul(t.Apply(derivOf(y.fn, 2), x), g)
	s.addG(x, t.Mul(fp, g))
	if !s.cp {
		if sl.d == nil {
			s.addD(x, dz)
		} else {
			s.addD(x, t.Add(dz, t.Mul(t.Apply(Square, fp), sl.d)))
		}
		return
	}
	r := s.draw(y.rows, y.val.Cols)
	su, sut := t.Mul(t.Apply(sqrtAbs, dz), r), t.Mul(t.Apply(signSqrt, dz), r)
	if sl.u == nil {
		s.addU(x, su, sut)
	} else {
		s.addU(x, t.Add(t.Mul(fp, sl.u), su), t.Add(t.Mul(fp, sl.ut), sut))
	}
}

// ReLU is max(x, 0). Its second derivative is zero everywhere it exists, so
// it suits score nets (which need only first input derivatives) but not
// energy nets trained by score matching.
var ReLU = &Elementwise{"relu", pointwise(relu)}

func relu(v float64) (f0, f1, f2, f3 float64) {
	if v > 0 {
		return v, 1, 0, 0
	}
	return 0, 0, 0, 0
}

func init() { Activations["relu"] = ReLU }

// Derivative returns the element-wise function f⁽ᵏ⁾ (k = 1 or 2) as an
// Elementwise with the derivatives of f that are known: f⁽ᵏ⁾ and its next
// 3−k derivatives; the missing higher ones are NaN, so using f⁽ᵏ⁾ where they
// matter (a second-order jet of f″) shows up instead of being silently
// wrong. A plain reverse sweep needs only the first derivative, so f′ and f″
// are differentiable on plain tapes. Each call returns a new value: keep it.
func Derivative(f *Elementwise, k int) *Elementwise {
	if k != 1 && k != 2 {
		panic(fmt.Sprintf("ad: Derivative(%s, %d): k must be 1 or 2", f.Name, k))
	}
	name := f.Name + strings.Repeat("'", k)
	return &Elementwise{Name: name, Eval: func(x, f0, f1, f2, f3 []float64) {
		// f.Eval writes f and its first three derivatives: shift them by k
		// into the outputs, and mark the derivatives it lacks unknown.
		if k == 1 {
			f.Eval(x, nil, f0, f1, f2)
			fillNaN(f3)
			return
		}
		f.Eval(x, nil, nil, f0, f1)
		fillNaN(f2)
		fillNaN(f3)
	}}
}

// fillNaN sets every element of s (which may be nil) to NaN.
func fillNaN(s []float64) {
	for i := range s {
		s[i] = math.NaN()
	}
}
