package nn_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"scorematch/ad"
	"scorematch/nn"
	"scorematch/nn/sde"
)

// ExampleNewSDENet builds a time-conditional score net for a VE SDE,
// evaluates it at one point at two times, and saves and loads it: the
// file records the SDE.
func ExampleNewSDENet() {
	s := sde.VE{SigmaMin: 0.01, SigmaMax: 10}
	m, err := nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: 2, Hidden: []int{32, 32}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range m.Params() {
		fmt.Println(p.Name, p.Value.Rows, p.Value.Cols)
	}
	t := ad.NewTape()
	x := ad.MatOf(2, 2, []float64{0.5, -1, 0.5, -1})
	h := m.TimeScore(t, t.Input(x, false), ad.MatOf(2, 1, []float64{0.1, 0.9}))
	fmt.Printf("|h| grows like 1/σ(t) as t falls: %v\n", math.Abs(h.Primal().At(0, 0))+math.Abs(h.Primal().At(0, 1)) > math.Abs(h.Primal().At(1, 0))+math.Abs(h.Primal().At(1, 1)))

	dir, err := os.MkdirTemp("", "sdenet")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sde.safetensors")
	if err := nn.Save(path, m); err != nil {
		log.Fatal(err)
	}
	loaded, err := nn.Load(path, nn.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	a, _ := nn.ArchitectureOf(loaded)
	fmt.Println(a)
	// Output:
	// 0.weight 32 2
	// 0.bias 1 32
	// 2.weight 32 32
	// 2.bias 1 32
	// 4.weight 2 32
	// 4.bias 1 2
	// temb.0.weight 32 32
	// temb.1.weight 32 32
	// |h| grows like 1/σ(t) as t falls: true
	// sde dim=2 hidden=32,32 activation=softplus sde=ve:0.01:10 fourier=16 fourier_scale=16
}
