package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"scorematch/ad"
	"strings"
	"testing"
)

func init() {
	badInputCases = append(badInputCases, []struct{ args, want string }{
		{"paper scalability -dims 4,4", "-dims"},
		{"paper scalability -dims 2,3,2", "-dims"},
		{"paper scalability -dsm-sigmas 1e-200", "-dsm-sigmas"}, // σ² underflows to 0
		{"paper scalability -dsm-sigmas 0.1,1e200", "-dsm-sigmas"},
		{"paper scalability -methods ssm,ssm", "-methods"},
	}...)
}

// TestPaperScalabilitySkippedAndDiverged checks that a study with an
// exact-SM cell skipped above -sm-max, and one whose every method
// diverges (learning rate 1e300), still writes its files: the skipped cell
// with 0 ms per step and its note, the diverged cells with their reason,
// null losses (read back as NaN) and "diverged" in the table.
func TestPaperScalabilitySkippedAndDiverged(t *testing.T) {
	dir := t.TempDir()
	read := func(out string) []studyCell {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(dir, out, "scalability.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Cells []studyCell }
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Cells) != 2 {
			t.Fatalf("%s: %d cells, want 2", out, len(rec.Cells))
		}
		return rec.Cells
	}
	code, _, errs := ssmRun(t, dir, "paper", "scalability", "-dims", "3", "-sm-max", "2", "-methods", "sm,ssm-vr", "-steps", "2", "-hidden", "8", "-ll-max", "0", "-out", "skip")
	if code != 0 {
		t.Fatalf("skipped cell: exit %d: %s", code, errs)
	}
	c := read("skip")
	if c[0].Skipped == "" || c[0].MsPerStep != 0 || c[1].Skipped != "" || !(c[1].MsPerStep > 0) {
		t.Errorf("skipped cell: sm %q %v ms, ssm-vr %q %v ms", c[0].Skipped, c[0].MsPerStep, c[1].Skipped, c[1].MsPerStep)
	}
	code, out, errs := ssmRun(t, dir, "paper", "scalability", "-dims", "2", "-methods", "sm,ssm-vr", "-steps", "5", "-hidden", "8", "-lr", "1e300", "-out", "div")
	if code != 0 {
		t.Fatalf("diverged: exit %d: %s", code, errs)
	}
	for _, c := range read("div") {
		if !strings.Contains(c.Diverged, "not finite") || !math.IsNaN(float64(c.SMLoss)) || !math.IsNaN(float64(c.Fisher)) || c.LogLik != nil {
			t.Errorf("%s: diverged %q, SM loss %v, Fisher %v, log-likelihood %v", c.Method, c.Diverged, c.SMLoss, c.Fisher, c.LogLik)
		}
	}
	if n := strings.Count(out, "| diverged |"); n != 6 {
		t.Errorf("%d cells read diverged, want 6 (3 measures × 2 methods):\n%s", n, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "div", "scalability.svg")); err != nil {
		t.Error(err)
	}
}

// TestRecordFloat checks that a record's float writes null when it is not
// finite, a number (as encoding/json writes a float64) otherwise, and
// reads null back as NaN.
func TestRecordFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{1.5, "1.5"}, {1e-7, "1e-7"}, {1e21, "1e+21"}, {math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"}} {
		b, err := json.Marshal(struct{ X recordFloat }{recordFloat(tc.v)})
		if err != nil || string(b) != `{"X":`+tc.want+`}` {
			t.Errorf("%v: %s, %v; want %s", tc.v, b, err, tc.want)
			continue
		}
		var back struct{ X recordFloat }
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := float64(back.X); got != tc.v && !(math.IsNaN(got) && !isFinite(tc.v)) {
			t.Errorf("%v read back as %v", tc.v, got)
		}
	}
}

// TestPaperScalability runs a small scalability study and checks its
// outputs and the measures of fit against quantities known exactly.
func TestPaperScalability(t *testing.T) {
	if testing.Short() || ad.VectorLanes() == 1 {
		t.Skip("trains 8 models and estimates log Z 8 times (seconds with the vector kernels, minutes without)")
	}
	dir := t.TempDir()
	code, out, errs := ssmRun(t, dir, "paper", "scalability", "-dims", "2,3", "-steps", "150", "-hidden", "64,64", "-methods", "sm,ssm-vr,dsm,cp", "-ais-chains", "16", "-out", "study")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"## Time per iteration (ms)", "## Fisher divergence to the true score", "| truth |", "| ssm-vr |", "DSM's σ"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(errs, "paper scalability"); n != 8 {
		t.Errorf("%d progress lines, want one per cell (8):\n%s", n, errs)
	}
	for _, f := range []string{"table.md", "scalability.json", "scalability.svg"} {
		if st, err := os.Stat(filepath.Join(dir, "study", f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "study", "scalability.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Cells []studyCell }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Cells) != 8 {
		t.Fatalf("%d cells, want 8", len(rec.Cells))
	}
	for _, c := range rec.Cells {
		test := gaussianRows(studyTestRows, c.Dim, 1, 2)
		// The truth's measures, recomputed independently.
		var sq float64
		for _, v := range test.Data {
			sq += v * v
		}
		sq /= 2 * float64(test.Rows)
		d := float64(c.Dim)
		if math.Abs(c.SMOptimum-(sq-d)) > 1e-12 || math.Abs(c.TrueLogLik-(-d/2*math.Log(2*math.Pi)-sq)) > 1e-12 {
			t.Errorf("%s D=%d: truth's SM %v, log-likelihood %v; want %v, %v", c.Method, c.Dim, c.SMOptimum, c.TrueLogLik, sq-d, -d/2*math.Log(2*math.Pi)-sq)
		}
		// Its sample mean is within 4 standard errors of −D/2 (sd of ½‖x‖² is √(D/2)).
		if math.Abs(c.SMOptimum+d/2) > 4*math.Sqrt(d/2/float64(test.Rows)) {
			t.Errorf("D=%d: the true score's held-out SM loss %v is far from −D/2", c.Dim, c.SMOptimum)
		}
		if !(c.MsPerStep > 0) || c.LogLik == nil {
			t.Errorf("%s D=%d: ms/step %v, log-likelihood %v", c.Method, c.Dim, c.MsPerStep, c.LogLik)
			continue
		}
		// Exact SM and SSM-VR fit N(0, I) closely in 150 steps: the SM loss
		// near its optimum, the Fisher divergence small, the log-likelihood
		// near the truth's (the SM loss of the model exceeds the truth's
		// by the Fisher divergence, up to sampling error).
		if c.Method == "sm" || c.Method == "ssm-vr" {
			if c.Fisher > 0.1 || math.Abs(float64(c.SMLoss)-c.SMOptimum) > 0.15 || math.Abs(*c.LogLik-c.TrueLogLik) > 0.15 {
				t.Errorf("%s D=%d: Fisher %v, SM loss %v (truth %v), log-likelihood %v (truth %v)", c.Method, c.Dim, c.Fisher, c.SMLoss, c.SMOptimum, *c.LogLik, c.TrueLogLik)
			}
		}
		if c.Method == "dsm" && !(c.Sigma > 0) {
			t.Errorf("dsm D=%d: σ %v", c.Dim, c.Sigma)
		}
	}
}

// TestParzenSigma checks the Parzen choice of DSM's σ: for data from
// N(0, I₂) and many training rows, the best window of a wide grid is
// neither the smallest nor the largest, and a grid of one level returns it.
func TestParzenSigma(t *testing.T) {
	train, val := gaussianRows(2000, 2, 7, 0), gaussianRows(500, 2, 7, 1)
	got := parzenSigma(train, val, []float64{0.001, 0.01, 0.3, 10, 100})
	if got != 0.3 {
		t.Errorf("σ %v, want 0.3 of {0.001, 0.01, 0.3, 10, 100}", got)
	}
	if got := parzenSigma(train, val, []float64{5}); got != 5 {
		t.Errorf("σ %v from a grid of one, want 5", got)
	}
}
