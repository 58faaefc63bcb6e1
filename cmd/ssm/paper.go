package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
)

// The paper's density-estimation experiments (Song, Garg, Shi & Ermon,
// UAI 2019, section 5): ssm paper <experiment>. Each runs every method
// the paper compares with the same seeds and budget and writes a Markdown
// table, a JSON record and a figure into one folder.

func init() {
	register("paper", "run one of the paper's density-estimation experiments; write its table, JSON record and figure", runPaper)
}

// An experiment is one row of the paper's experiment registry.
type experiment struct {
	name, doc string
	run       func(ctx context.Context, e *env, args []string) error
}

// experiments is the registry of ssm paper, in name order; each
// experiment's file adds its row with registerExperiment.
var experiments []experiment

func registerExperiment(x experiment) {
	i, _ := slices.BinarySearchFunc(experiments, x.name, func(a experiment, name string) int { return strings.Compare(a.name, name) })
	experiments = slices.Insert(experiments, i, x)
}

func runPaper(ctx context.Context, e *env, args []string) error {
	var names []string
	for _, x := range experiments {
		names = append(names, x.name)
	}
	if len(args) == 0 {
		return badInput("paper: want an experiment: %s", strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(e.stdout, "usage: ssm paper <experiment> [flags]   (ssm paper <experiment> -h lists its flags)")
		for _, x := range experiments {
			fmt.Fprintf(e.stdout, "  %-12s %s\n", x.name, x.doc)
		}
		return nil
	}
	for _, x := range experiments {
		if x.name == args[0] {
			return x.run(ctx, e, args[1:])
		}
	}
	return badInput("paper: unknown experiment %q: want one of %s", args[0], strings.Join(names, ", "))
}

// checkOutDir checks, before any work, that the output folder of flag can
// be made or used: an existing directory, or a new name in an existing
// directory where something can be created. It creates nothing.
func checkOutDir(e *env, flag, shown string) error {
	if shown == "" {
		return badInput("%s: want a folder name", flag)
	}
	path := e.outPath(shown)
	if st, err := os.Stat(path); err == nil {
		if !st.IsDir() {
			return badInput("%s %s: is a file, want a folder", flag, shown)
		}
		return checkOutput(flag, shown, filepath.Join(path, "probe"))
	}
	parent := filepath.Dir(path)
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return badInput("%s %s: directory %s does not exist", flag, shown, filepath.Dir(shown))
	}
	return checkOutput(flag, shown, filepath.Join(parent, "probe"))
}

// parseInts parses a comma-separated list of integers in [lo, hi].
func parseInts(flag, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var v int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v < lo || v > hi || fmt.Sprint(v) != strings.TrimSpace(f) {
			return nil, badInput("%s: %q is not an integer from %d to %d", flag, f, lo, hi)
		}
		out = append(out, v)
	}
	return out, nil
}

// gaussianRows returns n rows of N(0, I_d) drawn from the data stream of
// (seed, d, part), so each part of each dimension has its own numbers.
func gaussianRows(n, d int, seed uint64, part uint64) ad.Mat {
	x := ad.NewMat(n, d)
	rng := repro.New(seed, repro.Data, uint64(d), part)
	for i := range x.Data {
		x.Data[i] = repro.Normal(rng)
	}
	return x
}

// mkdirOut makes the output folder (and no parents: checkOutDir has
// checked that the parent exists).
func mkdirOut(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return nil
}
