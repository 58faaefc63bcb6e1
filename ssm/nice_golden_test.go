package ssm

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"scorematch/ad"
	"scorematch/nn"
)

// TestNICEObjectivesGolden trains nothing: it evaluates every objective
// that applies to an energy (exact SM, SSM and SSM-VR with the golden
// Gaussian projection v, DSM with the golden noise ε at σ = 0.3, and MLE
// as the mean energy, objective "grad") on PyTorch's small NICE flow of
// ../nn/testdata/nice_golden.json (D = 6, four couplings, two hidden
// layers of 8; see nice_golden.py), and checks the loss, the per-sample
// terms and the gradient of every parameter against autograd's, to 1e-10.
func TestNICEObjectivesGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "nn", "testdata", "nice_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Dim, Couplings int
		Hidden         []int
		Activation     string
		Sigma          float64
		Tensors        map[string][]float64
		X, V, Eps      [][]float64
		Objectives     map[string]struct {
			Loss  float64
			Terms [][]float64
			Grad  map[string][]float64
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewNICE(nn.NICEConfig{Dim: g.Dim, Couplings: g.Couplings, Hidden: g.Hidden, Activation: g.Activation}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		v := g.Tensors[p.Name]
		if len(v) != len(p.Value.Data) {
			t.Fatalf("golden tensor %s has %d values, want %d", p.Name, len(v), len(p.Value.Data))
		}
		copy(p.Value.Data, v)
	}
	rows := func(r [][]float64) ad.Mat {
		out := ad.NewMat(len(r), len(r[0]))
		for i, row := range r {
			copy(out.Row(i), row)
		}
		return out
	}
	batch := &Batch{X: rows(g.X), V: []ad.Mat{rows(g.V)}, Eps: rows(g.Eps)}
	if len(g.Objectives) != 5 {
		t.Fatalf("nice_golden.json has %d objectives, want 5", len(g.Objectives))
	}
	for name, want := range g.Objectives {
		t.Run(name, func(t *testing.T) {
			obj, err := New(name, m, Options{Projection: Gaussian, Sigma: g.Sigma})
			if err != nil {
				t.Fatal(err)
			}
			w := obj.NewWorker()
			n := float64(len(g.X))
			check(t, "loss", []float64{w.Eval(batch, true) / n}, []float64{want.Loss})
			check(t, "terms", w.Terms().Data, rows(want.Terms).Data)
			for i, p := range m.Params() {
				got := make([]float64, len(p.Value.Data))
				for j, v := range w.Grads()[i].Data {
					got[j] = v / n
				}
				check(t, "gradient of "+p.Name, got, want.Grad[p.Name])
			}
		})
	}
}
