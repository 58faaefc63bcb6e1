package nn

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/rmath"
	"scorematch/nn/internal/fused"
	"scorematch/nn/safetensors"
)

// An Optimizer updates parameters from their gradients.
//
// Step applies one update to params given grads (grads[i] shaped like
// params[i].Value). The first Step binds the optimiser to the parameters'
// names and shapes and allocates its state; later steps must pass the same
// parameters in the same order, and allocate nothing. Step panics if the
// gradients do not match the parameters or a hyperparameter is invalid:
// call Validate first, which reports an invalid hyperparameter as a
// *ConfigError.
//
// Begin and Update are Step in two parts, so that the update can be split
// across goroutines: Begin checks, binds and advances the step count, and
// Update(i, lo, hi) applies the begun step to elements [lo, hi) of
// parameter i. Step is Begin followed by Update over every element. Each
// element's update depends on that element alone, so the result is the
// same bits however the elements are split, and Updates of disjoint ranges
// may run concurrently. The params and grads passed to Begin must not
// change until the step's Updates are done.
//
// State returns a copy of the optimiser's state: a scalar "step" (the
// number of steps taken) and one tensor per state buffer and parameter,
// named "<buffer>.<parameter name>" (for example "exp_avg.0.weight"), in a
// fixed order. SetState replaces the state by one that State returned, so
// that the following steps are bit-identical to those the saved optimiser
// would have taken. It checks that the state is well-formed and, when the
// optimiser is already bound, that it matches the parameters; otherwise
// the next Step checks that and panics on a mismatch. Hyperparameters are
// not part of the state.
type Optimizer interface {
	Validate() error
	Step(params []*ad.Param, grads []ad.Mat)
	Begin(params []*ad.Param, grads []ad.Mat)
	Update(i, lo, hi int)
	State() []Tensor
	SetState(state []Tensor) error
}

// A ConfigError reports a setting outside its valid range: the field of
// the configured type, the value given and what is expected. Programs
// that take settings from users match it with errors.As to name their own
// flag or key.
type ConfigError struct {
	Type  string // the configured type, such as "Adam"
	Field string // its field, such as "LR"
	Value any    // the value given
	Want  string // what is expected, such as "≥ 0"
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("nn: %s: %s = %v, want %s", e.Type, e.Field, e.Value, e.Want)
}

// Setting returns "Type.Field", the setting at fault.
func (e *ConfigError) Setting() string { return e.Type + "." + e.Field }

// atLeast0 returns a *ConfigError unless v ≥ 0 (NaN is not).
func atLeast0(typ, field string, v float64) error {
	if v >= 0 && !math.IsInf(v, 1) {
		return nil
	}
	return &ConfigError{Type: typ, Field: field, Value: v, Want: "finite and ≥ 0"}
}

// in01 returns a *ConfigError unless v is in [0, 1).
func in01(typ, field string, v float64) error {
	if v >= 0 && v < 1 {
		return nil
	}
	return &ConfigError{Type: typ, Field: field, Value: v, Want: "in [0, 1)"}
}

// mustValidate panics with o's validation error, if any: Begin's check
// for callers that skipped Validate.
func mustValidate(o Optimizer) {
	if err := o.Validate(); err != nil {
		panic(err)
	}
}

// step is Optimizer.Step in terms of Begin and Update.
func step(o Optimizer, params []*ad.Param, grads []ad.Mat) {
	o.Begin(params, grads)
	for i, p := range params {
		o.Update(i, 0, len(p.Value.Data))
	}
}

// The optimisers implement Optimizer.
var (
	_ Optimizer = (*SGD)(nil)
	_ Optimizer = (*Adam)(nil)
	_ Optimizer = (*RMSProp)(nil)
)

// A Tensor is a named array of float64 values in row-major order, as
// weight files and optimiser state hold them: len(Data) is the product of
// Shape; an empty Shape is a scalar. It is the Tensor of package
// safetensors.
type Tensor = safetensors.Tensor

// SGD is stochastic gradient descent with momentum, as torch.optim.SGD
// computes it. For each parameter p with gradient g:
//
//	d = g + WeightDecay·p
//	b = d                                  (first step with Momentum ≠ 0)
//	b = Momentum·b + (1−Dampening)·d       (later steps)
//	d = d + Momentum·b  if Nesterov, else d = b  (when Momentum ≠ 0)
//	p = p − LR·d
//
// Its state buffer is "momentum_buffer", present once a step with nonzero
// momentum has been taken.
type SGD struct {
	LR          float64 // learning rate, ≥ 0
	Momentum    float64 // momentum factor, ≥ 0 (default 0)
	Dampening   float64 // dampening of the momentum (default 0)
	WeightDecay float64 // L2 penalty, ≥ 0 (default 0)
	Nesterov    bool    // Nesterov momentum; needs Momentum > 0 and Dampening = 0

	st    optState
	first bool // the begun step is the first with momentum
}

// NewSGD returns plain SGD with learning rate lr and PyTorch's defaults for
// the rest: no momentum, dampening or weight decay.
func NewSGD(lr float64) *SGD {
	return &SGD{LR: lr, st: optState{opt: "SGD", kinds: []string{"momentum_buffer"}, required: []bool{false}}}
}

// Validate reports the first invalid hyperparameter as a *ConfigError.
func (o *SGD) Validate() error {
	for _, err := range []error{
		atLeast0("SGD", "LR", o.LR),
		atLeast0("SGD", "Momentum", o.Momentum),
		atLeast0("SGD", "Dampening", o.Dampening),
		atLeast0("SGD", "WeightDecay", o.WeightDecay),
	} {
		if err != nil {
			return err
		}
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		return &ConfigError{Type: "SGD", Field: "Momentum", Value: o.Momentum, Want: "> 0 with Dampening = 0 for Nesterov momentum"}
	}
	return nil
}

// Step applies one SGD update (see Optimizer).
func (o *SGD) Step(params []*ad.Param, grads []ad.Mat) { step(o, params, grads) }

// Begin starts an SGD update (see Optimizer).
func (o *SGD) Begin(params []*ad.Param, grads []ad.Mat) {
	mustValidate(o)
	s := &o.st
	s.begin(params, grads)
	o.first = !s.have[0]
	if o.Momentum != 0 {
		s.have[0] = true
	}
}

// Update applies the begun SGD update to elements [lo, hi) of parameter i.
func (o *SGD) Update(i, lo, hi int) {
	s := &o.st
	lr, mom, damp, wd := o.LR, o.Momentum, o.Dampening, o.WeightDecay
	pv, g, b := s.params[i].Value.Data[lo:hi], s.grads[i].Data[lo:hi], s.buf[0][i].Data[lo:hi]
	for j := range pv {
		d := g[j]
		if wd != 0 {
			d += float64(wd * pv[j])
		}
		if mom != 0 {
			if o.first {
				b[j] = d
			} else {
				b[j] = float64(b[j]*mom) + float64((1-damp)*d)
			}
			if o.Nesterov {
				d += float64(mom * b[j])
			} else {
				d = b[j]
			}
		}
		pv[j] -= float64(lr * d)
	}
}

// State returns the optimiser's state (see Optimizer).
func (o *SGD) State() []Tensor { return o.st.state() }

// SetState restores a state returned by State (see Optimizer).
func (o *SGD) SetState(state []Tensor) error { return o.st.setState(state) }

// Adam is the Adam optimiser as torch.optim.Adam computes it (amsgrad off).
// At step t = 1, 2, ..., for each parameter p with gradient g:
//
//	g = g + WeightDecay·p
//	m = Beta1·m + (1−Beta1)·g
//	v = Beta2·v + (1−Beta2)·g²
//	p = p − (LR/(1−Beta1ᵗ)) · m / (√v·(1/√(1−Beta2ᵗ)) + Eps)
//
// with m and v starting at zero. PyTorch divides √v by √(1−Beta2ᵗ); the
// multiplication by its reciprocal saves a division per element and moves
// the denominator by at most an ulp. Its state buffers are "exp_avg" (m)
// and "exp_avg_sq" (v).
type Adam struct {
	LR          float64 // learning rate, ≥ 0 (default 1e-3)
	Beta1       float64 // decay of the first moment, in [0, 1) (default 0.9)
	Beta2       float64 // decay of the second moment, in [0, 1) (default 0.999)
	Eps         float64 // added to the denominator, ≥ 0 (default 1e-8)
	WeightDecay float64 // L2 penalty, ≥ 0 (default 0)

	st                   optState
	stepSize, invBC2Sqrt float64 // of the begun step
}

// NewAdam returns Adam with PyTorch's defaults: LR 1e-3, betas 0.9 and
// 0.999, Eps 1e-8, no weight decay.
func NewAdam() *Adam {
	return &Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		st: optState{opt: "Adam", kinds: []string{"exp_avg", "exp_avg_sq"}, required: []bool{true, true}}}
}

// Validate reports the first invalid hyperparameter as a *ConfigError.
func (o *Adam) Validate() error {
	for _, err := range []error{
		atLeast0("Adam", "LR", o.LR),
		in01("Adam", "Beta1", o.Beta1),
		in01("Adam", "Beta2", o.Beta2),
		atLeast0("Adam", "Eps", o.Eps),
		atLeast0("Adam", "WeightDecay", o.WeightDecay),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Step applies one Adam update (see Optimizer).
func (o *Adam) Step(params []*ad.Param, grads []ad.Mat) { step(o, params, grads) }

// Begin starts an Adam update (see Optimizer).
func (o *Adam) Begin(params []*ad.Param, grads []ad.Mat) {
	mustValidate(o)
	s := &o.st
	s.begin(params, grads)
	t := float64(s.step)
	o.stepSize = o.LR / (1 - rmath.Pow(o.Beta1, t))
	// Multiplying by 1/√(1−β₂ᵗ) rather than dividing by √(1−β₂ᵗ), as
	// PyTorch does, saves one division per element, the slowest part of
	// the update; the denominator moves by at most an ulp.
	o.invBC2Sqrt = 1 / math.Sqrt(1-rmath.Pow(o.Beta2, t))
	s.have[0], s.have[1] = true, true
}

// Update applies the begun Adam update to elements [lo, hi) of parameter i.
func (o *Adam) Update(i, lo, hi int) {
	s := &o.st
	b1, b2 := o.Beta1, o.Beta2
	fused.Adam(s.params[i].Value.Data[lo:hi], s.grads[i].Data[lo:hi], s.buf[0][i].Data[lo:hi], s.buf[1][i].Data[lo:hi],
		fused.AdamCoeffs{B1: b1, B2: b2, OneMinusB1: 1 - b1, OneMinusB2: 1 - b2, WeightDecay: o.WeightDecay,
			StepSize: o.stepSize, InvBC2Sqrt: o.invBC2Sqrt, Eps: o.Eps})
}

// State returns the optimiser's state (see Optimizer).
func (o *Adam) State() []Tensor { return o.st.state() }

// SetState restores a state returned by State (see Optimizer).
func (o *Adam) SetState(state []Tensor) error { return o.st.setState(state) }

// RMSProp is the RMSprop optimiser as torch.optim.RMSprop computes it. For
// each parameter p with gradient g:
//
//	g = g + WeightDecay·p
//	a = Alpha·a + (1−Alpha)·g²
//	c = Alpha·c + (1−Alpha)·g,  s = √(a − c²) + Eps   if Centered
//	s = √a + Eps                                      otherwise
//	b = Momentum·b + g/s,  p = p − LR·b               if Momentum > 0
//	p = p − LR·g/s                                    otherwise
//
// with a, c and b starting at zero. Its state buffers are "square_avg" (a),
// "momentum_buffer" (b, when Momentum > 0) and "grad_avg" (c, when
// Centered).
type RMSProp struct {
	LR          float64 // learning rate, ≥ 0 (default 1e-2)
	Alpha       float64 // smoothing constant, ≥ 0 (default 0.99)
	Eps         float64 // added to the denominator, ≥ 0 (default 1e-8)
	WeightDecay float64 // L2 penalty, ≥ 0 (default 0)
	Momentum    float64 // momentum factor, ≥ 0 (default 0)
	Centered    bool    // normalise by the estimated variance of the gradient (default false)

	st optState
}

// NewRMSProp returns RMSProp with PyTorch's defaults: LR 1e-2, Alpha 0.99,
// Eps 1e-8, no weight decay or momentum, not centered.
func NewRMSProp() *RMSProp {
	return &RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8,
		st: optState{opt: "RMSProp", kinds: []string{"square_avg", "momentum_buffer", "grad_avg"}, required: []bool{true, false, false}}}
}

// Validate reports the first invalid hyperparameter as a *ConfigError.
func (o *RMSProp) Validate() error {
	for _, err := range []error{
		atLeast0("RMSProp", "LR", o.LR),
		atLeast0("RMSProp", "Alpha", o.Alpha),
		atLeast0("RMSProp", "Eps", o.Eps),
		atLeast0("RMSProp", "Momentum", o.Momentum),
		atLeast0("RMSProp", "WeightDecay", o.WeightDecay),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Step applies one RMSProp update (see Optimizer).
func (o *RMSProp) Step(params []*ad.Param, grads []ad.Mat) { step(o, params, grads) }

// Begin starts an RMSProp update (see Optimizer).
func (o *RMSProp) Begin(params []*ad.Param, grads []ad.Mat) {
	mustValidate(o)
	s := &o.st
	s.begin(params, grads)
	s.have[0] = true
	s.have[1] = s.have[1] || o.Momentum > 0
	s.have[2] = s.have[2] || o.Centered
}

// Update applies the begun RMSProp update to elements [lo, hi) of parameter i.
func (o *RMSProp) Update(i, lo, hi int) {
	s := &o.st
	lr, alpha, eps, wd, mom := o.LR, o.Alpha, o.Eps, o.WeightDecay, o.Momentum
	pv, g := s.params[i].Value.Data[lo:hi], s.grads[i].Data[lo:hi]
	a, b, c := s.buf[0][i].Data[lo:hi], s.buf[1][i].Data[lo:hi], s.buf[2][i].Data[lo:hi]
	for j := range pv {
		gj := g[j]
		if wd != 0 {
			gj += float64(wd * pv[j])
		}
		a[j] = float64(a[j]*alpha) + float64((1-alpha)*gj*gj)
		var avg float64
		if o.Centered {
			c[j] = float64(c[j]*alpha) + float64((1-alpha)*gj)
			avg = math.Sqrt(a[j]-float64(c[j]*c[j])) + eps
		} else {
			avg = math.Sqrt(a[j]) + eps
		}
		if mom > 0 {
			b[j] = float64(b[j]*mom) + gj/avg
			pv[j] -= float64(lr * b[j])
		} else {
			pv[j] += -lr * gj / avg
		}
	}
}

// State returns the optimiser's state (see Optimizer).
func (o *RMSProp) State() []Tensor { return o.st.state() }

// SetState restores a state returned by State (see Optimizer).
func (o *RMSProp) SetState(state []Tensor) error { return o.st.setState(state) }

// ClipGradNorm scales grads in place so that their total 2-norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does: the total norm is the
// 2-norm of all gradient entries together (the 2-norm of the per-tensor
// 2-norms), and if maxNorm/(norm+1e-6) < 1 every
// gradient is multiplied by that factor. It returns the total norm before
// clipping. A NaN norm is returned without scaling; an infinite one scales
// every gradient by zero (giving NaN where a gradient is infinite).
func ClipGradNorm(grads []ad.Mat, maxNorm float64) float64 {
	total := 0.0
	for _, g := range grads {
		s := 0.0
		for _, v := range g.Data {
			s += float64(v * v)
		}
		total += s // the square of this tensor's norm
	}
	norm := math.Sqrt(total)
	if c := maxNorm / (norm + 1e-6); c < 1 {
		for _, g := range grads {
			for j := range g.Data {
				g.Data[j] *= c
			}
		}
	}
	return norm
}
