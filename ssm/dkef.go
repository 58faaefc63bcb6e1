package ssm

import (
	"context"
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
)

// DKEFConfig configures TrainDKEF. Zero values take the documented
// defaults, the sliced score matching paper's reference code's where it has
// one.
type DKEFConfig struct {
	// Half is the number of rows of each half batch, the fit half and the
	// loss half (default min(100, training rows / 2); the reference: 100).
	Half int
	// Steps is the most first-stage steps (default 500); early stopping
	// usually ends the stage sooner.
	Steps int
	// Seed determines the batches and every random draw.
	Seed uint64
	// LR is Adam's learning rate in the first stage (default 0.01).
	LR float64
	// ClipNorm clips the gradient's global norm (default 100).
	ClipNorm float64
	// EvalEvery is the number of steps between validation evaluations
	// (default 5).
	EvalEvery int
	// Patience stops the first stage after this many validation
	// evaluations without improvement (default 10); the best weights are
	// restored.
	Patience int
	// FitRows is the number of training rows the validation α is fitted on
	// (default and at most min(1000, training rows)).
	FitRows int
	// LambdaSteps is the number of Adam steps of the second stage, on
	// log λ alone (default 1000).
	LambdaSteps int
	// LambdaLR is the second stage's learning rate (default 0.001).
	LambdaLR float64
	// LambdaBatch is the number of validation rows per second-stage step
	// (default min(100, validation rows)).
	LambdaBatch int
	// Chunks is the number of parallel chunks of a half batch, for the α
	// fit and for the loss (default repro.DefaultChunks(Half)). Results
	// depend on it, never on GOMAXPROCS.
	Chunks int
	// Progress, when set, is called after every step of both stages.
	Progress func(DKEFProgress)
}

// DKEFProgress reports one step of TrainDKEF.
type DKEFProgress struct {
	Stage       int     // 1: every parameter; 2: log λ alone
	Step, Steps int     // steps done and planned in this stage
	Loss        float64 // the step's loss on its loss half (stage 1) or validation batch (stage 2)
	ValLoss     float64 // the objective's validation loss, NaN unless evaluated at this step
	ValSM       float64 // the exact score-matching loss on the validation rows, NaN unless evaluated
	BestVal     float64 // the best ValLoss so far
}

// DKEFResult summarises a TrainDKEF run.
type DKEFResult struct {
	// Steps is the number of first-stage steps taken.
	Steps int
	// Loss is the first stage's loss per step.
	Loss []float64
	// ValSteps are the steps at which validation was evaluated (0 is the
	// untrained model), ValLoss the objective's loss on the validation
	// rows there and ValSM the exact score-matching loss ½‖s‖² + tr ∇s.
	ValSteps []int
	ValLoss  []float64
	ValSM    []float64
	// BestStep and BestVal are the step and value of the best ValLoss:
	// the weights the model holds after the first stage.
	BestStep int
	BestVal  float64
	// Stopped says why the first stage ended: "steps", "patience",
	// "interrupted" or "non-finite".
	Stopped string
	// LambdaLoss is the second stage's loss per step; LogLambda the final
	// log₁₀ λ.
	LambdaLoss []float64
	LogLambda  float64
}

// TrainDKEF trains the deep kernel exponential family obj.Model() (an
// *nn.DKEF) with the objective obj as the sliced score matching paper's
// reference code does, on the rows of train, stopping early on the rows
// of val, and leaves the model with its final weights and α.
//
// Stage 1. Each step takes the next 2·Half rows of a per-epoch seeded
// shuffle of train: α is fitted in closed form on the first half
// (nn.AlphaFitter), and the objective's loss is evaluated on the second
// with that α (its randomness from the streams (Seed, repro.Batch, step,
// row), the fit's from rows Half onward). The gradient with respect to
// every parameter but α is the loss's own plus its part through the fit
// (AlphaFitter.Backward); α is set, never stepped. The gradient's global
// norm is clipped to ClipNorm and Adam takes a step. The fit minimises the
// objective's own quadratic in α:
//
//	sm                 nn.AlphaExact
//	ssm                nn.AlphaSliced
//	ssm-vr             nn.AlphaSlicedVR
//	dsm                nn.AlphaDenoising, at the objective's σ
//	approx-bp, cp      nn.AlphaSlicedVR
//
// The reference fits approx-bp's and cp's α with G = FᵀF and the
// baseline's estimate of the Hessian-diagonal sum in b, but omits b's
// term Fᵀ∇q₀, so its α does not minimise its own loss. Here they take the
// SSM-VR quadratic: its G is exact SM's and its b an unbiased one-probe
// estimate of exact SM's, so the baselines differ from exact SM only in the
// loss, and their step costs what SSM-VR's fit costs rather than exact SM's
// D second-order directions.
//
// Every EvalEvery steps (and before the first) the model is validated: α
// is fitted on FitRows training rows (a fixed seeded choice, in blocks of
// Half rows, with fixed randomness: nn.AlphaSystem), the objective's loss
// and the exact SM loss are evaluated on every row of val, and the
// weights with the lowest objective loss are kept; Patience evaluations
// without improvement end the stage, and the best weights are restored.
// (The reference validates every step, on 1000 fresh random rows; fixed
// rows and randomness make the comparison between evaluations exact.)
//
// Stage 2 tunes log λ alone: G and b are summed over the whole training
// set, and LambdaSteps Adam steps minimise the objective's loss on
// successive validation batches of LambdaBatch rows with
// α = −(G/N + λI)⁻¹b/N, differentiated with respect to λ only. The model
// ends with that α.
//
// The result is bit-identical for any GOMAXPROCS. A *ConfigError reports
// an invalid setting and an error an objective other than those above;
// both come before any work. A non-finite loss or gradient ends the first
// stage with Stopped "non-finite": the best weights are restored with
// their validation α, stage 2 is skipped, and the error wraps
// ErrNonFinite. When ctx is cancelled the current stage stops likewise,
// with ctx.Err().
func TrainDKEF(ctx context.Context, obj Objective, train, val ad.Mat, cfg DKEFConfig) (*DKEFResult, error) {
	r, err := planDKEF(obj, train, val, cfg)
	if err != nil {
		return nil, err
	}
	res := r.res
	defer r.pool.Close()
	if err := r.validate(0); err != nil {
		return res, err
	}
	bad := 0
	for step := 1; step <= r.cfg.Steps && res.Stopped == ""; step++ {
		if ctx.Err() != nil {
			res.Stopped = "interrupted"
			break
		}
		loss := r.step(step)
		res.Steps, res.Loss = step, append(res.Loss, loss)
		p := DKEFProgress{Stage: 1, Step: step, Steps: r.cfg.Steps, Loss: loss, ValLoss: math.NaN(), ValSM: math.NaN()}
		if !finite(loss) || !finite(r.norm) {
			res.Stopped = "non-finite"
			err = fmt.Errorf("ssm: %s on a DKEF: step %d: loss %v, gradient norm %v: %w", obj.Name(), step, loss, r.norm, ErrNonFinite)
			break
		}
		if step%r.cfg.EvalEvery == 0 || step == r.cfg.Steps {
			if err := r.validate(step); err != nil {
				return res, err
			}
			p.ValLoss, p.ValSM = res.ValLoss[len(res.ValLoss)-1], res.ValSM[len(res.ValSM)-1]
			if res.BestStep == step {
				bad = 0
			} else if bad++; bad >= r.cfg.Patience {
				res.Stopped = "patience"
			}
		}
		p.BestVal = res.BestVal
		if r.cfg.Progress != nil {
			r.cfg.Progress(p)
		}
	}
	restoreParams(r.params, r.best) // with their validation α
	if res.Stopped == "" {
		res.Stopped = "steps"
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		res.LogLambda = r.model.LogLambda().Value.Data[0]
		return res, err
	}
	err = r.lambdaStage(ctx)
	res.LogLambda = r.model.LogLambda().Value.Data[0]
	return res, err
}

// Validation's random streams: purpose repro.Validation, these steps.
const (
	valFitStep    = 0 // the validation α fit's projections and noise (sample = fit row)
	valLossStep   = 1 // the validation loss's randomness (sample = validation row)
	lambdaFitStep = 2 // the second stage's system over the training set (sample = training row)
	lambdaStep0   = 3 // second-stage step k's loss randomness: step lambdaStep0 + k
)

// dkefRun is the state of one TrainDKEF.
type dkefRun struct {
	obj    Objective
	model  *nn.DKEF
	kind   nn.AlphaFit
	sigma  float64 // of AlphaDenoising
	proj   Projection
	cfg    DKEFConfig
	res    *DKEFResult
	train  ad.Mat
	val    ad.Mat
	params []*ad.Param // every parameter, α last
	grads  []ad.Mat    // the step's gradient, α's last (unused)
	best   []ad.Mat    // the best weights so far, with their validation α
	opt    *nn.Adam
	fitter *nn.AlphaFitter
	sys    nn.AlphaSystem
	solve  *ad.Tape // AlphaFromSystem's
	pool   *repro.Pool
	norm   float64 // the last step's gradient norm before clipping

	fitIdx           []int // the training rows of the validation fit
	perm             []int // the current epoch's order of the training rows
	permEpoch        int
	perEpoch         int
	xt, vt, et       ad.Mat // the fit half and its randomness
	stream           *repro.Stream
	loss             *chunkedLoss // the objective's, on a loss half or validation block
	exact            *chunkedLoss // exact SM, on validation blocks (nil when obj is exact SM)
	alphaBar, lambda []ad.Mat     // ∂loss/∂α; log λ's gradient
}

// planDKEF checks everything and sets up a run.
func planDKEF(obj Objective, train, val ad.Mat, cfg DKEFConfig) (*dkefRun, error) {
	model, ok := obj.Model().(*nn.DKEF)
	if !ok {
		return nil, fmt.Errorf("ssm: TrainDKEF needs an *nn.DKEF model, not %T", obj.Model())
	}
	r := &dkefRun{obj: obj, model: model, train: train, val: val, permEpoch: -1, stream: repro.NewStream()}
	switch o := obj.(type) {
	case *exactEnergy:
		r.kind = nn.AlphaExact
	case *sliced:
		r.kind, r.proj = nn.AlphaSliced, o.opts.Projection
		if o.vr {
			r.kind = nn.AlphaSlicedVR
		}
	case *denoisingEnergy:
		r.kind, r.sigma = nn.AlphaDenoising, o.opts.Sigma
	case *baseline:
		r.kind = nn.AlphaSlicedVR
	default:
		return nil, fmt.Errorf("ssm: TrainDKEF has no closed-form α fit for the objective %s", obj.Name())
	}
	d := model.Dim()
	for _, m := range []struct {
		name string
		x    ad.Mat
	}{{"training", train}, {"validation", val}} {
		if m.x.Cols != d {
			return nil, fmt.Errorf("ssm: %s data has %d columns, the model's dimension is %d", m.name, m.x.Cols, d)
		}
		for i, v := range m.x.Data {
			if !finite(v) {
				return nil, fmt.Errorf("ssm: %s data row %d, column %d is %v", m.name, i/d+1, i%d+1, v)
			}
		}
	}
	if err := cfg.defaults(train.Rows, val.Rows); err != nil {
		return nil, err
	}
	r.cfg = cfg
	r.res = &DKEFResult{BestVal: math.NaN(), BestStep: -1}
	r.params = model.Params()
	for _, p := range r.params {
		r.grads = append(r.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
	r.best = cloneParams(r.params)
	r.opt = nn.NewAdam()
	r.opt.LR = cfg.LR
	r.fitter = nn.NewAlphaFitter(model)
	r.fitter.Chunks = cfg.Chunks
	r.solve = ad.NewTape()
	r.pool = repro.NewPool(cfg.Chunks)
	r.perEpoch = train.Rows / (2 * cfg.Half)
	r.fitIdx = repro.New(cfg.Seed, repro.Evaluation, 0, 0).Perm(train.Rows)[:cfg.FitRows]
	r.loss = newChunkedLoss(obj, cfg.Chunks)
	if _, ok := obj.(*exactEnergy); !ok {
		ex := &exactEnergy{objective: objective{name: obj.Name() + "'s exact SM check", model: model, opts: Options{M: 1, Group: 16}}, f: model.Energy}
		r.exact = newChunkedLoss(ex, cfg.Chunks)
	}
	r.alphaBar = []ad.Mat{ad.NewMat(model.Config().Inducing, 1)}
	r.lambda = []ad.Mat{ad.NewMat(1, 1)}
	return r, nil
}

// defaults fills c's zero values for n training and nv validation rows and
// checks it.
func (c *DKEFConfig) defaults(n, nv int) error {
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "DKEFConfig", Field: field, Value: v, Want: want}
	}
	if n < 2 {
		return bad("train.Rows", n, "at least 2 training rows (a fit half and a loss half)")
	}
	if nv < 1 {
		return bad("val.Rows", nv, "at least 1 validation row")
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	deff := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Half, min(100, n/2))
	def(&c.Steps, 500)
	def(&c.EvalEvery, 5)
	def(&c.Patience, 10)
	def(&c.FitRows, min(1000, n))
	def(&c.LambdaSteps, 1000)
	def(&c.LambdaBatch, min(100, nv))
	deff(&c.LR, 0.01)
	deff(&c.ClipNorm, 100)
	deff(&c.LambdaLR, 0.001)
	if c.Half < 1 || 2*c.Half > n {
		return bad("Half", c.Half, fmt.Sprintf("1 to half the training rows (%d)", n/2))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Steps", c.Steps}, {"EvalEvery", c.EvalEvery}, {"Patience", c.Patience}, {"LambdaSteps", c.LambdaSteps}} {
		if f.v < 1 {
			return bad(f.name, f.v, "≥ 1")
		}
	}
	if c.FitRows < 1 || c.FitRows > min(1000, n) {
		return bad("FitRows", c.FitRows, fmt.Sprintf("1 to min(1000, training rows) = %d", min(1000, n)))
	}
	if c.LambdaBatch < 1 || c.LambdaBatch > nv {
		return bad("LambdaBatch", c.LambdaBatch, fmt.Sprintf("1 to the validation rows (%d)", nv))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"LR", c.LR}, {"LambdaLR", c.LambdaLR}, {"ClipNorm", c.ClipNorm}} {
		if !(f.v > 0) || math.IsInf(f.v, 1) {
			return bad(f.name, f.v, "finite and > 0")
		}
	}
	def(&c.Chunks, repro.DefaultChunks(c.Half))
	if c.Chunks < 1 || c.Chunks > c.Half {
		return bad("Chunks", c.Chunks, fmt.Sprintf("1 to Half (%d)", c.Half))
	}
	return nil
}

// step takes first-stage step s (from 1) and returns its loss.
func (r *dkefRun) step(s int) float64 {
	loss := r.evalStep(s, true)
	na := len(r.params) - 1
	r.norm = nn.ClipGradNorm(r.grads[:na], r.cfg.ClipNorm)
	if finite(loss) && finite(r.norm) {
		r.opt.Step(r.params[:na], r.grads[:na])
	}
	return loss
}

// evalStep fits α on step s's fit half and returns the objective's loss
// on its loss half; with grad set, r.grads holds the loss's gradient with
// respect to every parameter but α (whose entry holds ∂loss/∂α).
func (r *dkefRun) evalStep(s int, grad bool) float64 {
	h := r.cfg.Half
	epoch, k := (s-1)/r.perEpoch, (s-1)%r.perEpoch
	if epoch != r.permEpoch {
		idx := make([]int, r.train.Rows)
		for i := range idx {
			idx[i] = i
		}
		r.perm, r.permEpoch = epochOrder(idx, r.cfg.Seed, epoch, r.perm), epoch
	}
	rows := r.perm[2*k*h : 2*(k+1)*h]
	r.fillFit(r.train, rows[:h], r.cfg.Seed, repro.Batch, uint64(s), h)
	alpha := r.fitter.Fit(r.kind, r.fitData())
	copy(r.model.Alpha().Value.Data, alpha.Data)
	loss := r.loss.eval(r.pool, r.train, rows[h:], r.cfg.Seed, repro.Batch, uint64(s), 0, grad)
	if !grad {
		return loss
	}
	// The loss's gradient: its own, α's sent back through the fit.
	na := len(r.params) - 1
	for i := range r.grads {
		copy(r.grads[i].Data, r.loss.grads[i].Data)
	}
	r.fitter.Backward(r.grads[na])
	for i, p := range r.params[:na] {
		addTo(r.grads[i].Data, r.fitter.Grad(p).Data)
	}
	return loss
}

// fillFit copies rows of x into the fit half and draws its projections
// and noise, row i from the stream (seed, p, step, first+i).
func (r *dkefRun) fillFit(x ad.Mat, rows []int, seed uint64, p repro.Purpose, step uint64, first int) {
	n, d := len(rows), x.Cols
	r.xt.Resize(n, d)
	r.vt.Resize(n, d)
	r.et.Resize(n, d)
	for i, row := range rows {
		copy(r.xt.Row(i), x.Row(row))
		rng := r.stream.Seed(seed, p, step, uint64(first+i))
		switch r.kind {
		case nn.AlphaSliced, nn.AlphaSlicedVR:
			r.proj.Draw(r.vt.Row(i), rng)
		case nn.AlphaDenoising:
			for j := range d {
				r.et.Row(i)[j] = repro.Normal(rng)
			}
		}
	}
}

// fitData is the fit half as the fitter reads it.
func (r *dkefRun) fitData() nn.AlphaData {
	return nn.AlphaData{X: r.xt, V: r.vt, Eps: r.et, Sigma: r.sigma}
}

// fitSystem sums the α system over the training rows in blocks of Half,
// the randomness of row i from (Seed, Validation, step, i).
func (r *dkefRun) fitSystem(rows []int, step uint64) {
	r.sys.Reset(r.model.Config().Inducing)
	for lo := 0; lo < len(rows); lo += r.cfg.Half {
		hi := min(len(rows), lo+r.cfg.Half)
		r.fillFit(r.train, rows[lo:hi], r.cfg.Seed, repro.Validation, step, lo)
		r.fitter.Accumulate(&r.sys, r.kind, r.fitData())
	}
}

// setAlphaFromSystem sets the model's α from the system and the current λ,
// recorded on r.solve.
func (r *dkefRun) setAlphaFromSystem() *ad.Node {
	r.solve.Reset()
	a := r.model.AlphaFromSystem(r.solve, &r.sys)
	copy(r.model.Alpha().Value.Data, a.Value().Data)
	return a
}

// validate fits α on the validation fit rows, evaluates the objective and
// exact SM on the validation rows, and records them for step s.
func (r *dkefRun) validate(s int) error {
	r.fitSystem(r.fitIdx, valFitStep)
	r.setAlphaFromSystem()
	all := make([]int, r.val.Rows)
	for i := range all {
		all[i] = i
	}
	mean := func(l *chunkedLoss) float64 {
		sum := 0.0
		for lo := 0; lo < len(all); lo += r.cfg.Half {
			hi := min(len(all), lo+r.cfg.Half)
			v := l.eval(r.pool, r.val, all[lo:hi], r.cfg.Seed, repro.Validation, valLossStep, lo, false)
			sum += float64(float64(hi-lo) * v)
		}
		return sum / float64(len(all))
	}
	vl := mean(r.loss)
	sm := vl
	if r.exact != nil {
		sm = mean(r.exact)
	}
	res := r.res
	res.ValSteps, res.ValLoss, res.ValSM = append(res.ValSteps, s), append(res.ValLoss, vl), append(res.ValSM, sm)
	if finite(vl) && (res.BestStep < 0 || vl < res.BestVal) {
		res.BestStep, res.BestVal = s, vl
		saveParams(r.best, r.params)
	}
	if s == 0 && !finite(vl) {
		return fmt.Errorf("ssm: %s on a DKEF: the untrained model's validation loss is %v: %w", r.obj.Name(), vl, ErrNonFinite)
	}
	return nil
}

// lambdaStage is the second stage: Adam on log λ alone.
func (r *dkefRun) lambdaStage(ctx context.Context) error {
	all := make([]int, r.train.Rows)
	for i := range all {
		all[i] = i
	}
	r.fitSystem(all, lambdaFitStep)
	order := repro.New(r.cfg.Seed, repro.Evaluation, 1, 0).Perm(r.val.Rows)
	opt := nn.NewAdam()
	opt.LR = r.cfg.LambdaLR
	lam := []*ad.Param{r.model.LogLambda()}
	nb := r.cfg.LambdaBatch
	for k := range r.cfg.LambdaSteps {
		if ctx.Err() != nil {
			break
		}
		rows := make([]int, nb)
		for i := range rows {
			rows[i] = order[(k*nb+i)%len(order)]
		}
		a := r.setAlphaFromSystem()
		loss := r.loss.eval(r.pool, r.val, rows, r.cfg.Seed, repro.Validation, uint64(lambdaStep0+k), 0, true)
		r.res.LambdaLoss = append(r.res.LambdaLoss, loss)
		r.solve.BackwardFrom(a, r.loss.grads[len(r.params)-1])
		copy(r.lambda[0].Data, r.solve.Grad(r.model.LogLambda()).Data)
		if !finite(loss) || !finite(r.lambda[0].Data[0]) {
			r.setAlphaFromSystem()
			return fmt.Errorf("ssm: %s on a DKEF: second stage, step %d: loss %v: %w", r.obj.Name(), k+1, loss, ErrNonFinite)
		}
		opt.Step(lam, r.lambda)
		if r.cfg.Progress != nil {
			r.cfg.Progress(DKEFProgress{Stage: 2, Step: k + 1, Steps: r.cfg.LambdaSteps, Loss: loss,
				ValLoss: math.NaN(), ValSM: math.NaN(), BestVal: r.res.BestVal})
		}
	}
	r.setAlphaFromSystem()
	return ctx.Err()
}

// chunkedLoss evaluates an objective on rows of a data matrix in parallel
// chunks and sums the chunks' losses and gradients in chunk order.
type chunkedLoss struct {
	obj     Objective
	workers []Worker
	batches []Batch
	streams []*repro.Stream
	losses  []float64
	parts   [][]ad.Mat
	grads   []ad.Mat // the mean loss's gradient, per parameter
	// the job's inputs
	x         ad.Mat
	rows      []int
	seed      uint64
	p         repro.Purpose
	step      uint64
	first     int
	grad      bool
	runChunkF func(c, lo, hi int)
}

func newChunkedLoss(obj Objective, chunks int) *chunkedLoss {
	l := &chunkedLoss{obj: obj, losses: make([]float64, chunks), parts: make([][]ad.Mat, chunks),
		batches: make([]Batch, chunks)}
	for range chunks {
		l.workers = append(l.workers, obj.NewWorker())
		l.streams = append(l.streams, repro.NewStream())
	}
	for _, p := range obj.Model().Params() {
		l.grads = append(l.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
	l.runChunkF = l.runChunk
	return l
}

// eval returns the mean loss over rows of x, the randomness of rows[i] from
// the stream (seed, p, step, first+i); with grad set, l.grads holds the
// gradient of that mean.
func (l *chunkedLoss) eval(pool *repro.Pool, x ad.Mat, rows []int, seed uint64, p repro.Purpose, step uint64, first int, grad bool) float64 {
	l.x, l.rows, l.seed, l.p, l.step, l.first, l.grad = x, rows, seed, p, step, first, grad
	for c := range l.parts {
		l.parts[c], l.losses[c] = nil, 0
	}
	pool.Do(len(rows), repro.JobFunc(l.runChunkF))
	sum := 0.0
	for _, v := range l.losses {
		sum += v
	}
	n := float64(len(rows))
	if grad {
		repro.SumChunks(l.grads, l.parts)
		for _, g := range l.grads {
			for i := range g.Data {
				g.Data[i] /= n
			}
		}
	}
	return sum / n
}

func (l *chunkedLoss) runChunk(c, lo, hi int) {
	b := &l.batches[c]
	b.X.Resize(hi-lo, l.x.Cols)
	for i := lo; i < hi; i++ {
		copy(b.X.Row(i-lo), l.x.Row(l.rows[i]))
	}
	b.Draw(l.obj, l.streams[c], l.seed, l.p, l.step, l.first+lo)
	l.losses[c] = l.workers[c].Eval(b, l.grad)
	if l.grad {
		l.parts[c] = l.workers[c].Grads()
	}
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// addTo adds src to dst element-wise (an empty src adds nothing).
func addTo(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}
