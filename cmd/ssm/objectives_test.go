package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"scorematch/ssm"
)

// TestObjectiveHelp checks that the help of every command with -objective
// lists exactly the registry's objectives for the models it takes, in the
// flag's line and in the table after the flags.
func TestObjectiveHelp(t *testing.T) {
	flagLine := regexp.MustCompile(`objective: ([a-z0-9, -]+) \(default`)
	for _, c := range []struct {
		cmd   string
		kinds ssm.ModelKind
	}{
		{"train", 0},
		{"gradcheck", 0},
		{"loss", ssm.EnergyModel | ssm.ScoreModel},
	} {
		var want []string
		for _, s := range ssm.Specs() {
			if c.kinds == 0 || s.Models&c.kinds != 0 {
				want = append(want, s.Name)
			}
		}
		if c.kinds == 0 && !slices.Equal(want, ssm.Names()) {
			t.Fatalf("Specs and Names disagree: %v, %v", want, ssm.Names())
		}
		code, out, errOut := ssmRun(t, t.TempDir(), c.cmd, "-h")
		if code != 0 || errOut != "" {
			t.Fatalf("%s -h: exit %d, stderr %q", c.cmd, code, errOut)
		}
		m := flagLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s -h: no -objective line in\n%s", c.cmd, out)
		}
		if got := strings.Split(m[1], ", "); !slices.Equal(got, want) {
			t.Errorf("%s -h: -objective lists %v, want %v", c.cmd, got, want)
		}
		_, table, ok := strings.Cut(out, "\nobjectives:\n")
		if !ok {
			t.Fatalf("%s -h: no objectives table in\n%s", c.cmd, out)
		}
		var listed []string
		for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
			listed = append(listed, strings.Fields(line)[0])
		}
		if !slices.Equal(listed, want) {
			t.Errorf("%s -h: the table lists %v, want %v", c.cmd, listed, want)
		}
	}
}
