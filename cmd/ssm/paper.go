package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// parseDistinctInts is parseInts for a list of settings each to be run
// once (a value given twice would be run twice): it refuses repeats.
func parseDistinctInts(flag, s string, lo, hi int) ([]int, error) {
	out, err := parseInts(flag, s, lo, hi)
	if err != nil {
		return nil, err
	}
	for i, v := range out {
		if slices.Contains(out[:i], v) {
			return nil, badInput("%s: %d given twice", flag, v)
		}
	}
	return out, nil
}

// parseMethods parses a comma-separated list of distinct names from
// allowed, in the order given.
func parseMethods(flag, list string, allowed []string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		switch {
		case !slices.Contains(allowed, m):
			return nil, badInput("%s: %q is not one of %s", flag, m, strings.Join(allowed, ", "))
		case slices.Contains(out, m):
			return nil, badInput("%s: %q given twice", flag, m)
		}
		out = append(out, m)
	}
	return out, nil
}

// maxSigmaGrid is the most noise levels a σ grid may hold.
const maxSigmaGrid = 64

// parseSigmaGrid parses a comma-separated grid of at most maxSigmaGrid
// noise levels σ > 0 whose σ² is finite and > 0 (a σ of 1e-200 would
// square to 0 and give the Parzen window NaN scores).
func parseSigmaGrid(flag, list string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if sq := float64(v * v); err != nil || !(v > 0) || !(sq > 0) || math.IsInf(sq, 0) {
			return nil, badInput("%s: %q is not a number > 0 whose square is finite and > 0", flag, f)
		}
		out = append(out, v)
	}
	if len(out) > maxSigmaGrid {
		return nil, badInput("%s: %d levels, at most %d", flag, len(out), maxSigmaGrid)
	}
	return out, nil
}

// At most these training and validation rows choose DSM's σ by
// parzenSigma (its distances take 8 bytes per pair: 80 MB).
const (
	parzenMaxTrain = 10000
	parzenMaxVal   = 1000
)

// chooseSigma is parzenSigma on the first parzenMaxTrain training rows and
// the first parzenMaxVal validation rows.
func chooseSigma(train, val ad.Mat, sigmas []float64) float64 {
	return parzenSigma(train.RowRange(0, min(train.Rows, parzenMaxTrain)), val.RowRange(0, min(val.Rows, parzenMaxVal)), sigmas)
}

// A recordFloat is a float64 of a JSON record that may not be finite (a
// diverged fit, a failed estimate): it is written as null when it is NaN
// or infinite, which encoding/json refuses to write, and read back from
// null as NaN.
type recordFloat float64

// MarshalJSON writes f as a JSON number, or null when it is not finite.
func (f recordFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a JSON number, or null as NaN.
func (f *recordFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = recordFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = recordFloat(v)
	return nil
}

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// fmtFinite formats v with format f, or "—" when it is not finite.
func fmtFinite(f string, v float64) string {
	if !isFinite(v) {
		return "—"
	}
	return fmt.Sprintf(f, v)
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
