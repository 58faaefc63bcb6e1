package main

import (
	"context"
	"fmt"
	"math"
	"slices"
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
	b, err := parseBench(e, args)
	if err != nil {
		return err
	}
	times, err := b.run(ctx, e)
	if err != nil {
		return err
	}
	return b.figure(e, times)
}

// Bounds of bench's flags.
const (
	maxBenchDim   = 1 << 16
	maxBenchBatch = 1 << 14
	maxBenchSteps = 1 << 20
)

// bench is a checked ssm bench.
type bench struct {
	dims    []int
	names   []string
	specs   []modelSpec // per objective: an energy or a score MLP
	smMax   int
	hidden  string
	batch   int
	steps   int
	repeats int
	spread  bool
	out     string
}

func parseBench(e *env, args []string) (*bench, error) {
	fs := newFlags("bench", "bench [-dims 2,8,32,128,512] [-objectives grad,ssm,ssm-vr,dsm,sm] [-out scaling.png]", e.stdout)
	dims := fs.String("dims", "2,8,32,128,512", "comma-separated data dimensions D")
	objectives := fs.String("objectives", "grad,ssm,ssm-vr,dsm,sse,sse-vr,sm", "comma-separated objectives (grad: a plain gradient step)")
	b := &bench{}
	fs.IntVar(&b.smMax, "sm-max", 128, "largest D for exact score matching (its cost grows with D)")
	fs.StringVar(&b.hidden, "hidden", "256,256", "hidden widths of the MLP")
	fs.IntVar(&b.batch, "batch", 128, "batch size")
	fs.IntVar(&b.steps, "steps", 10, "timed steps per measurement")
	fs.IntVar(&b.repeats, "repeats", 3, "measurements per cell: the median is printed")
	fs.BoolVar(&b.spread, "spread", false, "also print each cell's fastest and slowest measurement")
	fs.StringVar(&b.out, "out", "scaling.png", "figure `file` (.png or .svg; an .svg twin is written beside a .png)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	for _, s := range strings.Split(*dims, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || d < 1 || d > maxBenchDim {
			return nil, badInput("-dims: %q is not an integer from 1 to %d", s, maxBenchDim)
		}
		b.dims = append(b.dims, d)
	}
	if b.steps < 1 || b.steps > maxBenchSteps {
		return nil, badInput("-steps %d: want 1 to %d", b.steps, maxBenchSteps)
	}
	if err := intIn("-repeats", b.repeats, 1, 1000); err != nil {
		return nil, err
	}
	if b.batch < 1 || b.batch > maxBenchBatch {
		return nil, badInput("-batch %d: want 1 to %d", b.batch, maxBenchBatch)
	}
	if err := intIn("-sm-max", b.smMax, 0, maxBenchDim); err != nil {
		return nil, err
	}
	if err := checkOutputs(e, map[string]outputFlag{"-out": {b.out, []string{".png", ".svg"}}}); err != nil {
		return nil, err
	}
	ms, err := parseModelSpec("-hidden", "mlp:"+b.hidden, nn.DefaultActivation, nn.KindEnergy)
	if err != nil {
		return nil, err
	}
	for _, d := range b.dims {
		score := ms
		score.kind = nn.KindScore // the larger: D outputs
		if n := score.params(d); n > maxParams {
			return nil, badInput("-hidden %s: %d parameters at D = %d, at most %d", b.hidden, n, d, maxParams)
		}
	}
	for _, name := range strings.Split(*objectives, ",") {
		name = strings.TrimSpace(name)
		o, ok := ssm.Lookup(name)
		if !ok || o.Models&(ssm.EnergyModel|ssm.ScoreModel) == 0 {
			return nil, badInput("-objectives: %q is not an objective of an energy or score MLP (see 'ssm train -h')", name)
		}
		spec := ms
		if o.Models&ssm.EnergyModel == 0 {
			spec.kind = nn.KindScore // the score-net objectives
		}
		b.names, b.specs = append(b.names, name), append(b.specs, spec)
	}
	return b, nil
}

// run times every objective at every D, printing the table as it goes,
// and returns the milliseconds per step (NaN where skipped).
func (b *bench) run(ctx context.Context, e *env) ([][]float64, error) {
	times := make([][]float64, len(b.names))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "objective\t")
	for _, d := range b.dims {
		fmt.Fprintf(tw, "D=%d\t", d)
	}
	fmt.Fprintln(tw, "\t")
	for i, name := range b.names {
		fmt.Fprintf(tw, "%s\t", name)
		for _, d := range b.dims {
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			if o, _ := ssm.Lookup(name); o.Reads&ssm.ReadsGroup != 0 && d > b.smMax {
				times[i] = append(times[i], math.NaN()) // exact SM grows with D
				fmt.Fprint(tw, "-\t")
				continue
			}
			ts := make([]float64, b.repeats)
			for r := range ts {
				t, err := timeStep(ctx, b.specs[i], name, d, b.batch, b.steps)
				if err != nil {
					return nil, objectiveError(err)
				}
				ts[r] = t
			}
			slices.Sort(ts)
			med := ts[len(ts)/2]
			if len(ts)%2 == 0 {
				med = (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2
			}
			times[i] = append(times[i], med)
			if b.spread {
				fmt.Fprintf(tw, "%.2f ms [%.2f–%.2f]\t", med, ts[0], ts[len(ts)-1])
			} else {
				fmt.Fprintf(tw, "%.2f ms\t", med)
			}
		}
		fmt.Fprintln(tw, "\t")
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "(one training step: objective, gradient and Adam update; MLP %s, softplus, batch %d, %s kernel; the median of %d measurements of %d steps)\n", b.hidden, b.batch, ad.Kernel(), b.repeats, b.steps)
	return times, nil
}

// figure draws the times against D.
func (b *bench) figure(e *env, times [][]float64) error {
	xs := make([]float64, len(b.dims))
	for i, d := range b.dims {
		xs[i] = float64(d)
	}
	var lines []plot.Line
	for i, name := range b.names {
		lines = append(lines, plot.Line{Name: name, X: xs, Y: times[i], Marks: true})
	}
	fig := &plot.Figure{Panels: []plot.Panel{{Title: "time per training step against data dimension", XLabel: "D", YLabel: "ms per step", XLog: true, YLog: true, Lines: lines}}}
	paths := []string{b.out}
	if strings.HasSuffix(strings.ToLower(b.out), ".png") {
		paths = append(paths, b.out[:len(b.out)-4]+".svg")
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
// dimension d: the time from the end of the first step to the end of step
// 1+k of one run, over k, so neither setup nor the first step's sizing of
// every buffer is counted.
func timeStep(ctx context.Context, spec modelSpec, name string, d, batch, k int) (float64, error) {
	rng := repro.New(1, repro.Data, uint64(d), 0)
	x := ad.NewMat(batch, d)
	for i := range x.Data {
		x.Data[i] = repro.Normal(rng)
	}
	m, err := spec.build(d, 1)
	if err != nil {
		return 0, err
	}
	obj, err := ssm.New(name, m, ssm.Options{Sigma: 0.1})
	if err != nil {
		return 0, err
	}
	// Time steps 2 to 1+k: the first sizes every buffer.
	var start, end time.Time
	progress := func(p ssm.Progress) {
		switch p.Step {
		case 1:
			start = time.Now()
		case 1 + k:
			end = time.Now()
		}
	}
	cfg := ssm.Config{BatchSize: batch, Steps: 1 + k, Seed: 1, Progress: progress}
	if _, err := ssm.Train(ctx, obj, x, cfg); err != nil {
		return 0, err
	}
	return float64(end.Sub(start)) / float64(k) / 1e6, nil
}
