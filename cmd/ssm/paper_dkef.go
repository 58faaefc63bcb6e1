package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"scorematch/ad"
	"scorematch/ad/linalg"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
	"scorematch/nn/atomicfile"
	"scorematch/sampler"
	"scorematch/ssm"
)

// The deep kernel exponential family experiment (the paper's section 5.2):
// a DKEF (nn.DKEF) trained on real tabular data by every score-matching
// method with the same seed and budget, as the reference code trains it
// (ssm.TrainDKEF: α in closed form on one half batch, the loss on the
// other, early stopping on validation rows, then λ alone), and compared by
// the held-out exact score-matching loss and the test log-likelihood, log Z
// by importance sampling from q₀ = N(0, 4I) as the reference estimates it
// and bracketed by forward and reverse AIS.
//
// The paper's UCI sets (Parkinsons, red and white wine quality) are not
// available offline; this uses the two UCI sets shipped with Debian's
// scikit-learn (testdata/uci: Wisconsin breast cancer, 569 × 30, and wine
// recognition, 178 × 13) with the reference's preprocessing: every column
// dequantised by U(−Δ, Δ), Δ the median gap between its sorted distinct
// values; the rows shuffled (seed 2019, the reference's); PCA whitening on
// all rows (after scaling each column to unit variance, for accuracy: the
// result differs from the reference's only by a rotation, as any two
// whitenings do); the test rows the last min(1000, N/10), the validation rows the
// min(1000, (N − test)/10) before them; then N(0, 0.05²) noise added to
// every row once.
//
// The built-in names are resolved against testdata/uci, found by walking
// up from the working directory (as in the module's checkout): the files
// stay where their source and licence are recorded (Go's embed cannot
// reach the module's top-level testdata from this package, and a copy
// would be a second, unrecorded one), at the price that the names work
// only inside a checkout; any other file in the same format is given by
// its path.

func init() {
	registerExperiment(experiment{"dkef", "deep kernel exponential families on real tabular data (breast cancer, wine): held-out SM loss and log-likelihood per method", runPaperDKEF})
}

// dkefDataSets maps the built-in data names to their files under the
// module's testdata/uci.
var dkefDataSets = map[string]string{"breast-cancer": "breast_cancer.csv", "wine": "wine.csv"}

// The reference's preprocessing constants.
const (
	dkefDataSeed  = 2019 // the shuffle's (and the dequantisation's and noise's) seed
	dkefNoise     = 0.05 // the standard deviation of the noise added once
	dkefMaxSplit  = 1000 // test and validation rows at most
	dkefEvalRows  = 50   // rows per pass of the held-out exact SM loss
	dkefISBlock   = 1000 // importance samples per evaluation block
	dkefMinISESS  = 100  // below this weight ESS the log-likelihood is marked untrustworthy
	dkefAISChains = 64   // chains of the AIS bracket on log Z
	dkefGrid      = 1001 // quadrature points per axis for log Z when D ≤ 2
	dkefISStep    = 1    // the step of importance sample i's stream (seed, AIS, 1, i): AIS chain i's start is step 0
	dkefMaxRows   = 1 << 20
	dkefMaxCols   = 1024
	dkefMaxValues = 1 << 24 // rows × features at most (128 MiB)
	dkefMaxSteps  = 1 << 20
	dkefMaxIS     = 1 << 24
)

// paperDKEF is a checked ssm paper dkef.
type paperDKEF struct {
	data        string // as given
	path        string // the file read
	methods     []string
	inducing    int
	half        int
	steps       int
	evalEvery   int
	patience    int
	lambdaSteps int
	fitRows     int
	sigmas      []float64
	isSamples   int
	seed        uint64
	out         string
}

// dkefData is the preprocessed data set.
type dkefData struct {
	name              string
	raw               ad.Mat    // the file's features, in file order
	deltas            []float64 // each column's dequantisation half-width Δ
	whitened          ad.Mat    // dequantised, shuffled and whitened, before the noise
	train, val, test  ad.Mat    // the splits, noise added
	rows, cols, nTest int
}

// A dkefCell is the outcome of one method. Its measures are recordFloats:
// one that is not finite (a diverged fit, a failed estimate) is written as
// null and shown as — in the table.
type dkefCell struct {
	Method string `json:"method"`
	// TestSM is the exact SM loss ½‖s‖² + tr ∇s on the test rows.
	TestSM recordFloat `json:"test_sm_loss"`
	// LogZ is log Z by importance sampling from q₀ = N(0, 4I), LogZStdErr
	// its delta-method standard error, ESS the weights' effective sample
	// size (Σw)²/Σw² out of IS samples; TestLogLik the mean test
	// log-likelihood, mean log p̃ − log Z (an importance-sampling log Z is
	// biased low, so the log-likelihood is biased high when ESS is small).
	LogZ       recordFloat `json:"log_z"`
	LogZStdErr recordFloat `json:"log_z_std_err"`
	ESS        recordFloat `json:"is_ess"`
	TestLogLik recordFloat `json:"test_log_likelihood"`
	Trusted    bool        `json:"log_z_trusted"`
	// AISLogLik is the test log-likelihood with log Z by forward AIS from
	// N(0, s²I) (a stochastic lower bound on log Z, so the log-likelihood
	// leans high), and AISLow, AISHigh its interval from the bracket of
	// forward and reverse AIS (bidirectional Monte Carlo; equal to
	// AISLogLik where log Z is found by quadrature, D ≤ 2); AISNote says
	// how it was found and how far to trust it, or why it was not.
	AISLogLik recordFloat `json:"ais_test_log_likelihood"`
	AISLow    recordFloat `json:"ais_test_log_likelihood_low"`
	AISHigh   recordFloat `json:"ais_test_log_likelihood_high"`
	AISNote   string      `json:"ais_log_z_method"`
	// MsPerStep is the mean wall time of a first-stage step without
	// validation (α fit, loss, gradients and update); 0 if none was timed.
	MsPerStep float64     `json:"ms_per_step"`
	Steps     int         `json:"steps"`
	BestStep  int         `json:"best_step"`
	Stopped   string      `json:"stopped"`
	LogLambda recordFloat `json:"log10_lambda"`
	// ValSteps and ValSM are the validation exact-SM curve.
	ValSteps []int         `json:"val_steps"`
	ValSM    []recordFloat `json:"val_sm_loss"`
	Sigma    float64       `json:"sigma,omitempty"`
	Error    string        `json:"error,omitempty"`
	Seconds  float64       `json:"seconds"`
}

func runPaperDKEF(ctx context.Context, e *env, args []string) error {
	s, err := parsePaperDKEF(e, args)
	if err != nil {
		return err
	}
	data, err := loadDKEFData(s.data, s.path)
	if err != nil {
		return err
	}
	cells, gauss, err := s.run(ctx, e, data)
	if err != nil {
		return err
	}
	return s.write(e, data, cells, gauss)
}

func parsePaperDKEF(e *env, args []string) (*paperDKEF, error) {
	fs := newFlags("paper dkef", "paper dkef [-data breast-cancer|wine|file.csv] [-methods sm,ssm-vr,ssm,dsm,approx-bp,cp] [-out dkef]", e.stdout)
	s := &paperDKEF{}
	methods := fs.String("methods", strings.Join(studyMethods, ","), "comma-separated methods: "+strings.Join(studyMethods, ", "))
	sigmas := fs.String("dsm-sigmas", "0.1,0.2,0.4,0.8", "DSM's noise levels to choose from on the validation rows (Parzen window)")
	fs.StringVar(&s.data, "data", "breast-cancer", "data: breast-cancer or wine (the module's testdata/uci), or a CSV `file` in their format (a header line, then features and a label per row)")
	fs.IntVar(&s.inducing, "inducing", 200, "inducing points M at most (M = min(this, training rows); the reference: 200)")
	fs.IntVar(&s.half, "half", 100, "rows per half batch (α fit and loss; at most half the training rows)")
	fs.IntVar(&s.steps, "steps", 100, "first-stage steps at most per method (early stopping usually ends sooner)")
	fs.IntVar(&s.evalEvery, "eval-every", 5, "steps between validation evaluations")
	fs.IntVar(&s.patience, "patience", 6, "validation evaluations without improvement before stopping")
	fs.IntVar(&s.lambdaSteps, "lambda-steps", 100, "second-stage steps (λ alone; the reference: 1000)")
	fs.IntVar(&s.fitRows, "fit-rows", 1000, "training rows of the validation α fit at most (the reference: 1000)")
	fs.IntVar(&s.isSamples, "is-samples", 10000, "importance samples for log Z (the reference: 10⁶)")
	fs.Uint64Var(&s.seed, "seed", 1, "random seed (model, inducing points, batches)")
	fs.StringVar(&s.out, "out", "dkef", "output `folder`: table.md, dkef.json, dkef.svg")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	if s.methods, err = parseMethods("-methods", *methods, studyMethods); err != nil {
		return nil, err
	}
	if s.sigmas, err = parseSigmaGrid("-dsm-sigmas", *sigmas); err != nil {
		return nil, err
	}
	if err := firstError(
		intIn("-inducing", s.inducing, 1, 4096), intIn("-half", s.half, 1, 4096), intIn("-steps", s.steps, 1, dkefMaxSteps),
		intIn("-eval-every", s.evalEvery, 1, dkefMaxSteps), intIn("-patience", s.patience, 1, dkefMaxSteps),
		intIn("-lambda-steps", s.lambdaSteps, 1, dkefMaxSteps), intIn("-fit-rows", s.fitRows, 1, 1000),
		intIn("-is-samples", s.isSamples, 2, dkefMaxIS), checkOutDir(e, "-out", s.out),
	); err != nil {
		return nil, err
	}
	if s.path, err = dkefDataPath(e, s.data); err != nil {
		return nil, err
	}
	return s, nil
}

// dkefDataPath resolves -data: a built-in name to testdata/uci/<file>,
// found by walking up from the command's directory (in a checkout of the
// module, from anywhere inside it); anything else is a file path
// (relative to the command's directory).
func dkefDataPath(e *env, data string) (string, error) {
	file, builtin := dkefDataSets[data]
	if !builtin {
		path := e.outPath(data)
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return "", badInput("-data %s: not breast-cancer, wine or a regular file", data)
		}
		return path, nil
	}
	dir, err := filepath.Abs(e.outPath("."))
	if err != nil {
		return "", badInput("-data %s: %v", data, err)
	}
	for {
		path := filepath.Join(dir, "testdata", "uci", file)
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			return path, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", badInput("-data %s: the built-in sets are read from testdata/uci/%s of the module's checkout, and none is at or above the working directory: run inside the checkout, or give the CSV's path", data, file)
		}
		dir = parent
	}
}

// readDKEFCSV reads a file in scikit-learn's format: a header line
// "rows,features,class names…", then rows of the features and a label,
// which is dropped.
func readDKEFCSV(path string) (ad.Mat, error) {
	f, err := os.Open(path)
	if err != nil {
		return ad.Mat{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	if !sc.Scan() {
		return ad.Mat{}, fmt.Errorf("%s: empty file", path)
	}
	head := strings.Split(sc.Text(), ",")
	var rows, cols int
	if len(head) < 2 {
		return ad.Mat{}, fmt.Errorf("%s: header %q: want rows,features,class names", path, sc.Text())
	}
	rows, err1 := strconv.Atoi(strings.TrimSpace(head[0]))
	cols, err2 := strconv.Atoi(strings.TrimSpace(head[1]))
	if err1 != nil || err2 != nil || rows < 20 || rows > dkefMaxRows || cols < 1 || cols > dkefMaxCols {
		return ad.Mat{}, fmt.Errorf("%s: header %q: want row and feature counts (20 to %d rows, 1 to %d features)", path, sc.Text(), dkefMaxRows, dkefMaxCols)
	}
	if rows*cols > dkefMaxValues {
		return ad.Mat{}, fmt.Errorf("%s: header %q: %d × %d values, at most %d", path, sc.Text(), rows, cols, dkefMaxValues)
	}
	// Grown as the rows are read: the header alone allocates nothing.
	x := ad.Mat{Cols: cols}
	for i := range rows {
		if !sc.Scan() {
			return ad.Mat{}, fmt.Errorf("%s: %d rows, the header says %d", path, i, rows)
		}
		fields := strings.Split(sc.Text(), ",")
		if len(fields) != cols+1 {
			return ad.Mat{}, fmt.Errorf("%s: line %d has %d fields, want %d features and a label", path, i+2, len(fields), cols)
		}
		for j := range cols {
			v, err := strconv.ParseFloat(strings.TrimSpace(fields[j]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return ad.Mat{}, fmt.Errorf("%s: line %d, field %d: %q is not a finite number", path, i+2, j+1, fields[j])
			}
			x.Data = append(x.Data, v)
		}
		x.Rows++
	}
	if err := sc.Err(); err != nil {
		return ad.Mat{}, err
	}
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			return ad.Mat{}, fmt.Errorf("%s: more rows than the header's %d", path, rows)
		}
	}
	return x, nil
}

// loadDKEFData reads and preprocesses the data set.
func loadDKEFData(name, path string) (*dkefData, error) {
	raw, err := readDKEFCSV(path)
	if err != nil {
		return nil, badInput("-data: %v", err)
	}
	d, err := prepareDKEFData(raw)
	if err != nil {
		return nil, badInput("-data %s: %v", name, err)
	}
	if d.train.Rows <= d.cols+1 {
		return nil, badInput("-data %s: %d training rows of %d features, want more than D + 1 = %d (the reference Gaussian's covariance would be singular)",
			name, d.train.Rows, d.cols, d.cols+1)
	}
	d.name = name
	return d, nil
}

// prepareDKEFData applies the reference's preprocessing to the rows of raw
// (see the experiment's doc): dequantise, shuffle, whiten on all rows,
// split, add noise. Random numbers come from the data streams of seed
// 2019: part 0 the dequantisation, part 1 the shuffle, part 2 the noise.
func prepareDKEFData(raw ad.Mat) (*dkefData, error) {
	n, d := raw.Rows, raw.Cols
	x := raw.Clone()
	deltas := make([]float64, d)
	col := make([]float64, n)
	for j := range d {
		for i := range n {
			col[i] = x.At(i, j)
		}
		deltas[j] = medianGap(col)
		if deltas[j] == 0 {
			return nil, fmt.Errorf("column %d is constant", j+1)
		}
	}
	rng := repro.New(dkefDataSeed, repro.Data, 0, 0)
	for i := range n {
		for j := range d {
			x.Set(i, j, x.At(i, j)+float64(deltas[j]*(2*float64(rng.Float64())-1)))
		}
	}
	perm := repro.New(dkefDataSeed, repro.Data, 0, 1).Perm(n)
	shuffled := ad.NewMat(n, d)
	for i, p := range perm {
		copy(shuffled.Row(i), x.Row(p))
	}
	w, err := whiten(shuffled)
	if err != nil {
		return nil, err
	}
	noisy := w.Clone()
	rng = repro.New(dkefDataSeed, repro.Data, 0, 2)
	for i := range noisy.Data {
		noisy.Data[i] += float64(dkefNoise * repro.Normal(rng))
	}
	nTest := min(dkefMaxSplit, n/10)
	nVal := min(dkefMaxSplit, (n-nTest)/10)
	nTrain := n - nTest - nVal
	return &dkefData{raw: raw, deltas: deltas, whitened: w, rows: n, cols: d, nTest: nTest,
		train: noisy.RowRange(0, nTrain), val: noisy.RowRange(nTrain, nTrain+nVal), test: noisy.RowRange(nTrain+nVal, n)}, nil
}

// medianGap returns the median of the gaps between the sorted distinct
// values of v (the lower middle one for an even count), 0 for fewer than
// two distinct values. It reorders v.
func medianGap(v []float64) float64 {
	slices.Sort(v)
	v = slices.Compact(v)
	if len(v) < 2 {
		return 0
	}
	gaps := make([]float64, len(v)-1)
	for i := range gaps {
		gaps[i] = v[i+1] - v[i]
	}
	slices.Sort(gaps)
	return gaps[(len(gaps)-1)/2]
}

// whiten returns the rows of x centred and rotated onto the eigenvectors of
// their covariance (1/N), each scaled by 1/√eigenvalue, so that their
// covariance is the identity (the reference's PCA whitening). The columns
// are scaled to unit variance first and the whitening is repeated once on
// its own output: columns of very different scales (breast cancer's span
// six decades) leave the first pass's covariance off the identity by
// about 1e-8, the second by rounding. A zero eigenvalue (linearly
// dependent columns) is an error.
func whiten(x ad.Mat) (ad.Mat, error) {
	n, d := x.Rows, x.Cols
	c := ad.NewMat(n, d)
	for j := range d {
		mu, ss := 0.0, 0.0
		for i := range n {
			mu += x.At(i, j)
		}
		mu /= float64(n)
		for i := range n {
			v := x.At(i, j) - mu
			ss += float64(v * v)
		}
		sd := math.Sqrt(ss / float64(n))
		for i := range n {
			c.Set(i, j, (x.At(i, j)-mu)/sd)
		}
	}
	for range 2 {
		var err error
		if c, err = pcaWhiten(c); err != nil {
			return ad.Mat{}, err
		}
	}
	return c, nil
}

// pcaWhiten is one pass of whiten on rows of zero mean (up to rounding,
// which it removes).
func pcaWhiten(x ad.Mat) (ad.Mat, error) {
	n, d := x.Rows, x.Cols
	c := x.Clone()
	for j := range d {
		mu := 0.0
		for i := range n {
			mu += c.At(i, j)
		}
		mu /= float64(n)
		for i := range n {
			c.Set(i, j, c.At(i, j)-mu)
		}
	}
	cov := make([]float64, d*d)
	for i := range n {
		r := c.Row(i)
		for a := range d {
			for b := range d {
				cov[a*d+b] += float64(r[a] * r[b])
			}
		}
	}
	for k := range cov {
		cov[k] /= float64(n)
	}
	vals, vecs := make([]float64, d), make([]float64, d*d)
	linalg.SymEigen(vals, vecs, cov, d)
	if !(vals[d-1] > 1e-12*vals[0]) {
		return ad.Mat{}, fmt.Errorf("the columns are linearly dependent (covariance eigenvalue %g)", vals[d-1])
	}
	out := ad.NewMat(n, d)
	for i := range n {
		r := c.Row(i)
		for k := range d {
			s := 0.0
			for j, v := range r {
				s += float64(v * vecs[k*d+j])
			}
			out.Set(i, k, s/math.Sqrt(vals[k]))
		}
	}
	return out, nil
}

// run trains and evaluates every method, logging each with an ETA, and
// returns the cells and the reference Gaussian's.
func (s *paperDKEF) run(ctx context.Context, e *env, data *dkefData) ([]dkefCell, dkefCell, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	sigma := 0.0
	if slices.Contains(s.methods, "dsm") {
		sigma = chooseSigma(data.train, data.val, s.sigmas)
	}
	log.Info("paper dkef", "data", data.name, "rows", data.rows, "features", data.cols, "train", data.train.Rows,
		"val", data.val.Rows, "test", data.test.Rows, "inducing", min(s.inducing, data.train.Rows), "dsm_sigma", sigma)
	gauss := s.gaussianCell(data)
	start := time.Now()
	var cells []dkefCell
	for i, m := range s.methods {
		if ctx.Err() != nil {
			return nil, gauss, errInterrupted
		}
		c, err := s.cell(ctx, m, sigma, data, func(p ssm.DKEFProgress) {
			if p.Stage == 1 && p.Step%20 == 0 || p.Stage == 2 && p.Step == p.Steps {
				done := time.Since(start).Seconds()
				// The ETA: this method's share of its planned steps so far,
				// and each method left as long as the mean method so far.
				frac := float64(i) + 0.5*float64(p.Step)/float64(p.Steps)
				if p.Stage == 2 {
					frac += 0.5
				}
				log.Info("paper dkef", "method", m, "stage", p.Stage, "step", p.Step, "loss", round4(p.Loss), "best_val", round4(p.BestVal),
					"eta", fmtDuration(float64(done/frac*float64(len(s.methods)))-done))
			}
		})
		if err != nil {
			return nil, gauss, err
		}
		cells = append(cells, c)
		log.Info("paper dkef", "method", m, "test_sm", round4(float64(c.TestSM)), "test_loglik", round4(float64(c.TestLogLik)), "ess", round4(float64(c.ESS)),
			"ms_per_step", round4(c.MsPerStep), "steps", c.Steps, "best_step", c.BestStep,
			"done", fmt.Sprintf("%d/%d", i+1, len(s.methods)), "eta", fmtDuration(time.Since(start).Seconds()/float64(i+1)*float64(len(s.methods)-i-1)))
	}
	return cells, gauss, nil
}

// model returns the untrained DKEF of the seed: M = min(-inducing,
// training rows) inducing points, training rows drawn without replacement.
func (s *paperDKEF) model(data *dkefData) (*nn.DKEF, error) {
	m := min(s.inducing, data.train.Rows)
	perm := repro.New(s.seed, repro.Init, 1, 0).Perm(data.train.Rows)
	z := ad.NewMat(m, data.cols)
	for i := range m {
		copy(z.Row(i), data.train.Row(perm[i]))
	}
	return nn.NewDKEF(nn.DKEFConfig{Dim: data.cols, Inducing: m}, z, repro.New(s.seed, repro.Init, 0, 0))
}

// cell trains method m and evaluates it on the test rows. A run that
// diverges is reported in the cell (with its best weights evaluated), not
// as an error.
func (s *paperDKEF) cell(ctx context.Context, m string, sigma float64, data *dkefData, progress func(ssm.DKEFProgress)) (dkefCell, error) {
	t0 := time.Now()
	c := dkefCell{Method: m}
	model, err := s.model(data)
	if err != nil {
		return c, err
	}
	opts := ssm.Options{}
	if m == "dsm" {
		opts.Sigma, c.Sigma = sigma, sigma
	}
	obj, err := ssm.New(m, model, opts)
	if err != nil {
		return c, objectiveError(err)
	}
	half := min(s.half, data.train.Rows/2)
	var last time.Time
	var stepTime time.Duration
	steps := 0
	cfg := ssm.DKEFConfig{Half: half, Steps: s.steps, Seed: s.seed, EvalEvery: s.evalEvery, Patience: s.patience,
		FitRows: min(s.fitRows, data.train.Rows), LambdaSteps: s.lambdaSteps, LambdaBatch: min(100, data.val.Rows),
		Progress: func(p ssm.DKEFProgress) {
			now := time.Now()
			if p.Stage == 1 && p.Step > 1 && math.IsNaN(p.ValLoss) {
				stepTime += now.Sub(last) // a step with no validation before or in it
				steps++
			}
			last = now
			progress(p)
		}}
	last = time.Now()
	res, err := ssm.TrainDKEF(ctx, obj, data.train, data.val, cfg)
	switch {
	case ctx.Err() != nil:
		return c, errInterrupted
	case errors.Is(err, ssm.ErrNonFinite) && res != nil:
		c.Error = err.Error()
	case err != nil:
		return c, fmt.Errorf("%s: %w", m, err)
	}
	if steps > 0 {
		c.MsPerStep = float64(stepTime) / float64(steps) / 1e6
	}
	c.Steps, c.BestStep, c.Stopped, c.LogLambda = res.Steps, res.BestStep, res.Stopped, recordFloat(res.LogLambda)
	c.ValSteps = res.ValSteps
	for _, v := range res.ValSM {
		c.ValSM = append(c.ValSM, recordFloat(v))
	}
	s.evaluate(&c, model, data.test)
	c.Seconds = time.Since(t0).Seconds()
	return c, nil
}

// evaluate fills the cell's test measures.
func (s *paperDKEF) evaluate(c *dkefCell, model *nn.DKEF, test ad.Mat) {
	c.TestSM = recordFloat(dkefTestSM(model, test, s.seed))
	src := sampler.FromEnergy(model)
	logZ, stdErr, ess := importanceLogZ(src, nn.DKEFQ0Sigma, s.isSamples, s.seed)
	ll := sampler.LogLikelihood(src, test, logZ)
	c.LogZ, c.LogZStdErr, c.ESS, c.TestLogLik = recordFloat(logZ), recordFloat(stdErr), recordFloat(ess), recordFloat(ll)
	c.Trusted = ess >= dkefMinISESS
	// The AIS bracket: forward AIS bounds log Z below, reverse AIS from
	// HMC draws begun at the test rows above; for D ≤ 2, quadrature on a
	// grid of dkefGrid points per axis, a point estimate.
	nan := recordFloat(math.NaN())
	c.AISLogLik, c.AISLow, c.AISHigh, c.AISNote = nan, nan, nan, ""
	est, err := estimateLogZ(src, test, dkefGrid, 0, dkefAISChains, s.seed)
	if err != nil {
		c.AISNote = err.Error()
		return
	}
	ais := ll + logZ - est.value
	lo, hi := ais, ais
	if est.interval {
		lo, hi = ais+est.value-est.hi, ais+est.value-est.lo
	}
	c.AISLogLik, c.AISLow, c.AISHigh, c.AISNote = recordFloat(ais), recordFloat(lo), recordFloat(hi), est.method
}

// dkefTestSM is the mean exact SM loss of model over the rows of x, in
// blocks of dkefEvalRows (its jets of D directions stay small).
func dkefTestSM(model nn.Model, x ad.Mat, seed uint64) float64 {
	sm, err := ssm.New("sm", model, ssm.Options{})
	if err != nil {
		panic(err) // not reached: a DKEF is an energy
	}
	w, stream, sum := sm.NewWorker(), repro.NewStream(), 0.0
	for lo := 0; lo < x.Rows; lo += dkefEvalRows {
		b := &ssm.Batch{X: x.RowRange(lo, min(lo+dkefEvalRows, x.Rows))}
		b.Draw(sm, stream, seed, repro.Evaluation, 0, lo)
		sum += w.Eval(b, false)
	}
	return sum / float64(x.Rows)
}

// importanceLogZ estimates log Z of d by importance sampling from
// q = N(0, scale²I) with n samples, in blocks of dkefISBlock (sample i from
// the stream (seed, AIS, dkefISStep, i), which no AIS chain uses, so the
// two estimates are independent): log Z = log mean w, w = p̃(x)/q(x). It
// returns the estimate, its delta-method standard error sd(w)/(√n mean w)
// and the weights' effective sample size (Σw)²/Σw².
func importanceLogZ(d sampler.LogDensity, scale float64, n int, seed uint64) (logZ, stdErr, ess float64) {
	dim := d.Dim()
	logW := make([]float64, n)
	f := d.NewLogDensityFunc()
	x := ad.NewMat(dkefISBlock, dim)
	logNorm := float64(-0.5 * float64(dim) * rmath.Log(2*math.Pi*scale*scale))
	stream := repro.NewStream()
	for lo := 0; lo < n; lo += dkefISBlock {
		hi := min(n, lo+dkefISBlock)
		x.Resize(hi-lo, dim)
		for i := lo; i < hi; i++ {
			r := stream.Seed(seed, repro.AIS, dkefISStep, uint64(i))
			for j, row := 0, x.Row(i-lo); j < dim; j++ {
				row[j] = scale * repro.Normal(r)
			}
		}
		f(logW[lo:hi], ad.Mat{}, x)
		for i := lo; i < hi; i++ {
			q := 0.0
			for _, v := range x.Row(i - lo) {
				q += float64(v * v)
			}
			logW[i] -= logNorm - float64(0.5*q)/float64(scale*scale)
		}
	}
	mx := math.Inf(-1)
	for _, v := range logW {
		if !math.IsNaN(v) {
			mx = math.Max(mx, v)
		}
	}
	s, s2 := 0.0, 0.0
	for _, v := range logW {
		w := rmath.Exp(v - mx)
		s += w
		s2 += float64(w * w)
	}
	mean := s / float64(n)
	variance := (s2 - float64(float64(n)*mean*mean)) / float64(n-1)
	return mx + rmath.Log(mean), math.Sqrt(math.Max(variance, 0)/float64(n)) / mean, s * s / s2
}

// gaussianCell is the reference row: a Gaussian N(μ, Σ) fitted to the
// training rows by maximum likelihood, its test exact SM loss and
// log-likelihood in closed form.
func (s *paperDKEF) gaussianCell(data *dkefData) dkefCell {
	tr, d := data.train, data.cols
	mu := make([]float64, d)
	for i := range tr.Rows {
		for j, v := range tr.Row(i) {
			mu[j] += v / float64(tr.Rows)
		}
	}
	cov := make([]float64, d*d)
	for i := range tr.Rows {
		r := tr.Row(i)
		for a := range d {
			for b := range d {
				cov[a*d+b] += float64((r[a]-mu[a])*(r[b]-mu[b])) / float64(tr.Rows)
			}
		}
	}
	vals, vecs := make([]float64, d), make([]float64, d*d)
	linalg.SymEigen(vals, vecs, cov, d)
	logDet, trInv := 0.0, 0.0
	for _, v := range vals {
		logDet += rmath.Log(v)
		trInv += 1 / v
	}
	sm, ll := 0.0, 0.0
	for i := range data.test.Rows {
		r := data.test.Row(i)
		q, q2 := 0.0, 0.0 // (x−μ)ᵀΣ⁻¹(x−μ) and ‖Σ⁻¹(x−μ)‖²
		for k := range d {
			p := 0.0
			for j, v := range r {
				p += float64((v - mu[j]) * vecs[k*d+j])
			}
			q += float64(p*p) / vals[k]
			q2 += float64(p*p) / float64(vals[k]*vals[k])
		}
		sm += float64(0.5*q2) - trInv
		ll += float64(-0.5*q) - float64(0.5*logDet) - float64(0.5*float64(d)*rmath.Log(2*math.Pi))
	}
	n := float64(data.test.Rows)
	return dkefCell{Method: "Gaussian (ML fit to train)", TestSM: recordFloat(sm / n), TestLogLik: recordFloat(ll / n), Trusted: true}
}

// write saves the table, the JSON record and the figure, and prints the
// table.
func (s *paperDKEF) write(e *env, data *dkefData, cells []dkefCell, gauss dkefCell) error {
	dir := e.outPath(s.out)
	if err := mkdirOut(dir); err != nil {
		return err
	}
	table := s.table(data, cells, gauss)
	fmt.Fprint(e.stdout, table)
	if err := atomicfile.WriteBytes(filepath.Join(dir, "table.md"), []byte(table)); err != nil {
		return err
	}
	record := map[string]any{
		"experiment": "dkef", "data": data.name, "rows": data.rows, "features": data.cols,
		"train_rows": data.train.Rows, "val_rows": data.val.Rows, "test_rows": data.test.Rows,
		"preprocessing": "dequantise U(−Δ, Δ) per column, shuffle (seed 2019), PCA-whiten on all rows, split, N(0, 0.05²) noise once",
		"inducing":      min(s.inducing, data.train.Rows), "half": min(s.half, data.train.Rows/2), "steps": s.steps,
		"eval_every": s.evalEvery, "patience": s.patience, "lambda_steps": s.lambdaSteps, "fit_rows": min(s.fitRows, data.train.Rows),
		"is_samples": s.isSamples, "seed": s.seed, "dsm_sigmas": s.sigmas, "kernel": ad.Kernel(),
		"gaussian": gauss, "cells": cells,
	}
	if err := writeJSON(filepath.Join(dir, "dkef.json"), record); err != nil {
		return err
	}
	if err := s.figure(data, cells).Save(filepath.Join(dir, "dkef.svg")); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "table, record and figure written to %s\n", filepath.Join(s.out, "{table.md,dkef.json,dkef.svg}"))
	return nil
}

// table renders the cells as Markdown.
func (s *paperDKEF) table(data *dkefData, cells []dkefCell, gauss dkefCell) string {
	var b strings.Builder
	m := min(s.inducing, data.train.Rows)
	fmt.Fprintf(&b, "# DKEF on %s (%d × %d; train %d, validation %d, test %d), M = %d inducing points, half batches of %d, seed %d (%s)\n\n",
		data.name, data.rows, data.cols, data.train.Rows, data.val.Rows, data.test.Rows, m, min(s.half, data.train.Rows/2), s.seed, ad.Kernel())
	b.WriteString("| method | test exact SM loss | test log-likelihood (IS weight ESS) | test log-likelihood, AIS [bracket] | ms per step | steps (best, stopped) | log₁₀ λ |\n|---|---|---|---|---|---|---|\n")
	for _, c := range cells {
		ll := fmtFinite("%.4g", float64(c.TestLogLik)) + " (" + fmtFinite("%.3g", float64(c.ESS)) + ")"
		if !c.Trusted {
			ll += " ⚠"
		}
		name := c.Method
		if c.Method == "dsm" {
			name = fmt.Sprintf("dsm (σ = %g)", c.Sigma)
		}
		if c.Error != "" {
			name += " (diverged)"
		}
		ms := "—"
		if c.MsPerStep > 0 {
			ms = fmt.Sprintf("%.3g", c.MsPerStep)
		}
		ais := fmtFinite("%.4g", float64(c.AISLogLik))
		if ais != "—" && c.AISLow != c.AISHigh {
			ais += " [" + fmtFinite("%.4g", float64(c.AISLow)) + ", " + fmtFinite("%.4g", float64(c.AISHigh)) + "]"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d (%d, %s) | %s |\n", name, fmtFinite("%.4g", float64(c.TestSM)), ll, ais, ms,
			c.Steps, c.BestStep, c.Stopped, fmtFinite("%.3g", float64(c.LogLambda)))
	}
	fmt.Fprintf(&b, "| %s | %s | %s (exact) | — | — | — | — |\n\n", gauss.Method, fmtFinite("%.4g", float64(gauss.TestSM)), fmtFinite("%.4g", float64(gauss.TestLogLik)))
	fmt.Fprintf(&b, "Exact SM loss ½‖s‖² + tr ∇s on the test rows: lower is better. log Z by importance sampling from q₀ = N(0, 4I) with %d samples; "+
		"⚠: weight ESS below %d, log Z untrustworthy (an importance-sampling log Z is biased low, so such a log-likelihood is likely too high); "+
		"a high ESS is necessary, not sufficient: it cannot see mass that the proposal's samples never reach, such as a model peaked near the data in D = %d. "+
		"The AIS column brackets log Z from both sides (forward AIS from N(0, s²I) with %d chains × max(500, 20·D) temperatures, reverse AIS from HMC runs begun at the test rows; the record's ais_log_z_method gives the weight ESSs; "+
		"for D ≤ 2, log Z by quadrature on %d points per axis over the test rows' box instead, a point with no bracket): "+
		"where the IS and AIS figures disagree, trust the bracket. "+
		"ms per step: first-stage steps without validation. Steps: first-stage steps taken (at most %d; validation every %d, patience %d), "+
		"the best step's weights kept. Every method starts from the same model and seed. "+
		"Deviations from the reference: M = min(200, training rows); approx-bp and cp fit α with SSM-VR's quadratic "+
		"(the reference's fits omit b's Fᵀ∇q₀ term); validation every %d steps on fixed rows and randomness; second stage %d steps (the reference: 1000); "+
		"DSM's σ by a Parzen window on the validation rows from {%s}.\n",
		s.isSamples, dkefMinISESS, data.cols, dkefAISChains, dkefGrid, s.steps, s.evalEvery, s.patience, s.evalEvery, s.lambdaSteps, joinFloats(s.sigmas))
	return b.String()
}

// figure draws each method's validation exact-SM curve.
func (s *paperDKEF) figure(data *dkefData, cells []dkefCell) *plot.Figure {
	var lines []plot.Line
	for _, c := range cells {
		var xs, ys []float64
		for i, v := range c.ValSM {
			if isFinite(float64(v)) {
				xs, ys = append(xs, float64(c.ValSteps[i])), append(ys, float64(v))
			}
		}
		lines = append(lines, plot.Line{Name: c.Method, X: xs, Y: ys, Marks: true})
	}
	return &plot.Figure{Title: "DKEF on " + data.name, Panels: []plot.Panel{
		{Title: "validation exact SM loss", XLabel: "step", YLabel: "½‖s‖² + tr ∇s", Lines: lines},
	}}
}

// joinFloats formats values as "a, b, c".
func joinFloats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(parts, ", ")
}
