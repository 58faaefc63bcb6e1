package ssm

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/nn"
)

var goldenDir = filepath.Join("..", "testdata", "golden")

// readNpy reads a 2-D '<f8' C-order .npy file (test-only; the tool has the
// full reader).
func readNpy(t *testing.T, name string) ad.Mat {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	sh := regexp.MustCompile(`\((\d+), (\d+)\)`).FindStringSubmatch(string(b[10 : 10+hl]))
	r, _ := strconv.Atoi(sh[1])
	c, _ := strconv.Atoi(sh[2])
	m := ad.NewMat(r, c)
	for i := range m.Data {
		m.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[10+hl+8*i:]))
	}
	return m
}

type goldenFile struct {
	Sigma      float64
	Objectives map[string]struct {
		Loss      float64
		Terms     [][]float64
		PerSample []float64 `json:"per_sample"`
		Grad      map[string]json.RawMessage
	}
}

// TestGolden reproduces every objective of ../testdata/golden/golden.json
// (PyTorch, float64): mean loss, per-sample terms and every parameter
// gradient, to 1e-10, with the models loaded by nn.Load.
func TestGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(goldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	x, v, eps := readNpy(t, "x.npy"), readNpy(t, "v.npy"), readNpy(t, "eps.npy")
	energy, err := nn.Load(filepath.Join(goldenDir, "energy.safetensors"), nn.LoadOptions{Activation: "softplus", Kind: nn.KindEnergy})
	if err != nil {
		t.Fatal(err)
	}
	score, err := nn.Load(filepath.Join(goldenDir, "score.safetensors"), nn.LoadOptions{Activation: "tanh", Kind: nn.KindScore})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Objectives) != 8 {
		t.Fatalf("golden.json has %d objectives, want 8", len(g.Objectives))
	}
	for key, want := range g.Objectives {
		t.Run(key, func(t *testing.T) {
			kind, name, _ := strings.Cut(key, "/")
			model := energy
			if kind == "score" {
				model = score
			}
			obj, err := New(name, model, Options{Projection: Gaussian, Sigma: g.Sigma})
			if err != nil {
				t.Fatal(err)
			}
			w := obj.NewWorker()
			b := &Batch{X: x, V: []ad.Mat{v}, Eps: eps}
			loss := w.Eval(b, true) / float64(x.Rows)
			scale := 1 / float64(x.Rows)
			check(t, "loss", []float64{loss}, []float64{want.Loss})
			var terms []float64
			for _, tm := range want.Terms {
				terms = append(terms, tm...)
			}
			if want.PerSample != nil {
				terms = want.PerSample
			}
			check(t, "terms", w.Terms().Data, terms)
			for i, p := range model.Params() {
				var wg []float64
				flatten(t, want.Grad[p.Name], &wg)
				got := make([]float64, len(wg))
				for j, gv := range w.Grads()[i].Data {
					got[j] = gv * scale
				}
				check(t, "gradient of "+p.Name, got, wg)
			}
		})
	}
}

func check(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e, at := ad.RelErr(got, want, 1e-3); e > 1e-10 {
		t.Errorf("%s: relative error %.3g at %d (%.15g vs %.15g)", what, e, at, got[at], want[at])
	}
}

func flatten(t *testing.T, raw json.RawMessage, out *[]float64) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case float64:
			*out = append(*out, v)
		}
	}
	walk(v)
}
