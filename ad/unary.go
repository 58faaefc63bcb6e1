package ad

import (
	"fmt"
	"math"
	"strings"
)

// An Elementwise function f: R → R with its first three derivatives, the
// value rule and derivative rules of every element-wise op. Three
// derivatives are what a reverse sweep over second-order Taylor
// coefficients needs.
type Elementwise struct {
	// Name is the function's name, as used in model specs ("softplus").
	Name string
	// Eval sets f0[i], f1[i], f2[i], f3[i] to f and its first three
	// derivatives at x[i]. The slices have equal lengths.
	Eval func(x, f0, f1, f2, f3 []float64)
}

// The element-wise functions of the package. Each is exact to rounding over
// the whole float64 range unless its doc says otherwise.
var (
	// Square is x².
	Square = &Elementwise{"square", evalSquare}
	// Exp is eˣ; it overflows to +Inf above about 709.78.
	Exp = &Elementwise{"exp", evalExp}
	// Log is the natural logarithm; NaN for x < 0 and -Inf at 0.
	Log = &Elementwise{"log", evalLog}
	// Sigmoid is σ(x) = 1/(1+e⁻ˣ), evaluated without overflow for any x.
	Sigmoid = &Elementwise{"sigmoid", evalSigmoid}
	// Softplus is log(1+eˣ) = max(x,0) + log1p(e^-|x|), stable for any x;
	// its derivatives are σ(x), σ(x)σ(−x), σ(x)σ(−x)(σ(−x)−σ(x)).
	Softplus = &Elementwise{"softplus", evalSoftplus}
	// Tanh is the hyperbolic tangent, with sech² computed without cancellation.
	Tanh = &Elementwise{"tanh", evalTanh}
	// SiLU (swish) is x·σ(x).
	SiLU = &Elementwise{"silu", evalSiLU}
	// ELU is x for x > 0 and eˣ−1 otherwise (α = 1). Its second derivative
	// jumps at 0 (from 1 to 0).
	ELU = &Elementwise{"elu", evalELU}
)

// Activations lists the element-wise functions by name.
var Activations = map[string]*Elementwise{
	"square": Square, "exp": Exp, "log": Log, "sigmoid": Sigmoid,
	"softplus": Softplus, "tanh": Tanh, "silu": SiLU, "elu": ELU,
}

func evalSquare(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		f0[i], f1[i], f2[i], f3[i] = v*v, 2*v, 2, 0
	}
}

func evalExp(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		e := math.Exp(v)
		f0[i], f1[i], f2[i], f3[i] = e, e, e, e
	}
}

func evalLog(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		r := 1 / v
		f0[i], f1[i], f2[i], f3[i] = math.Log(v), r, -r*r, 2*r*r*r
	}
}

// sigmoids returns σ(x) and σ(−x) = 1−σ(x), each computed without cancellation.
func sigmoids(x float64) (s, sm float64) {
	e := math.Exp(-math.Abs(x)) // in (0, 1]
	p, q := 1/(1+e), e/(1+e)
	if x >= 0 {
		return p, q
	}
	return q, p
}

func evalSigmoid(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		s, sm := sigmoids(v)
		d := s * sm
		f0[i], f1[i], f2[i], f3[i] = s, d, d*(sm-s), d*(1-6*d)
	}
}

func evalSoftplus(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		e := math.Exp(-math.Abs(v)) // in (0, 1]
		p := 1 / (1 + e)
		s, sm := p, e*p // σ(x), σ(−x)
		if v < 0 {
			s, sm = sm, s
		}
		d := s * sm
		f0[i] = math.Max(v, 0) + log1pUnit(e)
		f1[i], f2[i], f3[i] = s, d, d*(sm-s)
	}
}

// log1pUnit returns log(1+e) for e in [0, 1] to within a few ulps, by
// Goldberg's correction log(u)·e/(u−1) with u = 1+e rounded: the rounding
// error of u cancels between log(u) and u−1. It is faster than math.Log1p
// where math.Log has an assembly implementation.
func log1pUnit(e float64) float64 {
	u := 1 + e
	if u == 1 {
		return e
	}
	return math.Log(u) * e / (u - 1)
}

func evalTanh(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		// With m = expm1(−2|x|) ∈ (−1, 0]: tanh|x| = −m/(2+m) and
		// sech²x = 4(1+m)/(2+m)², both free of cancellation.
		m := math.Expm1(-2 * math.Abs(v))
		t := -m / (2 + m)
		if v < 0 {
			t = -t
		}
		s2 := 4 * (1 + m) / ((2 + m) * (2 + m))
		f0[i], f1[i], f2[i], f3[i] = t, s2, -2*t*s2, (6*t*t-2)*s2
	}
}

func evalSiLU(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		s, sm := sigmoids(v)
		d := s * sm // σ'
		// (xσ)' = σ + xσ', (xσ)'' = 2σ' + xσ'', (xσ)''' = 3σ'' + xσ'''.
		d2, d3 := d*(sm-s), d*(1-6*d)
		f0[i], f1[i], f2[i], f3[i] = v*s, s+v*d, 2*d+v*d2, 3*d2+v*d3
	}
}

func evalELU(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		if v > 0 {
			f0[i], f1[i], f2[i], f3[i] = v, 1, 0, 0
			continue
		}
		e := math.Exp(v)
		f0[i], f1[i], f2[i], f3[i] = math.Expm1(v), e, e, e
	}
}

// unaryOp applies the node's Elementwise function; aux keeps the first three
// derivatives at block 0.
type unaryOp struct{}

var opUnary op = &unaryOp{}

// Apply records y = f(x) element-wise. On a jet node the Taylor coefficients
// along each direction follow the chain rule for normalised coefficients:
// y₁ = f'(x₀)x₁ and y₂ = f'(x₀)x₂ + ½f″(x₀)x₁².
func (t *Tape) Apply(f *Elementwise, x *Node) *Node {
	sameTape(t, x)
	y := t.node(opUnary, x.rows, x.val.Cols, x.blocks)
	y.fn = f
	sz := x.rows * x.val.Cols
	y.aux.resize(3*x.rows, x.val.Cols)
	d1, d2, d3 := y.aux.Data[:sz], y.aux.Data[sz:2*sz], y.aux.Data[2*sz:]
	f.Eval(x.blk(0), y.blk(0), d1, d2, d3)
	if x.blocks > 1 {
		for d, o := range t.orders {
			b := t.first[d]
			x1, y1 := x.blk(b), y.blk(b)
			if o == 1 {
				for i := range y1 {
					y1[i] = d1[i] * x1[i]
				}
				continue
			}
			x2, y2 := x.blk(b+1), y.blk(b+1)
			for i := range y1 {
				y1[i] = d1[i] * x1[i]
				y2[i] = d1[i]*x2[i] + 0.5*d2[i]*x1[i]*x1[i]
			}
		}
	}
	return record(y, x, nil)
}

func (*unaryOp) backward(y *Node, nb int) {
	x := y.a
	if !x.needGrad {
		return
	}
	sz := y.rows * y.val.Cols
	d1, d2, d3 := y.aux.Data[:sz], y.aux.Data[sz:2*sz], y.aux.Data[2*sz:]
	a0, g0 := x.ablk(0), y.ablk(0)
	for i := range a0 {
		a0[i] += g0[i] * d1[i]
	}
	if nb == 1 {
		return
	}
	t := y.tape
	for d, o := range t.orders {
		b := t.first[d]
		x1, a1, g1 := x.blk(b), x.ablk(b), y.ablk(b)
		if o == 1 {
			for i := range a0 {
				a0[i] += g1[i] * d2[i] * x1[i]
				a1[i] += g1[i] * d1[i]
			}
			continue
		}
		x2, a2, g2 := x.blk(b+1), x.ablk(b+1), y.ablk(b+1)
		for i := range a0 {
			a0[i] += g1[i]*d2[i]*x1[i] + g2[i]*(d2[i]*x2[i]+0.5*d3[i]*x1[i]*x1[i])
			a1[i] += g1[i]*d1[i] + g2[i]*d2[i]*x1[i]
			a2[i] += g2[i] * d1[i]
		}
	}
}

// dual: x̄ += ȳ f'(x), and its tangent x̄' += ȳ' f'(x) + ȳ f″(x) x'.
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
	for i := range a {
		a[i] += g[i] * d1[i]
		at[i] += gt[i]*d1[i] + g[i]*d2[i]*xt[i]
	}
}

// ReLU is max(x, 0). Its second derivative is zero everywhere it exists, so
// it suits score nets (which need only first input derivatives) but not
// energy nets trained by score matching.
var ReLU = &Elementwise{"relu", evalReLU}

func evalReLU(x, f0, f1, f2, f3 []float64) {
	for i, v := range x {
		if v > 0 {
			f0[i], f1[i] = v, 1
		} else {
			f0[i], f1[i] = 0, 0
		}
		f2[i], f3[i] = 0, 0
	}
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
		// f.Eval writes (f, f', f'', f'''); shift by k into the outputs.
		// f0 receives f itself first and is then overwritten.
		if k == 1 {
			f.Eval(x, f3, f0, f1, f2)
			for i := range f3 {
				f3[i] = math.NaN()
			}
			return
		}
		f.Eval(x, f2, f3, f0, f1)
		for i := range f2 {
			f2[i], f3[i] = math.NaN(), math.NaN()
		}
	}}
}
