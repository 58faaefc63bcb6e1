package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"scorematch/ad"
	"scorematch/ad/repro"
)

// The defaults of a DKEF, those of the sliced score matching paper's
// reference code.
const (
	DefaultDKEFKernels  = 3   // kernels, each on its own feature net
	DefaultDKEFFeatures = 30  // width of the feature nets
	DKEFQ0Sigma         = 2.0 // q₀ = N(0, σ₀²I), unnormalised
	DKEFLogLambda       = -2  // initial log₁₀ λ of the α fit
)

// DefaultDKEFLogSigmas are the initial log₁₀ bandwidths of the reference's
// three kernels.
var DefaultDKEFLogSigmas = []float64{0, 0.5185, 1}

// A DKEF is a deep kernel exponential family (Wenliang, Sutherland,
// Strathmann & Gretton 2019) as the sliced score matching paper trains it:
// the unnormalised log-density
//
//	log p̃(x) = q₀(x) + Σⱼ wⱼ Σₘ αₘ kⱼ(x, zₘ),   q₀(x) = −‖x‖²/(2σ₀²), σ₀ = 2,
//	kⱼ(x, z) = exp(−‖φⱼ(x) − φⱼ(z)‖² / (2·10^{sⱼ})),
//
// with J Gaussian kernels on learnt features φⱼ, M inducing points zₘ
// (trainable), kernel weights w = softmax(kernel_weights) and log₁₀
// bandwidths sⱼ (the reference's "sigma", which is not squared). Each φⱼ
// is an MLP D → F → F → F with softplus between its Linear layers, plus a
// bias-free skip Linear D → F added to its output.
//
// The coefficients α are not trained by gradient steps: for fixed
// features every score-matching loss is quadratic in α, and AlphaFitter
// sets them in closed form, α = −(G + λI)⁻¹b with λ = 10^{log_lambd}, on
// one half of a batch, differentiably. Energy is E(x) = −log p̃(x) with
// the current α.
//
// The parameters carry the reference module's state_dict names, in its
// order: "kernel_weights" (1×J), "z" (M×D), "log_lambd" (1×1), then for
// each kernel j "kernel.<j>.log_sigma" (1×1), "kernel.<j>.phi_w.skip.weight"
// (F×D) and "kernel.<j>.phi_w.net.<0,2,4>.{weight,bias}"; and last "alpha"
// (M×1), which the reference keeps outside its state_dict. Alpha is in
// Params so that objectives report ∂loss/∂α, which the closed-form fit
// turns into gradients of the other parameters; an optimiser must not step
// it (see Alpha).
type DKEF struct {
	cfg       DKEFConfig
	weights   *ad.Param // kernel_weights, 1×J
	z         *ad.Param // inducing points, M×D
	logLambda *ad.Param // 1×1
	alpha     *ad.Param // M×1
	kernels   []dkefKernel
	params    []*ad.Param
	onesF     ad.Mat // 1×F ones
	onesM     ad.Mat // M×1 ones
	onesJ     ad.Mat // J×1 ones
	eye       ad.Mat // M×M identity
}

// dkefKernel is one kernel's bandwidth and feature net.
type dkefKernel struct {
	logSigma *ad.Param // 1×1
	skip     *ad.Param // F×D, nil without the skip layer
	net      *MLP      // D → F → F → F
}

// DKEFConfig describes a DKEF.
type DKEFConfig struct {
	// Dim is the data dimension D ≥ 1.
	Dim int
	// Inducing is the number M ≥ 1 of inducing points (200 in the
	// reference).
	Inducing int
	// Kernels is the number J of kernels (0 means DefaultDKEFKernels).
	Kernels int
	// Features is the width F of the feature nets (0 means
	// DefaultDKEFFeatures).
	Features int
	// NoSkip drops the feature nets' skip layer (the reference has it).
	NoSkip bool
	// LogSigmas are the initial log₁₀ bandwidths, one per kernel; nil
	// means DefaultDKEFLogSigmas when there are three kernels and 0 for
	// every kernel otherwise.
	LogSigmas []float64
}

// Validate reports the first invalid setting of c as a *ConfigError of
// type "DKEFConfig", naming the field.
func (c DKEFConfig) Validate() error {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "DKEFConfig", Field: field, Value: v, Want: want}
	}
	switch {
	case c.Dim < 1:
		return bad("Dim", c.Dim, "≥ 1")
	case c.Inducing < 1:
		return bad("Inducing", c.Inducing, "≥ 1")
	case c.Kernels < 0 || c.Kernels > 64:
		return bad("Kernels", c.Kernels, fmt.Sprintf("1 to 64, or 0 for %d", DefaultDKEFKernels))
	case c.Features < 0:
		return bad("Features", c.Features, fmt.Sprintf("≥ 1, or 0 for %d", DefaultDKEFFeatures))
	case c.LogSigmas != nil && len(c.LogSigmas) != c.withDefaults().Kernels:
		return bad("LogSigmas", c.LogSigmas, "one per kernel")
	}
	for _, s := range c.LogSigmas {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return bad("LogSigmas", c.LogSigmas, "finite values")
		}
	}
	return nil
}

// withDefaults fills the zero settings with their defaults.
func (c DKEFConfig) withDefaults() DKEFConfig {
	if c.Kernels == 0 {
		c.Kernels = DefaultDKEFKernels
	}
	if c.Features == 0 {
		c.Features = DefaultDKEFFeatures
	}
	if c.LogSigmas == nil {
		c.LogSigmas = make([]float64, c.Kernels)
		if c.Kernels == len(DefaultDKEFLogSigmas) {
			copy(c.LogSigmas, DefaultDKEFLogSigmas)
		}
	}
	return c
}

// NewDKEF returns a DKEF with the inducing points z (an M×D matrix, copied;
// the reference draws them without replacement from the training rows)
// initialised as the reference initialises its module: every Linear
// weight and bias of the feature nets N(0, 1)/√out (out the layer's
// output width, as the reference divides by weight.size(0)), drawn with
// repro.Normal from rng kernel by kernel (skip weight first, then each
// layer's weight in row-major order and its bias); kernel_weights 0,
// log₁₀ bandwidths c.LogSigmas, log_lambd −2 and α = 0. It returns the
// *ConfigError of c.Validate, or one for Inducing when z is not M×D. It
// panics if rng is nil.
func NewDKEF(c DKEFConfig, z ad.Mat, rng *rand.Rand) (*DKEF, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if z.Rows != c.Inducing || z.Cols != c.Dim {
		return nil, &ConfigError{Type: "DKEFConfig", Field: "Inducing", Value: c.Inducing,
			Want: fmt.Sprintf("the rows of the %d×%d inducing points, with Dim their columns", z.Rows, z.Cols)}
	}
	if rng == nil {
		panic("nn: NewDKEF: nil *rand.Rand for the initial weights")
	}
	m := newDKEF(c)
	copy(m.z.Value.Data, z.Data)
	for _, k := range m.kernels {
		if k.skip != nil {
			normalInit(k.skip, k.skip.Value.Rows, rng)
		}
		for i, p := range k.net.params {
			out := p.Value.Rows // a weight is out×in
			if i%2 == 1 {
				out = p.Value.Cols // a bias is 1×out
			}
			normalInit(p, out, rng)
		}
	}
	return m, nil
}

// newDKEF returns a DKEF of a valid configuration with zero weights and
// the initial bandwidths, λ and kernel weights.
func newDKEF(c DKEFConfig) *DKEF {
	c = c.withDefaults()
	j, mm, d, f := c.Kernels, c.Inducing, c.Dim, c.Features
	m := &DKEF{
		cfg:       c,
		weights:   ad.NewParam("kernel_weights", 1, j),
		z:         ad.NewParam("z", mm, d),
		logLambda: ad.NewParam("log_lambd", 1, 1),
		alpha:     ad.NewParam("alpha", mm, 1),
		onesF:     filled(1, f, 1),
		onesM:     filled(mm, 1, 1),
		onesJ:     filled(j, 1, 1),
		eye:       ad.NewMat(mm, mm),
	}
	for i := range mm {
		m.eye.Set(i, i, 1)
	}
	m.logLambda.Value.Data[0] = DKEFLogLambda
	m.params = []*ad.Param{m.weights, m.z, m.logLambda}
	for k := range j {
		prefix := "kernel." + strconv.Itoa(k) + "."
		net, err := newMLP([]int{d, f, f, f}, "softplus")
		if err != nil {
			panic("nn: DKEF: " + err.Error()) // not reached: the sizes are valid
		}
		for _, p := range net.params {
			p.Name = prefix + "phi_w.net." + p.Name
		}
		kern := dkefKernel{logSigma: ad.NewParam(prefix+"log_sigma", 1, 1), net: net}
		kern.logSigma.Value.Data[0] = c.LogSigmas[k]
		if !c.NoSkip {
			kern.skip = ad.NewParam(prefix+"phi_w.skip.weight", f, d)
		}
		m.kernels = append(m.kernels, kern)
		m.params = append(m.params, kern.params()...)
	}
	m.params = append(m.params, m.alpha)
	return m
}

// params returns the kernel's parameters in state_dict order.
func (k dkefKernel) params() []*ad.Param {
	ps := []*ad.Param{k.logSigma}
	if k.skip != nil {
		ps = append(ps, k.skip)
	}
	return append(ps, k.net.params...)
}

// normalInit sets every entry of p to N(0, 1)/√out, drawn in row-major
// order.
func normalInit(p *ad.Param, out int, rng *rand.Rand) {
	scale := 1 / math.Sqrt(float64(out))
	for i := range p.Value.Data {
		p.Value.Data[i] = scale * repro.Normal(rng)
	}
}

// filled returns an r×c matrix of v.
func filled(r, c int, v float64) ad.Mat {
	m := ad.NewMat(r, c)
	for i := range m.Data {
		m.Data[i] = v
	}
	return m
}

// Params returns the parameters in the order of the type's doc, "alpha"
// last. The slice is the model's own and must not be modified.
func (m *DKEF) Params() []*ad.Param { return m.params }

// Dim returns the input dimension D.
func (m *DKEF) Dim() int { return m.cfg.Dim }

// Config returns the model's configuration with its defaults filled in.
func (m *DKEF) Config() DKEFConfig {
	c := m.cfg
	c.LogSigmas = append([]float64(nil), c.LogSigmas...)
	return c
}

// Alpha returns the coefficients α (M×1), the last parameter. They are
// set, not trained: a trainer copies AlphaFitter's solution into
// Alpha().Value before evaluating a loss with Energy, and sends the loss's
// gradient with respect to α back through the fit (AlphaFitter.Backward)
// instead of stepping α.
func (m *DKEF) Alpha() *ad.Param { return m.alpha }

// LogLambda returns the parameter log₁₀ λ of the α fit (1×1), the only
// parameter of the reference's second training stage.
func (m *DKEF) LogLambda() *ad.Param { return m.logLambda }

// Energy records E(x) = −log p̃(x) on t for the B×D input node x (plain or
// jet) with the current α, and returns the B×1 node. It panics if x does
// not have Dim columns.
func (m *DKEF) Energy(t *ad.Tape, x *ad.Node) *ad.Node {
	f := m.KernelSum(t, x)
	q := t.Scale(1/(DKEFQ0Sigma*DKEFQ0Sigma), t.HalfSquaredNorm(x)) // −q₀(x)
	return t.Sub(q, t.MatMul(f, t.Param(m.alpha)))
}

// KernelSum records the B×M node of f_m(x_b) = Σⱼ wⱼ kⱼ(x_b, z_m), the
// functions whose combination with α is log p̃ − q₀, for the B×D input
// node x (plain or jet). It panics if x does not have Dim columns.
//
// Each weighted kernel is exp(u) with u = −‖cφ(x) − cφ(z)‖² + log w and
// c = 1/√(2·10^s): both sides' features are scaled by c and the distances
// taken by one SqDist op, so that φ(x) reaches them through a single
// consumer. The curvature sweeps then see each kernel's exact diagonal in
// feature space, as the reference's approximate backprop keeps it; a
// distance expanded as ‖φ(x)‖² − 2φ(x)·φ(z) + ‖φ(z)‖² would split φ(x)
// into two consumers whose cross terms approximate backprop drops. The
// log-softmax of the kernel weights subtracts their largest first, so
// that no weight overflows exp.
func (m *DKEF) KernelSum(t *ad.Tape, x *ad.Node) *ad.Node {
	if x.Cols() != m.cfg.Dim {
		panic(fmt.Sprintf("nn: DKEF: input has %d columns, the model's dimension is %d", x.Cols(), m.cfg.Dim))
	}
	logW := m.logWeights(t)
	onesM := t.Const(m.onesM)
	onesFCol := t.Const(ad.MatOf(m.cfg.Features, 1, m.onesF.Data)) // F×1
	var sum *ad.Node
	for j, k := range m.kernels {
		// c = 10^{−s/2}/√2, 1×1: c² = 1/(2·10^s).
		c := t.Scale(1/math.Sqrt2, t.Apply(ad.Exp, t.Scale(-0.5*math.Ln10, t.Param(k.logSigma))))
		// c·φ(x): the batch is in the rows, so scale the columns of the
		// transpose (F rows, one factor each) rather than build a B×1
		// column of c.
		px := k.features(t, x)
		px = t.Transpose(t.ScaleRows(t.Transpose(px), t.MatMulT(onesFCol, c)))
		pz := t.ScaleRows(k.features(t, t.Param(m.z)), t.MatMulT(onesM, c))
		// log wⱼ, a 1×M row added to every row of −‖c(φ(x) − φ(z_m))‖².
		row := t.MatMulT(t.SliceCols(logW, j, j+1), onesM)
		kj := t.Apply(ad.Exp, t.AddPrimal(t.Scale(-1, t.SqDist(px, pz)), row))
		if sum == nil {
			sum = kj
		} else {
			sum = t.Add(sum, kj)
		}
	}
	return sum
}

// logWeights records log w = log softmax(kernel_weights), a 1×J row, as
// kernel_weights − a − log Σ exp(kernel_weights − a) with a the largest
// weight, held fixed (the shift cancels: the value and every derivative
// are those of the log-softmax, and no exp overflows).
func (m *DKEF) logWeights(t *ad.Tape) *ad.Node {
	kw := t.Param(m.weights)
	top := 0
	for j, v := range m.weights.Value.Data {
		if v > m.weights.Value.Data[top] {
			top = j
		}
	}
	ones := t.Const(m.onesJ)
	shifted := t.Sub(kw, t.MatMulT(t.StopGradient(t.SliceCols(kw, top, top+1)), ones))
	lse := t.Apply(ad.Log, t.SumRows(t.Apply(ad.Exp, shifted)))
	return t.Sub(shifted, t.MatMulT(lse, ones))
}

// features records φ(x) = net(x) + skip(x).
func (k dkefKernel) features(t *ad.Tape, x *ad.Node) *ad.Node {
	h := k.net.Forward(t, x)
	if k.skip == nil {
		return h
	}
	return t.Add(h, t.MatMulT(x, t.Param(k.skip)))
}

// An AlphaFit names the score-matching loss whose quadratic in α a fit
// minimises. With f the M functions of KernelSum, F = ∂f/∂x (D×M per row)
// and q₀'s gradient g₀ = −x/σ₀², the score is s = g₀ + Fα, so each loss
// is ½αᵀGα + bᵀα + const with, as means over the N rows of the fit half:
//
//	AlphaExact       G = FᵀF                 b = Σ_d ∂²_dd f + Fᵀg₀
//	AlphaSliced      G = (Fᵀv)(Fᵀv)ᵀ          b = vᵀ(∇²f)v + (Fᵀv)(vᵀg₀)
//	AlphaSlicedVR    G = FᵀF                 b = vᵀ(∇²f)v + Fᵀg₀
//	AlphaDenoising   G = σ⁴FᵀF at x̃          b = σ²Fᵀ(σ²g₀ + σε) at x̃ = x + σε
//
// (the reference's "exact", "sliced", "sliced_VR" and "dsm"; v is one
// projection per row, shared by the M functions).
type AlphaFit int

// The fits.
const (
	AlphaExact AlphaFit = iota
	AlphaSliced
	AlphaSlicedVR
	AlphaDenoising
)

// AlphaData is the half batch an α fit reads.
type AlphaData struct {
	// X is the N×D data.
	X ad.Mat
	// V is the N×D matrix of projections (AlphaSliced, AlphaSlicedVR).
	V ad.Mat
	// Eps is N×D standard normal noise (AlphaDenoising).
	Eps ad.Mat
	// Sigma is the noise level of AlphaDenoising, > 0.
	Sigma float64
}

// An AlphaFitter fits a DKEF's α in closed form, differentiably. Fit
// splits the half batch into chunks of rows, each recorded on its own tape
// as a jet (D unit directions of order 2 for AlphaExact, the projection v
// of order 2 for AlphaSliced, v and D unit directions of order 1 for
// AlphaSlicedVR, D unit directions of order 1 at x̃ for AlphaDenoising),
// where each chunk sums its rows' terms of G and b from the Taylor
// coefficients of KernelSum; the chunks run on goroutines and their sums
// are added in chunk order, so the result does not depend on GOMAXPROCS.
// A last tape solves α = −(G + λI)⁻¹b with ad's Solve. Backward then
// carries a loss's gradient with respect to α back through the solve and
// every chunk to the model's other parameters. Tapes and buffers are
// reused: repeated single-chunk fits of one shape allocate nothing. An
// AlphaFitter is not safe for concurrent use.
//
// The cost of AlphaExact, AlphaSlicedVR and AlphaDenoising grows linearly
// with D (D jet directions through the M kernel columns), and so does the
// memory of their tapes; AlphaSliced's does not.
type AlphaFitter struct {
	// Chunks is the number of chunks of rows a fit is split into; 0 means
	// repro.DefaultChunks of the half batch's rows (one per 64 rows). The
	// chunk count, not GOMAXPROCS, fixes the order of the sums.
	Chunks int

	m      *DKEF
	solve  *ad.Tape // the last tape: the system's sums as leaves, and α
	chunks []*alphaChunk
	used   int // chunks of the last fit
	kind   AlphaFit
	dim    int
	first  int    // the jet direction of e₁
	orders []int  // the jet layout
	v      ad.Mat // the projections (AlphaSliced, AlphaSlicedVR)
	basis  ad.Mat // D unit-direction matrices N×D, stacked
	cols   ad.Mat // D×N: row d is the right-hand column of direction d
	xt     ad.Mat // the fit's input (x̃ for AlphaDenoising)
	ones   ad.Mat // N×1
	sumG   ad.Mat // Σ over rows of G's terms, M×M
	sumB   ad.Mat // Σ over rows of b's terms, M×1
	seed   ad.Mat // [Ḡ, b̄], M×(M+1): the chunks' seeds
	grads  []ad.Mat
	has    []bool // grads[i] holds a gradient
	gv, bv *ad.Node
	g, b   *ad.Node
	alpha  *ad.Node
	// recordFn and backFn are f.record and f.backChunk, made once so
	// that passing them allocates nothing.
	recordFn, backFn func(c, lo, hi int)
}

// alphaChunk is one chunk's tape, its jet directions and its sums [G, b].
type alphaChunk struct {
	t    *ad.Tape
	dirs []ad.Mat
	sums *ad.Node
}

// NewAlphaFitter returns a fitter for m with fresh tapes.
func NewAlphaFitter(m *DKEF) *AlphaFitter {
	f := &AlphaFitter{m: m, solve: ad.NewTape()}
	f.recordFn, f.backFn = f.record, f.backChunk
	return f
}

// Tape returns the tape of the last fit's solve, on which System and Node
// live.
func (f *AlphaFitter) Tape() *ad.Tape { return f.solve }

// System returns the last fit's G (M×M) and b (M×1) as nodes of Tape:
// the quadratic ½αᵀGα + bᵀα that the fit minimised with ½λ‖α‖² added.
func (f *AlphaFitter) System() (g, b *ad.Node) { return f.g, f.b }

// Node returns the last fit's α as an M×1 plain node of Tape.
func (f *AlphaFitter) Node() *ad.Node { return f.alpha }

// Fit records the fit of kind on the half batch d and returns α (M×1,
// shared with the fitter until the next Fit). A singular G + λI gives NaN
// (see ad.Tape.Solve). It panics if d's matrices are not shaped as kind
// needs or Sigma is not positive for AlphaDenoising.
func (f *AlphaFitter) Fit(kind AlphaFit, d AlphaData) ad.Mat {
	m := f.m
	n, dim := d.X.Rows, m.cfg.Dim
	if d.X.Cols != dim || n < 1 {
		panic(fmt.Sprintf("nn: AlphaFitter: X is %d×%d, want N×%d with N ≥ 1", d.X.Rows, d.X.Cols, dim))
	}
	need := func(name string, a ad.Mat) {
		if !a.SameShape(d.X) {
			panic(fmt.Sprintf("nn: AlphaFitter: %s is %d×%d, X is %d×%d", name, a.Rows, a.Cols, n, dim))
		}
	}
	f.prepare(n, dim)
	copy(f.xt.Data, d.X.Data)
	f.kind, f.dim, f.first, f.v = kind, dim, 0, d.V
	f.orders = f.orders[:0]
	gScale, bScale := 1/float64(n), 1/float64(n)
	switch kind {
	case AlphaSliced, AlphaSlicedVR:
		need("V", d.V)
		f.orders = append(f.orders, 2)
		f.first = 1
	case AlphaDenoising:
		need("Eps", d.Eps)
		if !(d.Sigma > 0) {
			panic(fmt.Sprintf("nn: AlphaFitter: Sigma is %g, want > 0", d.Sigma))
		}
		s2 := d.Sigma * d.Sigma
		for i, e := range d.Eps.Data {
			f.xt.Data[i] += float64(d.Sigma * e)
		}
		gScale, bScale = float64(s2*s2)/float64(n), s2/float64(n)
	case AlphaExact:
	default:
		panic(fmt.Sprintf("nn: AlphaFitter: unknown fit %d", kind))
	}
	if kind != AlphaSliced {
		order := 1
		if kind == AlphaExact {
			order = 2
		}
		for range dim {
			f.orders = append(f.orders, order)
		}
	}
	// cols: row j is the column multiplying ∂_j f in b: g₀'s column j, or
	// for AlphaDenoising σ²g₀ + σε; for AlphaSliced the single column vᵀg₀.
	inv := 1 / (DKEFQ0Sigma * DKEFQ0Sigma)
	for i := range n {
		xi := f.xt.Row(i)
		if kind == AlphaSliced {
			s := 0.0
			for j, v := range d.V.Row(i) {
				s += float64(v * xi[j])
			}
			f.cols.Data[i] = -inv * s
			continue
		}
		for j, x := range xi {
			c := -inv * x
			if kind == AlphaDenoising {
				c = float64(d.Sigma*d.Sigma*c) + float64(d.Sigma*d.Eps.At(i, j))
			}
			f.cols.Data[j*n+i] = c
		}
	}

	f.used = f.Chunks
	if f.used == 0 {
		f.used = repro.DefaultChunks(n)
	}
	f.used = min(f.used, n)
	for len(f.chunks) < f.used {
		f.chunks = append(f.chunks, &alphaChunk{t: ad.NewTape()})
	}
	f.run(n, f.recordFn)
	mm := m.cfg.Inducing
	clear(f.sumG.Data)
	clear(f.sumB.Data)
	for _, c := range f.chunks[:f.used] {
		s := c.sums.Value().Data
		for i := range mm {
			row := s[i*(mm+1) : (i+1)*(mm+1)]
			addTo(f.sumG.Data[i*mm:(i+1)*mm], row[:mm])
			f.sumB.Data[i] += row[mm]
		}
	}
	t := f.solve
	t.Reset()
	f.gv, f.bv = t.Var(f.sumG), t.Var(f.sumB)
	f.g, f.b = t.Scale(gScale, f.gv), t.Scale(bScale, f.bv)
	f.alpha = m.solveAlpha(t, f.g, f.b)
	return f.alpha.Value()
}

// run calls fn for every chunk of n rows: on goroutines with repro.Run, or
// directly for a single chunk (which allocates nothing).
func (f *AlphaFitter) run(n int, fn func(c, lo, hi int)) {
	if f.used == 1 {
		fn(0, 0, n)
		return
	}
	repro.Run(n, f.used, fn)
}

// record records chunk c, rows [lo, hi) of the fit, on the chunk's tape
// and leaves [Σ G's terms, Σ b's terms] of its rows in its sums.
func (f *AlphaFitter) record(c, lo, hi int) {
	ch, n, dim := f.chunks[c], f.xt.Rows, f.dim
	nc := hi - lo
	ch.dirs = ch.dirs[:0]
	if f.first == 1 {
		ch.dirs = append(ch.dirs, f.v.RowRange(lo, hi))
	}
	if f.kind != AlphaSliced {
		for j := range dim {
			ch.dirs = append(ch.dirs, f.basis.RowRange(j*n+lo, j*n+hi))
		}
	}
	t := ch.t
	t.Reset(f.orders...)
	k := f.m.KernelSum(t, t.Input(f.xt.RowRange(lo, hi), false, ch.dirs...))
	var g, b *ad.Node
	add := func(acc, x *ad.Node) *ad.Node {
		if acc == nil {
			return x
		}
		return t.Add(acc, x)
	}
	col := func(j int) *ad.Node { return t.Const(ad.MatOf(nc, 1, f.cols.Data[j*n+lo:j*n+hi])) }
	if f.kind == AlphaSliced {
		k1 := t.Transpose(t.Deriv(k, 0, 1))
		g = t.MatMul(k1, t.Transpose(k1))
		b = t.MatMul(k1, col(0))
	} else {
		for j := range dim {
			k1 := t.Transpose(t.Deriv(k, f.first+j, 1))
			g = add(g, t.MatMul(k1, t.Transpose(k1)))
			b = add(b, t.MatMul(k1, col(j)))
		}
	}
	// The second-derivative term: Σ_d ∂²_dd f, or vᵀ(∇²f)v.
	ones := t.Const(f.ones.RowRange(0, nc))
	switch f.kind {
	case AlphaExact:
		var s2 *ad.Node
		for j := range dim {
			s2 = add(s2, t.Deriv(k, j, 2))
		}
		b = t.Add(b, t.MatMul(t.Transpose(s2), ones))
	case AlphaSliced, AlphaSlicedVR:
		b = t.Add(b, t.MatMul(t.Transpose(t.Deriv(k, 0, 2)), ones))
	}
	ch.sums = t.ConcatCols(g, b)
}

// prepare sizes the fitter's buffers for N rows of D columns.
func (f *AlphaFitter) prepare(n, dim int) {
	f.xt.Resize(n, dim)
	if f.basis.Rows != dim*n || f.basis.Cols != dim {
		f.basis = ad.NewMat(dim*n, dim)
		for j := range dim {
			for i := range n {
				f.basis.Set(j*n+i, j, 1)
			}
		}
		f.cols = ad.NewMat(dim, n)
		f.ones = filled(n, 1, 1)
	}
	if mm := f.m.cfg.Inducing; f.sumG.Rows != mm {
		f.sumG, f.sumB, f.seed = ad.NewMat(mm, mm), ad.NewMat(mm, 1), ad.NewMat(mm, mm+1)
		for _, p := range f.m.params {
			f.grads = append(f.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
		}
		f.has = make([]bool, len(f.grads))
	}
}

// addTo adds src to dst element-wise.
func addTo(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}

// solveAlpha records α = Solve(G + λI, −b), λ = 10^{log_lambd}.
func (m *DKEF) solveAlpha(t *ad.Tape, g, b *ad.Node) *ad.Node {
	lam := t.Apply(ad.Exp, t.Scale(math.Ln10, t.Param(m.logLambda)))
	lamI := t.ScaleRows(t.Const(m.eye), t.MatMulT(t.Const(m.onesM), lam))
	return t.Solve(t.Add(g, lamI), t.Scale(-1, b))
}

// Backward runs the reverse sweeps of the last fit from α with the seed
// alphaGrad (M×1), the gradient of a loss with respect to α: through the
// solve to the sums G and b and log_lambd, then through every chunk.
// Afterwards Grad holds that loss's gradient through α with respect to
// every parameter the fit read (all but α itself).
func (f *AlphaFitter) Backward(alphaGrad ad.Mat) {
	f.solve.BackwardFrom(f.alpha, alphaGrad)
	mm := f.m.cfg.Inducing
	ga, ba := f.gv.Adj(), f.bv.Adj()
	for i := range mm {
		row := f.seed.Data[i*(mm+1) : (i+1)*(mm+1)]
		copy(row[:mm], ga.Data[i*mm:(i+1)*mm])
		row[mm] = ba.Data[i]
	}
	f.run(f.xt.Rows, f.backFn)
	for i, p := range f.m.params {
		g := f.grads[i]
		clear(g.Data)
		f.has[i] = false
		for c := 0; c <= f.used; c++ { // the chunks in order, then the solve
			t := f.solve
			if c < f.used {
				t = f.chunks[c].t
			}
			if src := t.Grad(p); len(src.Data) > 0 {
				addTo(g.Data, src.Data)
				f.has[i] = true
			}
		}
	}
}

// backChunk runs chunk c's reverse sweep from its sums with the seed [Ḡ, b̄].
func (f *AlphaFitter) backChunk(c, _, _ int) { ch := f.chunks[c]; ch.t.BackwardFrom(ch.sums, f.seed) }

// Grad returns the gradient with respect to p accumulated by the last
// Backward (summed over the chunks in chunk order), or an empty Mat when
// the fit does not read p. It is the fitter's storage, valid until the
// next Backward.
func (f *AlphaFitter) Grad(p *ad.Param) ad.Mat {
	for i, q := range f.m.params {
		if q == p && f.has[i] {
			return f.grads[i]
		}
	}
	return ad.Mat{}
}

// An AlphaSystem is the G and b of α fits summed over many half batches,
// without gradients: the reference fits α for validation on 1000 training
// rows, and for its second stage on the whole training set, in batches of
// 100 with fresh projections and noise, this way.
type AlphaSystem struct {
	// G and B are the sums over the rows added of the per-row terms of G
	// (M×M) and b (M×1): N times the means a single fit uses.
	G, B ad.Mat
	// N is the number of rows added.
	N int
}

// Reset empties s for a model of M inducing points.
func (s *AlphaSystem) Reset(m int) {
	s.G.Resize(m, m)
	s.B.Resize(m, 1)
	clear(s.G.Data)
	clear(s.B.Data)
	s.N = 0
}

// Accumulate fits kind on the half batch d (as Fit, whose results it
// overwrites) and adds its rows' G and b to s, which must have been Reset
// for the model.
func (f *AlphaFitter) Accumulate(s *AlphaSystem, kind AlphaFit, d AlphaData) {
	f.Fit(kind, d)
	mm := f.m.cfg.Inducing
	if s.G.Rows != mm || s.B.Rows != mm {
		panic(fmt.Sprintf("nn: AlphaFitter.Accumulate: the system is for %d inducing points, the model has %d", s.G.Rows, mm))
	}
	n := float64(d.X.Rows)
	for i, v := range f.g.Value().Data {
		s.G.Data[i] += float64(n * v)
	}
	for i, v := range f.b.Value().Data {
		s.B.Data[i] += float64(n * v)
	}
	s.N += d.X.Rows
}

// AlphaFromSystem records on t the α of an accumulated system,
// α = −(G/N + λI)⁻¹ b/N with λ = 10^{log_lambd}, and returns it as an M×1
// plain node. G and b are constants (s must not change until t is reset),
// so a reverse sweep from α reaches log_lambd only: the reference's second
// stage, which tunes λ alone.
func (m *DKEF) AlphaFromSystem(t *ad.Tape, s *AlphaSystem) *ad.Node {
	mm := m.cfg.Inducing
	if s.G.Rows != mm || s.G.Cols != mm || s.B.Rows != mm || s.B.Cols != 1 || s.N < 1 {
		panic(fmt.Sprintf("nn: DKEF.AlphaFromSystem: G is %d×%d, b %d×%d over %d rows, the model has %d inducing points",
			s.G.Rows, s.G.Cols, s.B.Rows, s.B.Cols, s.N, mm))
	}
	inv := 1 / float64(s.N)
	return m.solveAlpha(t, t.Scale(inv, t.Const(s.G)), t.Scale(inv, t.Const(s.B)))
}
