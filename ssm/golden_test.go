package ssm

import (
	"encoding/json"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/nn"
)

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
	var g goldenFile
	adtest.GoldenJSON(t, &g)
	x, v, eps := ad.MatOf(adtest.GoldenNpy(t, "x.npy")), ad.MatOf(adtest.GoldenNpy(t, "v.npy")), ad.MatOf(adtest.GoldenNpy(t, "eps.npy"))
	energy, err := nn.Load(adtest.GoldenPath("energy.safetensors"), nn.LoadOptions{Activation: "softplus", Kind: nn.KindEnergy})
	if err != nil {
		t.Fatal(err)
	}
	score, err := nn.Load(adtest.GoldenPath("score.safetensors"), nn.LoadOptions{Activation: "tanh", Kind: nn.KindScore})
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
				wg, err := adtest.Flatten(want.Grad[p.Name])
				if err != nil {
					t.Fatal(err)
				}
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
	if e, at := fd.RelErr(got, want, 1e-3); e > 1e-10 {
		t.Errorf("%s: relative error %.3g at %d (%.15g vs %.15g)", what, e, at, got[at], want[at])
	}
}
