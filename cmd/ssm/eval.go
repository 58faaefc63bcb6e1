package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/nn/sde"
	"scorematch/sampler"
	"scorematch/ssm"
)

func init() {
	register("eval", "held-out objective values, exact SM loss, log-likelihood, Fisher divergence, probability-flow NLL", runEval)
}

func runEval(ctx context.Context, e *env, args []string) error {
	f, err := parseEval(e, args)
	if err != nil {
		return err
	}
	if isAutoEncFile(f.modelPath) {
		return evalAutoEnc(e, f)
	}
	job, err := f.prepare(e)
	if err != nil {
		return err
	}
	rows, err := job.run()
	if err != nil {
		return err
	}
	if f.json {
		out := map[string]any{}
		for _, r := range rows {
			if r.text != "" {
				out[r.label] = r.text
			} else {
				out[r.label] = r.value
			}
		}
		return json.NewEncoder(e.stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		v := r.text
		if v == "" {
			v = strconv.FormatFloat(r.value, 'g', r.digits, 64)
		}
		if r.note != "" {
			v += "\t(" + r.note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.label, v)
	}
	return tw.Flush()
}

// An evalRow is one figure of eval's report: a value (printed to digits
// significant digits, in full with -json) or a text, and a note.
type evalRow struct {
	label  string
	value  float64
	digits int
	text   string
	note   string
}

// num makes a row of a value, txt one of a text.
func num(label string, v float64, note string) evalRow {
	return evalRow{label: label, value: v, digits: 6, note: note}
}

func txt(label, text, note string) evalRow { return evalRow{label: label, text: text, note: note} }

// Bounds of eval's flags: the work and memory they ask for.
const (
	maxEvalRows  = 10_000_000 // -n
	maxGrid      = 4096       // -grid: points per axis (4096² for D = 2)
	maxAISChains = 1 << 20    // -ais-chains
	maxAISTemps  = 1 << 20    // -ais-temps
)

// evalFlags are the settings of ssm eval.
type evalFlags struct {
	modelPath, act, kind, data, objectives string
	sigmas, samples                        string
	n, aisChains, aisTemps, grid           int
	seed                                   uint64
	json                                   bool
	sigma                                  float64

	// sde models: the probability-flow likelihood's settings.
	probes                    int
	rtol, atol, eps, binWidth float64
	set                       map[string]bool // the flags given
}

func parseEval(e *env, args []string) (*evalFlags, error) {
	fs := newFlags("eval", "eval -model FILE [-data NAME|FILE] [-objectives ssm-vr,sm] [flags]", e.stdout)
	f := &evalFlags{}
	fs.StringVar(&f.modelPath, "model", "", "model `file`")
	fs.StringVar(&f.act, "act", "", "activation, for model files that do not record it")
	fs.StringVar(&f.kind, "kind", "", "model kind, for files that do not record it")
	fs.StringVar(&f.data, "data", "8gaussians", "held-out data: a built-in dataset (fresh samples) or a `file`")
	fs.IntVar(&f.n, "n", 4000, "samples to draw from a built-in dataset")
	fs.Uint64Var(&f.seed, "seed", 2, "random seed (use one other than training's for fresh samples)")
	fs.StringVar(&f.objectives, "objectives", "", "comma-separated objectives to evaluate (default: those that measure the fit of the model's kind)")
	fs.Float64Var(&f.sigma, "sigma", 0.1, "DSM noise level")
	fs.BoolVar(&f.json, "json", false, "print the figures as one JSON object, in full precision")
	fs.StringVar(&f.samples, "samples", "", "also score a `file` of samples (.csv or .npy) against the data: MMD², moments, mode weights")
	fs.StringVar(&f.sigmas, "sigmas", "", "noise schedule hi:lo:levels of annealed objectives (default: the model file's, or 1:0.01:10)")
	fs.IntVar(&f.aisChains, "ais-chains", 256, "AIS chains for log Z when D > 2")
	fs.IntVar(&f.aisTemps, "ais-temps", 0, "AIS temperatures (0: max(500, 20·D), growing with the dimension)")
	fs.IntVar(&f.grid, "grid", 400, "grid points per axis for log Z when D ≤ 2")
	fs.IntVar(&f.probes, "probes", 0, "sde models: Hutchinson probes per row for the flow's divergence (0: exact, by forward mode along the D axes)")
	fs.Float64Var(&f.rtol, "rtol", defaultODETol, "sde models: relative tolerance of the flow's RK45 solver")
	fs.Float64Var(&f.atol, "atol", defaultODETol, "sde models: absolute tolerance of the flow's RK45 solver")
	fs.Float64Var(&f.eps, "eps", sde.TrainEps, "sde models: the time ε in (0, 1) the flow starts at: the likelihood is p_ε's")
	fs.Float64Var(&f.binWidth, "bin-width", 1, "sde models: the data's quantisation step, in the data's coordinates, for bits/dim (1/256 for 8-bit data scaled to [0, 1]; 1: continuous data, no offset)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	f.set = setFlags(fs)
	for _, c := range []struct {
		flag      string
		v, lo, hi int
	}{
		{"-n", f.n, 1, maxEvalRows},
		{"-grid", f.grid, 2, maxGrid},
		{"-ais-chains", f.aisChains, 2, maxAISChains},
		{"-ais-temps", f.aisTemps, 0, maxAISTemps},
	} {
		if c.v < c.lo || c.v > c.hi {
			return nil, badInput("%s %d: want %d to %d", c.flag, c.v, c.lo, c.hi)
		}
	}
	if err := firstError(intIn("-probes", f.probes, 0, maxProbes), checkTol("-rtol", f.rtol), checkTol("-atol", f.atol),
		checkEps("-eps", f.eps), positive("-bin-width", f.binWidth, "bin width")); err != nil {
		return nil, err
	}
	return f, nil
}

// evalJob is a checked ssm eval: the model, the held-out data and the
// objectives to report.
type evalJob struct {
	f      *evalFlags
	model  nn.Model
	info   nn.ModelInfo
	x      ad.Mat           // the held-out rows in the data's coordinates
	z      ad.Mat           // the same in the model's (standardised) coordinates
	ds     *sampler.Dataset // the built-in dataset, or nil for a file
	objs   []ssm.Objective
	sigmas []float64 // the noise schedule of annealed objectives
	xs     ad.Mat    // -samples, in the data's coordinates
}

// prepare loads the model and the data and builds every objective.
func (f *evalFlags) prepare(e *env) (*evalJob, error) {
	model, info, err := loadModel(f.modelPath, f.act, f.kind)
	if err != nil {
		return nil, err
	}
	if _, ok := model.(nn.TimeScore); !ok {
		for _, n := range evalFlowFlags {
			if f.set[n] {
				return nil, badInput("-%s: only sde models have a probability-flow likelihood; -model %s is not one", n, f.modelPath)
			}
		}
	}
	x, ds, err := loadData("data", f.data, f.n, f.seed)
	if err != nil {
		return nil, err
	}
	if err := checkDim("-data "+f.data, x, model); err != nil {
		return nil, err
	}
	job := &evalJob{f: f, model: model, info: info, x: x, z: x.Clone(), ds: ds, sigmas: info.Sigmas}
	if f.samples != "" {
		if job.xs, err = dataio.Read(f.samples); err != nil {
			return nil, asInput(err)
		}
		if job.xs.Cols != x.Cols || job.xs.Rows < 2 {
			return nil, badInput("-samples %s: %d×%d, want at least 2 rows of the data's %d columns", f.samples, job.xs.Rows, job.xs.Cols, x.Cols)
		}
	}
	info.Standardize(job.z.Data)
	if f.sigmas != "" {
		if job.sigmas, err = parseSigmas(f.sigmas); err != nil {
			return nil, err
		}
		if info.Sigmas != nil {
			fmt.Fprintf(e.stderr, "note: -sigmas %s replaces the schedule %s records\n", f.sigmas, f.modelPath)
		}
	}
	if job.sigmas == nil {
		job.sigmas = sampler.GeometricSigmas(1, 0.01, 10) // the tool's default schedule
	}
	names := strings.Split(f.objectives, ",")
	if f.objectives == "" {
		names = fitObjectives(model)
	}
	for _, name := range names {
		name = strings.TrimSpace(name)
		opts := ssm.Options{Sigma: f.sigma}
		if reads(name, ssm.ReadsSigmas) {
			opts.Sigmas = job.sigmas
		}
		obj, err := ssm.New(name, model, opts)
		if err != nil {
			if fe := asFlagError(err); fe != err {
				return nil, fe
			}
			return nil, badInput("-objectives: %v", err)
		}
		job.objs = append(job.objs, obj)
	}
	return job, nil
}

// run computes the report's rows. Losses and scores are in the model's
// coordinates, log-likelihoods in the data's.
func (j *evalJob) run() ([]evalRow, error) {
	x, z := j.x, j.z
	lines := []evalRow{num("held-out rows", float64(x.Rows), "")}
	if j.info.Mean != nil {
		lines = append(lines, txt("coordinates", "losses and scores standardised as in training; log-likelihoods in the data's", ""))
	}
	for _, obj := range j.objs {
		b := &ssm.Batch{X: z}
		b.Draw(obj, repro.NewStream(), j.f.seed, repro.Evaluation, 0, 0)
		v := obj.NewWorker().Eval(b, false) / float64(z.Rows)
		if err := j.finite(obj.Name()+" loss", v); err != nil {
			return nil, err
		}
		label := obj.Name()
		if spec, _ := ssm.Lookup(label); spec.Reads&ssm.ReadsGroup != 0 {
			label += " (exact score matching)"
		}
		lines = append(lines, num(label+" loss", v, ""))
	}
	src := modelSources(j.model)
	_, timed := j.model.(nn.TimeScore)
	if j.ds != nil && !timed { // (an sde model's true NLL comes with its flow NLL)
		if truth, ok := j.ds.Dist.(sampler.LogDensity); ok {
			ts := sampler.EvalScore(truth, x)
			for r := range ts.Rows { // ∇_z log p = Scale ∘ ∇_x log p
				for c := range ts.Cols {
					if j.info.Scale != nil {
						ts.Set(r, c, ts.At(r, c)*j.info.Scale[c])
					}
				}
			}
			opt := 0.0
			for _, v := range ts.Data {
				opt -= 0.5 * v * v / float64(x.Rows)
			}
			lines = append(lines, num("sm optimum (true density)", opt, ""))
			if src.score != nil {
				fd := sampler.FisherDivergence(sampler.EvalScore(src.score, z), ts)
				if err := j.finite("the Fisher divergence", fd); err != nil {
					return nil, err
				}
				lines = append(lines, num("Fisher divergence", fd, ""))
			}
			lines = append(lines, num("true log-likelihood", sampler.LogLikelihood(truth, x, 0), ""))
		}
	}
	levels, err := j.levelRows()
	if err != nil {
		return nil, err
	}
	lines = append(lines, levels...)
	times, err := j.timeRows()
	if err != nil {
		return nil, err
	}
	lines = append(lines, times...)
	flow, err := j.flowRows()
	if err != nil {
		return nil, err
	}
	lines = append(lines, flow...)
	lines = append(lines, j.sampleLines()...)
	if src.density == nil {
		return lines, nil
	}
	est, err := j.logZ(src.density)
	if err != nil {
		return nil, err
	}
	ll := sampler.LogLikelihood(src.density, z, est.value) + j.info.LogDet()
	if err := firstError(j.finite("log Z", est.value), j.finite("the log-likelihood", ll)); err != nil {
		return nil, err
	}
	lines = append(lines, num("log Z", est.value, est.method))
	llNote := ""
	if est.interval {
		lines = append(lines, num("log Z, reverse AIS", est.upper, "a stochastic upper bound, from HMC draws at the model (bidirectional Monte Carlo)"),
			num("log Z interval, low", est.lo, ""), num("log Z interval, high", est.hi, ""))
		llNote = fmt.Sprintf("in [%.6g, %.6g] by the log Z interval", ll+est.value-est.hi, ll+est.value-est.lo)
	}
	return append(lines, num("log-likelihood", ll, llNote)), nil
}

// maxExactSMDim bounds the dimension at which eval computes exact SM at
// every noise level (D passes each).
const maxExactSMDim = 64

// levelRows evaluates a noise-conditional model at each level σ of its
// schedule, as the score net h(·, σ) of the data perturbed by N(0, σ²I):
// its exact SM loss on perturbed held-out rows and, for a built-in dataset
// with a known noise-conditional score (and no standardisation), its
// Fisher divergence from the true score at that level.
func (j *evalJob) levelRows() ([]evalRow, error) {
	cond, ok := j.model.(nn.CondScore)
	if !ok {
		return nil, nil
	}
	var truth sampler.CondScoreSource
	if j.ds != nil && j.info.Mean == nil {
		truth, _ = j.ds.Dist.(sampler.CondScoreSource)
	}
	var rows []evalRow
	for k, sigma := range j.sigmas {
		at := nn.AtNoiseLevel(cond, sigma)
		xt := j.z.Clone()
		rng := repro.New(j.f.seed, repro.Evaluation, uint64(k+1), 0)
		for i := range xt.Data {
			xt.Data[i] += float64(sigma * repro.Normal(rng))
		}
		label := fmt.Sprintf("at σ = %.4g: ", sigma)
		if j.z.Cols <= maxExactSMDim {
			sm, err := ssm.New("sm", at, ssm.Options{})
			if err != nil {
				return nil, err
			}
			v := sm.NewWorker().Eval(&ssm.Batch{X: xt}, false) / float64(xt.Rows)
			if err := j.finite(label+"the sm loss", v); err != nil {
				return nil, err
			}
			rows = append(rows, num(label+"sm loss", v, "on rows perturbed by N(0, σ²I)"))
		}
		if truth != nil {
			want := ad.NewMat(xt.Rows, xt.Cols)
			truth.NewCondScoreFunc()(want, xt, sigma)
			fd := sampler.FisherDivergence(sampler.EvalScore(sampler.FromScore(at), xt), want)
			if err := j.finite(label+"the Fisher divergence", fd); err != nil {
				return nil, err
			}
			rows = append(rows, num(label+"Fisher divergence", fd, ""))
		}
	}
	return rows, nil
}

// gaussianLogZ is the closed form of a Gaussian energy's log normaliser,
// (D/2)·log 2π − Σᵢ log |Lᵢᵢ| for E(x) = ½‖(x−μ)ᵀL‖² with L lower
// triangular. A zero on L's diagonal makes the density improper.
func gaussianLogZ(g *nn.GaussianEnergy) (float64, string, error) {
	l := g.Params()[0].Value // "L", first by GaussianEnergy's contract
	d := l.Rows
	logZ := 0.5 * float64(d) * rmath.Log(2*math.Pi)
	for i := range d {
		v := math.Abs(l.At(i, i))
		if !(v > 0) {
			return 0, "", fmt.Errorf("the Gaussian's precision is singular (L[%d][%d] = 0): it has no normaliser", i, i)
		}
		logZ -= rmath.Log(v)
	}
	return logZ, "closed form", nil
}

// evalMMDRows bounds the rows of each side of the MMD test (its cost is
// quadratic in them).
const evalMMDRows = 1000

// sampleLines scores -samples against the held-out data: the MMD² test,
// the errors of the mean and the covariance, and for a built-in mixture
// the fraction of samples in each mode beside its weight.
func (j *evalJob) sampleLines() []evalRow {
	if j.xs.Rows == 0 {
		return nil
	}
	x, xs := j.x, j.xs
	lines := []evalRow{num("samples", float64(xs.Rows), "from "+j.f.samples)}
	a, b := xs.RowRange(0, min(xs.Rows, evalMMDRows)), x.RowRange(0, min(x.Rows, evalMMDRows))
	mmd := sampler.MMDTest(a, b, 200, j.f.seed)
	lines = append(lines, evalRow{label: "samples' MMD² to the data", value: mmd.MMD2, digits: 3, note: fmt.Sprintf("%d and %d rows", a.Rows, b.Rows)},
		evalRow{label: "samples' MMD² p-value", value: mmd.PValue, digits: 3, note: "200 permutations"})
	mx, ms := colMeans(x), colMeans(xs)
	dm := 0.0
	for i := range mx {
		dm += float64((mx[i] - ms[i]) * (mx[i] - ms[i]))
	}
	cx, cs := covariance(x, mx), covariance(xs, ms)
	dc := 0.0
	for i := range cx {
		dc += float64((cx[i] - cs[i]) * (cx[i] - cs[i]))
	}
	lines = append(lines, evalRow{label: "samples' mean error", value: math.Sqrt(dm), digits: 3, note: "‖mean − the data's‖"},
		evalRow{label: "samples' covariance error", value: math.Sqrt(dc), digits: 3, note: "Frobenius norm"})
	if j.ds != nil {
		if mix, ok := j.ds.Dist.(*sampler.Mixture); ok {
			lines = append(lines, txt("samples' mode weights", fmtFloats(mix.ModeWeights(xs), 3), "true "+fmtFloats(mix.Weights(), 3)))
		}
	}
	return lines
}

// colMeans returns the mean of each column of x.
func colMeans(x ad.Mat) []float64 {
	m := make([]float64, x.Cols)
	for i := range x.Rows {
		for j, v := range x.Row(i) {
			m[j] += v
		}
	}
	for j := range m {
		m[j] /= float64(x.Rows)
	}
	return m
}

// covariance returns the D×D sample covariance of x about mean, row-major.
func covariance(x ad.Mat, mean []float64) []float64 {
	d := x.Cols
	c := make([]float64, d*d)
	for i := range x.Rows {
		r := x.Row(i)
		for a := range d {
			for b := range d {
				c[a*d+b] += float64((r[a] - mean[a]) * (r[b] - mean[b]))
			}
		}
	}
	for k := range c {
		c[k] /= float64(x.Rows - 1)
	}
	return c
}

// fmtFloats formats vs with the given digits after the point.
func fmtFloats(vs []float64, digits int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatFloat(v, 'f', digits, 64)
	}
	return strings.Join(s, " ")
}

// A logZEstimate is the model's log normaliser as eval found it.
type logZEstimate struct {
	value  float64 // the estimate printed as "log Z"
	method string  // how it was found, with its reliability
	// For AIS, the reverse run's upper estimate and the interval
	// sampler.AISInterval gives.
	interval      bool
	upper, lo, hi float64
}

// logZ estimates the model's log normaliser: in closed form for a
// Gaussian, by quadrature over the data's box for D ≤ 2, and otherwise by
// forward and reverse AIS (bidirectional Monte Carlo), the reverse chains
// starting from HMC runs at the model begun at the data.
func (j *evalJob) logZ(d sampler.LogDensity) (logZEstimate, error) {
	if g, ok := j.model.(*nn.GaussianEnergy); ok {
		v, method, err := gaussianLogZ(g)
		return logZEstimate{value: v, method: method}, err
	}
	return estimateLogZ(d, j.z, j.f.grid, j.f.aisTemps, j.f.aisChains, j.f.seed)
}

// estimateLogZ estimates log Z of a density whose data are the rows of x:
// for D ≤ 2 by quadrature with grid points per axis over the data's box;
// otherwise by forward and reverse AIS with chains chains and temps
// temperatures (0: max(500, 20·D)), the reverse chains starting from HMC
// runs at the model begun at the data.
func estimateLogZ(d sampler.LogDensity, x ad.Mat, grid, temps, chains int, seed uint64) (logZEstimate, error) {
	if x.Cols <= 2 {
		lo, hi := box(x)
		logZ, err := sampler.GridLogZ(d, lo, hi, grid)
		return logZEstimate{value: logZ, method: fmt.Sprintf("grid quadrature, %d points per axis over the data's box", grid)}, err
	}
	scale := 0.0
	for _, v := range x.Data {
		scale = math.Max(scale, math.Abs(v))
	}
	if temps == 0 {
		temps = max(500, 20*x.Cols)
	}
	ais := sampler.AIS{BaseScale: math.Max(1, scale/2), Temps: temps, Step: 0.1, Leapfrog: 5, Chains: chains, Seed: seed}
	fwd, err := ais.Run(d)
	if err != nil {
		return logZEstimate{}, asFlagError(err)
	}
	// Reverse AIS needs draws from the model: HMC chains started at data
	// rows (in turn), run for aisReverseWarmup transitions.
	start := ad.NewMat(chains, x.Cols)
	for b := range chains {
		copy(start.Row(b), x.Row(b%x.Rows))
	}
	hmc := sampler.HMC{Step: 0.1, Leapfrog: 5, Warmup: aisReverseWarmup, Draws: 1, Seed: seed}
	if _, _, err := hmc.Run(d, start); err != nil {
		return logZEstimate{}, err
	}
	rev, err := ais.RunReverse(d, start, fwd.Steps)
	if err != nil {
		return logZEstimate{}, err
	}
	lo, hi, agree := sampler.AISInterval(fwd, rev)
	return logZEstimate{value: fwd.LogZ, method: aisNote(fwd, rev, chains, temps, lo, hi, agree),
		interval: true, upper: rev.LogZ, lo: lo, hi: hi}, nil
}

// aisReverseWarmup is the number of HMC transitions that take the reverse
// AIS chains from data rows to (approximate) draws from the model.
const aisReverseWarmup = 200

// AIS's standard error is printed only when the weights' effective sample
// size reaches minAISESS chains and minAISFrac of them in both directions
// and the two directions agree: the weights' variance estimate, and so the
// ±, cannot be trusted when a few chains carry the estimate.
const (
	minAISESS  = 10
	minAISFrac = 0.1
)

// aisNote describes a forward and reverse AIS estimate: the size, the
// weights' effective sample sizes, the interval for log Z and, when the
// weights support one and the directions agree, the standard error;
// otherwise it says which way the estimate is likely wrong.
func aisNote(fwd, rev sampler.AISResult, chains, temps int, lo, hi float64, agree bool) string {
	note := fmt.Sprintf("AIS, %d chains × %d temperatures, weight ESS %.0f forward and %.0f reverse; log Z in [%.6g, %.6g]",
		chains, temps, fwd.WeightESS, rev.WeightESS, lo, hi)
	enough := func(r sampler.AISResult) bool { return r.WeightESS >= max(minAISESS, minAISFrac*float64(chains)) }
	switch {
	case !agree:
		return note + ": forward and reverse AIS disagree, the truth is likely between them (raise -ais-temps)"
	case !enough(fwd) || !enough(rev):
		return note + ": too few effective chains for an error bar (raise -ais-temps or -ais-chains)"
	}
	return note + fmt.Sprintf(", ± %.3g", fwd.StdErr)
}

// finite reports a non-finite result as a failure naming the model: its
// weights (or the data) overflow.
func (j *evalJob) finite(what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v: the model %s overflows on this data (weights too large, or data far from where it was trained)", what, v, j.f.modelPath)
	}
	return nil
}

// maxProbes bounds -probes: the flow's stacked pass holds (1 + K) copies
// of the rows.
const maxProbes = 1 << 10

// evalFlowFlags are eval's flags that only an sde model reads.
var evalFlowFlags = []string{"probes", "rtol", "atol", "eps", "bin-width"}

// flowRows computes the probability-flow likelihood of an sde model at the
// held-out rows (sampler.FlowLikelihood, from p_ε to the prior): the mean
// negative log-likelihood in the data's coordinates with its standard
// error, bits per dimension, the solver's work and, for a built-in dataset
// with a density, the true NLL and the paired difference with its
// standard error.
func (j *evalJob) flowRows() ([]evalRow, error) {
	m, ok := j.model.(nn.TimeScore)
	if !ok {
		return nil, nil
	}
	f := j.f
	fl := sampler.FlowLikelihood{SDE: m.SDE(), Solver: sampler.RK45{Rtol: f.rtol, Atol: f.atol}, Eps: f.eps, Probes: f.probes, Seed: f.seed}
	logp, st, err := fl.Run(sampler.FromTimeScore(m), j.z)
	if err != nil {
		return nil, asFlagError(err)
	}
	logDet := j.info.LogDet() // log p_x = log p_z + Σ log(1/Scale)
	nll := make([]float64, len(logp))
	for i, v := range logp {
		nll[i] = -(v + logDet)
	}
	mean, se := meanSE(nll)
	if err := j.finite("the flow NLL", mean); err != nil {
		return nil, err
	}
	div := "exact divergence"
	if f.probes > 0 {
		div = fmt.Sprintf("Hutchinson divergence, %d Rademacher probes per row", f.probes)
	}
	d := j.x.Cols
	lines := []evalRow{
		num("flow NLL", mean, fmt.Sprintf("mean −log p of the rows by the probability-flow ODE of %s from t = %g, %s; ± %.3g", m.SDE(), f.eps, div, se)),
		num("flow NLL std. error", se, "sd/√n over the rows"),
		num("flow bits/dim", sampler.BitsPerDim(-mean, d, f.binWidth), bpdNote(f.binWidth)),
		num("flow NFE", st.MeanEvals(), strings.ReplaceAll(odeWork(fmt.Sprintf("RK45, rtol %g, atol %g", f.rtol, f.atol), st), "%s", "row")),
	}
	if j.ds == nil {
		return lines, nil
	}
	truth, ok := j.ds.Dist.(sampler.LogDensity)
	if !ok {
		return lines, nil
	}
	tl := sampler.EvalLogDensity(truth, j.x)
	gap := make([]float64, len(tl))
	tnll := make([]float64, len(tl))
	for i, v := range tl {
		tnll[i] = -v
		gap[i] = nll[i] + v
	}
	tm, tse := meanSE(tnll)
	gm, gse := meanSE(gap)
	return append(lines,
		num("true NLL", tm, fmt.Sprintf("−log p of the rows under the true density; ± %.3g", tse)),
		num("flow NLL − true NLL", gm, fmt.Sprintf("paired over the rows; ± %.3g", gse))), nil
}

// bpdNote states the bits/dim convention for a bin width.
func bpdNote(w float64) string {
	if w == 1 {
		return "−log₂ p / D: continuous data, no dequantisation offset (see -bin-width)"
	}
	return fmt.Sprintf("−(log p + D·log %g) / (D ln 2): uniform dequantisation of data in bins of width %g", w, w)
}

// meanSE returns the mean of vs and its standard error sd/√n (0 for one
// value).
func meanSE(vs []float64) (mean, se float64) {
	n := float64(len(vs))
	for _, v := range vs {
		mean += v
	}
	mean /= n
	if len(vs) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, v := range vs {
		d := v - mean
		ss += float64(d * d)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// evalTimes are the times at which eval compares a score SDE's model with
// the exact score of a built-in mixture.
var evalTimes = []float64{0.01, 0.1, 0.5, 1}

// timeRows compares a score SDE's model with the exact time score of a
// built-in Gaussian mixture pushed through the model's SDE
// (sampler.PerturbedMixture), at a few times t: the Fisher divergence on
// held-out rows carried to t by the SDE's kernel, x_t = α(t)x + s(t)z. It
// needs the model in the data's coordinates (no standardisation).
func (j *evalJob) timeRows() ([]evalRow, error) {
	m, ok := j.model.(nn.TimeScore)
	if !ok || j.ds == nil || j.info.Mean != nil {
		return nil, nil
	}
	mix, ok := j.ds.Dist.(*sampler.Mixture)
	if !ok {
		return nil, nil
	}
	s := m.SDE()
	truth, model := sampler.NewPerturbedMixture(mix, s), sampler.FromTimeScore(m)
	var rows []evalRow
	for k, t := range evalTimes {
		alpha, std := s.Marginal(t)
		xt := j.z.Clone()
		rng := repro.New(j.f.seed, repro.Evaluation, uint64(k+1), 0)
		for i, v := range xt.Data {
			xt.Data[i] = float64(alpha*v) + float64(std*repro.Normal(rng))
		}
		ts := make([]float64, xt.Rows)
		for i := range ts {
			ts[i] = t
		}
		got, want := ad.NewMat(xt.Rows, xt.Cols), ad.NewMat(xt.Rows, xt.Cols)
		model.NewTimeScoreFunc()(got, xt, ts)
		truth.NewTimeScoreFunc()(want, xt, ts)
		label := fmt.Sprintf("at t = %g: ", t)
		fd := sampler.FisherDivergence(got, want)
		if err := j.finite(label+"the Fisher divergence", fd); err != nil {
			return nil, err
		}
		rows = append(rows, num(label+"Fisher divergence", fd, fmt.Sprintf("against the exact score of p_t, on rows through the kernel (s(t) = %.3g)", std)))
	}
	return rows, nil
}
