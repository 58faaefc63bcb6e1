package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
)

// TestREADMEExamples runs every `go run ./cmd/ssm` line of the README's
// code blocks, as written and in order, in one directory (the later ones
// read what the earlier wrote), and checks that each exits 0. The demo is
// TestDemo's. The Fashion-MNIST line (a minute on its own) runs only with
// SCOREMATCH_README_ALL=1 and the Debian package installed (so do the
// paper's experiments, minutes each); the whole test
// only with the vector kernels (the pure-Go ones take ten times as long).
func TestREADMEExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's examples (about a minute)")
	}
	if ad.VectorLanes() == 1 {
		t.Skip("the pure-Go kernels would take ten minutes")
	}
	needReexec(t)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(mustAbs(t, filepath.Join("..", "..")), "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range readmeCommands(t) {
		if len(c.args) == 0 {
			continue // the demo: TestDemo
		}
		if strings.Contains(c.line, "fashion-mnist") || c.args[0] == "paper" {
			if _, err := os.Stat("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"); err != nil || os.Getenv("SCOREMATCH_README_ALL") != "1" {
				t.Logf("skipped (needs dataset-fashion-mnist and SCOREMATCH_README_ALL=1; the paper's experiments take minutes each): %s", c.line)
				continue
			}
		}
		cmd := exec.Command(os.Args[0], c.args...)
		cmd.Env = append(os.Environ(), "SSM_TEST_MAIN=1")
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %v: %s", c.line, err, lastLine(stderr.String()))
		}
		ran++
	}
	if ran < 10 {
		t.Errorf("ran %d examples; the README has more", ran)
	}
}

// A readmeCommand is one `go run ./cmd/ssm` line of the README's code
// blocks: the line as written and the tool's arguments.
type readmeCommand struct {
	line string
	args []string
}

// readmeCommands returns the README's `go run ./cmd/ssm` lines in order,
// with continuation lines joined and comments cut.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []readmeCommand
	for _, b := range regexp.MustCompile("(?s)```\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		for _, line := range strings.Split(strings.ReplaceAll(b[1], "\\\n", " "), "\n") {
			line, _, _ = strings.Cut(line, "#")
			args := strings.Fields(line)
			if len(args) < 3 || args[0] != "go" || args[1] != "run" || args[2] != "./cmd/ssm" {
				continue
			}
			cs = append(cs, readmeCommand{line: strings.TrimSpace(line), args: args[3:]})
		}
	}
	return cs
}

// TestREADMENCSN is the NCSN example's promise: the README's NCSN training
// line, then sample and eval with no flags beyond the files, give mode
// weights within 0.05 of 0.2/0.8 and samples that the MMD test does not
// tell from the data (p > 0.05). (Over seven training seeds the weights
// were within 0.03 and six of seven p-values above 0.05: the trained
// model's score between the modes is what limits it.)
func TestREADMENCSN(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the README's NCSN model (a few seconds)")
	}
	var train []string
	for _, c := range readmeCommands(t) {
		if len(c.args) > 0 && c.args[0] == "train" && slices.Contains(c.args, "ncsn") && slices.Contains(c.args, "-objective") {
			train = c.args
		}
	}
	if train == nil {
		t.Fatal("the README has no NCSN training line")
	}
	i := slices.Index(train, "-out")
	if i < 0 || i+1 >= len(train) {
		t.Fatalf("the README's NCSN line has no -out: %q", train)
	}
	dir := t.TempDir()
	model := filepath.Join(dir, train[i+1]) // outputs are written in dir, inputs read as given
	for _, args := range [][]string{train,
		{"sample", "-model", model, "-out", "s.csv"},
		{"eval", "-model", model, "-data", "ncsn", "-samples", filepath.Join(dir, "s.csv"), "-json"}} {
		code, out, stderr := ssmRun(t, dir, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		if args[0] != "eval" {
			continue
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatal(err)
		}
		p, _ := f["samples' MMD² p-value"].(float64)
		w, _ := f["samples' mode weights"].(string)
		t.Logf("%s: MMD² p-value %.3g, mode weights %s", strings.Join(train, " "), p, w)
		var w0, w1 float64
		if _, err := fmt.Sscan(w, &w0, &w1); err != nil || math.Abs(w0-0.2) > 0.05 || math.Abs(w1-0.8) > 0.05 {
			t.Errorf("mode weights %q, want within 0.05 of 0.2 0.8", w)
		}
		if !(p > 0.05) {
			t.Errorf("MMD² p-value %v: the samples are told from the data", p)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
