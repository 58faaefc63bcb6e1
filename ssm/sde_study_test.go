package ssm_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/nn/sde"
	"scorematch/sampler"
	"scorematch/ssm"
)

// The trained-model study of the score SDEs (issue 12's "Trained models"):
// on 8 Gaussians and on the banana, a VE and a VP net trained by sde-dsm
// and by sde-sse-vr, each judged by
//
//   - the gap between its probability-flow NLL and the true NLL on 2000
//     held-out points (exact divergence, RK45 at tolerance 1e-5), with the
//     standard error of the paired per-point differences; the study
//     requires a gap below 0.1 nats;
//   - a permutation test (200 permutations) of the squared MMD between
//     2000 predictor–corrector samples (reverse diffusion with one
//     Langevin corrector step per time, 1000 steps, denoised) and 2000
//     fresh data; the study requires p > 0.05 for the recipe's sampler
//     and reports the others (their mode weights, mean and covariance
//     errors too);
//   - its learning curve: the NLL gap on 500 held-out points (RK45 at
//     1e-4) every CurveEvery steps, of the raw weights (Train keeps the
//     moving average to itself until it returns), and at the end of the
//     weights that are measured.
//
// The exponential moving average of the weights is ssm.Config.EMA, and
// the learning-rate decay ssm.Config.Schedule (a cosine to LRFinal at the
// last step, without warm-up).
//
// The full study runs when SCOREMATCH_SDE_STUDY=1 (about 5 minutes per
// model on a loaded 2-core machine) and writes CSVs (samples, the fresh
// data, curves, a summary) to SCOREMATCH_SDE_STUDY_OUT (a temporary
// directory otherwise). SCOREMATCH_SDE_STUDY_CASES selects cases
// ("8gaussians/vp/sde-dsm,banana/ve/sde-sse-vr"; default all eight; the
// objective "exact" measures the samplers with the exact score of a
// mixture) and SCOREMATCH_SDE_STUDY_RECIPE overrides settings of the
// recipe ("steps=2000,lr=1e-3"; see parseRecipe).

// studyRecipe is how a study model is built and trained.
type studyRecipe struct {
	Hidden       []int   // hidden widths of the SDENet
	Act          string  // activation
	FourierDim   int     // E
	FourierScale float64 // standard deviation of the frequencies
	LR           float64 // Adam's initial learning rate
	LRFinal      float64 // learning rate at the last step (cosine decay from LR; = LR for none)
	Batch, Steps int
	EMA          float64      // decay of the exponential moving average of the weights (0: none)
	Rows         int          // training rows
	M            int          // projections per sample (sde-sse-vr)
	CurveEvery   int          // steps between learning-curve points (0: none)
	CurveRows    int          // held-out rows of a learning-curve point
	PCSteps      int          // predictor steps of the PC sampler
	Predictor    string       // the PC sampler's predictor
	Corrector    string       // its corrector
	CorrSteps    int          // its corrector steps per time
	SNR          float64      // its corrector's signal-to-noise ratio
	Seed         uint64       // of the data, the weights, training and sampling
	Likelihood   bool         // weight the objective by λ(t) = g(t)² (ssm.LikelihoodWeighting)
	Alt          []altSampler // further samplers to measure on the trained model
}

// altSampler is a PC sampler's predictor, corrector and step rule.
type altSampler struct {
	Predictor, Corrector string
	CorrSteps            int
	SNR                  float64
}

// defaultRecipe is the study's recipe: a 128×128 softplus net with 16
// Fourier features of scale 1, Adam from 2e-3 with a cosine decay to 1e-4
// over 15000 steps of 1024 rows (from 50000 training rows), and the
// measured weights an exponential moving average (decay 0.999) of the
// trained ones. Samples come from reverse diffusion with one Langevin
// corrector step at snr 0.04, 1000 steps; reverse diffusion with the
// corrector at the reference's snr 0.16, and without a corrector, are
// measured too.
var defaultRecipe = studyRecipe{
	Hidden: []int{128, 128}, Act: "softplus", FourierDim: 16, FourierScale: 1,
	LR: 2e-3, LRFinal: 1e-4, Batch: 1024, Steps: 15000, EMA: 0.999, Rows: 50000, M: 1,
	CurveEvery: 1500, CurveRows: 500,
	PCSteps: 1000, Predictor: "reverse-diffusion", Corrector: "langevin", CorrSteps: 1, SNR: 0.04, Seed: 1,
	Alt: []altSampler{{"reverse-diffusion", "langevin", 1, 0.16}, {"reverse-diffusion", "none", 0, 0.16}},
}

// parseRecipe returns r with the comma-separated key=value settings of s
// applied. The keys are hidden (widths separated by "x", as 128x128), act,
// fd, fs, lr (which also sets lrfinal), lrfinal, batch, steps, ema, rows,
// m, curve, curverows, pcsteps, pred, corr, csteps, snr, seed, lw (true for
// the likelihood weighting) and alt (samplers separated by ";", each
// predictor/corrector/steps/snr), the fields of studyRecipe in order.
func parseRecipe(r studyRecipe, s string) (studyRecipe, error) {
	r.Hidden = append([]int(nil), r.Hidden...)
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return r, fmt.Errorf("recipe setting %q is not key=value", kv)
		}
		var err error
		atoi := func(dst *int) { *dst, err = strconv.Atoi(v) }
		atof := func(dst *float64) { *dst, err = strconv.ParseFloat(v, 64) }
		switch k {
		case "hidden":
			r.Hidden = r.Hidden[:0]
			for _, w := range strings.Split(v, "x") {
				n, e := strconv.Atoi(w)
				if e != nil {
					err = e
				}
				r.Hidden = append(r.Hidden, n)
			}
		case "act":
			r.Act = v
		case "fd":
			atoi(&r.FourierDim)
		case "fs":
			atof(&r.FourierScale)
		case "lr":
			atof(&r.LR)
			r.LRFinal = r.LR
		case "lrfinal":
			atof(&r.LRFinal)
		case "batch":
			atoi(&r.Batch)
		case "steps":
			atoi(&r.Steps)
		case "ema":
			atof(&r.EMA)
		case "rows":
			atoi(&r.Rows)
		case "m":
			atoi(&r.M)
		case "curve":
			atoi(&r.CurveEvery)
		case "curverows":
			atoi(&r.CurveRows)
		case "pcsteps":
			atoi(&r.PCSteps)
		case "pred":
			r.Predictor = v
		case "corr":
			r.Corrector = v
		case "csteps":
			atoi(&r.CorrSteps)
		case "snr":
			atof(&r.SNR)
		case "alt": // pred/corr/csteps/snr;...
			r.Alt = nil
			for a := range strings.SplitSeq(v, ";") {
				if a == "" {
					continue
				}
				f := strings.Split(a, "/")
				if len(f) != 4 {
					err = fmt.Errorf("sampler %q is not predictor/corrector/steps/snr", a)
					break
				}
				as := altSampler{Predictor: f[0], Corrector: f[1]}
				if as.CorrSteps, err = strconv.Atoi(f[2]); err == nil {
					as.SNR, err = strconv.ParseFloat(f[3], 64)
				}
				r.Alt = append(r.Alt, as)
			}
		case "lw":
			r.Likelihood, err = strconv.ParseBool(v)
		case "seed":
			var u uint64
			u, err = strconv.ParseUint(v, 10, 64)
			r.Seed = u
		default:
			return r, fmt.Errorf("unknown recipe key %q", k)
		}
		if err != nil {
			return r, fmt.Errorf("recipe setting %q: %v", kv, err)
		}
	}
	return r, nil
}

func (r studyRecipe) String() string {
	h := make([]string, len(r.Hidden))
	for i, w := range r.Hidden {
		h[i] = strconv.Itoa(w)
	}
	alt := make([]string, len(r.Alt))
	for i, a := range r.Alt {
		alt[i] = fmt.Sprintf("%s/%s/%d/%g", a.Predictor, a.Corrector, a.CorrSteps, a.SNR)
	}
	return fmt.Sprintf("hidden=%s,act=%s,fd=%d,fs=%g,lr=%g,lrfinal=%g,batch=%d,steps=%d,ema=%g,rows=%d,m=%d,pcsteps=%d,pred=%s,corr=%s,csteps=%d,snr=%g,seed=%d,lw=%t,alt=%s",
		strings.Join(h, "x"), r.Act, r.FourierDim, r.FourierScale, r.LR, r.LRFinal, r.Batch, r.Steps, r.EMA, r.Rows, r.M,
		r.PCSteps, r.Predictor, r.Corrector, r.CorrSteps, r.SNR, r.Seed, r.Likelihood, strings.Join(alt, ";"))
}

// studyCase is one trained model of the study.
type studyCase struct {
	Data, SDE, Objective string
}

func (c studyCase) String() string { return c.Data + "/" + c.SDE + "/" + c.Objective }

// studyResult is what a case measured.
type studyResult struct {
	Gap, GapSE   float64 // model NLL − true NLL on the test rows, and its standard error
	NLL, TrueNLL float64
	NLLSE        float64 // standard error of the model's NLL itself
	NFE          float64 // mean function evaluations per row of the likelihood ODE
	TrainTime    time.Duration
	CurveSteps   []int
	CurveGaps    []float64
	Fresh        ad.Mat        // the fresh data the samples are compared with
	sampleCheck                // of the recipe's sampler
	Alt          []sampleCheck // of its alternative samplers
}

// studyData draws n rows of d from the data stream (seed, Data, step, 0).
func studyData(d sampler.Distribution, n int, seed, step uint64) ad.Mat {
	x := ad.NewMat(n, d.Dim())
	d.Sample(x, repro.New(seed, repro.Data, step, 0))
	return x
}

// studySDE returns the SDE of a case: VE with σmin = 0.01 and σmax by the
// paper's heuristic on the training data, or VP with β from 0.1 to 20.
func studySDE(kind string, train ad.Mat) sde.SDE {
	switch kind {
	case "ve":
		return sde.FromData(sde.VE{SigmaMin: sde.DefaultSigmaMin}, train)
	case "vp":
		return sde.VP{BetaMin: sde.DefaultBetaMin, BetaMax: sde.DefaultBetaMax}
	}
	panic("unknown SDE " + kind)
}

// gapOf returns the mean of true − model log-densities over the rows and
// its standard error, with the model's NLL and its standard error.
func gapOf(model, truth []float64) (gap, se, nll, nllSE, trueNLL float64) {
	n := float64(len(model))
	var sd, sm, st float64
	for i := range model {
		sd += truth[i] - model[i]
		sm += model[i]
		st += truth[i]
	}
	gap, nll, trueNLL = sd/n, -sm/n, -st/n
	var vd, vm float64
	for i := range model {
		d := truth[i] - model[i] - gap
		m := model[i] + nll
		vd += d * d
		vm += m * m
	}
	return gap, math.Sqrt(vd / (n - 1) / n), nll, math.Sqrt(vm / (n - 1) / n), trueNLL
}

// flowGap returns the NLL gap of m on x, whose true log-densities are
// truth, by the probability-flow ODE with the exact divergence.
func flowGap(s sde.SDE, src sampler.DivScoreSource, x ad.Mat, truth []float64, tol float64) (gap, se, nll, nllSE, trueNLL, nfe float64, err error) {
	fl := sampler.FlowLikelihood{SDE: s, Solver: sampler.RK45{Rtol: tol, Atol: tol}}
	lp, st, err := fl.Run(src, x)
	if err != nil {
		return 0, 0, 0, 0, 0, 0, err
	}
	gap, se, nll, nllSE, trueNLL = gapOf(lp, truth)
	return gap, se, nll, nllSE, trueNLL, st.MeanEvals(), nil
}

// studyModel is a trained case: its data, SDE and score.
type studyModel struct {
	dist        sampler.Distribution
	sde         sde.SDE
	src         sampler.DivScoreSource // the measured score: the net's weights (their average with EMA), or the exact score
	test, fresh ad.Mat                 // held-out rows, and fresh rows for the MMD test
	truth       []float64              // true log-density at the test rows
	trainTime   time.Duration
	curveSteps  []int
	curveGaps   []float64
}

// trainStudy builds the data, the SDE and the net of case c and trains it
// by recipe r (no training for the objective "exact", whose score is the
// data mixture's pushed through the SDE). With r.CurveEvery > 0 it
// records the NLL gap on the first r.CurveRows test rows (RK45 at 1e-4)
// every r.CurveEvery steps.
func trainStudy(t *testing.T, c studyCase, r studyRecipe, testRows int) *studyModel {
	t.Helper()
	ds, err := sampler.LookupDataset(c.Data)
	if err != nil {
		t.Fatal(err)
	}
	seed := r.Seed
	train := studyData(ds.Dist, r.Rows, seed, 0)
	sm := &studyModel{dist: ds.Dist, test: studyData(ds.Dist, testRows, seed, 1), fresh: studyData(ds.Dist, testRows, seed, 2)}
	sm.truth = sampler.EvalLogDensity(ds.Dist.(sampler.LogDensity), sm.test)
	curveX := ad.NewMat(min(r.CurveRows, testRows), 2)
	copy(curveX.Data, sm.test.Data[:len(curveX.Data)])
	curveTruth := sm.truth[:curveX.Rows]

	s := studySDE(c.SDE, train)
	sm.sde = s
	if c.Objective == "exact" { // the samplers' own error
		sm.src = sampler.NewPerturbedMixture(ds.Dist.(*sampler.Mixture), s)
		return sm
	}
	cfg := nn.SDENetConfig{SDE: s, Dim: 2, Hidden: r.Hidden, Activation: r.Act, FourierDim: r.FourierDim, FourierScale: r.FourierScale}
	m, err := nn.NewSDENet(cfg, repro.New(seed, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	sm.src = sampler.FromTimeScore(m) // the raw weights while training, the average Train returns after
	obj, err := ssm.New(c.Objective, m, ssm.Options{M: r.M})
	if err == nil && r.Likelihood {
		obj, err = ssm.LikelihoodWeighting(obj)
	}
	if err != nil {
		t.Fatal(err)
	}
	opt := nn.NewAdam()
	opt.LR = r.LR
	var sched ssm.Schedule
	if r.LRFinal != r.LR {
		sched = ssm.Schedule{Decay: ssm.CosineLR, FinalLR: r.LRFinal}
	}
	start := time.Now()
	var curveErr error
	curvePoint := func(step int, loss float64) {
		sm.trainTime += time.Since(start)
		gap, se, _, _, _, _, err := flowGap(s, sm.src, curveX, curveTruth, 1e-4)
		if err != nil && curveErr == nil {
			curveErr = err
		}
		sm.curveSteps = append(sm.curveSteps, step)
		sm.curveGaps = append(sm.curveGaps, gap)
		t.Logf("%v step %d: loss %.4f, NLL gap on %d rows %.4f ± %.4f", c, step, loss, curveX.Rows, gap, se)
		start = time.Now()
	}
	progress := func(p ssm.Progress) {
		if r.CurveEvery > 0 && p.Step%r.CurveEvery == 0 && p.Step < p.Steps {
			curvePoint(p.Step, p.Loss)
		}
	}
	res, err := ssm.Train(context.Background(), obj, train, ssm.Config{BatchSize: r.Batch, Steps: r.Steps, Seed: seed,
		Optimizer: opt, EMA: r.EMA, Schedule: sched, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if r.CurveEvery > 0 { // the weights that are measured: the average, with EMA
		curvePoint(res.Steps, res.Loss[len(res.Loss)-1])
	}
	sm.trainTime += time.Since(start)
	if curveErr != nil {
		t.Errorf("%v: a learning-curve point failed: %v", c, curveErr)
	}
	return sm
}

// runStudyCase trains and measures one case.
func runStudyCase(t *testing.T, c studyCase, r studyRecipe) studyResult {
	t.Helper()
	sm := trainStudy(t, c, r, 2000)
	res := studyResult{TrainTime: sm.trainTime, CurveSteps: sm.curveSteps, CurveGaps: sm.curveGaps, Fresh: sm.fresh}
	var err error
	res.Gap, res.GapSE, res.NLL, res.NLLSE, res.TrueNLL, res.NFE, err = flowGap(sm.sde, sm.src, sm.test, sm.truth, sampler.DefaultFlowTol)
	if err != nil {
		t.Fatal(err)
	}
	pc := sampler.PC{SDE: sm.sde, Predictor: r.Predictor, Corrector: r.Corrector, CorrectorSteps: r.CorrSteps, SNR: r.SNR, Steps: r.PCSteps, Denoise: true, Seed: r.Seed}
	res.sampleCheck = sampleStudy(t, sm, pc)
	for _, alt := range r.Alt {
		pc.Predictor, pc.Corrector, pc.CorrectorSteps, pc.SNR = alt.Predictor, alt.Corrector, alt.CorrSteps, alt.SNR
		res.Alt = append(res.Alt, sampleStudy(t, sm, pc))
	}
	return res
}

// sampleCheck is what a sampler's draws from a trained case measured.
type sampleCheck struct {
	Sampler string // "predictor+corrector×steps@snr"
	Samples ad.Mat
	MMD     sampler.MMDResult
	Modes   []float64 // mode weights of the samples (mixtures only)
	MeanErr float64   // ‖sample mean − true mean‖
	CovErr  float64   // max |sample cov − true cov| entry
}

// sampleStudy draws as many samples as there are test rows by pc from
// the prior and compares them with the fresh data.
func sampleStudy(t *testing.T, sm *studyModel, pc sampler.PC) sampleCheck {
	t.Helper()
	x := ad.NewMat(sm.test.Rows, 2)
	sde.SamplePrior(sm.sde, x, pc.Seed)
	if err := pc.Run(sm.src, x); err != nil {
		t.Fatal(err)
	}
	res := sampleCheck{Sampler: fmt.Sprintf("%s+%s×%d@%g", pc.Predictor, pc.Corrector, pc.CorrectorSteps, pc.SNR), Samples: x}
	res.MMD = sampler.MMDTest(x, sm.fresh, 200, pc.Seed)
	var wantMean []float64
	var wantCov ad.Mat
	switch d := sm.dist.(type) {
	case *sampler.Mixture:
		res.Modes = d.ModeWeights(x)
		wantMean, wantCov = d.Mean(), d.Cov()
	case *sampler.Banana:
		wantMean, wantCov = d.Mean(), d.Cov()
	}
	mean, cov := momentsOf(x)
	for i := range mean {
		res.MeanErr += (mean[i] - wantMean[i]) * (mean[i] - wantMean[i])
		for j := range mean {
			res.CovErr = max(res.CovErr, math.Abs(cov.At(i, j)-wantCov.At(i, j)))
		}
	}
	res.MeanErr = math.Sqrt(res.MeanErr)
	return res
}

// momentsOf returns the sample mean and covariance of the rows of x.
func momentsOf(x ad.Mat) ([]float64, ad.Mat) {
	d := x.Cols
	mean := make([]float64, d)
	for r := range x.Rows {
		for j, v := range x.Row(r) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(x.Rows)
	}
	cov := ad.NewMat(d, d)
	for r := range x.Rows {
		row := x.Row(r)
		for i := range d {
			for j := range d {
				cov.Set(i, j, cov.At(i, j)+(row[i]-mean[i])*(row[j]-mean[j]))
			}
		}
	}
	for i := range cov.Data {
		cov.Data[i] /= float64(x.Rows - 1)
	}
	return mean, cov
}

// matRows returns the rows of x.
func matRows(x ad.Mat) [][]float64 {
	rows := make([][]float64, x.Rows)
	for i := range rows {
		rows[i] = x.Row(i)
	}
	return rows
}

// writeCSV writes rows of values with a header to dir/name.
func writeCSV(t *testing.T, dir, name, header string, rows [][]float64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, header)
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSDEStudy is the full study; see the comment at the top of the file.
func TestSDEStudy(t *testing.T) {
	if os.Getenv("SCOREMATCH_SDE_STUDY") != "1" {
		t.Skip("set SCOREMATCH_SDE_STUDY=1 to run the trained-model study (minutes per model)")
	}
	out := os.Getenv("SCOREMATCH_SDE_STUDY_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := parseRecipe(defaultRecipe, os.Getenv("SCOREMATCH_SDE_STUDY_RECIPE"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []studyCase
	if sel := os.Getenv("SCOREMATCH_SDE_STUDY_CASES"); sel != "" {
		for _, s := range strings.Split(sel, ",") {
			p := strings.Split(s, "/")
			if len(p) != 3 {
				t.Fatalf("case %q is not data/sde/objective", s)
			}
			cases = append(cases, studyCase{p[0], p[1], p[2]})
		}
	} else {
		for _, d := range []string{"8gaussians", "banana"} {
			for _, s := range []string{"ve", "vp"} {
				for _, o := range []string{"sde-dsm", "sde-sse-vr"} {
					cases = append(cases, studyCase{d, s, o})
				}
			}
		}
	}
	t.Logf("recipe %v; output in %s", r, out)
	var summary [][]float64
	for i, c := range cases {
		t.Run(strings.ReplaceAll(c.String(), "/", "_"), func(t *testing.T) {
			res := runStudyCase(t, c, r)
			tag := strings.ReplaceAll(c.String(), "/", "_")
			writeCSV(t, out, "samples_"+tag+".csv", "x1,x2", matRows(res.Samples))
			writeCSV(t, out, "data_"+c.Data+".csv", "x1,x2", matRows(res.Fresh))
			curve := make([][]float64, len(res.CurveSteps))
			for k := range curve {
				curve[k] = []float64{float64(res.CurveSteps[k]), res.CurveGaps[k]}
			}
			writeCSV(t, out, "curve_"+tag+".csv", "step,nll_gap", curve)
			t.Logf("RESULT %v: NLL %.4f ± %.4f, true %.4f, gap %.4f ± %.4f (NFE %.0f); MMD² %.2e p = %.3f; mean err %.3f, max cov err %.3f; train %v",
				c, res.NLL, res.NLLSE, res.TrueNLL, res.Gap, res.GapSE, res.NFE, res.MMD.MMD2, res.MMD.PValue, res.MeanErr, res.CovErr, res.TrainTime.Round(time.Second))
			if res.Modes != nil {
				t.Logf("RESULT %v: mode weights %.3f (SE of 1/8 with 2000 samples: %.3f)", c, res.Modes, math.Sqrt(0.125*0.875/2000))
			}
			for k, a := range res.Alt {
				t.Logf("ALT %v %s: MMD² %.2e p = %.3f; mean err %.3f, max cov err %.3f; mode weights %.3f", c, a.Sampler, a.MMD.MMD2, a.MMD.PValue, a.MeanErr, a.CovErr, a.Modes)
				writeCSV(t, out, fmt.Sprintf("samples_%s_alt%d.csv", tag, k+1), "x1,x2", matRows(a.Samples))
			}
			summary = append(summary, []float64{float64(i), res.Gap, res.GapSE, res.NLL, res.TrueNLL, res.NFE, res.MMD.MMD2, res.MMD.PValue, res.TrainTime.Seconds()})
			if !(res.Gap < 0.1) {
				t.Errorf("%v: NLL gap %.4f ± %.4f, want < 0.1", c, res.Gap, res.GapSE)
			}
			if !(res.MMD.PValue > 0.05) {
				t.Errorf("%v: MMD² %.3g is significant, p = %.3f", c, res.MMD.MMD2, res.MMD.PValue)
			}
		})
	}
	writeCSV(t, out, "summary.csv", "case,gap,gap_se,nll,true_nll,nfe,mmd2,mmd_p,train_s", summary)
}

// TestSDEStudySmall is the study in miniature, always on (but for -short):
// a small VP net (64×64) trained by sde-dsm and by sde-sse-vr on 8
// Gaussians for 5000 steps (a few seconds) must come within 0.7 nats of
// the true NLL on 500 held-out points (probability flow, exact
// divergence, RK45 at 1e-4). That is half the gap of the best single
// Gaussian (the mixture's mean and covariance: 1.42 nats); an untrained
// net is several nats off. (A density uniform along the ring, with the
// radial profile right but no modes, would be about 0.42 nats off: the
// short run reaches 0.37 with sde-dsm and 0.49 with sde-sse-vr, so it
// shows learning, not the modes; the full study does.)
func TestSDEStudySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two nets")
	}
	r, err := parseRecipe(defaultRecipe, "hidden=64x64,steps=5000,batch=128,lr=3e-3,lrfinal=1e-4,ema=0,rows=20000,curve=0")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []string{"sde-dsm", "sde-sse-vr"} {
		t.Run(obj, func(t *testing.T) {
			c := studyCase{"8gaussians", "vp", obj}
			sm := trainStudy(t, c, r, 500)
			gap, se, nll, _, trueNLL, nfe, err := flowGap(sm.sde, sm.src, sm.test, sm.truth, 1e-4)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v: NLL %.4f, true %.4f, gap %.4f ± %.4f (NFE %.0f), trained in %v", c, nll, trueNLL, gap, se, nfe, sm.trainTime.Round(time.Millisecond))
			if !(gap < 0.7) {
				t.Errorf("%v: NLL gap %.4f ± %.4f, want < 0.7", c, gap, se)
			}
		})
	}
}
