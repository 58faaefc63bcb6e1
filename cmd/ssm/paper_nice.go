package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
	"scorematch/nn/atomicfile"
	"scorematch/ssm"
)

// The NICE experiment (the paper's section 5.2, its reference code's
// runners/nice_runner.py): a NICE flow trained on Fashion-MNIST by every
// method with the same initial weights, seed, steps, batch and learning
// rate. Since a flow's log-density is exact, the held-out log-likelihood
// shows how good each objective's fit is.
//
// The protocol follows the reference: intensities b/255, dequantised by
// adding (u − ½)/256 with u ~ U(0, 1) per pixel, clamped to [0.001, 0.999]
// and mapped to logits (nn.LogitPixels), on which the flow is trained and
// evaluated. Deviations: the dequantisation noise is drawn once per row
// (the reference draws it afresh at every pass), the rows are a subset,
// DSM's σ is the best of a small grid by a Parzen window on validation
// rows (the reference's select_sigma fits it by gradient ascent; its NICE
// runner takes σ from the command line), the final weights are evaluated
// (not the best on validation), and exact SM gets its own, smaller budget.

func init() {
	registerExperiment(experiment{"nice", "NICE flows on Fashion-MNIST: exact held-out log-likelihood of every method's fit", runPaperNICE})
}

// niceMethods are the methods the NICE experiment may compare, in the
// paper's order: maximum likelihood, then the score-matching objectives.
var niceMethods = []string{"mle", "ssm-vr", "ssm", "dsm", "sm", "approx-bp", "cp"}

// Bounds and fixed sizes of the NICE experiment.
const (
	maxNICESteps   = 1 << 24
	maxNICESamples = 64
	niceCurveRows  = 250 // test rows of the log-likelihood curve
	niceSMBlock    = 10  // rows per pass of the held-out exact SM loss
	niceImageScale = 2   // pixels per image pixel in samples.png

)

// The default data: Debian's dataset-fashion-mnist.
const (
	fashionTrain = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
	fashionTest  = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
)

// Data parts, the step coordinate of their dequantisation streams.
const (
	nicePartTrain = iota
	nicePartVal
	nicePartTest
)

// niceStudy is a checked ssm paper nice.
type niceStudy struct {
	trainPath, testPath string
	n, valN, testN      int
	couplings           int
	hidden              []int
	hiddenStr           string
	methods             []string
	steps, batch        int
	smSteps, smBatch    int
	lr                  float64
	seed                uint64
	sigmas              []float64
	smRows              int
	evalEvery           int
	samples             int
	out                 string
	dir                 string // the output folder's path, once made
}

// niceData is the experiment's data after preprocessing: logits of the
// dequantised, clamped intensities, per test row the logit's
// log-determinant, and the share of test coordinates the clamp moved.
type niceData struct {
	train, val, test ad.Mat
	testLogDet       []float64
	testClamped      float64 // the share of test coordinates outside [clamp, 1 − clamp] before the clamp
	testPixels       ad.Mat  // the test rows as read, b/255
	dim              int
}

// A niceCell is the outcome of one method.
type niceCell struct {
	Method string `json:"method"`
	Steps  int    `json:"steps"`
	Batch  int    `json:"batch"`
	// MsPerStep is the mean wall time of a training step (optimiser update
	// included, curve evaluations excluded), steps 2 to the last (0 when
	// training stopped before step 2).
	MsPerStep float64 `json:"ms_per_step"`
	// LogitLL is the mean test log-density of the logits (nats), LogitLLSE
	// its standard error sd/√n over the test rows.
	LogitLL   *float64 `json:"test_ll_logit"`
	LogitLLSE *float64 `json:"test_ll_logit_se"`
	// PixelLL is LogitLL plus the mean log-determinant of the logit at
	// the clamped intensities (nats). It is the log-density of the
	// dequantised intensities on [0, 1]^D only where no coordinate was
	// clamped; at a clamped coordinate (the record's test_clamped_share)
	// it is neither a density nor a bound on one.
	PixelLL *float64 `json:"test_ll_pixel_clamped"`
	// BitsPerDim is −(PixelLL − D·log 256)/(D·log 2): PixelLL rescaled to
	// intensities on [0, 256)^D, in bits per dimension, with PixelLL's
	// caveat: not comparable with published bits/dim.
	BitsPerDim *float64 `json:"bits_per_dim_clamped"`
	// SMLoss is the held-out exact SM loss ½‖s‖² + tr ∇s of the logits,
	// mean over the first SMRows test rows (nil when not computed).
	SMLoss   *float64 `json:"test_sm_loss,omitempty"`
	SMLossSE *float64 `json:"test_sm_loss_se,omitempty"`
	SMRows   int      `json:"test_sm_rows,omitempty"`
	// Sigma is DSM's noise level, chosen on the validation rows.
	Sigma float64 `json:"sigma,omitempty"`
	// Curve is the mean log-density of the first test rows (logit space)
	// at step 0, every -eval-every steps and at the last, where finite.
	Curve     []niceCurvePoint `json:"curve"`
	CurveRows int              `json:"curve_rows"`
	// Diverged says where training stopped on a non-finite loss; the
	// evaluation is of the last finite weights.
	Diverged string  `json:"diverged,omitempty"`
	Weights  string  `json:"weights"`
	Seconds  float64 `json:"seconds"`

	model *nn.NICE // the trained flow
}

// A niceCurvePoint is the curve's mean test log-density after Step steps.
type niceCurvePoint struct {
	Step   int     `json:"step"`
	LogitL float64 `json:"test_ll_logit"`
}

func runPaperNICE(ctx context.Context, e *env, args []string) error {
	s, err := parseNICEStudy(e, args)
	if err != nil {
		return err
	}
	data, err := s.load(e)
	if err != nil {
		return err
	}
	cells, err := s.run(ctx, e, data)
	if err != nil {
		return err
	}
	return s.write(e, data, cells)
}

func parseNICEStudy(e *env, args []string) (*niceStudy, error) {
	fs := newFlags("paper nice", "paper nice [-methods "+strings.Join(niceMethods, ",")+"] [-hidden 256,256] [-steps 300] [-out nice]", e.stdout)
	methods := fs.String("methods", strings.Join(niceMethods, ","), "comma-separated methods: "+strings.Join(niceMethods, ", "))
	sigmas := fs.String("dsm-sigmas", "0.1,0.3,1,2,4", "DSM's noise levels (logit space) to choose from on the validation rows (the reference's Parzen fit starts at 0.74)")
	s := &niceStudy{}
	fs.StringVar(&s.trainPath, "train", fashionTrain, "training and validation images: an IDX `file` (Debian's dataset-fashion-mnist)")
	fs.StringVar(&s.testPath, "test", fashionTest, "test images: an IDX `file`")
	fs.IntVar(&s.n, "n", 10000, "training rows (the reference: 54000, 90% of the training file)")
	fs.IntVar(&s.valN, "val-n", 500, "validation rows, after the training rows of the shuffled training file (DSM's σ)")
	fs.IntVar(&s.testN, "test-n", 1000, "test rows, the first of the test file (the reference: all 10000)")
	fs.IntVar(&s.couplings, "couplings", nn.DefaultNICECouplings, "NICE coupling layers (the reference: 4)")
	fs.StringVar(&s.hiddenStr, "hidden", "256,256", "hidden widths of each coupling net (the reference: 1000,1000,1000,1000)")
	fs.IntVar(&s.steps, "steps", 300, "training steps of every method but exact SM")
	fs.IntVar(&s.batch, "batch", 100, "batch size of every method but exact SM (the reference: 128)")
	fs.IntVar(&s.smSteps, "sm-steps", 10, "training steps of exact SM (D passes per row: its own budget)")
	fs.IntVar(&s.smBatch, "sm-batch", 10, "batch size of exact SM")
	fs.Float64Var(&s.lr, "lr", 1e-3, "Adam's learning rate")
	fs.Uint64Var(&s.seed, "seed", 1, "random seed (split, dequantisation, initial weights, batches)")
	fs.IntVar(&s.smRows, "sm-rows", 30, "test rows of the held-out exact SM loss (0: not computed; about 0.2 s a row on one core at the default sizes)")
	fs.IntVar(&s.evalEvery, "eval-every", 25, fmt.Sprintf("steps between points of the test log-likelihood curve (on the first %d test rows)", niceCurveRows))
	fs.IntVar(&s.samples, "samples", 10, "samples per method drawn in samples.png (0: none)")
	fs.StringVar(&s.out, "out", "nice", "output `folder`: table.md, nice.json, nice.svg, samples.png, <method>.safetensors")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if s.methods, err = parseMethods("-methods", *methods, niceMethods); err != nil {
		return nil, err
	}
	if s.sigmas, err = parseSigmaGrid("-dsm-sigmas", *sigmas); err != nil {
		return nil, err
	}
	if s.hidden, err = parseInts("-hidden", s.hiddenStr, 1, maxWidth); err != nil {
		return nil, err
	}
	if len(s.hidden) > nn.MaxHiddenLayers {
		return nil, badInput("-hidden %s: %d hidden layers, at most %d", s.hiddenStr, len(s.hidden), nn.MaxHiddenLayers)
	}
	if err := firstError(
		intIn("-n", s.n, 1, maxTrainRows), intIn("-val-n", s.valN, 1, maxTrainRows), intIn("-test-n", s.testN, 1, maxTrainRows),
		intIn("-couplings", s.couplings, 1, nn.MaxNICECouplings),
		intIn("-steps", s.steps, 2, maxNICESteps), intIn("-batch", s.batch, 1, s.n),
		intIn("-sm-steps", s.smSteps, 2, maxNICESteps), intIn("-sm-batch", s.smBatch, 1, s.n),
		positive("-lr", s.lr, "learning rate"), intIn("-sm-rows", s.smRows, 0, s.testN),
		intIn("-eval-every", s.evalEvery, 1, maxNICESteps), intIn("-samples", s.samples, 0, maxNICESamples),
		checkOutDir(e, "-out", s.out),
	); err != nil {
		return nil, err
	}
	return s, nil
}

// params returns the number of parameters of the study's NICE in
// dimension d, saturating at maxParams+1.
func (s *niceStudy) params(d int) int {
	n := d // the log-scales
	sizes := append(append([]int{d / 2}, s.hidden...), d/2)
	for range s.couplings {
		for j := 1; j < len(sizes); j++ {
			if sizes[j-1]+1 > (maxParams-n)/sizes[j] {
				return maxParams + 1
			}
			n += (sizes[j-1] + 1) * sizes[j]
		}
	}
	return n
}

// load reads the image files, checks them, splits, dequantises and maps
// the rows to logits.
func (s *niceStudy) load(e *env) (*niceData, error) {
	read := func(flag, path string, rows int) (ad.Mat, error) {
		x, _, err := loadData(flag, path, 0, 0)
		if err != nil {
			if strings.Contains(err.Error(), "-"+flag) {
				return ad.Mat{}, err
			}
			return ad.Mat{}, badInput("-%s: %v", flag, err) // a reader's error names the file only
		}
		if x.Rows < rows {
			return ad.Mat{}, badInput("-%s %s: %d rows, want at least %d", flag, path, x.Rows, rows)
		}
		for i, v := range x.Data {
			if !(v >= 0 && v <= 1) {
				return ad.Mat{}, badInput("-%s %s: row %d column %d is %v, want intensities in [0, 1] (an IDX image file)", flag, path, i/x.Cols+1, i%x.Cols+1, v)
			}
		}
		return x, nil
	}
	all, err := read("train", e.outPath(s.trainPath), s.n+s.valN)
	if err != nil {
		return nil, err
	}
	d := all.Cols
	if d < 2 || d%2 != 0 {
		return nil, badInput("-train %s: %d pixels per image, want an even number ≥ 2 (NICE splits the even and odd pixels)", s.trainPath, d)
	}
	if p := s.params(d); p > maxParams {
		return nil, badInput("-hidden %s: %d parameters at D = %d, at most %d", s.hiddenStr, p, d, maxParams)
	}
	test, err := read("test", e.outPath(s.testPath), s.testN)
	if err != nil {
		return nil, err
	}
	if test.Cols != d {
		return nil, badInput("-test %s: %d pixels per image, the training images have %d", s.testPath, test.Cols, d)
	}
	// The reference's split: a shuffle of the training file, training rows
	// first, validation rows next.
	perm := repro.New(s.seed, repro.Split, 0, 0).Perm(all.Rows)
	pick := func(idx []int) ad.Mat {
		x := ad.NewMat(len(idx), d)
		for i, r := range idx {
			copy(x.Row(i), all.Row(r))
		}
		return x
	}
	data := &niceData{dim: d, testPixels: test.RowRange(0, s.testN).Clone()}
	data.train = pick(perm[:s.n])
	data.val = pick(perm[s.n : s.n+s.valN])
	data.test = data.testPixels.Clone()
	s.toLogits(data.train, nicePartTrain)
	s.toLogits(data.val, nicePartVal)
	var clamped int
	data.testLogDet, clamped = s.toLogits(data.test, nicePartTest)
	data.testClamped = float64(clamped) / float64(len(data.test.Data))
	return data, nil
}

// toLogits dequantises the intensities of x in place, each row from its
// own stream (seed, Data, part, row): x + (u − ½)/256 per pixel, then
// clamps and maps them to logits. It returns each row's log-determinant of
// the logit and the number of coordinates the clamp moved.
func (s *niceStudy) toLogits(x ad.Mat, part uint64) (logDet []float64, clamped int) {
	const c = nn.DefaultLogitClamp
	for r := range x.Rows {
		rng := repro.New(s.seed, repro.Data, part, uint64(r))
		row := x.Row(r)
		for j := range row {
			row[j] += float64((float64(rng.Float64()) - 0.5) / 256)
			if row[j] < c || row[j] > 1-c {
				clamped++
			}
		}
	}
	return nn.LogitPixels(x, x, c), clamped
}

// config is the NICE the study trains in dimension d.
func (s *niceStudy) config(d int) nn.NICEConfig {
	return nn.NICEConfig{Dim: d, Couplings: s.couplings, Hidden: s.hidden}
}

// budget returns the steps and batch of method m.
func (s *niceStudy) budget(m string) (steps, batch int) {
	if m == "sm" {
		return s.smSteps, s.smBatch
	}
	return s.steps, s.batch
}

// run trains and evaluates every method, logging the curve's points with
// an ETA.
func (s *niceStudy) run(ctx context.Context, e *env, data *niceData) ([]niceCell, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	s.dir = e.outPath(s.out)
	if err := mkdirOut(s.dir); err != nil {
		return nil, err
	}
	sigma := 0.0
	if slices.Contains(s.methods, "dsm") {
		sigma = chooseSigma(data.train, data.val, s.sigmas)
		log.Info("paper nice", "dsm_sigma", sigma, "grid", fmt.Sprint(s.sigmas))
	}
	clock := &niceClock{study: s, dim: data.dim, perStep: map[string]float64{}}
	var cells []niceCell
	for i, m := range s.methods {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		c, err := s.cell(ctx, m, sigma, data, clock, log)
		if err != nil {
			return nil, err
		}
		cells = append(cells, c)
		clock.done = i + 1
		attrs := []any{"method", m, "done", fmt.Sprintf("%d/%d", i+1, len(s.methods)), "ms_per_step", round4(c.MsPerStep)}
		if c.LogitLL != nil {
			attrs = append(attrs, "test_ll_logit", round4(*c.LogitLL), "bits_per_dim", round4(*c.BitsPerDim))
		}
		if c.Diverged != "" {
			attrs = append(attrs, "diverged", c.Diverged)
		}
		log.Info("paper nice", append(attrs, "eta", fmtDuration(clock.eta("", 0)))...)
	}
	return cells, nil
}

// niceClock predicts the time left: each method's remaining steps at its
// measured time per step, a method not yet timed at the mean of those
// timed in units of a sliced step of the common batch (a step of exact SM
// is smBatch/batch·D/2 units: per row it cost about D/2 sliced steps at
// D = 784), plus the mean final evaluation per method left.
type niceClock struct {
	study   *niceStudy
	dim     int
	done    int                // methods finished
	perStep map[string]float64 // seconds per step (curve evaluations included)
	evalSec float64            // seconds of the final evaluations so far
}

// eta returns the seconds left while method m has step steps done.
func (c *niceClock) eta(m string, step int) float64 {
	// unit is a step's cost in sliced steps of the common batch.
	unit := func(name string) float64 {
		if name != "sm" {
			return 1
		}
		return float64(c.study.smBatch) / float64(c.study.batch) * float64(c.dim) / 2
	}
	var sum float64
	for name, v := range c.perStep {
		sum += v / unit(name)
	}
	left := 0.0
	for _, name := range c.study.methods[c.done:] {
		steps, _ := c.study.budget(name)
		if name == m {
			steps -= step
		}
		per, ok := c.perStep[name]
		if !ok && len(c.perStep) > 0 {
			per = sum / float64(len(c.perStep)) * unit(name)
		}
		left += float64(per * float64(steps))
	}
	if c.done > 0 {
		left += float64(c.evalSec / float64(c.done) * float64(len(c.study.methods)-c.done))
	}
	return left
}

// cell trains method m from the common initial weights and evaluates it.
func (s *niceStudy) cell(ctx context.Context, m string, sigma float64, data *niceData, clock *niceClock, log *slog.Logger) (niceCell, error) {
	t0 := time.Now()
	steps, batch := s.budget(m)
	c := niceCell{Method: m, Steps: steps, Batch: batch, Weights: m + ".safetensors"}
	model, err := nn.NewNICE(s.config(data.dim), repro.New(s.seed, repro.Init, 0, 0))
	if err != nil {
		return c, asInput(err)
	}
	opts := ssm.Options{}
	if m == "dsm" {
		opts.Sigma, c.Sigma = sigma, sigma
	}
	obj, err := ssm.New(m, model, opts)
	if err != nil {
		return c, objectiveError(err)
	}
	opt, err := newOptimizer("adam", s.lr, 0)
	if err != nil {
		return c, err
	}
	curve := data.test.RowRange(0, min(niceCurveRows, data.test.Rows))
	c.CurveRows = curve.Rows
	point := func(step int) {
		if ll := meanOf(niceLogDensity(model, curve)); !math.IsNaN(ll) && !math.IsInf(ll, 0) {
			c.Curve = append(c.Curve, niceCurvePoint{step, ll})
		}
	}
	point(0)
	// The time of steps 2 to last: from the end of step 1 to the end of
	// the last step, less the curve's evaluations in between.
	var first, end time.Time
	var evalTime, evalBefore time.Duration
	last := 0
	progress := func(p ssm.Progress) {
		last, end, evalBefore = p.Step, time.Now(), evalTime
		if p.Step == 1 {
			first = end
		}
		if p.Step%s.evalEvery != 0 && p.Step != p.Steps {
			return
		}
		point(p.Step)
		evalTime += time.Since(end)
		clock.perStep[m] = time.Since(t0).Seconds() / float64(p.Step)
		log.Info("paper nice", "method", m, "step", fmt.Sprintf("%d/%d", p.Step, p.Steps), "loss", round4(p.Loss),
			"test_ll_logit", round4(c.Curve[len(c.Curve)-1].LogitL), "eta", fmtDuration(clock.eta(m, p.Step)))
	}
	cfg := ssm.Config{BatchSize: batch, Steps: steps, Seed: s.seed, Optimizer: opt, Progress: progress}
	if _, err := ssm.Train(ctx, obj, data.train, cfg); err != nil {
		switch {
		case ctx.Err() != nil:
			return c, errInterrupted
		case errors.Is(err, ssm.ErrNonFinite):
			c.Diverged = nonFiniteAt(err, last+1)
		default:
			return c, fmt.Errorf("%s: %w", m, err)
		}
	}
	if last >= 2 {
		c.MsPerStep = float64(end.Sub(first)-evalBefore) / float64(last-1) / 1e6
	}
	tEval := time.Now()
	s.evaluate(&c, model, data)
	clock.evalSec += time.Since(tEval).Seconds()
	if err := nn.Save(filepath.Join(s.dir, c.Weights), model); err != nil {
		return c, err
	}
	c.model = model
	c.Seconds = time.Since(t0).Seconds()
	return c, nil
}

// nonFiniteAt says which part of training step was not finite, from the
// error wrapping ssm.ErrNonFinite that ssm.Train returned: the loss (its
// message says "loss is v") or, the loss finite, a gradient entry.
func nonFiniteAt(err error, step int) string {
	if strings.Contains(err.Error(), "loss is ") {
		return fmt.Sprintf("loss not finite at step %d", step)
	}
	return fmt.Sprintf("gradient not finite at step %d (the loss was finite)", step)
}

// niceLogDensity returns log p of every row of x under the flow, the rows
// in repro.DefaultChunks chunks evaluated in parallel.
func niceLogDensity(model *nn.NICE, x ad.Mat) []float64 {
	out := make([]float64, x.Rows)
	repro.Run(x.Rows, repro.DefaultChunks(x.Rows), func(_, lo, hi int) {
		copy(out[lo:hi], model.LogDensity(x.RowRange(lo, hi)))
	})
	return out
}

// meanOf is the mean of v.
func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// stdErrOf is the standard error of v's mean, sd/√n (sd with n − 1).
func stdErrOf(v []float64) float64 {
	if len(v) < 2 {
		return math.NaN()
	}
	m, ss := meanOf(v), 0.0
	for _, x := range v {
		ss += float64((x - m) * (x - m))
	}
	return math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}

// evaluate fills the cell's test measures; those that are not finite (a
// diverged fit) stay nil.
func (s *niceStudy) evaluate(c *niceCell, model *nn.NICE, data *niceData) {
	finite := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	ll := niceLogDensity(model, data.test)
	m := meanOf(ll)
	d := float64(data.dim)
	pixel := m + meanOf(data.testLogDet)
	c.LogitLL, c.LogitLLSE, c.PixelLL = finite(m), finite(stdErrOf(ll)), finite(pixel)
	c.BitsPerDim = finite(-(pixel - float64(d*rmath.Log(256))) / float64(d*math.Ln2))
	if s.smRows > 0 {
		rows := heldOutSM(model, data.test.RowRange(0, s.smRows), s.seed)
		c.SMLoss, c.SMLossSE, c.SMRows = finite(meanOf(rows)), finite(stdErrOf(rows)), s.smRows
	}
}

// heldOutSM returns the exact SM loss ½‖s‖² + tr ∇s of model at every row
// of x, in blocks of niceSMBlock rows (the jets of D directions stay
// small), the blocks in parallel.
func heldOutSM(model nn.Model, x ad.Mat, seed uint64) []float64 {
	obj, err := ssm.New("sm", model, ssm.Options{})
	if err != nil {
		panic(err) // not reached: a NICE is an energy
	}
	blocks := (x.Rows + niceSMBlock - 1) / niceSMBlock
	loss := make([]float64, x.Rows)
	repro.Run(blocks, min(blocks, repro.MaxDefaultChunks), func(_, lo, hi int) {
		w, stream := obj.NewWorker(), repro.NewStream()
		for k := lo; k < hi; k++ {
			r := k * niceSMBlock
			b := &ssm.Batch{X: x.RowRange(r, min(r+niceSMBlock, x.Rows))}
			b.Draw(obj, stream, seed, repro.Evaluation, 0, r)
			w.Eval(b, false)
			terms := w.Terms()
			for i := range terms.Rows {
				for _, v := range terms.Row(i) {
					loss[r+i] += v
				}
			}
		}
	})
	return loss
}

// write saves the table, the JSON record, the figure and the samples, and
// prints the table.
func (s *niceStudy) write(e *env, data *niceData, cells []niceCell) error {
	table := s.table(data, cells)
	fmt.Fprint(e.stdout, table)
	if err := atomicfile.WriteBytes(filepath.Join(s.dir, "table.md"), []byte(table)); err != nil {
		return err
	}
	record := map[string]any{
		"experiment": "nice", "train": s.trainPath, "test": s.testPath, "dim": data.dim,
		"rows":               map[string]int{"train": s.n, "validation": s.valN, "test": s.testN},
		"preprocessing":      "b/255 + (u − 1/2)/256, u ~ U(0, 1) once per pixel; clamp to [0.001, 0.999]; logit",
		"test_clamped_share": data.testClamped,
		"model":              map[string]any{"kind": "nice", "couplings": s.couplings, "hidden": s.hidden, "activation": nn.DefaultActivation},
		"steps":              s.steps, "batch": s.batch, "sm_steps": s.smSteps, "sm_batch": s.smBatch,
		"lr": s.lr, "optimizer": "adam", "seed": s.seed, "dsm_sigmas": s.sigmas, "sm_rows": s.smRows,
		"eval_every": s.evalEvery, "kernel": ad.Kernel(), "cells": cells,
	}
	if err := writeJSON(filepath.Join(s.dir, "nice.json"), record); err != nil {
		return err
	}
	if err := s.figure(cells).Save(filepath.Join(s.dir, "nice.svg")); err != nil {
		return err
	}
	files := "table.md,nice.json,nice.svg"
	if s.samples > 0 {
		if err := s.samplePNG(data, cells); err != nil {
			return err
		}
		files += ",samples.png"
	}
	fmt.Fprintf(e.stdout, "table, record, figure and weights written to %s\n", filepath.Join(s.out, "{"+files+",<method>.safetensors}"))
	return nil
}

// table renders the cells as Markdown.
func (s *niceStudy) table(data *niceData, cells []niceCell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# NICE on %s: D = %d, %d couplings of hidden widths %s (%s), Adam %g, seed %d (%s)\n\n",
		filepath.Base(s.trainPath), data.dim, s.couplings, s.hiddenStr, nn.DefaultActivation, s.lr, s.seed, ad.Kernel())
	fmt.Fprintf(&b, "Rows: %d training and %d validation (a shuffle of %s), %d test (the first of %s). "+
		"Each intensity b/255 is dequantised once by (u − ½)/256, clamped to [0.001, 0.999] and mapped to its logit, as in the reference. "+
		"Every method starts from the same initial weights. "+
		"%.1f%% of the test coordinates lie outside [0.001, 0.999] after dequantisation and are clamped.\n\n",
		s.n, s.valN, filepath.Base(s.trainPath), s.testN, filepath.Base(s.testPath), 100*data.testClamped)
	fmt.Fprintf(&b, "| method | steps × batch | ms / step | test LL, logit space (nats) | test LL, pixels (nats; clamped, not a bound; see note) | bits/dim (clamped, not a bound; see note) | held-out exact SM loss |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	num := func(v *float64, f string) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf(f, *v)
	}
	var notes []string
	for _, c := range cells {
		ll, sm := num(c.LogitLL, "%.1f"), num(c.SMLoss, "%.4g")
		if c.LogitLL != nil && c.LogitLLSE != nil {
			ll += fmt.Sprintf(" ± %.1f", *c.LogitLLSE)
		}
		if c.SMLoss != nil && c.SMLossSE != nil {
			sm += fmt.Sprintf(" ± %.2g", *c.SMLossSE)
		}
		name := c.Method
		if c.Diverged != "" {
			name += " †"
			notes = append(notes, fmt.Sprintf("† %s: %s; the row evaluates its last finite weights.", c.Method, c.Diverged))
		}
		ms := "—"
		if c.MsPerStep > 0 {
			ms = fmt.Sprintf("%.3g", c.MsPerStep)
		}
		fmt.Fprintf(&b, "| %s | %d × %d | %s | %s | %s | %s | %s |\n", name, c.Steps, c.Batch, ms,
			ll, num(c.PixelLL, "%.1f"), num(c.BitsPerDim, "%.3f"), sm)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Test LL: mean log-density of the %d test rows ± its standard error, in logit space, as the paper reports it: the measure to compare. "+
		"The pixel-space column adds the logit's log-determinant Σⱼ −log(pⱼ(1 − pⱼ)) at the clamped intensities, and bits/dim rescales that to [0, 256)^D: −(LL − D·log 256)/(D·log 2). "+
		"Both are a density of the dequantised intensities only where no coordinate was clamped; here %.1f%% of the test coordinates were (the clamp maps every dequantised value below 0.001 to 0.001, and above 0.999 to 0.999), "+
		"and there the figure is neither a density nor a bound on one, so do not compare these two columns with published bits/dim.\n", s.testN, 100*data.testClamped)
	if s.smRows > 0 {
		fmt.Fprintf(&b, "- Held-out exact SM loss: ½‖∇ₓlog p‖² + tr ∇ₓ²log p of the logits, mean over the first %d test rows ± its standard error. Lower is better.\n", s.smRows)
	}
	b.WriteString("- ms / step: mean wall time of a training step (optimiser update included, curve evaluations excluded), steps 2 to the last.\n")
	if slices.Contains(s.methods, "sm") {
		fmt.Fprintf(&b, "- Exact SM costs D = %d passes per row, so it gets its own budget (-sm-steps %d, -sm-batch %d): compare its time per step, not its fit, with the others'.\n", data.dim, s.smSteps, s.smBatch)
	} else {
		b.WriteString("- Exact SM not run (-methods).\n")
	}
	for _, c := range cells {
		if c.Method == "dsm" {
			edge := ""
			if len(s.sigmas) > 1 && (c.Sigma == slices.Min(s.sigmas) || c.Sigma == slices.Max(s.sigmas)) {
				edge = " It is at the grid's edge: widen -dsm-sigmas."
			}
			fmt.Fprintf(&b, "- DSM's σ = %g (logit space), the best of %v by a Parzen window of the first %d training rows on the first %d validation rows.%s\n",
				c.Sigma, s.sigmas, min(s.n, parzenMaxTrain), min(s.valN, parzenMaxVal), edge)
		}
	}
	if len(cells) > 0 && len(cells[0].Curve) > 0 {
		fmt.Fprintf(&b, "- nice.svg: the mean log-density of the first %d test rows every %d steps, its y axis fitted to the points after step 0 (every method starts at %.1f).\n",
			cells[0].CurveRows, s.evalEvery, cells[0].Curve[0].LogitL)
	}
	if s.samples > 0 {
		b.WriteString("- samples.png: the first test images on top, then one row per method in the table's order, each the flow's inverse at the same latent draws, through the sigmoid.\n")
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

// figure draws the test log-likelihood (logit space) against the steps.
// The y axis spans the points after step 0 (the common start, far below,
// would flatten the differences), down to no lower than the start minus
// the best gain, so that a diverging method does not flatten the others
// either: what falls outside is clipped.
func (s *niceStudy) figure(cells []niceCell) *plot.Figure {
	var lines []plot.Line
	start, hi := math.NaN(), math.Inf(-1)
	for _, c := range cells {
		var xs, ys []float64
		for _, p := range c.Curve {
			xs, ys = append(xs, float64(p.Step)), append(ys, p.LogitL)
			hi = max(hi, p.LogitL)
		}
		if len(c.Curve) > 0 {
			start = c.Curve[0].LogitL
		}
		name := fmt.Sprintf("%s (%d×%d)", c.Method, c.Steps, c.Batch)
		lines = append(lines, plot.Line{Name: name, X: xs, Y: ys, Marks: true})
	}
	panel := plot.Panel{Title: "test log-likelihood during training", XLabel: "step", YLabel: "mean log p (logit space, nats)", Lines: lines}
	lo, floor := math.Inf(1), start-(hi-start)
	for _, c := range cells {
		for _, p := range c.Curve {
			if p.Step > 0 && p.LogitL >= floor {
				lo = min(lo, p.LogitL)
			}
		}
	}
	if hi > start && lo < hi {
		pad := 0.05 * (hi - lo)
		panel.Y = plot.Range{Min: lo - float64(pad), Max: hi + float64(pad)}
	}
	return &plot.Figure{Title: "NICE on Fashion-MNIST: every method from the same initial weights", Panels: []plot.Panel{panel}}
}

// samplePNG draws samples.png: the first test images in the top row, then
// one row per method of samples from the same latent draws z, mapped back
// to intensities by the logistic sigmoid.
func (s *niceStudy) samplePNG(data *niceData, cells []niceCell) error {
	d := data.dim
	h := 1
	for k := 1; k*k <= d; k++ {
		if d%k == 0 {
			h = k
		}
	}
	w := d / h
	rows := [][]float64{}
	for i := range min(s.samples, data.testPixels.Rows) {
		rows = append(rows, data.testPixels.Row(i))
	}
	grid := [][][]float64{rows}
	for _, c := range cells {
		x := c.model.Sample(repro.New(s.seed, repro.Prior, 0, 0), s.samples)
		var imgs [][]float64
		for i := range x.Rows {
			row := x.Row(i)
			for j, v := range row {
				row[j] = 1 / (1 + rmath.Exp(-v))
			}
			imgs = append(imgs, row)
		}
		grid = append(grid, imgs)
	}
	const gap = 2
	cw, ch := w*niceImageScale+gap, h*niceImageScale+gap
	img := image.NewGray(image.Rect(0, 0, s.samples*cw+gap, len(grid)*ch+gap))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	for gr, imgs := range grid {
		for gc, px := range imgs {
			for p, v := range px {
				g := uint8(0)
				if v > 0 { // NaN (a diverged flow) draws black
					g = uint8(math.Round(255 * min(v, 1)))
				}
				x0, y0 := gap+gc*cw+(p%w)*niceImageScale, gap+gr*ch+(p/w)*niceImageScale
				for dy := range niceImageScale {
					for dx := range niceImageScale {
						img.SetGray(x0+dx, y0+dy, color.Gray{Y: g})
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(s.dir, "samples.png"), buf.Bytes())
}
