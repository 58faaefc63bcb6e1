package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/cmd/ssm/internal/plot"
	"scorematch/nn"
	"scorematch/ssm"
)

func init() {
	register("bench", "time a training step of every objective against D; draw scaling.png", runBench)
}

func runBench(ctx context.Context, e *env, args []string) error {
	fs := newFlags("bench", "bench [-dims 2,8,32,128,512] [-objectives grad,ssm,ssm-vr,dsm,sm] [-out scaling.png]", e.stdout)
	dims := fs.String("dims", "2,8,32,128,512", "comma-separated data dimensions D")
	objectives := fs.String("objectives", "grad,ssm,ssm-vr,dsm,sse,sse-vr,sm", "comma-separated objectives (grad: a plain gradient step)")
	smMax := fs.Int("sm-max", 128, "largest D for exact score matching (its cost grows with D)")
	hidden := fs.String("hidden", "256,256", "hidden widths of the MLP")
	batch := fs.Int("batch", 128, "batch size")
	steps := fs.Int("steps", 10, "timed steps per measurement")
	out := fs.String("out", "scaling.png", "figure `file` (.png or .svg; an .svg twin is written beside a .png)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var ds []int
	for _, s := range strings.Split(*dims, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || d < 1 {
			return badInput("-dims: %q is not a positive integer", s)
		}
		ds = append(ds, d)
	}
	names := strings.Split(*objectives, ",")
	if *steps < 1 || *batch < 1 {
		return badInput("-steps and -batch must be at least 1")
	}
	ms, err := parseModelSpec("mlp:"+*hidden, nn.DefaultActivation, nn.KindEnergy)
	if err != nil {
		return err
	}
	times := make([][]float64, len(names)) // ms per step, NaN when skipped
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "objective\t")
	for _, d := range ds {
		fmt.Fprintf(tw, "D=%d\t", d)
	}
	fmt.Fprintln(tw, "\t")
	for i, name := range names {
		name = strings.TrimSpace(name)
		names[i] = name
		fmt.Fprintf(tw, "%s\t", name)
		for _, d := range ds {
			if ctx.Err() != nil {
				return errInterrupted
			}
			if name == "sm" && d > *smMax {
				times[i] = append(times[i], math.NaN())
				fmt.Fprint(tw, "-\t")
				continue
			}
			spec := ms
			if o, ok := ssm.Lookup(name); ok && o.Models&ssm.EnergyModel == 0 {
				spec.kind = nn.KindScore // the score-net objectives
			}
			t, err := timeStep(ctx, spec, name, d, *batch, *steps)
			if err != nil {
				return badInput("-objectives: %v", err)
			}
			times[i] = append(times[i], t)
			fmt.Fprintf(tw, "%.2f ms\t", t)
		}
		fmt.Fprintln(tw, "\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "(one training step: objective, gradient and Adam update; MLP %s, softplus, batch %d, %s kernel)\n", *hidden, *batch, ad.Kernel())
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	var lines []plot.Line
	for i, name := range names {
		lines = append(lines, plot.Line{Name: name, X: xs, Y: times[i], Marks: true})
	}
	fig := &plot.Figure{Panels: []plot.Panel{{Title: "time per training step against data dimension", XLabel: "D", YLabel: "ms per step", XLog: true, YLog: true, Lines: lines}}}
	paths := []string{*out}
	if strings.HasSuffix(strings.ToLower(*out), ".png") {
		paths = append(paths, (*out)[:len(*out)-4]+".svg")
	}
	for _, p := range paths {
		if err := fig.Save(e.outPath(p)); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "figure written to %s\n", strings.Join(paths, " and "))
	return nil
}

// timeStep returns the milliseconds per training step of an objective at
// dimension d: (time of 1+k steps − time of 1 step)/k, so buffer sizing in
// the first step is not counted.
func timeStep(ctx context.Context, spec modelSpec, name string, d, batch, k int) (float64, error) {
	rng := repro.New(1, repro.Data, uint64(d), 0)
	x := ad.NewMat(batch, d)
	for i := range x.Data {
		x.Data[i] = rng.NormFloat64()
	}
	run := func(steps int) (time.Duration, error) {
		m, err := spec.build(d, 1)
		if err != nil {
			return 0, err
		}
		obj, err := ssm.New(name, m, ssm.Options{Sigma: 0.1})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		_, err = ssm.Train(ctx, obj, x, ssm.Config{BatchSize: batch, Steps: steps, Seed: 1})
		return time.Since(start), err
	}
	t1, err := run(1)
	if err != nil {
		return 0, err
	}
	tk, err := run(1 + k)
	if err != nil {
		return 0, err
	}
	return math.Max(0, float64(tk-t1)) / float64(k) / 1e6, nil
}
