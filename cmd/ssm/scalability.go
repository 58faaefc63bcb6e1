package main

import (
	"context"
	"errors"
	"fmt"
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
	"scorematch/sampler"
	"scorematch/ssm"
)

// The scalability study (the paper's section 5.1, its reference code's
// "HighDim" setting): data N(0, I_D) split 4860 / 540 / 600 into training,
// validation and test rows, an energy model trained by every method with
// the same seed, steps and batch, and per method and D the time per
// iteration and the quality of the fit: the held-out exact score-matching
// loss against the true score's (whose expectation is −D/2), the Fisher
// divergence to the true score −x, and, where log Z can be estimated, the
// held-out log-likelihood against the truth's.
//
// The reference trains a deep kernel exponential family here; this study
// trains an energy MLP (-hidden), which every method supports today.

func init() {
	registerExperiment(experiment{"scalability", "time per iteration and quality of fit against the dimension D, on N(0, I_D) data", runScalability})
}

// Bounds of the study's flags.
const (
	maxStudyDim   = 4096
	maxStudySteps = 1 << 20
)

// The reference's split of the synthetic data.
const (
	studyTrainRows = 4860
	studyValRows   = 540
	studyTestRows  = 600
	studyEvalRows  = 50 // rows per pass of the held-out exact SM loss
)

// studyMethods are the methods the study may compare, in the paper's
// order: exact SM, sliced SM (both kinds), denoising SM, and the two
// Hessian-diagonal baselines.
var studyMethods = []string{"sm", "ssm-vr", "ssm", "dsm", "approx-bp", "cp"}

// scalability is a checked ssm paper scalability.
type scalability struct {
	dims    []int
	methods []string
	spec    modelSpec
	hidden  string
	steps   int
	batch   int
	lr      float64
	seed    uint64
	smMax   int
	llMax   int
	sigmas  []float64
	chains  int
	out     string
}

// A studyCell is the outcome of one method at one D.
type studyCell struct {
	Method string `json:"method"`
	Dim    int    `json:"dim"`
	// MsPerStep is the mean wall time of a training step (optimiser
	// update included), steps 2 to the last; 0 when the method was not
	// trained (Skipped) or stopped early (Diverged).
	MsPerStep float64 `json:"ms_per_step"`
	// SMLoss is the held-out exact SM loss ½‖s‖² + tr ∇s of the trained
	// model (null in JSON when not finite: a diverged fit); SMOptimum the
	// true score's on the same rows (expectation −D/2).
	SMLoss    recordFloat `json:"sm_loss"`
	SMOptimum float64     `json:"sm_optimum"`
	// Fisher is ½·mean ‖s_θ(x) + x‖² over the test rows (null when not
	// finite).
	Fisher recordFloat `json:"fisher_divergence"`
	// LogLik is the held-out log-likelihood with log Z estimated (nil
	// above -ll-max), LogLikLow/High its interval from the log Z bracket
	// (AIS forward and reverse; equal to LogLik by quadrature), TrueLogLik
	// the truth's on the same rows.
	LogLik     *float64 `json:"log_likelihood,omitempty"`
	LogLikLow  *float64 `json:"log_likelihood_low,omitempty"`
	LogLikHigh *float64 `json:"log_likelihood_high,omitempty"`
	LogZNote   string   `json:"log_z_method,omitempty"`
	TrueLogLik float64  `json:"true_log_likelihood"`
	// Sigma is DSM's noise level, chosen on the validation rows.
	Sigma   float64 `json:"sigma,omitempty"`
	Skipped string  `json:"skipped,omitempty"`
	// Diverged says why the method's fit is not usable: training stopped
	// on a non-finite loss or gradient (the last finite weights are
	// evaluated), or its held-out losses are not finite. The study goes on
	// with the other cells.
	Diverged string  `json:"diverged,omitempty"`
	Seconds  float64 `json:"seconds"`
}

func runScalability(ctx context.Context, e *env, args []string) error {
	s, err := parseScalability(e, args)
	if err != nil {
		return err
	}
	cells, err := s.run(ctx, e)
	if err != nil {
		return err
	}
	return s.write(e, cells)
}

func parseScalability(e *env, args []string) (*scalability, error) {
	fs := newFlags("paper scalability", "paper scalability [-dims 4,16,64,256] [-methods sm,ssm-vr,ssm,dsm,approx-bp,cp] [-out scalability]", e.stdout)
	dims := fs.String("dims", "4,16,64,256", "comma-separated data dimensions D (the paper goes to 1024)")
	methods := fs.String("methods", strings.Join(studyMethods, ","), "comma-separated methods: "+strings.Join(studyMethods, ", "))
	sigmas := fs.String("dsm-sigmas", "0.03,0.1,0.3,1", "DSM's noise levels to choose from on the validation rows")
	s := &scalability{}
	fs.StringVar(&s.hidden, "hidden", "256,256", "hidden widths of the energy MLP (a first width W < D caps the fit: see the table's note)")
	fs.IntVar(&s.steps, "steps", 300, "training steps per method and D")
	fs.IntVar(&s.batch, "batch", 100, "batch size")
	fs.Float64Var(&s.lr, "lr", 1e-3, "Adam's learning rate")
	fs.Uint64Var(&s.seed, "seed", 1, "random seed (data, initial weights, batches)")
	fs.IntVar(&s.smMax, "sm-max", 256, "largest D at which exact SM is trained (its cost grows with D; every method is evaluated by it)")
	fs.IntVar(&s.llMax, "ll-max", 16, "largest D at which log Z is estimated (quadrature for D ≤ 2, else AIS) for the log-likelihood")
	fs.IntVar(&s.chains, "ais-chains", 64, "AIS chains for log Z")
	fs.StringVar(&s.out, "out", "scalability", "output `folder`: table.md, scalability.json, scalability.svg")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if s.dims, err = parseDistinctInts("-dims", *dims, 1, maxStudyDim); err != nil {
		return nil, err
	}
	if s.methods, err = parseMethods("-methods", *methods, studyMethods); err != nil {
		return nil, err
	}
	if s.sigmas, err = parseSigmaGrid("-dsm-sigmas", *sigmas); err != nil {
		return nil, err
	}
	if err := firstError(
		intIn("-steps", s.steps, 2, maxStudySteps), intIn("-batch", s.batch, 1, studyTrainRows),
		positive("-lr", s.lr, "learning rate"), intIn("-sm-max", s.smMax, 0, maxStudyDim),
		intIn("-ll-max", s.llMax, 0, maxStudyDim), intIn("-ais-chains", s.chains, 2, maxAEChains),
		checkOutDir(e, "-out", s.out),
	); err != nil {
		return nil, err
	}
	if s.spec, err = parseModelSpec("-hidden", "mlp:"+s.hidden, nn.DefaultActivation, nn.KindEnergy); err != nil {
		return nil, err
	}
	for _, d := range s.dims {
		if n := s.spec.params(d); n > maxParams {
			return nil, badInput("-hidden %s: %d parameters at D = %d, at most %d", s.hidden, n, d, maxParams)
		}
	}
	return s, nil
}

// run trains and evaluates every method at every D, logging each cell
// with an ETA.
func (s *scalability) run(ctx context.Context, e *env) ([]studyCell, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	start := time.Now()
	total := len(s.dims) * len(s.methods)
	var cells []studyCell
	for _, d := range s.dims {
		train := gaussianRows(studyTrainRows, d, s.seed, 0)
		val := gaussianRows(studyValRows, d, s.seed, 1)
		test := gaussianRows(studyTestRows, d, s.seed, 2)
		sigma := 0.0
		if slices.Contains(s.methods, "dsm") {
			sigma = chooseSigma(train, val, s.sigmas)
		}
		for _, m := range s.methods {
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			c, err := s.cell(ctx, m, d, sigma, train, test)
			if err != nil {
				return nil, err
			}
			cells = append(cells, c)
			attrs := []any{"method", m, "D", d, "ms_per_step", round4(c.MsPerStep), "fisher", round4(float64(c.Fisher)),
				"done", fmt.Sprintf("%d/%d", len(cells), total), "eta", fmtDuration(s.eta(cells, time.Since(start).Seconds()))}
			if c.Diverged != "" {
				attrs = append(attrs, "diverged", c.Diverged)
			}
			log.Info("paper scalability", attrs...)
		}
	}
	return cells, nil
}

// eta predicts the seconds left from the cells done: each method's next
// cell costs its last one scaled by the growth of its per-step work, the
// parameters times, for exact SM, D; a method not yet timed costs the mean
// cell so far.
func (s *scalability) eta(done []studyCell, elapsed float64) float64 {
	last := map[string]studyCell{}
	for _, c := range done {
		last[c.Method] = c
	}
	left := 0.0
	for i := len(done); i < len(s.dims)*len(s.methods); i++ {
		d, m := s.dims[i/len(s.methods)], s.methods[i%len(s.methods)]
		c, ok := last[m]
		if !ok {
			left += elapsed / float64(len(done))
			continue
		}
		ratio := float64(s.spec.params(d)) / float64(s.spec.params(c.Dim))
		if m == "sm" && d <= s.smMax {
			ratio *= float64(d) / float64(c.Dim)
		}
		left += float64(c.Seconds * ratio)
	}
	return left
}

// cell trains method m at dimension d and evaluates the fit on test.
func (s *scalability) cell(ctx context.Context, m string, d int, sigma float64, train, test ad.Mat) (studyCell, error) {
	t0 := time.Now()
	c := studyCell{Method: m, Dim: d, SMOptimum: trueSMLoss(test), TrueLogLik: trueLogLik(test)}
	model, err := s.spec.build(d, s.seed)
	if err != nil {
		return c, err
	}
	if m == "sm" && d > s.smMax {
		c.Skipped = fmt.Sprintf("exact SM not trained above -sm-max %d", s.smMax)
	} else {
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
		var first time.Time
		var took time.Duration
		progress := func(p ssm.Progress) {
			if p.Step == 1 {
				first = time.Now()
			}
			if p.Step == p.Steps {
				took = time.Since(first)
			}
		}
		cfg := ssm.Config{BatchSize: s.batch, Steps: s.steps, Seed: s.seed, Optimizer: opt, Progress: progress}
		_, err = ssm.Train(ctx, obj, train, cfg)
		switch {
		case ctx.Err() != nil:
			return c, errInterrupted
		case errors.Is(err, ssm.ErrNonFinite):
			c.Diverged = err.Error()
		case err != nil:
			return c, fmt.Errorf("%s at D = %d: %w", m, d, err)
		default:
			c.MsPerStep = float64(took) / float64(s.steps-1) / 1e6
		}
	}
	if err := s.evaluate(&c, model, test); err != nil {
		return c, fmt.Errorf("%s at D = %d: %w", m, d, err)
	}
	c.Seconds = time.Since(t0).Seconds()
	return c, nil
}

// evaluate fills the cell's measures of fit on the test rows.
func (s *scalability) evaluate(c *studyCell, model nn.Model, test ad.Mat) error {
	sm, err := ssm.New("sm", model, ssm.Options{})
	if err != nil {
		return err
	}
	// In row blocks, so that the D-direction jets stay small in memory.
	w, stream, sum := sm.NewWorker(), repro.NewStream(), 0.0
	for lo := 0; lo < test.Rows; lo += studyEvalRows {
		b := &ssm.Batch{X: test.RowRange(lo, min(lo+studyEvalRows, test.Rows))}
		b.Draw(sm, stream, s.seed, repro.Evaluation, 0, lo)
		sum += w.Eval(b, false)
	}
	c.SMLoss = recordFloat(sum / float64(test.Rows))
	src := sampler.FromEnergy(model.(nn.Energy))
	truth := ad.NewMat(test.Rows, test.Cols)
	for i, v := range test.Data {
		truth.Data[i] = -v
	}
	c.Fisher = recordFloat(sampler.FisherDivergence(sampler.EvalScore(src, test), truth))
	if !isFinite(float64(c.SMLoss)) || !isFinite(float64(c.Fisher)) {
		note := fmt.Sprintf("the trained model's held-out losses are not finite (SM %v, Fisher %v)", c.SMLoss, c.Fisher)
		if c.Diverged != "" {
			note = c.Diverged + "; " + note
		}
		c.Diverged = note
		return nil
	}
	if c.Dim > s.llMax {
		return nil
	}
	est, err := estimateLogZ(src, test, 1001, 0, s.chains, s.seed)
	if err != nil {
		c.LogZNote = "log Z not estimated: " + err.Error()
		return nil
	}
	ll := sampler.LogLikelihood(src, test, est.value)
	lo, hi := ll, ll
	if est.interval {
		lo, hi = ll+est.value-est.hi, ll+est.value-est.lo
	}
	if !isFinite(ll) || !isFinite(lo) || !isFinite(hi) {
		c.LogZNote = fmt.Sprintf("log-likelihood not finite (%v, log Z by %s)", ll, est.method)
		return nil
	}
	c.LogLik, c.LogLikLow, c.LogLikHigh, c.LogZNote = &ll, &lo, &hi, est.method
	return nil
}

// trueSMLoss is the exact SM loss of the true score −x on the rows of x:
// mean ½‖x‖² − D, whose expectation is −D/2.
func trueSMLoss(x ad.Mat) float64 {
	return meanHalfSq(x) - float64(x.Cols)
}

// trueLogLik is the mean log-density of N(0, I) at the rows of x.
func trueLogLik(x ad.Mat) float64 {
	return float64(-0.5*float64(x.Cols)*rmath.Log(2*math.Pi)) - meanHalfSq(x)
}

// meanHalfSq is the mean over rows of ½‖x‖².
func meanHalfSq(x ad.Mat) float64 {
	sum := 0.0
	for _, v := range x.Data {
		sum += float64(v * v)
	}
	return 0.5 * sum / float64(x.Rows)
}

// parzenSigma returns the noise level of sigmas under which the Parzen
// window density of the training rows, (1/N) Σₙ N(x; xₙ, σ²I), gives the
// validation rows the highest mean log-likelihood: the reference code's
// choice of DSM's σ (it fits log σ by gradient ascent; this takes the
// best of a small grid). Ties go to the first.
func parzenSigma(train, val ad.Mat, sigmas []float64) float64 {
	// Squared distances, once for every σ: val rows in parallel chunks.
	dist := ad.NewMat(val.Rows, train.Rows)
	repro.Run(val.Rows, repro.DefaultChunks(val.Rows), func(_, lo, hi int) {
		for v := lo; v < hi; v++ {
			xv, row := val.Row(v), dist.Row(v)
			for n := range train.Rows {
				row[n] = sqDistance(xv, train.Row(n))
			}
		}
	})
	best, bestLL := sigmas[0], math.Inf(-1)
	d := float64(train.Cols)
	for _, sg := range sigmas {
		ll, logNorm := 0.0, float64(d*rmath.Log(sg))+float64(0.5*d*rmath.Log(2*math.Pi))
		for v := range val.Rows {
			row := dist.Row(v)
			m := math.Inf(1)
			for _, q := range row {
				m = math.Min(m, q)
			}
			sum := 0.0
			for _, q := range row {
				sum += rmath.Exp(-0.5 * (q - m) / float64(sg*sg))
			}
			ll += -0.5*m/float64(sg*sg) + rmath.Log(sum/float64(train.Rows)) - logNorm
		}
		if ll > bestLL {
			best, bestLL = sg, ll
		}
	}
	return best
}

// sqDistance is ‖a − b‖².
func sqDistance(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		diff := v - b[i]
		s += float64(diff * diff)
	}
	return s
}

// write saves the table, the JSON record and the figure, and prints the
// table.
func (s *scalability) write(e *env, cells []studyCell) error {
	dir := e.outPath(s.out)
	if err := mkdirOut(dir); err != nil {
		return err
	}
	table := s.table(cells)
	fmt.Fprint(e.stdout, table)
	if err := atomicfile.WriteBytes(filepath.Join(dir, "table.md"), []byte(table)); err != nil {
		return err
	}
	record := map[string]any{
		"experiment": "scalability", "data": "N(0, I_D), 4860 / 540 / 600 rows (train / validation / test)",
		"model": "energy MLP " + s.hidden + ", softplus", "steps": s.steps, "batch": s.batch, "lr": s.lr, "seed": s.seed,
		"sm_max": s.smMax, "ll_max": s.llMax, "ais_chains": s.chains, "dsm_sigmas": s.sigmas,
		"kernel": ad.Kernel(), "cells": cells,
	}
	if err := writeJSON(filepath.Join(dir, "scalability.json"), record); err != nil {
		return err
	}
	if err := s.figure(cells).Save(filepath.Join(dir, "scalability.svg")); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "table, record and figure written to %s\n", filepath.Join(s.out, "{table.md,scalability.json,scalability.svg}"))
	return nil
}

// table renders the cells as Markdown: one table per measure, methods
// down and D across.
func (s *scalability) table(cells []studyCell) string {
	at := func(m string, d int) studyCell {
		for _, c := range cells {
			if c.Method == m && c.Dim == d {
				return c
			}
		}
		return studyCell{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Scalability: N(0, I_D), energy MLP %s, %d steps of batch %d, Adam %g, seed %d (%s)\n\n",
		s.hidden, s.steps, s.batch, s.lr, s.seed, ad.Kernel())
	section := func(title, note string, value func(c studyCell) string, first func(d int) string) {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n| method |", title, note)
		for _, d := range s.dims {
			fmt.Fprintf(&b, " D=%d |", d)
		}
		b.WriteString("\n|---|")
		b.WriteString(strings.Repeat("---|", len(s.dims)))
		b.WriteString("\n")
		if first != nil {
			b.WriteString("| truth |")
			for _, d := range s.dims {
				fmt.Fprintf(&b, " %s |", first(d))
			}
			b.WriteString("\n")
		}
		for _, m := range s.methods {
			fmt.Fprintf(&b, "| %s |", m)
			for _, d := range s.dims {
				fmt.Fprintf(&b, " %s |", value(at(m, d)))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	// trained formats v of cell c: — where the method was not trained,
	// "diverged" where its fit diverged and v is not finite, v marked † where
	// it is finite but training stopped early.
	trained := func(c studyCell, f string, v float64) string {
		switch {
		case c.Skipped != "":
			return "—"
		case c.Diverged != "" && (!isFinite(v) || v == 0):
			return "diverged"
		case c.Diverged != "":
			return fmt.Sprintf(f, v) + " †"
		}
		return fmt.Sprintf(f, v)
	}
	section("Time per iteration (ms)", "Mean wall time of a training step, optimiser update included (steps 2 to the last). — : not trained (-sm-max); diverged: training stopped on a non-finite loss or gradient (the record's diverged field says where).",
		func(c studyCell) string { return trained(c, "%.3g", c.MsPerStep) }, nil)
	section("Held-out exact score-matching loss", "½‖s‖² + tr ∇s on the test rows; the truth row is the true score's on the same rows (expectation −D/2). Lower is better. †: training diverged, the last finite weights evaluated.",
		func(c studyCell) string { return trained(c, "%.4g", float64(c.SMLoss)) }, func(d int) string { return fmt.Sprintf("%.4g", at(s.methods[0], d).SMOptimum) })
	fisherNote := "½·mean ‖s_θ(x) + x‖² on the test rows. Lower is better."
	if w := s.spec.hidden[0]; w < slices.Max(s.dims) {
		fisherNote += fmt.Sprintf(" Where D > %d, the MLP's first layer (width %d) confines its score to a %d-dimensional subspace, so its Fisher divergence is at least ½(D − %d) in expectation.", w, w, w, w)
	}
	section("Fisher divergence to the true score", fisherNote,
		func(c studyCell) string { return trained(c, "%.4g", float64(c.Fisher)) }, nil)
	section("Held-out log-likelihood (nats)", fmt.Sprintf("log Z by quadrature (D ≤ 2) or forward and reverse AIS (D ≤ %d; the bracket in brackets); the truth row is N(0, I)'s.", s.llMax),
		func(c studyCell) string {
			switch {
			case c.Skipped != "" || c.LogLik == nil:
				return "—"
			case *c.LogLikLow == *c.LogLikHigh:
				return fmt.Sprintf("%.4g", *c.LogLik)
			}
			return fmt.Sprintf("%.4g [%.4g, %.4g]", *c.LogLik, *c.LogLikLow, *c.LogLikHigh)
		}, func(d int) string { return fmt.Sprintf("%.4g", at(s.methods[0], d).TrueLogLik) })
	if slices.Contains(s.methods, "dsm") {
		b.WriteString("DSM's σ (Parzen window on the validation rows):")
		for _, d := range s.dims {
			fmt.Fprintf(&b, " D=%d: %g;", d, at("dsm", d).Sigma)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// figure draws time per iteration and the Fisher divergence against D.
func (s *scalability) figure(cells []studyCell) *plot.Figure {
	var times, fisher []plot.Line
	for _, m := range s.methods {
		var xs, ts, fs []float64
		for _, c := range cells {
			if c.Method != m || c.Skipped != "" || c.Diverged != "" {
				continue
			}
			xs, ts, fs = append(xs, float64(c.Dim)), append(ts, c.MsPerStep), append(fs, float64(c.Fisher))
		}
		times = append(times, plot.Line{Name: m, X: xs, Y: ts, Marks: true})
		fisher = append(fisher, plot.Line{Name: m, X: xs, Y: fs, Marks: true})
	}
	return &plot.Figure{Title: "scalability on N(0, I_D)", Panels: []plot.Panel{
		{Title: "time per iteration", XLabel: "D", YLabel: "ms per step", XLog: true, YLog: true, Lines: times},
		{Title: "Fisher divergence to the true score", XLabel: "D", YLabel: "½ E‖s_θ − s‖²", XLog: true, YLog: true, Lines: fisher},
	}}
}
