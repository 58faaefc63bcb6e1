package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad/repro"
	"scorematch/ssm/implicit"
)

// writeUnitCSV writes rows×cols values in [0, 1] (blocky "images": each row
// a mixture of two prototypes plus noise) to dir/name and returns the path.
func writeUnitCSV(t *testing.T, dir, name string, rows, cols int) string {
	t.Helper()
	rng := repro.New(7, repro.Data, 0, 0)
	var b strings.Builder
	for r := range rows {
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			p := 0.1
			if (j < cols/2) == (r%2 == 0) {
				p = 0.9
			}
			v := min(1, max(0, p+0.1*rng.NormFloat64()))
			fmt.Fprintf(&b, "%.4f", v)
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// aeArgs are the flags of a small, fast auto-encoder run on data.
func aeArgs(data string, extra ...string) []string {
	return append([]string{"-data", data, "-n", "40", "-test-n", "4", "-z", "2", "-enc", "16", "-dec", "16",
		"-batch", "10", "-ais-chains", "4", "-ais-temps", "40"}, extra...)
}

// nllOf parses the test NLL and its standard error (NaN when the line
// gives none) from a run's output.
func nllOf(t *testing.T, out string) (nll, se float64) {
	t.Helper()
	var unit string
	if _, err := fmt.Sscanf(out, "test NLL  %g ± %g %s", &nll, &se, &unit); err == nil {
		return nll, se
	}
	if _, err := fmt.Sscanf(out, "test NLL  %g %s", &nll, &unit); err != nil || unit != "nats" {
		t.Fatalf("no test NLL in %q: %v", out, err)
	}
	return nll, math.NaN()
}

// TestNLLLine checks that the test NLL's AIS ± is printed only when every
// row's weights carry enough effective chains, and the test-set standard
// error whenever there are two rows or more.
func TestNLLLine(t *testing.T) {
	for _, c := range []struct {
		ess          float64
		rows, chains int
		errBar       bool
	}{{16, 50, 16, true}, {10, 50, 16, true}, {9.9, 50, 16, false}, {1.6, 50, 16, false}, {25.6, 50, 256, true}, {25, 50, 256, false}, {16, 1, 16, true}} {
		r := implicit.NLLResult{NLL: 247.05, StdErr: 0.06, TestStdErr: 3.21, Rows: make([]float64, c.rows), MinESS: c.ess}
		if c.rows == 1 {
			r.TestStdErr = math.NaN()
		}
		line := nllLine(r, c.chains, 200)
		if got := strings.HasPrefix(line, "test NLL  247.0500 ± 0.0600 nats by AIS  ("); got != c.errBar {
			t.Errorf("ESS %v of %d: %q", c.ess, c.chains, line)
		}
		if !c.errBar && !strings.Contains(line, "raise -ais-temps") {
			t.Errorf("ESS %v of %d: %q does not say how to improve it", c.ess, c.chains, line)
		}
		if got := strings.Contains(line, "test-set standard error 3.2100; "); got != (c.rows >= 2) || strings.Contains(line, "NaN") {
			t.Errorf("%d rows: %q", c.rows, line)
		}
	}
}

// TestAutoEncEndToEnd trains each kind of auto-encoder for a few steps on a
// small [0, 1] CSV file: the test NLL is printed, finite and within the
// range a 16-pixel Bernoulli model can have (0 to 16·log 2 ≈ 11.1 nats
// plus the untrained model's excess), the wae prints the codes' MMD², the
// report holds the same NLL, and ssm eval on the saved model prints the
// same NLL line, bit for bit.
func TestAutoEncEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := writeUnitCSV(t, dir, "unit.csv", 50, 16)
	for _, c := range [][]string{
		{"vae"}, {"vae", "-entropy", "gaussian"}, {"vae", "-entropy", "stein", "-k", "5"},
		{"wae"}, {"wae", "-entropy", "ssge", "-lambda", "0.5"},
	} {
		name := strings.Join(c, " ")
		model := filepath.Join(dir, "ae.safetensors")
		report := filepath.Join(dir, "r.json")
		args := append(c, aeArgs(data, "-steps", "6", "-every", "3", "-out", model, "-report", report)...)
		code, out, errs := ssmRun(t, dir, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		nll, se := nllOf(t, out)
		if math.IsNaN(nll) || nll <= 0 || nll > 40 || se < 0 || se > 5 {
			t.Errorf("%s: test NLL %v ± %v, want a finite value in (0, 40]", name, nll, se)
		}
		if got := strings.Count(errs, "step "); got != 2 {
			t.Errorf("%s: %d progress lines, want 2:\n%s", name, got, errs)
		}
		if (c[0] == "wae") != strings.Contains(out, "MMD²") {
			t.Errorf("%s: output %q: want the codes' MMD² for wae only", name, out)
		}
		rep, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(rep, &fields); err != nil {
			t.Fatalf("%s: report: %v", name, err)
		}
		if repNLL, _ := fields["test_nll"].(float64); !(math.Abs(repNLL-nll) <= 5e-5) { // printed to 4 decimals
			t.Errorf("%s: report's NLL %v, printed %v", name, repNLL, nll)
		}
		var testSE float64 // as printed, to 4 decimals
		repSE, _ := fields["test_nll_test_se"].(float64)
		if _, err := fmt.Sscanf(out[strings.Index(out, "test-set standard error"):], "test-set standard error %g;", &testSE); err != nil || !(math.Abs(repSE-testSE) <= 5e-5) || !(testSE > 0) {
			t.Errorf("%s: test-set standard error %v printed (%v), %v in the report", name, testSE, err, repSE)
		}
		code, evalOut, errs := ssmRun(t, dir, "eval", "-model", model, "-data", data)
		if code != 0 {
			t.Fatalf("%s: eval: exit %d: %s", name, code, errs)
		}
		if first := strings.SplitN(out, "\n", 2)[0] + "\n"; evalOut != first {
			t.Errorf("%s: eval printed %q, training %q", name, evalOut, first)
		}
	}
}

// TestAutoEncResume checks that a run checkpointed at step 4 and resumed to
// step 8 prints the same bytes and saves the same weights as one run of 8
// steps, and as a run without checkpoints or progress lines (-every 0).
func TestAutoEncResume(t *testing.T) {
	dir := t.TempDir()
	data := writeUnitCSV(t, dir, "unit.csv", 50, 16)
	for _, c := range [][]string{{"vae"}, {"vae", "-entropy", "ssge", "-k", "5"}, {"wae"}} {
		name := strings.Join(c, " ")
		runOut := func(tag string, extra ...string) (string, []byte) {
			model := filepath.Join(dir, tag+".safetensors")
			code, out, errs := ssmRun(t, dir, append(c, aeArgs(data, append(extra, "-out", model)...)...)...)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", name, tag, code, errs)
			}
			b, err := os.ReadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			return out, b
		}
		wantOut, wantModel := runOut("whole", "-steps", "8", "-every", "2")
		ck := filepath.Join(dir, "ck.safetensors")
		os.Remove(ck)
		runOut("first", "-steps", "4", "-every", "2", "-checkpoint", ck)
		gotOut, gotModel := runOut("resumed", "-steps", "8", "-every", "2", "-checkpoint", ck, "-resume")
		if gotOut != wantOut || !bytes.Equal(gotModel, wantModel) {
			t.Errorf("%s: resumed run differs: %q, want %q", name, gotOut, wantOut)
		}
		quietOut, quietModel := runOut("quiet", "-steps", "8", "-every", "0")
		if quietOut != wantOut || !bytes.Equal(quietModel, wantModel) {
			t.Errorf("%s: -every 0 differs: %q, want %q", name, quietOut, wantOut)
		}
		// Other settings are refused, naming the flag.
		code, _, errs := ssmRun(t, dir, append(c, aeArgs(data, "-steps", "8", "-lr", "0.01", "-checkpoint", ck, "-resume")...)...)
		if code != 2 || !strings.Contains(errs, "-lr 0.01") {
			t.Errorf("%s: resume with -lr 0.01: exit %d, %q; want 2 naming -lr", name, code, errs)
		}
	}
}

// TestAutoEncProcs checks that GOMAXPROCS 1 and 2 give the same output bytes.
func TestAutoEncProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	dir := t.TempDir()
	data := writeUnitCSV(t, dir, "unit.csv", 50, 16)
	for _, c := range [][]string{{"vae", "-entropy", "stein", "-k", "5"}, {"wae", "-entropy", "ssge"}} {
		var outs []string
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			code, out, errs := ssmRun(t, dir, append(c, aeArgs(data, "-steps", "4", "-every", "2")...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", c, code, errs)
			}
			outs = append(outs, out+errs)
		}
		if outs[0] != outs[1] {
			t.Errorf("%v: GOMAXPROCS 2 printed %q, 1 printed %q", c, outs[1], outs[0])
		}
	}
}

// TestAutoEncHelp checks that -h lists each command's flags and exits 0.
func TestAutoEncHelp(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"vae": {"-data", "-n", "-test-n", "-z", "-entropy", "-enc", "-dec", "-score-hidden", "-k", "-steps", "-batch", "-lr",
			"-seed", "-out", "-checkpoint", "-resume", "-report", "-ais-chains", "-ais-temps", "gaussian"},
		"wae": {"-lambda", "-entropy", "-score-hidden", "-checkpoint"},
	} {
		code, out, _ := ssmRun(t, "", cmd, "-h")
		if code != 0 {
			t.Errorf("%s -h: exit %d", cmd, code)
		}
		for _, f := range flags {
			if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") && !strings.Contains(out, f+",") && !strings.Contains(out, f+" (") {
				t.Errorf("%s -h does not list %s:\n%s", cmd, f, out)
			}
		}
		if cmd == "wae" && strings.Contains(out, "gaussian") {
			t.Errorf("wae -h offers the gaussian entropy:\n%s", out)
		}
	}
}
