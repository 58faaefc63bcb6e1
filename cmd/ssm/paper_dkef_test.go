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

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
)

func init() {
	badInputCases = append(badInputCases, []struct {
		args string
		want string
	}{
		{"paper dkef -methods ssm,nope", "-methods"},
		{"paper dkef -methods ssm,ssm", "-methods"},
		{"paper dkef -methods mle", "-methods"},
		{"paper dkef -dsm-sigmas 0.1,0", "-dsm-sigmas"},
		{"paper dkef -dsm-sigmas 0.1,1e-200", "-dsm-sigmas"}, // σ² underflows to 0
		{"paper dkef -dsm-sigmas x", "-dsm-sigmas"},
		{"paper dkef -inducing 0", "-inducing"},
		{"paper dkef -half 0", "-half"},
		{"paper dkef -steps 0", "-steps"},
		{"paper dkef -eval-every 0", "-eval-every"},
		{"paper dkef -patience 0", "-patience"},
		{"paper dkef -lambda-steps 0", "-lambda-steps"},
		{"paper dkef -fit-rows 1001", "-fit-rows"},
		{"paper dkef -is-samples 1", "-is-samples"},
		{"paper dkef -out {good2.csv}", "-out"},
		{"paper dkef -out {adir}/no/such", "-out"},
		{"paper dkef -data nope", "-data"},
		{"paper dkef -data {adir}", "-data"},
		{"paper dkef -data wine", "-data"}, // the cases run outside the module: no testdata/uci
		{"paper dkef -data {good2.csv}", "-data"},
		{"paper dkef -data {header.csv}", "-data"},
		{"paper dkef -data {empty.csv}", "-data"},
	}...)
}

// dkefTestPath returns the path of a built-in data set, resolved as the
// command resolves it.
func dkefTestPath(t *testing.T, name string) string {
	t.Helper()
	path, err := dkefDataPath(&env{}, name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDKEFPreprocessing checks the reference's recipe on both built-in
// sets: the split sizes of the min(1000, N/10) rule; the whitened rows
// (before the noise) have mean 0 and identity covariance to 1e-9; the
// noise added once has standard deviation 0.05 (within 7 standard errors);
// the dequantisation half-width Δ of wine's magnesium column (integers)
// is 1.
func TestDKEFPreprocessing(t *testing.T) {
	for _, tc := range []struct {
		name             string
		rows, cols       int
		train, val, test int
		deltas           map[int]float64 // column (from 0) → Δ
	}{
		{"wine", 178, 13, 145, 16, 17, map[int]float64{4: 1}},
		{"breast-cancer", 569, 30, 462, 51, 56, nil},
	} {
		raw, err := readDKEFCSV(dkefTestPath(t, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		d, err := prepareDKEFData(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d.rows != tc.rows || d.cols != tc.cols || d.train.Rows != tc.train || d.val.Rows != tc.val || d.test.Rows != tc.test {
			t.Errorf("%s: %d×%d split %d/%d/%d, want %d×%d split %d/%d/%d", tc.name, d.rows, d.cols, d.train.Rows, d.val.Rows, d.test.Rows,
				tc.rows, tc.cols, tc.train, tc.val, tc.test)
		}
		w, n := d.whitened, float64(d.rows)
		for a := range d.cols {
			m := 0.0
			for i := range d.rows {
				m += w.At(i, a)
			}
			if math.Abs(m/n) > 1e-9 {
				t.Errorf("%s: whitened column %d has mean %g", tc.name, a, m/n)
			}
			for b := range d.cols {
				c := 0.0
				for i := range d.rows {
					c += w.At(i, a) * w.At(i, b)
				}
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(c/n-want) > 1e-9 {
					t.Errorf("%s: whitened covariance (%d, %d) is %.12g, want %g", tc.name, a, b, c/n, want)
				}
			}
		}
		// The noise: the splits stacked minus the whitened rows.
		ss := 0.0
		for i, part := range []ad.Mat{d.train, d.val, d.test} {
			off := []int{0, d.train.Rows, d.train.Rows + d.val.Rows}[i]
			for r := range part.Rows {
				for j, v := range part.Row(r) {
					e := v - w.At(off+r, j)
					ss += e * e
				}
			}
		}
		k := float64(d.rows * d.cols)
		sd := math.Sqrt(ss / k)
		if se := dkefNoise / math.Sqrt(2*k); math.Abs(sd-dkefNoise) > 7*se {
			t.Errorf("%s: noise standard deviation %.5f, want %g ± %.5f (7 SE)", tc.name, sd, dkefNoise, 7*se)
		}
		for col, want := range tc.deltas {
			if math.Abs(d.deltas[col]-want) > 1e-12 {
				t.Errorf("%s: Δ of column %d is %v, want %v", tc.name, col+1, d.deltas[col], want)
			}
		}
	}
}

// TestMedianGap checks the median gap of distinct sorted values.
func TestMedianGap(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3, 1, 2, 2, 1}, 1},       // distinct 1 2 3: gaps 1 1
		{[]float64{0, 10, 1, 3}, 2},         // gaps 1 2 7
		{[]float64{0, 1, 3, 10, 10, 11}, 1}, // gaps 1 2 7 1: sorted 1 1 2 7, lower middle 1
		{[]float64{5, 5}, 0},
	} {
		if got := medianGap(append([]float64(nil), tc.v...)); got != tc.want {
			t.Errorf("medianGap(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestImportanceLogZ checks importance sampling from N(0, 4I) on the
// standard normal energy in D = 3, whose Z is (2π)^{3/2}: the estimate
// within 4 of its standard errors, and the weights' ESS near its
// expectation n·(7/16)^{3/2} (the fraction Z²/E_q[w²]), within 10%.
func TestImportanceLogZ(t *testing.T) {
	const n = 20000
	logZ, se, ess := importanceLogZ(sampler.FromEnergy(nn.NewGaussianEnergy(3)), 2, n, 1)
	want := 1.5 * math.Log(2*math.Pi)
	t.Logf("log Z %.5f ± %.5f (want %.5f), ESS %.0f of %d", logZ, se, want, ess, n)
	if math.Abs(logZ-want) > 4*se || se > 0.02 {
		t.Errorf("log Z %.5f ± %.5f, want %.5f", logZ, se, want)
	}
	if frac := math.Pow(7.0/16, 1.5); math.Abs(ess/n-frac) > 0.1*frac {
		t.Errorf("ESS fraction %.4f, want %.4f", ess/n, frac)
	}
}

// TestPaperDKEF runs a tiny DKEF experiment on wine and checks its files
// and record: every method trained the steps asked for and validated at
// the expected steps, finite test measures, the splits' sizes, and the
// table's rows.
func TestPaperDKEF(t *testing.T) {
	if testing.Short() || ad.VectorLanes() == 1 {
		t.Skip("trains DKEFs (seconds with the vector kernels, minutes without)")
	}
	dir := t.TempDir()
	// The built-in name is found by walking up from the command's folder.
	if err := os.Symlink(mustAbs(t, filepath.Join("..", "..", "testdata")), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := ssmRun(t, dir, "paper", "dkef", "-data", "wine", "-methods", "ssm-vr,dsm,cp", "-steps", "4", "-eval-every", "2",
		"-patience", "100", "-lambda-steps", "2", "-inducing", "40", "-half", "30", "-fit-rows", "60", "-is-samples", "500", "-out", "run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, f := range []string{"table.md", "dkef.json", "dkef.svg"} {
		if st, err := os.Stat(filepath.Join(dir, "run", f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "run", "dkef.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Train    int `json:"train_rows"`
		Val      int `json:"val_rows"`
		Test     int `json:"test_rows"`
		Inducing int `json:"inducing"`
		Cells    []dkefCell
		Gaussian dkefCell
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Train != 145 || rec.Val != 16 || rec.Test != 17 || rec.Inducing != 40 {
		t.Errorf("splits %d/%d/%d, M %d: want 145/16/17, 40", rec.Train, rec.Val, rec.Test, rec.Inducing)
	}
	if len(rec.Cells) != 3 {
		t.Fatalf("%d cells, want 3", len(rec.Cells))
	}
	for i, c := range rec.Cells {
		if want := []string{"ssm-vr", "dsm", "cp"}[i]; c.Method != want {
			t.Errorf("cell %d is %s, want %s", i, c.Method, want)
		}
		if c.Steps != 4 || len(c.ValSteps) != 3 || c.ValSteps[2] != 4 || len(c.ValSM) != 3 || c.Error != "" {
			t.Errorf("%s: %d steps, validated at %v (%d values), error %q: want 4 steps, [0 2 4]", c.Method, c.Steps, c.ValSteps, len(c.ValSM), c.Error)
		}
		for _, v := range []float64{float64(c.TestSM), float64(c.TestLogLik), float64(c.LogZ), float64(c.ESS), c.MsPerStep} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: a test measure is %v: %+v", c.Method, v, c)
			}
		}
		if c.ESS < 1 || c.ESS > 500 || c.MsPerStep <= 0 {
			t.Errorf("%s: ESS %v of 500, %v ms per step", c.Method, c.ESS, c.MsPerStep)
		}
		if (c.Method == "dsm") != (c.Sigma > 0) {
			t.Errorf("%s: σ %v", c.Method, c.Sigma)
		}
	}
	// The Gaussian fitted to whitened data: its exact SM loss is about
	// −D/2 = −6.5 per row (a N(0, (1 + 0.05²)I) fit on 145 rows).
	if g := rec.Gaussian.TestSM; !(g > -9 && g < -4) {
		t.Errorf("the Gaussian's test SM loss %v, want about −6.5", g)
	}
	if n := strings.Count(out, "\n| "); n != 5 {
		t.Errorf("the table has %d rows, want 5 (header, 3 methods, Gaussian):\n%s", n, out)
	}
	if !strings.Contains(errs, "eta=") {
		t.Errorf("no progress with an ETA on stderr:\n%s", errs)
	}
}

// writeDKEFCSV writes rows × cols values drawn from N(0, 1) (the data
// stream of seed 5) in the experiment's CSV format and returns its path.
func writeDKEFCSV(t *testing.T, dir, name string, rows, cols int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%d,%d,a,b\n", rows, cols)
	rng := repro.New(5, repro.Data, uint64(cols), 0)
	for range rows {
		for range cols {
			fmt.Fprintf(&b, "%.6f,", repro.Normal(rng))
		}
		b.WriteString("0\n")
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPaperDKEFTwoFeatures runs the experiment on a CSV of two features,
// where log Z of the AIS column is found by quadrature: it must finish
// (a grid of 0 points panicked) with a finite point estimate whose
// interval is the point itself.
func TestPaperDKEFTwoFeatures(t *testing.T) {
	if testing.Short() || ad.VectorLanes() == 1 {
		t.Skip("trains DKEFs (seconds with the vector kernels, minutes without)")
	}
	dir := t.TempDir()
	writeDKEFCSV(t, dir, "two.csv", 60, 2)
	code, out, errs := ssmRun(t, dir, "paper", "dkef", "-data", "two.csv", "-methods", "ssm-vr", "-steps", "2", "-eval-every", "1",
		"-lambda-steps", "1", "-inducing", "20", "-half", "10", "-fit-rows", "20", "-is-samples", "200", "-out", "run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "run", "dkef.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Cells []dkefCell }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	c := rec.Cells[0]
	if !isFinite(float64(c.AISLogLik)) || c.AISLow != c.AISLogLik || c.AISHigh != c.AISLogLik || !strings.Contains(c.AISNote, "grid") {
		t.Errorf("AIS column %v [%v, %v] by %q: want a finite quadrature point", c.AISLogLik, c.AISLow, c.AISHigh, c.AISNote)
	}
	if !strings.Contains(out, fmt.Sprintf("| %.4g |", float64(c.AISLogLik))) || !strings.Contains(out, "quadrature") {
		t.Errorf("the table's AIS column is not the quadrature point %.4g alone, or its note does not say so:\n%s", float64(c.AISLogLik), out)
	}
}

// TestPaperDKEFBadData checks -data refusals before any work (exit 2,
// naming -data): a FIFO (reading it would block forever), too few training
// rows for the reference Gaussian (17 of 17 features: its covariance is
// singular), and a header promising more values than the bound.
func TestPaperDKEFBadData(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Skip("no named pipes here")
	}
	if _, err := dkefDataPath(&env{}, fifo); err == nil || !strings.Contains(err.Error(), "-data") {
		t.Errorf("-data naming a FIFO: %v, want an error naming -data", err)
	}
	writeDKEFCSV(t, dir, "few.csv", 20, 17)
	if err := os.WriteFile(filepath.Join(dir, "big.csv"), []byte("1048576,1024,a\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{{"fifo", "regular file"}, {"few.csv", "D + 1"}, {"big.csv", "at most"}} {
		code, _, errs := ssmRun(t, dir, "paper", "dkef", "-data", tc.file, "-out", "run")
		if code != 2 || !strings.Contains(errs, "-data") || !strings.Contains(errs, tc.want) {
			t.Errorf("-data %s: exit %d, %q; want 2 naming -data and %q", tc.file, code, errs, tc.want)
		}
	}
}

// TestReadDKEFCSVGrows checks that a header promising 10⁶ rows of 16
// features (128 MB) over a file of one row allocates as the rows are read,
// not from the header: under 16 MiB before the short file is refused.
func TestReadDKEFCSVGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.csv")
	if err := os.WriteFile(path, []byte("1000000,16,a\n"+strings.Repeat("1,", 16)+"0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readDKEFCSV(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "1 rows, the header says 1000000") {
		t.Errorf("error %v, want the short file refused", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("read allocated %d bytes, want < 16 MiB", got)
	}
}

// TestImportanceLogZStream checks that importance sample i is drawn from
// the stream (seed, AIS, 1, i), not AIS chain i's (seed, AIS, 0, i): the
// estimate from three samples equals log mean w recomputed from that
// stream to 1e-12.
func TestImportanceLogZStream(t *testing.T) {
	const n, scale, seed = 3, 2.0, 9
	src := sampler.FromEnergy(nn.NewGaussianEnergy(1))
	got, _, _ := importanceLogZ(src, scale, n, seed)
	x := ad.NewMat(n, 1)
	for i := range n {
		x.Data[i] = scale * repro.Normal(repro.New(seed, repro.AIS, 1, uint64(i)))
	}
	logp := make([]float64, n)
	src.NewLogDensityFunc()(logp, ad.Mat{}, x)
	sum := 0.0
	for i, v := range x.Data {
		logq := -0.5*math.Log(2*math.Pi*scale*scale) - v*v/(2*scale*scale)
		sum += math.Exp(logp[i] - logq)
	}
	if want := math.Log(sum / n); math.Abs(got-want) > 1e-12 {
		t.Errorf("log Z %.15g, want %.15g from the streams (seed, AIS, 1, i)", got, want)
	}
}

// TestPaperDKEFNonFiniteRecord checks that cells with non-finite
// measures (a failed AIS estimate, a NaN importance weight, a Gaussian's
// log of a non-positive eigenvalue) are written: null in dkef.json, — in
// the table.
func TestPaperDKEFNonFiniteRecord(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: &out, dir: dir}
	nan := recordFloat(math.NaN())
	s := &paperDKEF{methods: []string{"ssm"}, inducing: 10, half: 5, steps: 2, evalEvery: 1, patience: 1, lambdaSteps: 1, fitRows: 10,
		sigmas: []float64{1}, isSamples: 10, seed: 1, out: "run"}
	data := &dkefData{name: "x", rows: 30, cols: 2, train: ad.NewMat(20, 2), val: ad.NewMat(5, 2), test: ad.NewMat(5, 2)}
	cells := []dkefCell{{Method: "ssm", TestSM: 1, LogZ: nan, LogZStdErr: nan, ESS: nan, TestLogLik: nan, AISLogLik: nan, AISLow: nan, AISHigh: nan,
		AISNote: "AIS failed", LogLambda: -2, ValSteps: []int{0, 1}, ValSM: []recordFloat{1, nan}}}
	gauss := dkefCell{Method: "Gaussian", TestSM: recordFloat(math.Inf(1)), TestLogLik: nan}
	if err := s.write(e, data, cells, gauss); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "run", "dkef.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"test_log_likelihood": null`)) || !bytes.Contains(raw, []byte(`"log_z": null`)) {
		t.Errorf("dkef.json lacks the nulls:\n%s", raw)
	}
	if !strings.Contains(out.String(), "| ssm | 1 | — (—) ⚠ | — |") || !strings.Contains(out.String(), "| Gaussian | — | — (exact) |") {
		t.Errorf("the table does not show — for the non-finite measures:\n%s", out.String())
	}
}
