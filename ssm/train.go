package ssm

import (
	"fmt"
	"math"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/nn"
)

// Config configures Train. Zero values take the documented defaults.
type Config struct {
	// BatchSize is the number of samples per step (default 128, at most the
	// training set).
	BatchSize int
	// Steps is the number of optimiser steps; when 0, Epochs passes over
	// the training set are made (default 1 epoch).
	Steps, Epochs int
	// Seed determines the split, the shuffles and every random draw.
	Seed uint64
	// Chunks is the fixed number of parallel chunks a batch is split into
	// (default: repro.DefaultChunks(BatchSize), one per 64 rows rounded
	// up, at most 64; 2 for the default batch). Results depend on it, never on GOMAXPROCS: the chunks'
	// gradients are summed in chunk order. Fewer, larger chunks run the
	// matrix products faster; there must be at least as many as the cores
	// to be kept busy.
	Chunks int
	// ValFrac is the fraction of the data held out for validation (0: none).
	ValFrac float64
	// EvalEvery is the number of steps between validation evaluations
	// (default: once per epoch).
	EvalEvery int
	// Patience stops training after this many validation evaluations
	// without improvement (0: never); the best weights are restored.
	Patience int
	// Optimizer updates the parameters (default Adam with PyTorch's defaults).
	Optimizer nn.Optimizer
	// ClipNorm clips the gradient's global norm (0: no clipping).
	ClipNorm float64
	// Checkpoint is a file written atomically every CheckpointEvery steps
	// (default: at every validation evaluation) and at the end; "" for none.
	Checkpoint      string
	CheckpointEvery int
	// Resume continues from Checkpoint when it exists.
	Resume bool
	// EMA, when > 0, keeps an exponential moving average of the weights
	// with this decay d in (0, 1), as NCSN and the score-SDE reference code
	// do (0.999 and 0.9999 there): after every optimiser step,
	// θ̄ ← d·θ̄ + (1 − d)·θ, starting from the initial weights, with no
	// bias correction. The average is what validation evaluates, what the
	// best weights keep and what the model holds when Train returns; the
	// optimiser keeps stepping the raw weights. 0 means off.
	EMA float64
	// Schedule sets the optimiser's learning rate at every step: a warm-up
	// and a decay from the optimiser's LR (see Schedule). The zero value
	// leaves the LR alone. A schedule other than the zero value needs an
	// optimiser of package nn (*nn.SGD, *nn.Adam or *nn.RMSProp), whose
	// LR field it sets for the step and restores after it: the field keeps
	// the base rate, which the checkpoint records.
	Schedule Schedule
	// Progress, when set, is called after every step.
	Progress func(Progress)
}

// Progress reports one training step.
type Progress struct {
	Step, Steps int     // steps done, steps planned
	Epoch       int     // current epoch (from 0)
	Loss        float64 // training loss of this step's batch
	LR          float64 // the learning rate of this step (NaN for an optimiser not of package nn)
	ValLoss     float64 // validation loss, NaN unless evaluated at this step
	BestVal     float64 // best validation loss so far (NaN without validation)
}

// A Schedule is a learning-rate schedule: a linear warm-up over the first
// Warmup steps, then the optimiser's LR held (ConstantLR) or decayed to
// FinalLR at the last planned step (CosineLR, LinearLR). For step
// s = 0, 1, …, T−1 of the T planned (Config.Steps, or Config.Epochs times
// the steps of an epoch), with the optimiser's LR η, W = Warmup and
// η_f = FinalLR, the rate is
//
//	η·(s+1)/W                         for s < W
//	η                                 ConstantLR
//	η_f + (η − η_f)·(1 + cos(π·p))/2  CosineLR
//	η_f + (η − η_f)·(1 − p)           LinearLR
//
// where p = (s − W)/(T − 1 − W) goes from 0 at the first step after the
// warm-up to 1 at the last (p = 1 when T − 1 ≤ W). The warm-up's first
// step has rate η/W; the score-SDE reference code's η·min(s/W, 1) gives
// its first step rate 0. A decaying schedule depends on T: a checkpoint
// records it, and a resume must plan the same number of steps.
type Schedule struct {
	Decay   Decay   // the rate after the warm-up (default ConstantLR)
	Warmup  int     // steps of linear warm-up, ≥ 0 (0: none)
	FinalLR float64 // the rate at the last planned step, in [0, η] for CosineLR and LinearLR; 0 for ConstantLR
}

// A Decay is the shape of a Schedule after its warm-up.
type Decay int

// The decays of a Schedule.
const (
	ConstantLR Decay = iota // the optimiser's LR
	CosineLR                // half a cosine from the LR down to FinalLR
	LinearLR                // a straight line from the LR down to FinalLR
)

// decayNames are the decays' names, by value.
var decayNames = [...]string{ConstantLR: "constant", CosineLR: "cosine", LinearLR: "linear"}

// String returns the decay's name: "constant", "cosine" or "linear".
func (d Decay) String() string {
	if d >= 0 && int(d) < len(decayNames) {
		return decayNames[d]
	}
	return fmt.Sprintf("Decay(%d)", int(d))
}

// DecayNames returns the names of the decays, in the order of their values.
func DecayNames() []string { return append([]string(nil), decayNames[:]...) }

// ParseDecay returns the decay called name ("constant", "cosine" or
// "linear").
func ParseDecay(name string) (Decay, error) {
	for i, n := range decayNames {
		if name == n {
			return Decay(i), nil
		}
	}
	return 0, fmt.Errorf("unknown learning-rate decay %q (want constant, cosine or linear)", name)
}

// LR returns the learning rate of step s (from 0) of steps planned, for an
// optimiser whose LR is base (see Schedule). The products are rounded
// before they are added, so that every architecture gives the same bits.
func (sc Schedule) LR(base float64, s, steps int) float64 {
	w := sc.Warmup
	if s < w {
		return base * float64(s+1) / float64(w)
	}
	if sc.Decay == ConstantLR {
		return base
	}
	p := 1.0
	if span := steps - 1 - w; span > 0 {
		p = float64(s-w) / float64(span)
	}
	var f float64 // the fraction of base − FinalLR left
	switch sc.Decay {
	case CosineLR:
		f = 0.5 * (1 + rmath.Cos(math.Pi*p))
	case LinearLR:
		f = 1 - p
	}
	return sc.FinalLR + float64((base-sc.FinalLR)*f)
}

// describe formats the schedule as a checkpoint records it, with the steps
// planned when it decays: "constant", "cosine warmup=10 final=0.0001
// steps=5000".
func (sc Schedule) describe(steps int) string {
	if sc.Decay == ConstantLR {
		if sc.Warmup == 0 {
			return "constant"
		}
		return fmt.Sprintf("constant warmup=%d", sc.Warmup)
	}
	return fmt.Sprintf("%v warmup=%d final=%s steps=%d", sc.Decay, sc.Warmup, formatFloat(sc.FinalLR), steps)
}

// learningRate returns the learning-rate field of an optimiser of package
// nn, or nil for another.
func learningRate(o nn.Optimizer) *float64 {
	switch o := o.(type) {
	case *nn.SGD:
		return &o.LR
	case *nn.Adam:
		return &o.LR
	case *nn.RMSProp:
		return &o.LR
	}
	return nil
}

// checkSchedule validates c.Schedule against c.Optimizer (already valid).
func (c *Config) checkSchedule() error {
	sc := c.Schedule
	if sc == (Schedule{}) {
		return nil
	}
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "Config", Field: "Schedule" + field, Value: v, Want: want}
	}
	lr := learningRate(c.Optimizer)
	switch {
	case sc.Decay < ConstantLR || sc.Decay > LinearLR:
		return bad(".Decay", sc.Decay, "ConstantLR, CosineLR or LinearLR")
	case sc.Warmup < 0:
		return bad(".Warmup", sc.Warmup, "≥ 0")
	case sc.Decay == ConstantLR && sc.FinalLR != 0:
		return bad(".FinalLR", sc.FinalLR, "0 with ConstantLR (a final rate needs CosineLR or LinearLR)")
	case lr == nil:
		return bad("", fmt.Sprintf("%T", c.Optimizer), "an optimiser of package nn (*nn.SGD, *nn.Adam or *nn.RMSProp), whose LR it sets")
	case sc.Decay != ConstantLR && !(sc.FinalLR >= 0 && sc.FinalLR <= *lr):
		return bad(".FinalLR", sc.FinalLR, fmt.Sprintf("in [0, the optimiser's LR (%v)]", *lr))
	}
	return nil
}

// Result summarises a training run.
type Result struct {
	Steps     int       // steps done (including those before a resume)
	Loss      []float64 // training loss per step (of this run and the resumed ones)
	ValSteps  []int     // steps at which validation was evaluated
	ValLoss   []float64 // validation loss at those steps
	BestStep  int       // step of the best validation loss (-1 without validation)
	BestVal   float64   // best validation loss (NaN without validation)
	Stopped   string    // why training stopped: "steps", "patience", "interrupted"
	TrainRows []int     // indices of the training rows of data
	ValRows   []int     // indices of the validation rows of data
}

// Split returns the training and validation row indices of n rows for a
// seed: a seeded permutation, the last round(frac·n) rows held out.
func Split(n int, frac float64, seed uint64) (train, val []int) {
	perm := repro.New(seed, repro.Split, 0, 0).Perm(n)
	nv := int(math.Round(frac * float64(n)))
	if frac > 0 && nv == 0 {
		nv = 1
	}
	return perm[:n-nv], perm[n-nv:]
}

// trainer is the state of one run.
type trainer struct {
	obj     Objective
	cfg     Config
	data    ad.Mat
	params  []*ad.Param
	pool    *repro.Pool
	jobs    []*chunkJob
	grads   []ad.Mat
	parts   [][]ad.Mat
	rows    []int // dataset rows of the current batch
	seed    uint64
	purpose repro.Purpose // of the streams: Batch, or Validation
	step    uint64        // the streams' step (0 for validation)
	first   int           // the stream index of t.rows[0] (validation batches)
	grad    bool

	offsets []int   // offsets[i]: flat index of parameter i's first element
	update  phase   // the running phase of the parameter update
	bad     []error // per range: the first non-finite gradient found

	timing *stepTiming // when set, trainStep times its phases
}

// chunkJob is the per-chunk state of a step.
type chunkJob struct {
	t      *trainer
	worker Worker
	batch  Batch
	stream *repro.Stream
	loss   float64
}

func (j *chunkJob) Run(c, lo, hi int) {
	t := j.t
	n := hi - lo
	d := t.data.Cols
	b := &j.batch
	b.X.Resize(n, d)
	for i := range n {
		copy(b.X.Row(i), t.data.Row(t.rows[lo+i]))
	}
	b.Draw(t.obj, j.stream, t.seed, t.purpose, t.step, t.first+lo)
	j.loss = j.worker.Eval(b, t.grad)
	if t.grad {
		t.parts[c] = j.worker.Grads()
	}
}

// Validate reports the first invalid setting of c (and of its optimiser),
// as Train would, without training: a *ConfigError, or the optimiser's
// validation error.
func (c Config) Validate() error { return c.defaults() }

func (c *Config) defaults() error {
	if c.BatchSize == 0 {
		c.BatchSize = 128
	}
	if c.Chunks == 0 {
		c.Chunks = repro.DefaultChunks(c.BatchSize)
	}
	if c.Steps == 0 && c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.Optimizer == nil {
		c.Optimizer = nn.NewAdam()
	}
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "Config", Field: field, Value: v, Want: want}
	}
	switch {
	case c.BatchSize < 1:
		return bad("BatchSize", c.BatchSize, "at least 1")
	case c.Chunks < 1 || c.Chunks > c.BatchSize:
		return bad("Chunks", c.Chunks, fmt.Sprintf("1 to the batch size (%d)", c.BatchSize))
	case c.Steps < 0:
		return bad("Steps", c.Steps, "≥ 0")
	case c.Epochs < 0:
		return bad("Epochs", c.Epochs, "≥ 0")
	case !(c.ValFrac >= 0 && c.ValFrac < 1):
		return bad("ValFrac", c.ValFrac, "in [0, 1)")
	case c.EvalEvery < 0:
		return bad("EvalEvery", c.EvalEvery, "≥ 0")
	case c.Patience < 0:
		return bad("Patience", c.Patience, "≥ 0")
	case c.CheckpointEvery < 0:
		return bad("CheckpointEvery", c.CheckpointEvery, "≥ 0")
	case !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 1):
		return bad("ClipNorm", c.ClipNorm, "finite and ≥ 0 (0: off)")
	case !(c.EMA >= 0 && c.EMA < 1):
		return bad("EMA", c.EMA, "in [0, 1) (0: off)")
	}
	if err := c.Optimizer.Validate(); err != nil {
		return err
	}
	return c.checkSchedule()
}

// runState is what a checkpoint holds beyond the parameters and optimiser.
type runState struct {
	step int
	bad  int // validation evaluations since the best
	best []ad.Mat
	ema  []ad.Mat // the weights' moving average (Config.EMA > 0)
}

func newTrainer(obj Objective, data ad.Mat, cfg Config) *trainer {
	t := &trainer{obj: obj, cfg: cfg, data: data, params: obj.Model().Params(), pool: repro.NewPool(cfg.Chunks)}
	for range cfg.Chunks {
		t.jobs = append(t.jobs, &chunkJob{t: t, worker: obj.NewWorker(), stream: repro.NewStream()})
	}
	t.parts = make([][]ad.Mat, cfg.Chunks)
	t.bad = make([]error, cfg.Chunks)
	n := 0
	for _, p := range t.params {
		t.grads = append(t.grads, ad.NewMat(p.Value.Rows, p.Value.Cols))
		t.offsets = append(t.offsets, n)
		n += len(p.Value.Data)
	}
	t.offsets = append(t.offsets, n)
	return t
}

// The phases of a training step: the two that run by parameter range
// (t.update), and the chunks, which only stepTiming names.
type phase int

const (
	phaseReduce phase = iota // sum the chunks' gradients, average, check
	phaseUpdate              // the optimiser's update
	phaseChunks              // the chunks: the objective and its gradient (not by range)
)

// trainStep evaluates the loss and gradient on t.rows and takes an
// optimiser step. It returns the mean loss, or an error wrapping
// ErrNonFinite before anything is updated. Besides the chunks of the batch,
// the reduction of the chunks' gradients and the update run in parallel,
// each worker on a fixed range of the flattened parameters; every element
// is computed exactly as a serial loop would, so the split changes no bit.
func (t *trainer) trainStep(seed, step uint64) (float64, error) {
	n := float64(len(t.rows))
	t.startClock()
	loss := t.evaluate(seed, repro.Batch, step, true) / n
	t.clock(phaseChunks)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("loss is %v: %w", loss, ErrNonFinite)
	}
	t.byRange(phaseReduce)
	for _, err := range t.bad {
		if err != nil {
			return loss, err
		}
	}
	if t.cfg.ClipNorm > 0 {
		nn.ClipGradNorm(t.grads, t.cfg.ClipNorm)
	}
	t.clock(phaseReduce)
	t.cfg.Optimizer.Begin(t.params, t.grads)
	t.byRange(phaseUpdate)
	t.clock(phaseUpdate)
	return loss, nil
}

// startClock starts timing a step's phases, when timing is on
// (BenchmarkStepPhases).
func (t *trainer) startClock() {
	if t.timing != nil {
		t.timing.last = time.Now()
	}
}

// clock adds the time since the previous phase ended (or the clock
// started) to phase p's total, when timing is on. The reduction's time
// includes gradient clipping.
func (t *trainer) clock(p phase) {
	if t.timing == nil {
		return
	}
	now := time.Now()
	t.timing.total[p] += now.Sub(t.timing.last)
	t.timing.last = now
}

// stepTiming is the wall time of each phase of the steps taken while it is
// set.
type stepTiming struct {
	total [phaseChunks + 1]time.Duration
	last  time.Time
}

// byRange runs phase p on the pool, one range of the flattened parameters
// per chunk.
func (t *trainer) byRange(p phase) {
	t.update = p
	t.pool.Do(t.offsets[len(t.offsets)-1], paramRanges{t})
}

// paramRanges runs the trainer's current phase on a range of parameters.
type paramRanges struct{ t *trainer }

// Run applies the phase to the flat parameter elements [lo, hi), parameter
// by parameter.
func (r paramRanges) Run(c, lo, hi int) {
	t := r.t
	t.bad[c] = nil
	for i, p := range t.params {
		a, b := max(lo, t.offsets[i]), min(hi, t.offsets[i+1])
		if a >= b {
			continue
		}
		a, b = a-t.offsets[i], b-t.offsets[i]
		switch t.update {
		case phaseReduce:
			if err := t.reduce(i, a, b); err != nil && t.bad[c] == nil {
				t.bad[c] = fmt.Errorf("gradient of %s has %w", p.Name, err)
			}
		case phaseUpdate:
			t.cfg.Optimizer.Update(i, a, b)
		}
	}
}

// reduce sets elements [a, b) of gradient i to the sum of the chunks'
// gradients, added in chunk order, divided by the batch size, and reports
// the first non-finite value. The vector kernel behind
// repro.SumChunkRangeScaled reads every chunk's part once, a few vectors of
// each part at a time, so the range needs no splitting to stay in cache.
func (t *trainer) reduce(i, a, b int) error {
	// Dividing by a power of two is multiplying by its reciprocal, exactly,
	// and much faster.
	n := float64(len(t.rows))
	scale := 0.0
	if r := len(t.rows); r&(r-1) == 0 {
		scale = 1 / n
	}
	dst := t.grads[i].Data[a:b]
	if repro.SumChunkRangeScaled(dst, t.parts, i, a, scale, n) {
		return nil
	}
	for _, v := range dst {
		if v-v != 0 { // NaN or ±Inf
			return fmt.Errorf("%v: %w", v, ErrNonFinite)
		}
	}
	return nil // not reached: the kernel saw a non-finite value
}

// evaluate runs the objective on t.rows in chunks and returns the summed
// loss; with grad set, t.parts holds each chunk's gradient (trainStep sums
// them).
func (t *trainer) evaluate(seed uint64, p repro.Purpose, step uint64, grad bool) float64 {
	t.seed, t.purpose, t.step, t.grad = seed, p, step, grad
	for c := range t.parts {
		t.parts[c] = nil
	}
	t.pool.Do(len(t.rows), t)
	loss := 0.0
	for c, j := range t.jobs {
		if lo, hi := repro.Chunk(len(t.rows), len(t.jobs), c); lo < hi {
			loss += j.loss
		}
	}
	return loss
}

// Run dispatches chunk c to its job.
func (t *trainer) Run(c, lo, hi int) { t.jobs[c].Run(c, lo, hi) }

// epochOrder returns the training rows in the seeded order of an epoch.
func epochOrder(rows []int, seed uint64, epoch int, buf []int) []int {
	r := repro.New(seed, repro.Epoch, uint64(epoch), 0)
	buf = append(buf[:0], rows...)
	r.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
	return buf
}

func cloneParams(ps []*ad.Param) []ad.Mat {
	out := make([]ad.Mat, len(ps))
	for i, p := range ps {
		out[i] = p.Value.Clone()
	}
	return out
}

// saveParams copies the parameters' values into dst.
func saveParams(dst []ad.Mat, src []*ad.Param) {
	for i, p := range src {
		copy(dst[i].Data, p.Value.Data)
	}
}

// restoreParams copies src into the parameters' values.
func restoreParams(dst []*ad.Param, src []ad.Mat) {
	for i, m := range src {
		copy(dst[i].Value.Data, m.Data)
	}
}
