package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scorematch/ad"
)

// TestREADMEExamples runs every `go run ./cmd/ssm` line of the README's
// code blocks, as written and in order, in one directory (the later ones
// read what the earlier wrote), and checks that each exits 0. The demo is
// TestDemo's. The Fashion-MNIST line (a minute on its own) runs only with
// SCOREMATCH_README_ALL=1 and the Debian package installed; the whole test
// only with the vector kernels (the pure-Go ones take ten times as long).
func TestREADMEExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's examples (about a minute)")
	}
	if ad.VectorLanes() == 1 {
		t.Skip("the pure-Go kernels would take ten minutes")
	}
	needReexec(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(mustAbs(t, filepath.Join("..", "..")), "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	ran := 0
	for _, b := range blocks {
		for _, line := range strings.Split(strings.ReplaceAll(b[1], "\\\n", " "), "\n") {
			line, _, _ = strings.Cut(line, "#")
			args := strings.Fields(line)
			if len(args) < 3 || args[0] != "go" || args[1] != "run" || args[2] != "./cmd/ssm" {
				continue
			}
			args = args[3:]
			if len(args) == 0 {
				continue // the demo: TestDemo
			}
			if strings.Contains(line, "fashion-mnist") {
				if _, err := os.Stat("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"); err != nil || os.Getenv("SCOREMATCH_README_ALL") != "1" {
					t.Logf("skipped (needs dataset-fashion-mnist and SCOREMATCH_README_ALL=1): %s", strings.TrimSpace(line))
					continue
				}
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "SSM_TEST_MAIN=1")
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s: %v: %s", strings.TrimSpace(line), err, lastLine(stderr.String()))
			}
			ran++
		}
	}
	if ran < 10 {
		t.Errorf("ran %d examples; the README has more", ran)
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
