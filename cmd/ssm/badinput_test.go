package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"scorematch/nn"
	"scorematch/nn/sde"
)

// badInputFixtures writes the files the bad-input cases read into dir and
// returns their paths by name.
func badInputFixtures(t *testing.T, dir string) map[string]string {
	t.Helper()
	p := map[string]string{}
	write := func(name, content string) {
		p[name] = filepath.Join(dir, name)
		if err := os.WriteFile(p[name], []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := func(n, d int) string {
		var b strings.Builder
		for range n {
			for j := range d {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%.6f", rng.NormFloat64())
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	write("good2.csv", rows(200, 2))
	write("good3.csv", rows(200, 3))
	write("one.csv", rows(200, 1))
	write("ragged.csv", "1,2\n3,4\n5\n")
	write("text.csv", "1,2\n3,abc\n")
	write("nan.csv", "1,2\n3,NaN\n")
	write("inf.csv", "1,2\n3,+Inf\n")
	write("empty.csv", "")
	write("onerow.csv", "1,2\n")
	write("const.csv", strings.Repeat("1.5,2\n", 50))
	write("header.csv", "a,b\n1,2\n")
	write("notes.txt", "1,2\n3,4\n")
	write("fake.safetensors", "this is not a safetensors file")
	write("fake.npy", "\x93NUMPY garbage")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	p["adir"] = filepath.Join(dir, "adir")
	p["missing"] = filepath.Join(dir, "no", "such", "dir")
	for _, name := range []string{"fifo.csv", "fifo.safetensors"} { // no writer: opening would block
		p[name] = filepath.Join(dir, name)
		if err := mkfifo(p[name]); err != nil {
			t.Fatal(err)
		}
	}
	save := func(name string, m nn.Model, err error) {
		if err != nil {
			t.Fatal(err)
		}
		p[name] = filepath.Join(dir, name)
		if err := nn.Save(p[name], m); err != nil {
			t.Fatal(err)
		}
	}
	e2, err := nn.NewEnergyMLP(2, []int{8}, "softplus", rng)
	save("energy2.safetensors", e2, err)
	e3, err := nn.NewEnergyMLP(3, []int{8}, "softplus", rng)
	save("energy3.safetensors", e3, err)
	s2, err := nn.NewScoreMLP(2, []int{8}, "tanh", rng)
	save("score2.safetensors", s2, err)
	c2, err := nn.NewNCSN(2, []int{8}, "softplus", rng)
	save("ncsn2.safetensors", c2, err)
	save("gauss2.safetensors", nn.NewGaussianEnergy(2), nil)
	vp, err := nn.NewSDENet(nn.SDENetConfig{SDE: sde.VP{BetaMin: 0.1, BetaMax: 20}, Dim: 2, Hidden: []int{8}}, rng)
	save("sde2.safetensors", vp, err)
	subvp, err := nn.NewSDENet(nn.SDENetConfig{SDE: sde.SubVP{BetaMin: 0.1, BetaMax: 20}, Dim: 2, Hidden: []int{8}}, rng)
	save("subvp2.safetensors", subvp, err)
	nan, err := nn.NewEnergyMLP(2, []int{8}, "softplus", rng)
	nan.Params()[2].Value.Data[3] = math.NaN()
	save("nanweights.safetensors", nan, err)
	// A small file whose metadata asks for a model of 10¹⁰ parameters.
	p["bomb.safetensors"] = filepath.Join(dir, "bomb.safetensors")
	bomb := []nn.Tensor{{Name: "0.weight", Shape: []int{2, 2}, Data: make([]float64, 4)}}
	meta := map[string]string{"format": "scorematch", "kind": "energy", "dim": "100000", "hidden": "100000,100000", "activation": "softplus"}
	if err := nn.WriteSafetensors(p["bomb.safetensors"], bomb, meta); err != nil {
		t.Fatal(err)
	}
	// A state_dict without metadata, as PyTorch saves one.
	p["torch.safetensors"] = filepath.Join(dir, "torch.safetensors")
	var ts []nn.Tensor
	for _, q := range e2.Params() {
		shape := []int{q.Value.Rows, q.Value.Cols}
		if strings.HasSuffix(q.Name, ".bias") {
			shape = shape[1:]
		}
		ts = append(ts, nn.Tensor{Name: q.Name, Shape: shape, Data: q.Value.Data})
	}
	if err := nn.WriteSafetensors(p["torch.safetensors"], ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	// A checkpoint of a short run, to resume with other settings.
	p["ck.safetensors"] = filepath.Join(dir, "ck.safetensors")
	if code, _, stderr := ssmRun(t, dir, "train", "-data", "banana", "-n", "200", "-model", "mlp:8", "-steps", "3",
		"-checkpoint", p["ck.safetensors"], "-out", filepath.Join(dir, "ckmodel.safetensors")); code != 0 {
		t.Fatalf("writing the checkpoint: %s", stderr)
	}
	p["ckmodel.safetensors"] = filepath.Join(dir, "ckmodel.safetensors")
	p["cksde.safetensors"] = filepath.Join(dir, "cksde.safetensors")
	if code, _, stderr := ssmRun(t, dir, "train", "-data", "banana", "-n", "200", "-model", "sde:8", "-sde", "ve", "-steps", "3",
		"-checkpoint", p["cksde.safetensors"], "-out", filepath.Join(dir, "cksdemodel.safetensors")); code != 0 {
		t.Fatalf("writing the sde checkpoint: %s", stderr)
	}
	// An auto-encoder's data, model and checkpoint (ssm vae, ssm wae, eval).
	p["unit.csv"] = writeUnitCSV(t, dir, "unit.csv", 50, 16)
	p["ae.safetensors"] = filepath.Join(dir, "ae.safetensors")
	p["aeck.safetensors"] = filepath.Join(dir, "aeck.safetensors")
	if code, _, stderr := ssmRun(t, dir, append([]string{"vae"}, aeArgs(p["unit.csv"], "-steps", "2",
		"-out", p["ae.safetensors"], "-checkpoint", p["aeck.safetensors"])...)...); code != 0 {
		t.Fatalf("writing the auto-encoder: %s", stderr)
	}
	// x, v and ε files for loss.
	write("x2.csv", rows(5, 2))
	write("v2.csv", rows(5, 2))
	write("v3.csv", rows(5, 3))
	write("v6.csv", rows(6, 2))
	return p
}

// badInputCases are the bad inputs of every command: each must exit with
// status 2, print one line naming the flag or file (want), and write
// nothing. {f} in an argument is replaced by the fixture's path.
var badInputCases = []struct {
	args string
	want string // a substring of the message: the flag or the file
}{
	// paper.
	{"paper", "experiment"},
	{"paper nope", "nope"},
	{"paper scalability -dims 0", "-dims"},
	{"paper scalability -dims 4,x", "-dims"},
	{"paper scalability -dims 100000", "-dims"},
	{"paper scalability -methods ssm,nope", "-methods"},
	{"paper scalability -methods ssm,ssm", "-methods"},
	{"paper scalability -dsm-sigmas 0.1,-1", "-dsm-sigmas"},
	{"paper scalability -steps 1", "-steps"},
	{"paper scalability -batch 0", "-batch"},
	{"paper scalability -lr 0", "-lr"},
	{"paper scalability -hidden 0", "-hidden"},
	{"paper scalability -hidden 65536,65536", "-hidden"},
	{"paper scalability -ais-chains 1", "-ais-chains"},
	{"paper scalability -out {good2.csv}", "-out"},
	{"paper scalability -out {adir}/no/such", "-out"},
	// The command line itself.
	{"nope", "nope"},
	{"train -nope", "-nope"},
	{"train extra", "extra"},
	{"train -n", "-n"},
	{"train -n x", "-n"},
	{"train -seed -1", "-seed"},
	{"datasets extra", "extra"},
	{"version -x", "-x"},
	// train: data.
	{"train -data {no.csv}", "no.csv"},
	{"train -data banan", "banan"},
	{"train -data {ragged.csv}", "ragged.csv"},
	{"train -data {text.csv}", "text.csv"},
	{"train -data {nan.csv}", "nan.csv"},
	{"train -data {inf.csv}", "inf.csv"},
	{"train -data {empty.csv}", "empty.csv"},
	{"train -data {header.csv}", "header.csv"},
	{"train -data {notes.txt}", "notes.txt"},
	{"train -data {fake.npy}", "fake.npy"},
	{"train -data {onerow.csv}", "onerow.csv"},
	{"train -data {adir}", "adir"},
	{"train -data {fifo.csv}", "fifo.csv"},
	{"eval -model {fifo.safetensors}", "fifo.safetensors"},
	{"loss -model {energy2.safetensors} -x {fifo.csv}", "fifo.csv"},
	{"train -data {const.csv} -standardize", "-standardize"},
	{"train -data {good2.csv} -n 50", "-n"},
	{"train -n 0", "-n 0"},
	{"train -n -5", "-n -5"},
	{"train -n 100000000000", "100000000000"}, // names -n: out of int on 32-bit, above the bound on 64
	{"train -data {good2.csv} -val 0.999", "-val"},
	// train: model.
	{"train -model mlp:0", "-model"},
	{"train -model mlp:-1", "-model"},
	{"train -model mlp:x", "-model"},
	{"train -model mlp:", "-model"},
	{"train -model mlp", "-model"},
	{"train -model mlp:12,x", "-model"},
	{"train -model mlp:1000000000", "-model"},
	{"train -model mlp:100000,100000", "-model"},
	{"train -model mlp:65536,65536", "-model"},
	{"train -model ncsn:0 -objective ncsn", "-model"},
	{"train -model gaussian:3", "-model"},
	{"train -model resnet", "-model"},
	{"train -model mlp:" + strings.Repeat("2,", 70) + "2", "-model"},
	{"train -act nope", "-act"},
	{"train -act exp", "-act"},
	{"train -act square", "-act"},
	{"train -act relu", "relu"},
	{"train -kind nope", "-kind"},
	{"train -kind score -objective ssm", "-objective"},
	{"train -kind energy -objective sse", "-objective"},
	{"train -objective ncsn", "-objective"},
	{"train -model ncsn:8 -objective ssm", "-objective"},
	{"train -model gaussian -objective sse", "-objective"},
	// train: objective and its options.
	{"train -objective nope", "-objective"},
	{"train -objective SSM", "-objective"},
	{"train -projection unit", "-projection"},
	{"train -projection", "-projection"},
	{"train -m 0", "-m 0"},
	{"train -m -1", "-m -1"},
	{"train -m 100000", "-m 100000"},
	{"train -m 1000 -batch 65536", "-batch"},
	{"train -objective dsm -sigma 0", "-sigma"},
	{"train -objective dsm -sigma -1", "-sigma"},
	{"train -objective dsm -sigma NaN", "-sigma"},
	{"train -objective dsm -sigma Inf", "-sigma"},
	{"train -objective dsm -sigma x", "-sigma"},
	{"train -objective ssm -sigma 0.5", "-sigma"},
	{"train -objective dsm -m 4", "-m"},
	{"train -objective dsm -projection gaussian", "-projection"},
	{"train -objective ssm -sigmas 1:0.1:5", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas 1:2:3", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas a:b:c", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas 1:0.1:1", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas 1:0.1", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas 1:0:10", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas Inf:1:10", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigmas 1:0.1:100000000", "-sigmas"},
	{"train -model ncsn:8 -objective ncsn -sigma 0.2", "-sigma"},
	{"train -objective approx-bp -m 2", "-m"},
	// train: optimiser.
	{"train -optimizer nope", "-optimizer"},
	{"train -optimizer lbfgs", "-optimizer"},
	{"train -lr 0", "-lr"},
	{"train -lr -1", "-lr"},
	{"train -lr NaN", "-lr"},
	{"train -lr Inf", "-lr"},
	{"train -optimizer sgd -momentum NaN", "-momentum"},
	{"train -optimizer sgd -momentum -1", "-momentum"},
	{"train -optimizer sgd -momentum 2", "-momentum"},
	{"train -optimizer sgd -momentum 1", "-momentum"},
	{"train -optimizer rmsprop -momentum NaN", "-momentum"},
	{"train -optimizer adam -momentum 0.9", "-momentum"},
	{"train -momentum 0.5", "-momentum"},
	{"train -clip NaN", "-clip"},
	{"train -clip -1", "-clip"},
	{"train -clip Inf", "-clip"},
	{"train -ema 1", "-ema"},
	{"train -ema -0.5", "-ema"},
	{"train -ema NaN", "-ema"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -ema 0.9 -checkpoint {ck.safetensors} -resume", "-ema"},
	{"train -lr-schedule step", "-lr-schedule"},
	{"train -lr-schedule Cosine", "-lr-schedule"},
	{"train -warmup -1", "-warmup"},
	{"train -warmup 1000000000000", "-warmup"},
	{"train -warmup x", "-warmup"},
	{"train -lr-final 0.0001", "-lr-final"},
	{"train -lr-schedule constant -lr-final 0", "-lr-final"},
	{"train -lr-schedule cosine -lr-final 0.01", "-lr-final"},
	{"train -lr 0.1 -lr-schedule linear -lr-final -0.0001", "-lr-final"},
	{"train -lr-schedule cosine -lr-final NaN", "-lr-final"},
	{"train -lr-schedule cosine -lr-final Inf", "-lr-final"},
	{"train -lr-schedule linear -lr-final x", "-lr-final"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -lr-schedule cosine -checkpoint {ck.safetensors} -resume", "-lr-schedule"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -warmup 2 -checkpoint {ck.safetensors} -resume", "-warmup"},
	// train: schedule.
	{"train -batch 0", "-batch 0"},
	{"train -batch -1", "-batch -1"},
	{"train -batch 100000000", "-batch 100000000"},
	{"train -steps -1", "-steps -1"},
	{"train -steps 1000000000000", "-steps"},
	{"train -epochs -1", "-epochs -1"},
	{"train -epochs 0", "-epochs 0"},
	{"train -epochs 1000000000", "-epochs"},
	{"train -val 1", "-val 1"},
	{"train -val -0.1", "-val"},
	{"train -val NaN", "-val"},
	{"train -patience -1", "-patience"},
	{"train -eval-every -1", "-eval-every"},
	{"train -chunks -1", "-chunks -1"},
	{"train -chunks 100000", "-chunks 100000"},
	{"train -batch 8 -chunks 9", "-chunks 9"},
	// train: outputs.
	{"train -out {adir}", "-out"},
	{"train -out {missing}/m.safetensors", "-out"},
	{"train -out m.txt", "-out"},
	{"train -out m", "-out"},
	{"train -report {missing}/r.json", "-report"},
	{"train -report r.txt", "-report"},
	{"train -report {adir}", "-report"},
	{"train -checkpoint {missing}/c.safetensors", "-checkpoint"},
	{"train -checkpoint c.json", "-checkpoint"},
	{"train -checkpoint m.safetensors -out m.safetensors", "m.safetensors"},
	{"train -resume", "-resume"},
	{"train -out /proc/version.safetensors", "-out"},
	// sample.
	{"sample", "-model"},
	{"sample -model {no.safetensors}", "no.safetensors"},
	{"sample -model {fake.safetensors}", "fake.safetensors"},
	{"sample -model {good2.csv}", "good2.csv"},
	{"sample -model {energy2.safetensors} -n 0", "-n 0"},
	{"sample -model {energy2.safetensors} -n 1", "-n 1"},
	{"sample -model {energy2.safetensors} -n -1", "-n -1"},
	{"sample -model {energy2.safetensors} -n 10000000000", "10000000000"},
	{"sample -model {energy2.safetensors} -steps -1", "-steps"},
	{"sample -model {energy2.safetensors} -steps 1000000000", "-steps"},
	{"sample -model {energy2.safetensors} -step 0", "-step"},
	{"sample -model {energy2.safetensors} -step NaN", "-step"},
	{"sample -model {energy2.safetensors} -step Inf", "-step"},
	{"sample -model {energy2.safetensors} -init 0", "-init"},
	{"sample -model {energy2.safetensors} -init NaN", "-init"},
	{"sample -model {energy2.safetensors} -out s.txt", "-out"},
	{"sample -model {energy2.safetensors} -out {adir}", "-out"},
	{"sample -model {energy2.safetensors} -out {missing}/s.csv", "-out"},
	{"sample -model {energy2.safetensors} -png s.jpg", "-png"},
	{"sample -model {energy2.safetensors} -png {missing}/s.png", "-png"},
	{"sample -model {energy3.safetensors} -png s.png", "-png"},
	{"sample -model {energy2.safetensors} -out s.png -png s.png", "s.png"},
	{"sample -model {energy2.safetensors} -sampler nope", "-sampler"},
	{"sample -model {energy2.safetensors} -sampler langevin -sigmas 1:0.1:5", "-sigmas"},
	{"sample -model {energy2.safetensors} -sigmas 1:2:3", "-sigmas"},
	{"sample -model {score2.safetensors} -sampler mala", "-sampler"},
	{"sample -model {score2.safetensors} -sampler hmc", "-sampler"},
	{"sample -model {ncsn2.safetensors} -sampler langevin", "-sampler"},
	{"sample -score nope", "-score"},
	{"sample -score exact -data nope", "-data"},
	{"sample -score exact -data moons", "-data"},
	{"sample -score exact -model {energy2.safetensors}", "-model"},
	{"sample -model {energy2.safetensors} -kind nope", "-kind"},
	// Model files.
	{"eval -model {bomb.safetensors}", "bomb.safetensors"},
	{"sample -model {bomb.safetensors}", "bomb.safetensors"},
	{"loss -model {bomb.safetensors} -x {x2.csv}", "bomb.safetensors"},
	{"gradcheck -model {bomb.safetensors}", "bomb.safetensors"},
	{"eval -model {nanweights.safetensors}", "nanweights.safetensors"},
	{"sample -model {nanweights.safetensors}", "nanweights.safetensors"},
	{"eval -model {torch.safetensors}", "-kind"},
	{"eval -model {torch.safetensors} -kind energy", "-act"},
	{"eval -model {torch.safetensors} -kind energy -act nope", "-act"},
	{"eval -model {energy2.safetensors} -kind score", "-kind"},
	{"eval -model {energy2.safetensors} -act tanh", "-act"},
	{"sample -model {adir}", "adir"},
	// Resuming with other settings, or from what is not a checkpoint.
	{"train -data banana -n 200 -model mlp:8 -steps 6 -seed 9 -checkpoint {ck.safetensors} -resume", "-seed"},
	{"train -data banana -n 200 -model mlp:16 -steps 6 -checkpoint {ck.safetensors} -resume", "-model"},
	{"train -data banana -n 300 -model mlp:8 -steps 6 -checkpoint {ck.safetensors} -resume", "-data"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -lr 0.01 -checkpoint {ck.safetensors} -resume", "-lr"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -objective ssm -checkpoint {ck.safetensors} -resume", "-objective"},
	{"train -data banana -n 200 -model mlp:8 -steps 6 -checkpoint {ckmodel.safetensors} -resume", "-checkpoint"},
	{"train -data banana -n 200 -model mlp:8 -steps 2 -checkpoint {ck.safetensors} -resume", "-checkpoint"},
	// train: sde models.
	{"train -model sde:8 -sde nope", "-sde"},
	{"train -model sde:8 -sde VE", "-sde"},
	{"train -model sde:8 -sde ve -sigma-min 0", "-sigma-min"},
	{"train -model sde:8 -sde ve -sigma-min -1", "-sigma-min"},
	{"train -model sde:8 -sde ve -sigma-min NaN", "-sigma-min"},
	{"train -model sde:8 -sde ve -sigma-min 1 -sigma-max 0.5", "-sigma-max"},
	{"train -model sde:8 -sde ve -sigma-min 1 -sigma-max 1", "-sigma-max"},
	{"train -model sde:8 -sde ve -sigma-max -3", "-sigma-max"},
	{"train -model sde:8 -sde ve -sigma-max Inf", "-sigma-max"},
	{"train -model sde:8 -sde ve -data {const.csv}", "-sigma-max"},
	{"train -model sde:8 -beta-min -1", "-beta-min"},
	{"train -model sde:8 -beta-min NaN", "-beta-min"},
	{"train -model sde:8 -beta-max 0", "-beta-max"},
	{"train -model sde:8 -beta-max -20", "-beta-max"},
	{"train -model sde:8 -sde subvp -beta-min 5 -beta-max 1", "-beta-max"},
	{"train -model sde:8 -sde ve -beta-max 5", "-beta-max"},
	{"train -model sde:8 -sde vp -sigma-max 5", "-sigma-max"},
	{"train -model sde:8 -sde subvp -sigma-min 0.1", "-sigma-min"},
	{"train -sde ve", "-sde"},
	{"train -model ncsn:8 -beta-max 5", "-beta-max"},
	{"train -weighting likelihood", "-weighting"},
	{"train -fourier-scale 2", "-fourier-scale"},
	{"train -model sde:8 -weighting nope", "-weighting"},
	{"train -model sde:8 -fourier-scale 0", "-fourier-scale"},
	{"train -model sde:8 -fourier-scale NaN", "-fourier-scale"},
	{"train -model sde:8 -fourier-dim 0", "-fourier-dim"},
	{"train -model sde:8 -fourier-dim 100000000", "-fourier-dim"},
	{"train -model sde:0", "-model"},
	{"train -model sde:", "-model"},
	{"train -model sde:65536,65536 -fourier-dim 65536", "-model"},
	{"train -model sde:8 -kind score", "-kind"},
	{"train -model sde:8 -objective ssm-vr", "-objective"},
	{"train -model sde:8 -objective ncsn", "-objective"},
	{"train -model mlp:8 -objective sde-dsm", "-objective"},
	{"train -model sde:8 -sigma 0.5", "-sigma"},
	{"train -model sde:8 -objective sde-dsm -m 2", "-m"},
	{"train -data banana -n 200 -model sde:8 -sde ve -steps 6 -weighting likelihood -checkpoint {cksde.safetensors} -resume", "-weighting"},
	{"train -data banana -n 200 -model sde:8 -sde ve -sigma-max 30 -steps 6 -checkpoint {cksde.safetensors} -resume", "-sigma-max"},
	// sample: SDE samplers.
	{"sample -model {sde2.safetensors} -sampler annealed", "-sampler"},
	{"sample -model {sde2.safetensors} -snr -1", "-snr"},
	{"sample -model {sde2.safetensors} -sampler langevin", "-sampler"},
	{"sample -model {sde2.safetensors} -sampler mala", "-sampler"},
	{"sample -model {energy2.safetensors} -sampler pc", "-sampler"},
	{"sample -model {ncsn2.safetensors} -sampler ode", "-sampler"},
	{"sample -model {sde2.safetensors} -sampler pc -snr 0", "-snr"},
	{"sample -model {sde2.safetensors} -sampler pc -snr -0.1", "-snr"},
	{"sample -model {sde2.safetensors} -sampler pc -snr Inf", "-snr"},
	{"sample -model {sde2.safetensors} -sampler pc -corrector-steps -1", "-corrector-steps"},
	{"sample -model {sde2.safetensors} -sampler pc -predictor nope", "-predictor"},
	{"sample -model {sde2.safetensors} -sampler pc -corrector nope", "-corrector"},
	{"sample -model {sde2.safetensors} -sampler pc -predictor none -corrector none", "-predictor"},
	{"sample -model {sde2.safetensors} -sampler pc -predictor none -corrector-steps 0", "-predictor"},
	{"sample -model {sde2.safetensors} -sampler pc -corrector none -snr 0.2", "-snr"},
	{"sample -model {sde2.safetensors} -sampler pc -corrector none -corrector-steps 3", "-corrector-steps"},
	{"sample -model {subvp2.safetensors} -sampler pc -predictor ancestral", "-predictor"},
	{"sample -model {subvp2.safetensors} -sampler ancestral", "-sampler"},
	{"sample -model {sde2.safetensors} -sampler em -eps 0", "-eps"},
	{"sample -model {sde2.safetensors} -sampler em -eps 1", "-eps"},
	{"sample -model {sde2.safetensors} -sampler em -eps -0.1", "-eps"},
	{"sample -model {sde2.safetensors} -sampler em -eps NaN", "-eps"},
	{"sample -model {sde2.safetensors} -sampler ode -eps 2", "-eps"},
	{"sample -model {sde2.safetensors} -sampler em -steps 0", "-steps"},
	{"sample -model {sde2.safetensors} -sampler reverse-diffusion -steps 10", "-steps"},
	{"sample -model {sde2.safetensors} -sampler em -snr 0.1", "-snr"},
	{"sample -model {sde2.safetensors} -sampler em -predictor em", "-predictor"},
	{"sample -model {sde2.safetensors} -sampler em -rtol 1e-3", "-rtol"},
	{"sample -model {sde2.safetensors} -sampler em -step 0.1", "-step"},
	{"sample -model {sde2.safetensors} -sampler pc -init 2", "-init"},
	{"sample -model {sde2.safetensors} -sampler pc -sigmas 1:0.1:3", "-sigmas"},
	{"sample -model {sde2.safetensors} -sampler ode -rtol 0", "-rtol"},
	{"sample -model {sde2.safetensors} -sampler ode -rtol -1", "-rtol"},
	{"sample -model {sde2.safetensors} -sampler ode -atol 0", "-atol"},
	{"sample -model {sde2.safetensors} -sampler ode -atol Inf", "-atol"},
	{"sample -model {sde2.safetensors} -sampler ode -solver nope", "-solver"},
	{"sample -model {sde2.safetensors} -sampler ode -steps 50", "-steps"},
	{"sample -model {sde2.safetensors} -sampler ode -solver rk4 -rtol 0.1", "-rtol"},
	{"sample -model {sde2.safetensors} -sampler ode -solver rk4 -steps 0", "-steps"},
	{"sample -model {sde2.safetensors} -sampler pc -sde ve", "-sde"},
	{"sample -model {energy2.safetensors} -denoise", "-denoise"},
	{"sample -model {energy2.safetensors} -sde vp", "-sde"},
	{"sample -score exact -sampler pc -data banana", "-data"},
	{"sample -score exact -sampler pc -sde nope", "-sde"},
	{"sample -score exact -sampler pc -sde ve -sigma-max 0.001", "-sigma-max"},
	{"sample -score exact -sampler pc -sde ve -beta-min 1", "-beta-min"},
	{"sample -score exact -sampler pc -beta-max -1", "-beta-max"},
	{"sample -score exact -sampler ancestral -sde subvp", "-sampler"},
	// eval: probability-flow likelihood.
	{"eval -model {sde2.safetensors} -probes -1", "-probes"},
	{"eval -model {sde2.safetensors} -probes 100000", "-probes"},
	{"eval -model {sde2.safetensors} -rtol 0", "-rtol"},
	{"eval -model {sde2.safetensors} -rtol NaN", "-rtol"},
	{"eval -model {sde2.safetensors} -atol -1", "-atol"},
	{"eval -model {sde2.safetensors} -eps 0", "-eps"},
	{"eval -model {sde2.safetensors} -eps 1", "-eps"},
	{"eval -model {sde2.safetensors} -bin-width 0", "-bin-width"},
	{"eval -model {sde2.safetensors} -objectives ssm-vr", "-objectives"},
	{"eval -model {energy2.safetensors} -probes 2", "-probes"},
	{"eval -model {energy2.safetensors} -rtol 1e-3", "-rtol"},
	{"eval -model {ncsn2.safetensors} -eps 0.1", "-eps"},
	// eval.
	{"eval", "-model"},
	{"eval -model {no.safetensors}", "no.safetensors"},
	{"eval -model {energy2.safetensors} -data {no.csv}", "no.csv"},
	{"eval -model {energy2.safetensors} -data {good3.csv}", "good3.csv"},
	{"eval -model {energy2.safetensors} -data {ragged.csv}", "ragged.csv"},
	{"eval -model {energy2.safetensors} -n 0", "-n 0"},
	{"eval -model {energy2.safetensors} -n 100000000000", "-n"},
	{"eval -model {energy2.safetensors} -grid 0", "-grid 0"},
	{"eval -model {energy2.safetensors} -grid 1", "-grid 1"},
	{"eval -model {energy2.safetensors} -grid -5", "-grid -5"},
	{"eval -model {energy2.safetensors} -grid 1000000", "-grid 1000000"},
	{"eval -model {energy3.safetensors} -data {good3.csv} -ais-chains 0", "-ais-chains"},
	{"eval -model {energy3.safetensors} -data {good3.csv} -ais-chains -4", "-ais-chains"},
	{"eval -model {energy3.safetensors} -data {good3.csv} -ais-chains 1000000000", "-ais-chains"},
	{"eval -model {energy3.safetensors} -data {good3.csv} -ais-temps -1", "-ais-temps"},
	{"eval -model {energy2.safetensors} -objectives nope", "-objectives"},
	{"eval -model {energy2.safetensors} -objectives sse", "-objectives"},
	{"eval -model {energy2.safetensors} -objectives dsm -sigma 0", "-sigma"},
	{"eval -model {energy2.safetensors} -objectives ,", "-objectives"},
	// loss.
	{"loss", "-model"},
	{"loss -model {energy2.safetensors}", "-x"},
	{"loss -model {energy2.safetensors} -x {no.csv}", "no.csv"},
	{"loss -model {energy2.safetensors} -x {good3.csv}", "good3.csv"},
	{"loss -model {energy2.safetensors} -x {x2.csv}", "-v"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -v {v3.csv}", "-v"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -v {v6.csv}", "-v"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -objective dsm", "-"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -objective dsm -sigma 0.1", "-eps"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -objective cp", "-objective"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -objective ncsn", "-objective"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -objective nope", "-objective"},
	{"loss -model {energy2.safetensors} -x {x2.csv} -v {v2.csv} -objective sse", "-objective"},
	// bench.
	{"bench -dims 0", "-dims"},
	{"bench -dims x", "-dims"},
	{"bench -dims 1000000000", "-dims"},
	{"bench -dims 2,", "-dims"},
	{"bench -objectives nope", "-objectives"},
	{"bench -objectives ncsn", "-objectives"},
	{"bench -batch 0", "-batch"},
	{"bench -batch 100000000", "-batch"},
	{"bench -steps 0", "-steps"},
	{"bench -out s.txt", "-out"},
	{"bench -out {missing}/s.png", "-out"},
	{"bench -hidden 0", "-hidden"},
	{"bench -hidden x", "-hidden"},
	{"bench -hidden 1000000000", "-hidden"},
	{"bench -sm-max -1", "-sm-max"},
	// gradcheck.
	{"gradcheck -n 0", "-n 0"},
	{"gradcheck -n -1", "-n -1"},
	{"gradcheck -n 10000000", "-n"},
	{"gradcheck -m 0", "-m 0"},
	{"gradcheck -tol NaN", "-tol"},
	{"gradcheck -tol -1", "-tol"},
	{"gradcheck -dim 0", "-dim 0"},
	{"gradcheck -dim 100000000", "-dim"},
	{"gradcheck -step 0", "-step"},
	{"gradcheck -step 2", "-step"},
	{"gradcheck -spec nope", "-spec"},
	{"gradcheck -spec mlp:0", "-spec"},
	{"gradcheck -objective nope", "-objective"},
	{"gradcheck -data {no.csv}", "no.csv"},
	{"gradcheck -model {fake.safetensors}", "fake.safetensors"},
	{"gradcheck -kind score -objective ssm", "-objective"},
	// vae, wae.
	{"vae", "-data"},
	{"vae -data {no.csv}", "no.csv"},
	{"vae -data banana", "-data"},
	{"vae -data {good2.csv} -n 10 -test-n 5 -batch 5", "good2.csv"},
	{"vae -data {unit.csv}", "-n 1000"},
	{"vae -data {unit.csv} -n 40 -test-n 20 -batch 5", "-test-n 20"},
	{"vae -data {unit.csv} -z 0", "-z"},
	{"vae -data {unit.csv} -entropy nope", "-entropy"},
	{"wae -data {unit.csv} -entropy gaussian", "-entropy"},
	{"vae -data {unit.csv} -enc 0", "-enc"},
	{"vae -data {unit.csv} -dec x", "-dec"},
	{"vae -data {unit.csv} -score-hidden 1000000000", "-score-hidden"},
	{"vae -data {unit.csv} -steps 0", "-steps"},
	{"vae -data {unit.csv} -n 40 -batch 0", "-batch"},
	{"vae -data {unit.csv} -n 40 -batch 41", "-batch"},
	{"vae -data {unit.csv} -lr 0", "-lr"},
	{"vae -data {unit.csv} -lr NaN", "-lr"},
	{"vae -data {unit.csv} -ais-chains 1", "-ais-chains"},
	{"vae -data {unit.csv} -ais-temps 0", "-ais-temps"},
	{"vae -data {unit.csv} -test-n 0", "-test-n"},
	{"vae -data {unit.csv} -every -1", "-every"},
	{"vae -data {unit.csv} -entropy stein -k 1", "-k"},
	{"vae -data {unit.csv} -k 10", "-k"},
	{"wae -data {unit.csv} -entropy stein -k 10", "-k"},
	{"vae -data {unit.csv} -entropy stein -score-hidden 8", "-score-hidden"},
	{"vae -data {unit.csv} -lambda 1", "-lambda"},
	{"wae -data {unit.csv} -lambda 0", "-lambda"},
	{"wae -data {unit.csv} -lambda Inf", "-lambda"},
	{"vae -data {unit.csv} -resume", "-resume"},
	{"vae -data {unit.csv} -out a.txt", "-out"},
	{"vae -data {unit.csv} -out {missing}/a.safetensors", "-out"},
	{"vae -data {unit.csv} -report r.csv", "-report"},
	{"vae -data {unit.csv} -checkpoint c.json", "-checkpoint"},
	{"vae -data {unit.csv} -out a.safetensors -checkpoint a.safetensors", "-out"},
	{"vae -data {unit.csv} -n 40 -test-n 4 -z 2 -enc 16 -dec 16 -batch 10 -steps 4 -lr 0.5 -checkpoint {aeck.safetensors} -resume", "-lr 0.5"},
	{"wae -data {unit.csv} -n 40 -test-n 4 -z 2 -enc 16 -dec 16 -batch 10 -steps 4 -checkpoint {aeck.safetensors} -resume", "-resume"},
	{"vae -data {unit.csv} -n 40 -test-n 4 -z 2 -enc 16 -dec 16 -batch 10 -steps 2 -checkpoint {aeck.safetensors} -resume", "-steps 2"},
	{"vae -data {unit.csv} -n 40 -test-n 4 -batch 5 -steps 4 -checkpoint {ck.safetensors} -resume", "ck.safetensors"},
	{"eval -model {ae.safetensors}", "-data"},
	{"eval -model {ae.safetensors} -data {unit.csv} -sigma 1", "-sigma"},
	{"eval -model {ae.safetensors} -data {good3.csv}", "good3.csv"},
	{"eval -model {ae.safetensors} -data {onerow.csv}", "-data"},
	// demo.
	{"demo -steps 0", "-steps 0"},
	{"demo -steps -1", "-steps"},
	{"demo -data nope", "-data"},
	{"demo -data moons", "-data"},
	{"-steps 0", "-steps"},
	{"demo -out {good2.csv}", "-out"},
	{"demo -steps 100000000000", "-steps"},
}

// TestBadInput runs every bad-input case in a child process (the test
// binary acting as the command) limited to 4 GB of address space, so that
// an allocation a flag or file dictates fails the test instead of the
// machine: each must exit 2 with one line on stderr naming the flag or
// file, print nothing on stdout, and write nothing.
func TestBadInput(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses sh and ulimit")
	}
	needReexec(t)
	if len(badInputCases) < 150 {
		t.Fatalf("%d cases, want at least 150", len(badInputCases))
	}
	fixtures := t.TempDir()
	p := badInputFixtures(t, fixtures)
	before := listDir(fixtures)
	// The cases run in child processes, GOMAXPROCS at a time; each has its
	// own working directory (made here: t.TempDir may stop the test, which
	// only the test's goroutine can do) and only reads the fixtures.
	work := make([]string, len(badInputCases))
	for i := range work {
		work[i] = t.TempDir()
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				c := badInputCases[i]
				args := strings.Fields(c.args)
				for j, a := range args {
					args[j] = expandFixture(a, fixtures, p)
				}
				if err := checkBadInput(args, expandFixture(c.want, fixtures, p), work[i]); err != nil {
					t.Errorf("%s: %v", c.args, err)
				}
			}
		})
	}
	for i := range badInputCases {
		next <- i
	}
	close(next)
	wg.Wait()
	if after := listDir(fixtures); !slices.Equal(after, before) {
		t.Errorf("the fixtures' directory changed: %v, then %v", before, after)
	}
}

// checkBadInput runs the command with args in dir, in a child process
// limited to 4 GiB of address space, and reports how it failed to exit with
// status 2 and one line on stderr containing want, with nothing on stdout
// and nothing written.
func checkBadInput(args []string, want, dir string) error {
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -v 4194304 && exec "$0" "$@"`, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "SSM_TEST_MAIN=1")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		return err
	}
	code := cmd.ProcessState.ExitCode()
	msg := strings.TrimSpace(stderr.String())
	switch {
	case err != nil && code != 2:
		return fmt.Errorf("exit %d (%v), want 2; stderr:\n%s", code, err, stderr.String())
	case code != 2:
		return fmt.Errorf("exit %d, want 2", code)
	case stdout.Len() > 0:
		return fmt.Errorf("printed %q on stdout", stdout.String())
	case strings.Count(msg, "\n") > 0 || msg == "":
		return fmt.Errorf("want one line on stderr, got %q", msg)
	case !strings.Contains(msg, want):
		return fmt.Errorf("message %q does not name %q", msg, want)
	}
	if files := listDir(dir); len(files) > 0 {
		return fmt.Errorf("wrote %v", files)
	}
	return nil
}

// expandFixture replaces {name} by the fixture's path (or a path in dir
// for names that are not fixtures: files that must not exist).
func expandFixture(s, dir string, p map[string]string) string {
	for {
		i := strings.Index(s, "{")
		j := strings.Index(s, "}")
		if i < 0 || j < i {
			return s
		}
		name := s[i+1 : j]
		path, ok := p[name]
		if !ok {
			path = filepath.Join(dir, name)
		}
		s = s[:i] + path + s[j+1:]
	}
}

// listDir returns the names of every file below dir.
func listDir(dir string) []string {
	var names []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return nil
	})
	return names
}
