package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// parsers are the commands' flag parsers with their checks that read no
// data: what FuzzCommandLine exercises (the work itself is not run).
var parsers = map[string]func(e *env, args []string) error{
	"train": func(e *env, args []string) error {
		f, err := parseTrain(e, args)
		if err != nil {
			return err
		}
		return f.check(e)
	},
	"eval":  func(e *env, args []string) error { _, err := parseEval(e, args); return err },
	"loss":  func(e *env, args []string) error { _, err := parseLoss(e, args); return err },
	"bench": func(e *env, args []string) error { _, err := parseBench(e, args); return err },
	"sample": func(e *env, args []string) error {
		_, err := parseSample(e, args)
		return err
	},
}

// FuzzCommandLine feeds arbitrary command lines to the flag parsers and
// their checks: they must never panic, and every refusal must be one line.
// Lines with paths outside the working directory are skipped, so that the
// checks' probe files stay in the test's directory.
func FuzzCommandLine(f *testing.F) {
	for _, c := range badInputCases {
		if !strings.Contains(c.args, "{") {
			f.Add(c.args)
		}
	}
	for _, s := range []string{
		"train", "train -objective dsm -sigma 0.2", "train -model ncsn:8 -objective ncsn -sigmas 5:0.1:8",
		"train -optimizer sgd -momentum 0.9 -lr 0.1", "train -m 4 -projection sphere -clip 1 -val 0.2",
		"eval -model m.safetensors -grid 100", "bench -dims 2,4 -objectives grad,sm -steps 1",
		"sample -score exact -data ncsn -sampler annealed -sigmas 20:1:10", "loss -model m.safetensors -x x.csv",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "/\\") || strings.Contains(line, "..") {
			t.Skip()
		}
		args := strings.Fields(line)
		if len(args) == 0 {
			return
		}
		parse, ok := parsers[args[0]]
		if !ok {
			return
		}
		e := &env{stdout: io.Discard, stderr: io.Discard, dir: t.TempDir()}
		err := parse(e, args[1:])
		if err == nil || errors.Is(err, errHelp) {
			return
		}
		if msg := err.Error(); strings.Contains(strings.TrimSpace(msg), "\n") {
			t.Errorf("%q: a message of several lines: %q", line, msg)
		}
	})
}
