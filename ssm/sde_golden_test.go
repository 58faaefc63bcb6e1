package ssm

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"scorematch/ad"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// sdeGolden is testdata/sde_golden.json, written by sde_golden.py.
type sdeGolden struct {
	Dim    int
	Hidden []int
	Cases  []struct {
		SDE, Activation, Weighting, Objective string
		Tensors                               map[string][]float64
		X, Z, V                               [][]float64
		T                                     []float64
		Loss                                  float64
		Grads                                 map[string][]float64
	}
}

// TestSDEObjectivesGolden reproduces PyTorch's sde-dsm and sde-sse-vr
// (float64 autograd, testdata/sde_golden.py) for a VE, a VP and a sub-VP
// net, with both weightings, at times from 1e-5 to 1: the mean loss and
// every parameter gradient, to 1e-10, given the same times, noise and
// projections.
func TestSDEObjectivesGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sde_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g sdeGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 12 {
		t.Fatalf("%d cases, want 12 (3 SDEs × 2 weightings × 2 objectives)", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.SDE+"/"+c.Weighting+"/"+c.Objective, func(t *testing.T) {
			s, err := sde.Parse(c.SDE)
			if err != nil {
				t.Fatal(err)
			}
			m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: g.Dim, Hidden: g.Hidden, Activation: c.Activation,
				FourierDim: len(c.Tensors["fourier.W"]), FourierScale: 16}, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(m.Params(), m.Buffers()...) {
				v := c.Tensors[p.Name]
				if len(v) != len(p.Value.Data) {
					t.Fatalf("%s: %d values in the golden file, want %d", p.Name, len(v), len(p.Value.Data))
				}
				copy(p.Value.Data, v)
			}
			obj, err := New(c.Objective, m, Options{M: 1, Projection: Gaussian})
			if err != nil {
				t.Fatal(err)
			}
			if c.Weighting == "likelihood" {
				if obj, err = LikelihoodWeighting(obj); err != nil {
					t.Fatal(err)
				}
			}
			rows := func(r [][]float64) ad.Mat {
				out := ad.NewMat(len(r), g.Dim)
				for i := range r {
					copy(out.Row(i), r[i])
				}
				return out
			}
			b := &Batch{X: rows(c.X), Eps: rows(c.Z), V: []ad.Mat{rows(c.V)}, Sigma: ad.MatOf(len(c.T), 1, c.T)}
			w := obj.NewWorker()
			n := float64(len(c.X))
			check(t, "loss", []float64{w.Eval(b, true) / n}, []float64{c.Loss})
			for i, p := range m.Params() {
				got := make([]float64, len(p.Value.Data))
				for j, v := range w.Grads()[i].Data {
					got[j] = v / n
				}
				check(t, "gradient of "+p.Name, got, c.Grads[p.Name])
			}
		})
	}
}
