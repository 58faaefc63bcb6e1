package main

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
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
	fs := newFlags("demo", "[demo] [-data 8gaussians] [-steps 2000] [-seed 1] [-out ssm-out]", e.stdout)
	data := fs.String("data", "8gaussians", "2-D built-in dataset with a density: ncsn, 8gaussians, grid or banana")
	steps := fs.Int("steps", 2000, "training steps")
	seed := fs.Uint64("seed", 1, "random seed")
	outDir := fs.String("out", "ssm-out", "output `directory`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *steps < 1 {
		return badInput("-steps %d: want at least 1", *steps)
	}
	ds, err := sampler.LookupDataset(*data)
	if err != nil {
		return badInput("-data %q: not a built-in dataset (see 'ssm datasets')", *data)
	}
	truth, ok := ds.Dist.(sampler.LogDensity)
	if !ok || ds.Dist.Dim() != 2 {
		return badInput("-data %s: the demo needs a 2-D dataset with a known density", *data)
	}
	dir := e.outPath(*outDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()

	// Train on 8000 samples (a tenth held out for validation).
	f := &trainFlags{data: *data, n: 8000, model: "mlp:128,128", act: "softplus", kind: nn.KindEnergy,
		objective: "ssm-vr", projection: "rademacher", m: 1, optimizer: "adam", lr: 2e-3, batch: 256,
		steps: *steps, seed: *seed, val: 0.1, evalEvery: 100,
		out: filepath.Join(*outDir, "model.safetensors")}
	run, err := f.prepare(e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "training an MLP energy net (2 → 128 → 128 → 1, softplus) by SSM-VR on %d samples of %s (%s)\n", run.x.Rows, ds.Name, ds.Description)
	res, err := run.train(ctx, e)
	if err != nil {
		return err
	}
	trained := time.Since(start)
	energy := run.model.(nn.Energy)
	model := sampler.FromEnergy(energy)

	// Held-out evaluation on fresh samples.
	rng := repro.New(*seed, repro.Data, 1, 0) // a second draw: the held-out set
	test := ad.NewMat(4000, 2)
	ds.Dist.Sample(test, rng)
	sm, _ := ssm.New("sm", run.model, ssm.Options{})
	heldSM := sm.NewWorker().Eval(&ssm.Batch{X: test}, false) / float64(test.Rows)
	trueScore := sampler.EvalScore(truth, test)
	optimum := 0.0 // E_p[½‖s‖² + tr ∇s] = −½E_p‖s‖² (integration by parts)
	for _, v := range trueScore.Data {
		optimum -= 0.5 * v * v / float64(test.Rows)
	}
	fisher := sampler.FisherDivergence(sampler.EvalScore(model, test), trueScore)
	lo, hi := box(test)
	logZ, err := sampler.GridLogZ(model, lo, hi, 400)
	if err != nil {
		return err
	}
	ll := sampler.LogLikelihood(model, test, logZ)
	trueLL := sampler.LogLikelihood(truth, test, 0)

	// Sample: annealed Langevin with the tempered model score, from uniform
	// starts over the box.
	const nSamples = 2000
	xs := ad.NewMat(nSamples, 2)
	for i := range nSamples {
		for j := range 2 {
			xs.Set(i, j, lo[j]+(hi[j]-lo[j])*rng.Float64())
		}
	}
	sigmas := sampler.GeometricSigmas(4, 1, 10)
	al := sampler.AnnealedLangevin{Sigmas: sigmas, Step: 0.01, Steps: 60, Seed: *seed}
	if err := al.Run(sampler.Tempered(model, sigmas[len(sigmas)-1]), xs); err != nil {
		return err
	}
	fresh := ad.NewMat(nSamples, 2)
	ds.Dist.Sample(fresh, rng)
	mmd := sampler.MMDTest(xs.RowRange(0, 1000), fresh.RowRange(0, 1000), 200, *seed)

	// Figures.
	files := []string{}
	save := func(name string, fig *plot.Figure) error {
		for _, ext := range []string{".png", ".svg"} {
			p := filepath.Join(dir, name+ext)
			if err := fig.Save(p); err != nil {
				return err
			}
			files = append(files, filepath.Join(*outDir, name+ext))
		}
		return nil
	}
	if err := save("density", densityFigure(model, truth, logZ, lo, hi)); err != nil {
		return err
	}
	if err := save("samples", samplesFigure(test.RowRange(0, nSamples), xs, lo, hi)); err != nil {
		return err
	}
	if err := save("loss", lossFigure(res)); err != nil {
		return err
	}
	report := run.reportOf(res)
	report["evaluation"] = map[string]any{
		"test_samples": test.Rows, "exact_sm_loss": heldSM, "exact_sm_optimum": optimum,
		"fisher_divergence": fisher, "log_likelihood": ll, "true_log_likelihood": trueLL,
		"log_z": logZ, "grid": map[string]any{"lo": lo, "hi": hi, "n": 400},
		"mmd2": mmd.MMD2, "mmd_p_value": mmd.PValue, "sampler": map[string]any{
			"kind": "annealed Langevin, tempered (T = σ²/σ_L²)", "sigmas": sigmas, "step": al.Step, "steps_per_level": al.Steps, "n": nSamples},
	}
	report["seconds"] = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(dir, "report.json"), report); err != nil {
		return err
	}
	files = append(files, f.out, filepath.Join(*outDir, "report.json"))

	w := e.stdout
	fmt.Fprintf(w, "\n%s: %d steps of SSM-VR in %.1fs, evaluation and sampling %.1fs\n", ds.Name, res.Steps, trained.Seconds(), (time.Since(start) - trained).Seconds())
	fmt.Fprintf(w, "  held-out exact SM loss  %9.4f   (optimum, the true density: %.4f)\n", heldSM, optimum)
	fmt.Fprintf(w, "  Fisher divergence       %9.4f   (½E‖s_model − s_true‖² on %d test points)\n", fisher, test.Rows)
	fmt.Fprintf(w, "  held-out log-likelihood %9.4f   (true density: %.4f; grid quadrature, 400² points)\n", ll, trueLL)
	fmt.Fprintf(w, "  samples' MMD² to data   %9.5f   (permutation p-value %.3f; %d annealed Langevin samples)\n", mmd.MMD2, mmd.PValue, nSamples)
	fmt.Fprintf(w, "files:\n")
	for _, p := range files {
		fmt.Fprintf(w, "  %s\n", p)
	}
	return nil
}

// box returns a square box around the data with a 15% margin.
func box(x ad.Mat) (lo, hi []float64) {
	lo, hi = []float64{math.Inf(1), math.Inf(1)}, []float64{math.Inf(-1), math.Inf(-1)}
	for i := range x.Rows {
		for j := range 2 {
			lo[j], hi[j] = math.Min(lo[j], x.At(i, j)), math.Max(hi[j], x.At(i, j))
		}
	}
	c0, c1 := (lo[0]+hi[0])/2, (lo[1]+hi[1])/2
	half := 1.15 * math.Max(hi[0]-lo[0], hi[1]-lo[1]) / 2
	return []float64{c0 - half, c1 - half}, []float64{c0 + half, c1 + half}
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
		zm.Data[i], zt.Data[i] = math.Exp(lm[i]-logZ), math.Exp(lt[i])
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
