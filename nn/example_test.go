package nn_test

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"scorematch/ad"
	"scorematch/nn"
)

func ExampleNewEnergyMLP() {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := nn.NewEnergyMLP(2, []int{16, 16}, "softplus", rng)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range m.Params() {
		fmt.Printf("%s %d×%d\n", p.Name, p.Value.Rows, p.Value.Cols)
	}

	// Energies of a batch of 3 points, and the scores −∇E.
	x := ad.MatOf(3, 2, []float64{0, 0, 1, -1, 2, 0.5})
	t := ad.NewTape()
	e := m.Energy(t, t.Input(x, false))
	fmt.Println("energies:", e.Rows(), "×", e.Cols())
	g := ad.NewMat(3, 2)
	ad.InputGrad(t, m.Energy, x, g)
	fmt.Println("gradients:", g.Rows, "×", g.Cols)

	_, err = nn.NewEnergyMLP(2, []int{16}, "relu", rng)
	fmt.Println(err != nil)
	// Output:
	// 0.weight 16×2
	// 0.bias 1×16
	// 2.weight 16×16
	// 2.bias 1×16
	// 4.weight 1×16
	// 4.bias 1×1
	// energies: 3 × 1
	// gradients: 3 × 2
	// true
}

func ExampleNCSN() {
	m, err := nn.NewNCSN(2, []int{32}, "", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		log.Fatal(err)
	}
	x := ad.MatOf(2, 2, []float64{0, 1, 1, 0})
	sigma := ad.MatOf(2, 1, []float64{1, 0.01}) // one noise level per sample
	t := ad.NewTape()
	h := m.CondScore(t, t.Input(x, false), sigma).Primal()
	// With sigma.weight still zero, h(x, σ) = MLP(x)/σ, so the second
	// sample's score is 100 times larger than it would be at σ = 1.
	fmt.Println(h.Rows, h.Cols, len(m.Params()), m.Params()[len(m.Params())-1].Name)
	// Output: 2 2 5 sigma.weight
}

func ExampleGaussianEnergy() {
	g := nn.NewGaussianEnergy(2)
	if err := g.SetPrecision(ad.MatOf(2, 2, []float64{4, 2, 2, 10})); err != nil {
		log.Fatal(err)
	}
	g.SetMean([]float64{1, -1})
	fmt.Println("L =", g.Params()[0].Value.Data)
	fmt.Println("Λ =", g.Precision().Data)

	// E(x) = ½(x−μ)ᵀΛ(x−μ) at x = μ + e₁ is ½Λ₁₁ = 2.
	t := ad.NewTape()
	e := g.Energy(t, t.Input(ad.MatOf(1, 2, []float64{2, -1}), false))
	fmt.Println("E =", e.Primal().Data[0])
	// Output:
	// L = [2 0 1 3]
	// Λ = [4 2 2 10]
	// E = 2
}

func ExampleAdam() {
	// Minimise ½‖p − (3, −2)‖² with Adam.
	p := &ad.Param{Name: "p", Value: ad.NewMat(1, 2)}
	grad := ad.NewMat(1, 2)
	opt := nn.NewAdam()
	opt.LR = 0.1
	for range 500 {
		grad.Data[0] = p.Value.Data[0] - 3
		grad.Data[1] = p.Value.Data[1] + 2
		nn.ClipGradNorm([]ad.Mat{grad}, 1)
		opt.Step([]*ad.Param{p}, []ad.Mat{grad})
	}
	fmt.Printf("p = (%.3f, %.3f)\n", p.Value.Data[0], p.Value.Data[1])
	for _, s := range opt.State() {
		fmt.Println(s.Name, s.Shape)
	}
	// Output:
	// p = (3.000, -2.000)
	// step []
	// exp_avg.p [1 2]
	// exp_avg_sq.p [1 2]
}

func ExampleClipGradNorm() {
	grads := []ad.Mat{ad.MatOf(1, 2, []float64{3, 0}), ad.MatOf(1, 1, []float64{4})}
	norm := nn.ClipGradNorm(grads, 1)
	fmt.Printf("norm %g, clipped to %.4f %.4f %.4f\n", norm, grads[0].Data[0], grads[0].Data[1], grads[1].Data[0])
	// Output: norm 5, clipped to 0.6000 0.0000 0.8000
}

func ExampleSave() {
	dir, err := os.MkdirTemp("", "nn-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	m, err := nn.NewScoreMLP(3, []int{8, 8}, "tanh", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		log.Fatal(err)
	}
	if err := nn.Save(path, m); err != nil {
		log.Fatal(err)
	}
	_, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta)

	loaded, err := nn.Load(path, nn.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	s := loaded.(*nn.ScoreMLP)
	fmt.Println(s.Dim(), s.Hidden(), s.Activation())
	// Output:
	// map[activation:tanh dim:3 format:scorematch hidden:8,8 kind:score]
	// 3 [8 8] tanh
}

func ExampleLoad() {
	// A PyTorch nn.Sequential(Linear(5, 8), Softplus(), Linear(8, 8),
	// Softplus(), Linear(8, 1)) saved with safetensors.torch.save_file does
	// not record its activation or what the network computes.
	path := filepath.Join("..", "testdata", "golden", "energy.safetensors")
	m, err := nn.Load(path, nn.LoadOptions{Kind: nn.KindEnergy, Activation: "softplus"})
	if err != nil {
		log.Fatal(err)
	}
	e := m.(*nn.EnergyMLP)
	fmt.Println(e.Dim(), e.Hidden(), e.Out(), e.Activation())

	_, err = nn.Load(path, nn.LoadOptions{})
	fmt.Println(err)
	// Output:
	// 5 [8 8] 1 softplus
	// nn: ../testdata/golden/energy.safetensors: the file does not record its architecture; set LoadOptions.Kind (energy, score, ncsn, gaussian or nice)
}
