package main

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm"
)

func init() {
	register("demo", "the default run: train, sample, evaluate and plot on a 2-D dataset", runDemo)
}

// runDemo is what `ssm` does with no arguments: train an MLP energy net by
// SSM-VR on a built-in 2-D dataset with a known density, sample it with
// annealed (tempered) Langevin dynamics, evaluate it against the truth and
// write plots, the model and a report.
func runDemo(ctx context.Context, e *env, args []string) error {
	d, err := parseDemo(e, args)
	if err != nil {
		return err
	}
	d.start = time.Now()
	fmt.Fprintf(e.stderr, "training an MLP energy net (2 → 128 → 128 → 1, softplus) by SSM-VR on %d samples of %s (%s)\n", d.run.x.Rows, d.ds.Name, d.ds.Description)
	if d.res, err = d.run.train(ctx, e); err != nil {
		return err
	}
	d.trained = time.Since(d.start)
	d.model = sampler.FromEnergy(d.run.model.(nn.Energy))
	if err := d.evaluate(); err != nil {
		return err
	}
	if err := d.sample(); err != nil {
		return err
	}
	files, err := d.write()
	if err != nil {
		return err
	}
	d.summary(e.stdout, files)
	return nil
}

// demo is the state of one demo run.
type demo struct {
	seed   uint64
	outDir string // as given; dir is its resolved path
	dir    string
	ds     sampler.Dataset
	truth  sampler.LogDensity
	f      *trainFlags
	run    *trainRun
	res    *ssm.Result
	model  sampler.LogDensity

	start   time.Time
	trained time.Duration
	rng     *rand.Rand // held-out draws and sampler starts

	test                    ad.Mat // the held-out set
	heldSM, optimum, fisher float64
	lo, hi                  []float64 // the grid's box
	logZ, ll, trueLL        float64
	xs                      ad.Mat // the model's samples
	sigmas                  []float64
	langevin                sampler.AnnealedLangevin
	mmd                     sampler.MMDResult
}

// The demo's fixed sizes.
const (
	demoTest    = 4000 // held-out samples
	demoGrid    = 400  // quadrature points per axis
	demoSamples = 2000 // Langevin samples
)

// parseDemo reads the flags and prepares the training run.
func parseDemo(e *env, args []string) (*demo, error) {
	fs := newFlags("demo", "[demo] [-data 8gaussians] [-steps 2000] [-seed 1] [-out ssm-out]", e.stdout)
	data := fs.String("data", "8gaussians", "2-D built-in dataset with a density: ncsn, 8gaussians, grid or banana")
	steps := fs.Int("steps", 2000, "training steps")
	seed := fs.Uint64("seed", 1, "random seed")
	outDir := fs.String("out", "ssm-out", "output `directory`")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if err := intIn("-steps", *steps, 1, maxSteps); err != nil {
		return nil, err
	}
	if st, err := os.Stat(e.outPath(*outDir)); err == nil && !st.IsDir() {
		return nil, badInput("-out %s: is a file, want a directory", *outDir)
	} else if err != nil {
		if st, err := os.Stat(filepath.Dir(e.outPath(*outDir))); err != nil || !st.IsDir() {
			return nil, badInput("-out %s: its parent directory does not exist", *outDir)
		}
	}
	ds, err := sampler.LookupDataset(*data)
	if err != nil {
		return nil, badInput("-data %q: not a built-in dataset (see 'ssm datasets')", *data)
	}
	truth, ok := ds.Dist.(sampler.LogDensity)
	if !ok || ds.Dist.Dim() != 2 {
		return nil, badInput("-data %s: the demo needs a 2-D dataset with a known density", *data)
	}
	d := &demo{seed: *seed, outDir: *outDir, dir: e.outPath(*outDir), ds: ds, truth: truth}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	// Train on 8000 samples (a tenth held out for validation).
	d.f = &trainFlags{data: *data, n: 8000, model: "mlp:128,128", act: "softplus", kind: nn.KindEnergy,
		objective: "ssm-vr", projection: "rademacher", m: 1, optimizer: "adam", lr: 2e-3, batch: 256,
		steps: *steps, seed: *seed, val: 0.1, evalEvery: 100,
		out: filepath.Join(*outDir, "model.safetensors")}
	if d.run, err = d.f.prepare(e); err != nil {
		return nil, err
	}
	return d, nil
}

// evaluate compares the trained model with the truth on fresh samples.
func (d *demo) evaluate() error {
	d.rng = repro.New(d.seed, repro.Data, 1, 0) // a second draw: the held-out set
	d.test = ad.NewMat(demoTest, 2)
	d.ds.Dist.Sample(d.test, d.rng)
	sm, err := ssm.New("sm", d.run.model, ssm.Options{})
	if err != nil {
		return err
	}
	d.heldSM = sm.NewWorker().Eval(&ssm.Batch{X: d.test}, false) / float64(d.test.Rows)
	trueScore := sampler.EvalScore(d.truth, d.test)
	d.optimum = 0 // E_p[½‖s‖² + tr ∇s] = −½E_p‖s‖² (integration by parts)
	for _, v := range trueScore.Data {
		d.optimum -= 0.5 * v * v / float64(d.test.Rows)
	}
	d.fisher = sampler.FisherDivergence(sampler.EvalScore(d.model, d.test), trueScore)
	d.lo, d.hi = box(d.test)
	if d.logZ, err = sampler.GridLogZ(d.model, d.lo, d.hi, demoGrid); err != nil {
		return err
	}
	d.ll = sampler.LogLikelihood(d.model, d.test, d.logZ)
	d.trueLL = sampler.LogLikelihood(d.truth, d.test, 0)
	return nil
}

// sample draws from the model by annealed Langevin with the tempered
// model score, from uniform starts over the box, and tests the samples
// against fresh data.
func (d *demo) sample() error {
	d.xs = ad.NewMat(demoSamples, 2)
	for i := range demoSamples {
		for j := range 2 {
			d.xs.Set(i, j, d.lo[j]+float64((d.hi[j]-d.lo[j])*d.rng.Float64()))
		}
	}
	d.sigmas = sampler.GeometricSigmas(4, 1, 10)
	d.langevin = sampler.AnnealedLangevin{Sigmas: d.sigmas, Step: 0.01, Steps: 60, Seed: d.seed}
	if err := d.langevin.Run(sampler.Tempered(d.model, d.sigmas[len(d.sigmas)-1]), d.xs); err != nil {
		return err
	}
	fresh := ad.NewMat(demoSamples, 2)
	d.ds.Dist.Sample(fresh, d.rng)
	d.mmd = sampler.MMDTest(d.xs.RowRange(0, 1000), fresh.RowRange(0, 1000), 200, d.seed)
	return nil
}

// write saves the figures and the report and returns the files written
// (the model too), as the user named them.
func (d *demo) write() ([]string, error) {
	var files []string
	save := func(name string, fig *plot.Figure) error {
		for _, ext := range []string{".png", ".svg"} {
			if err := fig.Save(filepath.Join(d.dir, name+ext)); err != nil {
				return err
			}
			files = append(files, filepath.Join(d.outDir, name+ext))
		}
		return nil
	}
	if err := save("density", densityFigure(d.model, d.truth, d.logZ, d.lo, d.hi)); err != nil {
		return nil, err
	}
	if err := save("samples", samplesFigure(d.test.RowRange(0, demoSamples), d.xs, d.lo, d.hi)); err != nil {
		return nil, err
	}
	if err := save("loss", lossFigure(d.res)); err != nil {
		return nil, err
	}
	report := d.run.reportOf(d.res)
	report["evaluation"] = map[string]any{
		"test_samples": d.test.Rows, "exact_sm_loss": d.heldSM, "exact_sm_optimum": d.optimum,
		"fisher_divergence": d.fisher, "log_likelihood": d.ll, "true_log_likelihood": d.trueLL,
		"log_z": d.logZ, "grid": map[string]any{"lo": d.lo, "hi": d.hi, "n": demoGrid},
		"mmd2": d.mmd.MMD2, "mmd_p_value": d.mmd.PValue, "sampler": map[string]any{
			"kind": "annealed Langevin, tempered (T = σ²/σ_L²)", "sigmas": d.sigmas, "step": d.langevin.Step,
			"steps_per_level": d.langevin.Steps, "n": demoSamples},
	}
	report["seconds"] = time.Since(d.start).Seconds()
	if err := writeJSON(filepath.Join(d.dir, "report.json"), report); err != nil {
		return nil, err
	}
	return append(files, d.f.out, filepath.Join(d.outDir, "report.json")), nil
}

// summary prints the demo's figures and files.
func (d *demo) summary(w io.Writer, files []string) {
	fmt.Fprintf(w, "\n%s: %d steps of SSM-VR in %.1fs, evaluation and sampling %.1fs\n", d.ds.Name, d.res.Steps, d.trained.Seconds(), (time.Since(d.start) - d.trained).Seconds())
	fmt.Fprintf(w, "  held-out exact SM loss  %9.4f   (optimum, the true density: %.4f)\n", d.heldSM, d.optimum)
	fmt.Fprintf(w, "  Fisher divergence       %9.4f   (½E‖s_model − s_true‖² on %d test points)\n", d.fisher, d.test.Rows)
	fmt.Fprintf(w, "  held-out log-likelihood %9.4f   (true density: %.4f; grid quadrature, %d² points)\n", d.ll, d.trueLL, demoGrid)
	fmt.Fprintf(w, "  samples' MMD² to data   %9.5f   (permutation p-value %.3f; %d annealed Langevin samples)\n", d.mmd.MMD2, d.mmd.PValue, demoSamples)
	fmt.Fprintf(w, "files:\n")
	for _, p := range files {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// box returns a box around the data (x has 1 or 2 columns), square in
// 2-D, with a 15% margin.
func box(x ad.Mat) (lo, hi []float64) {
	d := x.Cols
	lo, hi = make([]float64, d), make([]float64, d)
	for j := range d {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
		for i := range x.Rows {
			lo[j], hi[j] = math.Min(lo[j], x.At(i, j)), math.Max(hi[j], x.At(i, j))
		}
	}
	width := 0.0 // the widest extent: a 2-D box is square
	for j := range d {
		width = math.Max(width, hi[j]-lo[j])
	}
	half := float64(1.15 * width / 2)
	if !(half > 0) {
		half = 1 // one point, or a constant column: a unit box around it
	}
	for j := range d {
		c := float64((lo[j] + hi[j]) / 2)
		lo[j], hi[j] = c-half, c+half
	}
	return lo, hi
}

// densityFigure draws the learned and the true density side by side on one
// colour scale.
func densityFigure(model, truth sampler.LogDensity, logZ float64, lo, hi []float64) *plot.Figure {
	const n = 160
	xr, yr := plot.Range{Min: lo[0], Max: hi[0]}, plot.Range{Min: lo[1], Max: hi[1]}
	pts := plot.GridPoints(xr, yr, n, n)
	lm, lt := sampler.EvalLogDensity(model, pts), sampler.EvalLogDensity(truth, pts)
	zm, zt := ad.NewMat(n, n), ad.NewMat(n, n)
	top := 0.0
	for i := range lm {
		zm.Data[i], zt.Data[i] = rmath.Exp(lm[i]-logZ), rmath.Exp(lt[i])
		top = math.Max(top, math.Max(zm.Data[i], zt.Data[i]))
	}
	scale := plot.Range{Min: 0, Max: top}
	return &plot.Figure{Title: "density", Panels: []plot.Panel{
		{Title: "learned (SSM-VR)", XLabel: "x1", YLabel: "x2", Equal: true, Heat: &plot.Heat{Z: zm, X: xr, Y: yr, Scale: scale, Label: "density"}},
		{Title: "true", XLabel: "x1", YLabel: "x2", Equal: true, Heat: &plot.Heat{Z: zt, X: xr, Y: yr, Scale: scale, Label: "density"}},
	}}
}

// samplesFigure draws the samples over the data.
func samplesFigure(data, samples ad.Mat, lo, hi []float64) *plot.Figure {
	return &plot.Figure{Panels: []plot.Panel{{
		Title: "annealed Langevin samples over the data", XLabel: "x1", YLabel: "x2", Equal: true,
		X: plot.Range{Min: lo[0], Max: hi[0]}, Y: plot.Range{Min: lo[1], Max: hi[1]},
		Scatters: []plot.Scatter{
			{Name: "data", Points: data, Color: color.NRGBA{R: 120, G: 120, B: 120, A: 110}},
			{Name: "samples", Points: samples, Color: color.NRGBA{R: 230, G: 110, B: 20, A: 160}},
		},
	}}}
}

// lossFigure draws the training loss and the validation loss against step.
func lossFigure(res *ssm.Result) *plot.Figure {
	steps := make([]float64, len(res.Loss))
	for i := range steps {
		steps[i] = float64(i + 1)
	}
	vs := make([]float64, len(res.ValSteps))
	for i, s := range res.ValSteps {
		vs[i] = float64(s)
	}
	return &plot.Figure{Panels: []plot.Panel{{
		Title: "SSM-VR loss", XLabel: "step", YLabel: "loss",
		Lines: []plot.Line{
			{Name: "training (per batch)", X: steps, Y: smooth(res.Loss, 25)},
			{Name: "validation", X: vs, Y: res.ValLoss, Marks: true},
		},
	}}}
}

// smooth returns the trailing moving average of xs over w points.
func smooth(xs []float64, w int) []float64 {
	out := make([]float64, len(xs))
	s := 0.0
	for i, v := range xs {
		s += v
		if i >= w {
			s -= xs[i-w]
		}
		out[i] = s / float64(min(i+1, w))
	}
	return out
}
