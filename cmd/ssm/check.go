package main

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The checks every command runs on its flags before any work: each returns
// an input error naming the flag as the user typed it and what it expects.

// intIn checks lo ≤ v ≤ hi.
func intIn(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return badInput("%s %d: want %d to %d", flag, v, lo, hi)
	}
	return nil
}

// positive checks that v is finite and > 0.
func positive(flag string, v float64, what string) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return badInput("%s %v: want a finite %s > 0", flag, v, what)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// checkOutput checks, before any work, that the output file of flag (given
// as shown, at path) can be written: a name with one of the extensions exts
// (any when none are given), not a directory, in an existing directory
// where a file can be created. The probe file it creates is removed at once.
func checkOutput(flag, shown, path string, exts ...string) error {
	if path == "" {
		return badInput("%s: want a file name", flag)
	}
	if ext := strings.ToLower(filepath.Ext(path)); len(exts) > 0 && !slices.Contains(exts, ext) {
		return badInput("%s %s: want a %s file", flag, shown, strings.Join(exts, " or "))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return badInput("%s %s: is a directory, want a file", flag, shown)
	} else if err == nil && !st.Mode().IsRegular() {
		return badInput("%s %s: is not a regular file", flag, shown)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return badInput("%s %s: directory %s does not exist", flag, shown, filepath.Dir(shown))
	}
	probe, err := os.CreateTemp(dir, ".ssm-probe-*")
	if err != nil {
		return badInput("%s %s: cannot write in %s", flag, shown, filepath.Dir(shown))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkDistinct refuses two output flags naming one file.
func checkDistinct(flags map[string]string) error {
	seen := map[string]string{}
	for _, f := range slices.Sorted(maps.Keys(flags)) {
		p := flags[f]
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if other, ok := seen[abs]; ok {
			return badInput("%s and %s both name %s: want different files", other, f, p)
		}
		seen[abs] = f
	}
	return nil
}

// unusedFlags refuses flags the user set that the run would ignore: set is
// setFlags' result, used reports whether a flag is read.
func unusedFlags(set map[string]bool, used func(name string) bool, why func(name string) string) error {
	for _, n := range slices.Sorted(maps.Keys(set)) {
		if !used(n) {
			return badInput("-%s: %s", n, why(n))
		}
	}
	return nil
}

// bytesOf formats a count of float64 values as memory.
func bytesOf(values int) string {
	b := float64(values) * 8
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", b/(1<<10))
}
