package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/ssm"
)

func init() {
	badInputCases = append(badInputCases, []struct{ args, want string }{
		{"paper nice -methods mle,nope", "-methods"},
		{"paper nice -methods ssm,ssm", "-methods"},
		{"paper nice -dsm-sigmas 0.1,0", "-dsm-sigmas"},
		{"paper nice -dsm-sigmas 0.1,1e-200", "-dsm-sigmas"}, // σ² underflows to 0
		{"paper nice -n 0", "-n"},
		{"paper nice -val-n 0", "-val-n"},
		{"paper nice -test-n 0", "-test-n"},
		{"paper nice -couplings 0", "-couplings"},
		{"paper nice -couplings 65", "-couplings"},
		{"paper nice -hidden 0", "-hidden"},
		{"paper nice -hidden 16,x", "-hidden"},
		{"paper nice -steps 1", "-steps"},
		{"paper nice -batch 0", "-batch"},
		{"paper nice -n 100 -batch 101", "-batch"},
		{"paper nice -sm-steps 1", "-sm-steps"},
		{"paper nice -sm-batch 0", "-sm-batch"},
		{"paper nice -lr 0", "-lr"},
		{"paper nice -sm-rows -1", "-sm-rows"},
		{"paper nice -test-n 10 -sm-rows 11", "-sm-rows"},
		{"paper nice -eval-every 0", "-eval-every"},
		{"paper nice -samples 65", "-samples"},
		{"paper nice -out {good2.csv}", "-out"},
		{"paper nice -out {adir}/no/such", "-out"},
		{"paper nice -train {adir}/none.gz", "-train"},
		{"paper nice -train {good2.csv}", "-train"},
		{"paper nice -train {notes.txt}", "-train"},
	}...)
}

// writeIDX writes n images of h×w bytes as a gzip-compressed IDX file and
// returns its path and the bytes.
func writeIDX(t *testing.T, dir, name string, n, h, w int, pixel func(i, r, c int) byte) (string, []byte) {
	t.Helper()
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 8, 3})
	for _, d := range []int{n, h, w} {
		binary.Write(&raw, binary.BigEndian, uint32(d))
	}
	data := make([]byte, 0, n*h*w)
	for i := range n {
		for r := range h {
			for c := range w {
				data = append(data, pixel(i, r, c))
			}
		}
	}
	raw.Write(data)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// shapes is a pixel function of small images: a bright block in one of
// two corners on a dark background (a quarter of the pixels exactly 0),
// with noise.
func shapes(seed uint64) func(i, r, c int) byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	return func(i, r, c int) byte {
		in := r < 2 && c < 2
		if i%2 == 1 {
			in = r >= 2 && c >= 2
		}
		switch {
		case in:
			return byte(180 + rng.IntN(70))
		case rng.IntN(3) == 0:
			return 0
		}
		return byte(rng.IntN(40))
	}
}

// TestPaperNICE runs a tiny NICE experiment on synthetic 4×4 images and
// checks its outputs against quantities recomputed independently from the
// saved weights and the raw bytes: the logit-space and pixel-space test
// log-likelihoods, bits/dim and the held-out exact SM loss; that maximum
// likelihood raised the test log-likelihood; and the samples image.
func TestPaperNICE(t *testing.T) {
	dir := t.TempDir()
	trainPath, _ := writeIDX(t, dir, "train-images-idx3-ubyte.gz", 300, 4, 4, shapes(1))
	testPath, testBytes := writeIDX(t, dir, "t10k-images-idx3-ubyte.gz", 80, 4, 4, shapes(2))
	const testN, smRows, seed = 60, 20, 3
	code, out, errs := ssmRun(t, dir, "paper", "nice", "-train", trainPath, "-test", testPath, "-n", "200", "-val-n", "50",
		"-test-n", "60", "-hidden", "16", "-steps", "120", "-batch", "50", "-sm-steps", "3", "-sm-batch", "10",
		"-sm-rows", "20", "-eval-every", "40", "-samples", "5", "-lr", "0.003", "-seed", "3", "-out", "o")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, m := range niceMethods {
		if !strings.Contains(out, "| "+m+" ") {
			t.Errorf("stdout lacks the row of %s:\n%s", m, out)
		}
	}
	if !strings.Contains(out, "DSM's σ") || !strings.Contains(errs, "eta=") {
		t.Errorf("no DSM σ line or no ETA in the progress:\n%s\n%s", out, errs)
	}
	o := filepath.Join(dir, "o")
	for _, f := range []string{"table.md", "nice.json", "nice.svg", "samples.png"} {
		if st, err := os.Stat(filepath.Join(o, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(o, "nice.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Dim     int
		Clamped float64 `json:"test_clamped_share"`
		Cells   []niceCell
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Dim != 16 || len(rec.Cells) != len(niceMethods) {
		t.Fatalf("D = %d, %d cells; want 16 and %d", rec.Dim, len(rec.Cells), len(niceMethods))
	}

	// The test rows, preprocessed from the raw bytes as documented.
	d := 16
	x := ad.NewMat(testN, d)
	logdet, clamped := 0.0, 0
	for r := range testN {
		rng := repro.New(seed, repro.Data, 2, uint64(r))
		for j := range d {
			p := float64(testBytes[r*d+j])/255 + (rng.Float64()-0.5)/256
			if p < 1e-3 || p > 1-1e-3 {
				clamped++
			}
			p = math.Max(1e-3, math.Min(1-1e-3, p))
			x.Data[r*d+j] = math.Log(p / (1 - p))
			logdet -= math.Log(p * (1 - p))
		}
	}
	logdet /= testN
	// A dark pixel (b = 0) is clamped when u < ½ + 0.256: about 76% of
	// the quarter of the pixels that are dark.
	share := float64(clamped) / float64(testN*d)
	if rec.Clamped != share || !(share > 0.02) {
		t.Errorf("clamped share %v, recomputed %v (want > 0.02)", rec.Clamped, share)
	}
	if !strings.Contains(out, fmt.Sprintf("%.1f%% of the test coordinates", 100*share)) || !strings.Contains(out, "bits/dim (clamped, not a bound; see note)") {
		t.Errorf("the table does not report the clamped share %.1f%% or label bits/dim as clamped:\n%s", 100*share, out)
	}

	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for _, c := range rec.Cells {
		if c.Diverged != "" || c.LogitLL == nil || c.PixelLL == nil || c.BitsPerDim == nil || c.SMLoss == nil {
			t.Errorf("%s: diverged %q or a measure missing: %+v", c.Method, c.Diverged, c)
			continue
		}
		wantSteps, wantBatch := 120, 50
		if c.Method == "sm" {
			wantSteps, wantBatch = 3, 10
		}
		if c.Steps != wantSteps || c.Batch != wantBatch || !(c.MsPerStep > 0) {
			t.Errorf("%s: %d steps of %d, %v ms/step; want %d of %d", c.Method, c.Steps, c.Batch, c.MsPerStep, wantSteps, wantBatch)
		}
		model, err := nn.Load(filepath.Join(o, c.Weights), nn.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		flow, ok := model.(*nn.NICE)
		if !ok {
			t.Fatalf("%s: weights load as %T", c.Method, model)
		}
		var ll float64
		for _, v := range flow.LogDensity(x) {
			ll += v
		}
		ll /= testN
		bpd := -(ll + logdet - float64(d)*math.Log(256)) / (float64(d) * math.Ln2)
		if !close(*c.LogitLL, ll) || !close(*c.PixelLL, ll+logdet) || !close(*c.BitsPerDim, bpd) {
			t.Errorf("%s: LL logit %v, pixel %v, bits/dim %v; recomputed %v, %v, %v", c.Method, *c.LogitLL, *c.PixelLL, *c.BitsPerDim, ll, ll+logdet, bpd)
		}
		sm, err := ssm.New("sm", flow, ssm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := sm.NewWorker().Eval(&ssm.Batch{X: x.RowRange(0, smRows)}, false) / smRows
		if !close(*c.SMLoss, want) || c.SMRows != smRows {
			t.Errorf("%s: held-out SM loss %v on %d rows, recomputed %v on %d", c.Method, *c.SMLoss, c.SMRows, want, smRows)
		}
		if steps := []int{0, 40, 80, 120}; c.Method != "sm" && !slices.Equal(curveSteps(c.Curve), steps) {
			t.Errorf("%s: curve at steps %v, want %v", c.Method, curveSteps(c.Curve), steps)
		}
		if c.Method == "dsm" && !slices.Contains([]float64{0.1, 0.3, 1, 2, 4}, c.Sigma) {
			t.Errorf("dsm: σ %v not of the grid", c.Sigma)
		}
	}
	// Maximum likelihood raises the test log-likelihood well beyond its
	// standard error, on the curve and from the common start.
	mle := rec.Cells[0]
	if first, last := mle.Curve[0].LogitL, mle.Curve[len(mle.Curve)-1].LogitL; !(last > first+5) || !(*mle.LogitLL > first+5) {
		t.Errorf("mle: test LL from %v to %v (final %v ± %v): no clear gain", first, last, *mle.LogitLL, *mle.LogitLLSE)
	}
	for _, c := range rec.Cells[1:] {
		if c.Curve[0] != mle.Curve[0] {
			t.Errorf("%s starts at %v, mle at %v: not the same initial weights", c.Method, c.Curve[0], mle.Curve[0])
		}
	}

	f, err := os.Open(filepath.Join(o, "samples.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	cell := 4*niceImageScale + 2
	if b := img.Bounds(); b.Dx() != 5*cell+2 || b.Dy() != (1+len(niceMethods))*cell+2 {
		t.Errorf("samples.png is %v, want %d×%d", b, 5*cell+2, (1+len(niceMethods))*cell+2)
	}
}

func curveSteps(c []niceCurvePoint) []int {
	var s []int
	for _, p := range c {
		s = append(s, p.Step)
	}
	return s
}

// TestPaperNICEBadData checks the data checks that need IDX files: an odd
// number of pixels, test images of another size, too few rows, a label
// file. Each exits 2 naming the flag.
func TestPaperNICEBadData(t *testing.T) {
	dir := t.TempDir()
	pix := shapes(1)
	good, _ := writeIDX(t, dir, "good.gz", 40, 4, 4, pix)
	odd, _ := writeIDX(t, dir, "odd.gz", 40, 3, 3, pix)
	other, _ := writeIDX(t, dir, "other.gz", 40, 2, 4, pix)
	labels := filepath.Join(dir, "labels.gz")
	var lb bytes.Buffer
	lb.Write([]byte{0, 0, 8, 1, 0, 0, 0, 40})
	lb.Write(bytes.Repeat([]byte{3}, 40))
	if err := os.WriteFile(labels, lb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, train, test string
		n                 string
		want              string
	}{
		{"odd D", odd, good, "20", "-train"},
		{"other D", good, other, "20", "-test"},
		{"few rows", good, good, "35", "-train"},
		{"labels", labels, good, "20", "-train"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := ssmRun(t, dir, "paper", "nice", "-train", c.train, "-test", c.test, "-n", c.n, "-val-n", "10",
				"-test-n", "10", "-batch", "10", "-sm-rows", "0", "-out", "bad")
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, %q; want 2 naming %s", code, errs, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
				t.Error("the output folder was made")
			}
		})
	}
}

// TestPaperNICEDiverged checks that a method whose loss stops being finite
// is reported, not fatal: maximum likelihood at a learning rate of 10⁶
// overflows within a few steps; the run still writes its table (the row
// marked †) and a valid JSON record.
func TestPaperNICEDiverged(t *testing.T) {
	dir := t.TempDir()
	trainPath, _ := writeIDX(t, dir, "train.gz", 100, 2, 2, shapes(1))
	code, out, errs := ssmRun(t, dir, "paper", "nice", "-train", trainPath, "-test", trainPath, "-n", "60", "-val-n", "10",
		"-test-n", "20", "-hidden", "4", "-steps", "200", "-batch", "20", "-sm-rows", "5", "-samples", "2",
		"-methods", "mle,ssm-vr", "-lr", "1e6", "-out", "o")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "o", "nice.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Cells []niceCell }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Cells) != 2 || rec.Cells[0].Diverged == "" || !strings.Contains(out, "| mle † |") {
		t.Errorf("mle at lr 10⁶ not reported as diverged: %+v\n%s", rec.Cells, out)
	}
}

// TestNonFiniteAt checks that a diverged run names the part that was not
// finite, from ssm.Train's error: the loss, or a gradient entry.
func TestNonFiniteAt(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("ssm: step 7: loss is NaN: %w", ssm.ErrNonFinite), "loss not finite at step 7"},
		{fmt.Errorf("ssm: step 7: +Inf: %w", ssm.ErrNonFinite), "gradient not finite at step 7 (the loss was finite)"},
	} {
		if got := nonFiniteAt(tc.err, 7); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestPaperNICEGOMAXPROCS checks that the results do not depend on the
// number of cores: a tiny run at GOMAXPROCS 1 and 4 gives the same bits
// in every measure and curve point (timings aside).
func TestPaperNICEGOMAXPROCS(t *testing.T) {
	dir := t.TempDir()
	trainPath, _ := writeIDX(t, dir, "train.gz", 150, 4, 4, shapes(1))
	cells := func(procs int) []niceCell {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		out := fmt.Sprintf("o%d", procs)
		code, _, errs := ssmRun(t, dir, "paper", "nice", "-train", trainPath, "-test", trainPath, "-n", "100", "-val-n", "20",
			"-test-n", "130", "-hidden", "8", "-steps", "30", "-batch", "70", "-sm-steps", "2", "-sm-rows", "25", "-eval-every", "10",
			"-samples", "0", "-out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		raw, err := os.ReadFile(filepath.Join(dir, out, "nice.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Cells []niceCell }
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		for i := range rec.Cells {
			rec.Cells[i].MsPerStep, rec.Cells[i].Seconds = 0, 0
		}
		return rec.Cells
	}
	one, four := cells(1), cells(4)
	a, _ := json.Marshal(one)
	b, _ := json.Marshal(four)
	if !bytes.Equal(a, b) {
		t.Errorf("GOMAXPROCS 1 and 4 differ:\n%s\n%s", a, b)
	}
}
