package ssm

import (
	"context"
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/repro"
)

// Train fits obj's model to the rows of data (N×D) and returns a summary.
// It is deterministic: for a given Config (Chunks included) the weights
// are bit-identical on any machine and for any GOMAXPROCS, and a run stopped
// and resumed from its checkpoint ends with the same bits as one that never
// stopped.
//
// Each step draws a batch from a per-epoch seeded shuffle of the training
// rows, evaluates the objective in Chunks parallel chunks (the randomness of
// the k-th sample of step s comes from the stream (Seed, repro.Batch, s, k)), sums the
// chunks' losses and gradients in chunk order, clips, and takes an optimiser
// step. With a validation split the objective is evaluated on the held-out
// rows with fixed randomness; the best weights are kept and restored at the
// end, and Patience stops training early.
//
// When ctx is cancelled, Train finishes the current step, writes the
// checkpoint and returns its result with Stopped "interrupted" and
// ctx.Err(). A non-finite loss or gradient stops training with an error
// wrapping ErrNonFinite, before the bad step is applied or saved.
func Train(ctx context.Context, obj Objective, data ad.Mat, cfg Config) (*Result, error) {
	r, err := plan(obj, data, cfg)
	if err != nil {
		return nil, err
	}
	r.t = newTrainer(obj, data, r.cfg)
	defer r.t.pool.Close()
	r.st.best = cloneParams(r.t.params)
	if r.cfg.EMA > 0 {
		r.st.ema = cloneParams(r.t.params)
		r.live = cloneParams(r.t.params)
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	r.resumedAt = r.st.step
	if r.cfg.Patience > 0 && r.st.bad >= r.cfg.Patience {
		r.res.Stopped = "patience" // the resumed run had stopped early: it stays stopped
	}
	for r.st.step < r.total && r.res.Stopped == "steps" {
		if ctx.Err() != nil {
			r.res.Stopped = "interrupted"
			break
		}
		if err := r.step(); err != nil {
			return r.res, err
		}
	}
	return r.finish(ctx)
}

// run is the state of one call of Train.
type run struct {
	obj Objective
	cfg Config
	res *Result
	st  runState
	t   *trainer

	settings            []runSetting // what the checkpoint records and a resume must match
	resumedAt           int          // the step the run started from
	bs, perEpoch, total int          // batch size, steps per epoch, steps planned
	evalEvery, ckEvery  int          // steps between validations, checkpoints
	perm                []int
	live                []ad.Mat // the raw weights while validation evaluates the average
	permEpoch           int      // the epoch perm is the order of
}

// plan checks the data and the configuration, splits the rows and sets
// the schedule.
func plan(obj Objective, data ad.Mat, cfg Config) (*run, error) {
	if m := obj.Model(); data.Cols != m.Dim() {
		return nil, fmt.Errorf("ssm: data has %d columns, the model's dimension is %d", data.Cols, m.Dim())
	}
	for i, v := range data.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("ssm: data row %d, column %d is %v", i/data.Cols+1, i%data.Cols+1, v)
		}
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &run{obj: obj, cfg: cfg, res: &Result{BestStep: -1, BestVal: math.NaN(), Stopped: "steps"}, permEpoch: -1}
	r.res.TrainRows, r.res.ValRows = Split(data.Rows, cfg.ValFrac, cfg.Seed)
	if len(r.res.TrainRows) == 0 {
		return nil, fmt.Errorf("ssm: no training rows (%d rows, validation fraction %g)", data.Rows, cfg.ValFrac)
	}
	r.bs = min(cfg.BatchSize, len(r.res.TrainRows))
	r.perEpoch = (len(r.res.TrainRows) + r.bs - 1) / r.bs
	r.total = cfg.Steps
	if r.total == 0 {
		r.total = cfg.Epochs * r.perEpoch
	}
	r.evalEvery = cfg.EvalEvery
	if r.evalEvery == 0 {
		r.evalEvery = r.perEpoch
	}
	r.ckEvery = cfg.CheckpointEvery
	if r.ckEvery == 0 {
		r.ckEvery = r.evalEvery
	}
	return r, nil
}

// resume records the run's settings for its checkpoints, if it writes
// any, and loads the checkpoint when the configuration asks for it and one
// exists: one written with other settings is refused with a *ResumeError,
// one that cannot be resumed for another reason with a *CheckpointError.
// (r.obj becomes a *checkpointed, through which save finds the settings.)
func (r *run) resume() error {
	if r.cfg.Checkpoint == "" {
		return nil
	}
	r.settings = runSettings(r.obj, r.cfg, r.total, r.t.data)
	if !r.cfg.Resume {
		return nil
	}
	ok, err := loadCheckpoint(r.cfg.Checkpoint, r.settings, r.obj, r.cfg.Optimizer, &r.st, r.res)
	if err != nil {
		return err
	}
	if ok && r.st.step > r.total {
		return &CheckpointError{Checkpoint: r.cfg.Checkpoint, Problem: fmt.Sprintf("it is at step %d, past the %d steps planned", r.st.step, r.total)}
	}
	return nil
}

// step takes one optimiser step on the next batch, then validates,
// checkpoints and reports progress as scheduled; patience sets
// r.res.Stopped.
func (r *run) step() error {
	st, res := &r.st, r.res
	epoch := st.step / r.perEpoch
	if epoch != r.permEpoch {
		r.perm = epochOrder(res.TrainRows, r.cfg.Seed, epoch, r.perm)
		r.permEpoch = epoch
	}
	k := st.step % r.perEpoch
	r.t.rows = r.perm[k*r.bs : min((k+1)*r.bs, len(r.perm))]
	// The schedule sets the optimiser's rate for the step only: between
	// steps the field holds the base rate, which checkpoints record and
	// Progress may change.
	lr, field := math.NaN(), learningRate(r.cfg.Optimizer)
	var base float64
	if field != nil {
		base = *field
		if r.cfg.Schedule != (Schedule{}) {
			*field = r.cfg.Schedule.LR(base, st.step, r.total)
		}
		lr = *field
	}
	loss, err := r.t.trainStep(r.cfg.Seed, uint64(st.step))
	if field != nil {
		*field = base
	}
	if err != nil {
		return fmt.Errorf("ssm: step %d: %w", st.step+1, err)
	}
	st.step++
	if st.ema != nil {
		updateEMA(st.ema, r.t.params, r.cfg.EMA)
	}
	res.Loss = append(res.Loss, loss)
	p := Progress{Step: st.step, Steps: r.total, Epoch: epoch, Loss: loss, LR: lr, ValLoss: math.NaN(), BestVal: res.BestVal}
	stop := false
	if len(res.ValRows) > 0 && (st.step%r.evalEvery == 0 || st.step == r.total) {
		p.ValLoss, stop = r.validate()
		p.BestVal = res.BestVal
	}
	if st.step%r.ckEvery == 0 || stop {
		if err := r.save(); err != nil {
			return err
		}
	}
	if r.cfg.Progress != nil {
		r.cfg.Progress(p)
	}
	if stop {
		res.Stopped = "patience"
	}
	return nil
}

// validate evaluates the objective on the validation rows, records it,
// keeps the weights when they are the best so far, and reports whether
// patience has run out.
func (r *run) validate() (loss float64, stop bool) {
	st, res := &r.st, r.res
	// In batches of the training batch size, so that memory does not grow
	// with the validation set; row k draws from stream k whatever its
	// batch. The same draws at every validation: losses compare across
	// steps.
	if st.ema != nil { // evaluate (and keep, if best) the average
		saveParams(r.live, r.t.params)
		restoreParams(r.t.params, st.ema)
		defer restoreParams(r.t.params, r.live)
	}
	vl := 0.0
	for lo := 0; lo < len(res.ValRows); lo += r.bs {
		r.t.rows = res.ValRows[lo:min(lo+r.bs, len(res.ValRows))]
		r.t.first = lo
		vl += r.t.evaluate(r.cfg.Seed, repro.Validation, 0, false)
	}
	r.t.first = 0
	vl /= float64(len(res.ValRows))
	res.ValSteps, res.ValLoss = append(res.ValSteps, st.step), append(res.ValLoss, vl)
	if math.IsNaN(res.BestVal) || vl < res.BestVal {
		res.BestVal, res.BestStep, st.bad = vl, st.step, 0
		saveParams(st.best, r.t.params)
		return vl, false
	}
	st.bad++
	return vl, r.cfg.Patience > 0 && st.bad >= r.cfg.Patience
}

// save writes the checkpoint, if there is one.
func (r *run) save() error {
	if r.cfg.Checkpoint == "" {
		return nil
	}
	return saveCheckpoint(r.cfg.Checkpoint, r.settings, r.obj, r.cfg.Optimizer, &r.st, r.res)
}

// finish writes the last checkpoint (when a step was taken) and restores
// the best weights, or else the weights' moving average when there is one.
func (r *run) finish(ctx context.Context) (*Result, error) {
	r.res.Steps = r.st.step
	if r.st.step > r.resumedAt { // else the checkpoint holds this state already
		if err := r.save(); err != nil {
			return r.res, err
		}
	}
	switch {
	case r.res.BestStep >= 0:
		restoreParams(r.t.params, r.st.best)
	case r.st.ema != nil:
		restoreParams(r.t.params, r.st.ema)
	}
	if r.res.Stopped == "interrupted" {
		return r.res, ctx.Err()
	}
	return r.res, nil
}

// updateEMA moves the average avg toward the parameters' values:
// avg ← d·avg + (1 − d)·θ, element by element (no fusion, so every
// architecture gives the same bits).
func updateEMA(avg []ad.Mat, ps []*ad.Param, d float64) {
	e := 1 - d
	for i, p := range ps {
		a := avg[i].Data
		for j, v := range p.Value.Data {
			a[j] = float64(d*a[j]) + float64(e*v)
		}
	}
}
