package nn

import (
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
)

// golden reads testdata/golden/golden.json.
func golden(t *testing.T) (energy []float64, score [][]float64) {
	t.Helper()
	var g struct {
		Energy []float64   `json:"energy"`
		Score  [][]float64 `json:"score"`
	}
	adtest.GoldenJSON(t, &g)
	return g.Energy, g.Score
}

func TestGoldenEnergy(t *testing.T) {
	m, err := Load(adtest.GoldenPath("energy.safetensors"), LoadOptions{Activation: "softplus", Kind: KindEnergy})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.(*EnergyMLP)
	if !ok {
		t.Fatalf("Load returned %T, want *EnergyMLP", m)
	}
	if e.Dim() != 5 || !equalInts(e.Hidden(), []int{8, 8}) || e.Out() != 1 || e.Activation() != "softplus" {
		t.Fatalf("architecture %d → %v → %d %s, want 5 → [8 8] → 1 softplus", e.Dim(), e.Hidden(), e.Out(), e.Activation())
	}
	x := ad.MatOf(adtest.GoldenNpy(t, "x.npy"))
	wantE, wantS := golden(t)
	got := energies(e, x)
	for b := range wantE {
		if !relClose(got[b], wantE[b], 1e-10) {
			t.Errorf("energy[%d] = %.17g, want %.17g", b, got[b], wantE[b])
		}
	}
	// The score −∇E of the loaded net matches PyTorch's autograd too.
	g := ad.NewMat(x.Rows, x.Cols)
	ad.InputGrad(ad.NewTape(), e.Energy, x, g)
	for b := range wantS {
		for j, w := range wantS[b] {
			if s := -g.At(b, j); !relClose(s, w, 1e-10) {
				t.Errorf("score[%d][%d] = %.17g, want %.17g", b, j, s, w)
			}
		}
	}
}

func TestGoldenScore(t *testing.T) {
	m, err := Load(adtest.GoldenPath("score.safetensors"), LoadOptions{Activation: "tanh", Kind: KindScore})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := m.(*ScoreMLP)
	if !ok {
		t.Fatalf("Load returned %T, want *ScoreMLP", m)
	}
	want := []struct {
		name string
		r, c int
	}{{"0.weight", 8, 5}, {"0.bias", 1, 8}, {"2.weight", 5, 8}, {"2.bias", 1, 5}}
	ps := s.Params()
	if len(ps) != len(want) {
		t.Fatalf("%d parameters, want %d", len(ps), len(want))
	}
	for i, w := range want {
		if p := ps[i]; p.Name != w.name || p.Value.Rows != w.r || p.Value.Cols != w.c {
			t.Errorf("parameter %d is %q %d×%d, want %q %d×%d", i, p.Name, p.Value.Rows, p.Value.Cols, w.name, w.r, w.c)
		}
	}
	if s.Activation() != "tanh" || s.Dim() != 5 {
		t.Errorf("activation %q, dim %d", s.Activation(), s.Dim())
	}
	x := ad.MatOf(adtest.GoldenNpy(t, "x.npy"))
	tape := ad.NewTape()
	out := s.Score(tape, tape.Input(x, false))
	if out.Rows() != x.Rows || out.Cols() != 5 {
		t.Errorf("score is %d×%d, want %d×5", out.Rows(), out.Cols(), x.Rows)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
