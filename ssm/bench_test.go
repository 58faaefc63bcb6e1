package ssm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/nn"
)

// benchStep times one training step (objective, gradient, Adam update) of
// an MLP with two hidden layers of 256 (softplus) on a batch of 128.
func benchStep(b *testing.B, name string, d int) { benchStepChunks(b, name, d, 128, 0) }

// benchStepChunks is benchStep on a batch of the given size in the given
// number of chunks (0: the default).
func benchStepChunks(b *testing.B, name string, d, batch, chunks int) {
	t := newBenchTrainer(b, name, d, batch, chunks)
	defer t.pool.Close()
	step(b, t, 0) // warm up: size every buffer
	flops := ad.CountFLOPs(func() { step(b, t, 1) })
	loopSteps(b, t, 2)
	// The matrix products' rate over the whole step: how much of the step
	// is GEMM at the GEMM's speed (BenchmarkGEMM gives the ceiling).
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GEMM-GFLOP/s")
}

// step takes training step s of t (seed 1).
func step(b *testing.B, t *trainer, s int) {
	if _, err := t.trainStep(1, uint64(s)); err != nil {
		b.Fatal(err)
	}
}

// loopSteps times steps first, first+1, … of t, with allocations reported.
func loopSteps(b *testing.B, t *trainer, first int) {
	b.ReportAllocs()
	for s := first; b.Loop(); s++ {
		step(b, t, s)
	}
}

// newBenchTrainer returns a trainer of objective name on an MLP with two
// hidden layers of 256 (softplus), a score net for sse and sse-vr, an
// energy otherwise, with a batch of the given size in the given number of
// chunks (0: the default) of random data in dimension d, and t.rows set to
// the whole batch.
func newBenchTrainer(b *testing.B, name string, d, batch, chunks int) *trainer {
	rng := rand.New(rand.NewPCG(1, uint64(d)))
	var m nn.Model
	var err error
	switch name {
	case "sse", "sse-vr":
		m, err = nn.NewScoreMLP(d, []int{256, 256}, "softplus", rng)
	default:
		m, err = nn.NewEnergyMLP(d, []int{256, 256}, "softplus", rng)
	}
	if err != nil {
		b.Fatal(err)
	}
	obj, err := New(name, m, Options{Sigma: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	data := ad.MatOf(adtest.RandMat(rng, batch, d, 1))
	cfg := Config{BatchSize: batch, Optimizer: nn.NewAdam(), Chunks: chunks}
	if err := cfg.defaults(); err != nil {
		b.Fatal(err)
	}
	t := newTrainer(obj, data, cfg)
	t.rows = make([]int, batch)
	for i := range t.rows {
		t.rows[i] = i
	}
	return t
}

// BenchmarkStep times a training step per objective: at D = 64 and 784 for
// every objective, and exact SM at D = 8, 16, 32, 64 to show its linear
// growth. "grad" is the plain gradient step the others are measured against.
func BenchmarkStep(b *testing.B) {
	for _, d := range []int{64, 784} {
		for _, name := range []string{"grad", "ssm", "ssm-vr", "dsm", "sse", "sse-vr"} {
			b.Run(fmt.Sprintf("%s/D=%d", name, d), func(b *testing.B) { benchStep(b, name, d) })
		}
	}
	for _, d := range []int{8, 16, 32, 64} {
		b.Run(fmt.Sprintf("sm/D=%d", d), func(b *testing.B) { benchStep(b, "sm", d) })
	}
}

// BenchmarkStepChunks times steps whose chunks outnumber two cores: a batch
// of 192 in three chunks of 64. With two workers the third chunk runs while
// the other worker has nothing left to do but help with its products
// (gemm.Workspace.Help), so the step takes less than two chunks' time.
func BenchmarkStepChunks(b *testing.B) {
	for _, name := range []string{"grad", "ssm-vr", "sse-vr"} {
		b.Run(fmt.Sprintf("%s/D=784/chunks=3", name), func(b *testing.B) { benchStepChunks(b, name, 784, 192, 3) })
	}
}

// BenchmarkStepUpdate times the part of a training step after the chunks:
// the reduction of the chunks' gradients and the Adam update, each worker
// on its range of the parameters, for the models of BenchmarkStep at
// D = 784 (the energy net of grad, ssm, ssm-vr and dsm: 267k parameters;
// the score net of sse and sse-vr: 468k).
func BenchmarkStepUpdate(b *testing.B) {
	for _, name := range []string{"energy", "score"} {
		b.Run(name+"/D=784", func(b *testing.B) {
			obj := "ssm-vr"
			if name == "score" {
				obj = "sse-vr"
			}
			t := newBenchTrainer(b, obj, 784, 128, 0)
			defer t.pool.Close()
			step(b, t, 0)
			b.ReportAllocs()
			for b.Loop() {
				t.byRange(phaseReduce)
				t.cfg.Optimizer.Begin(t.params, t.grads)
				t.byRange(phaseUpdate)
			}
		})
	}
}

// BenchmarkStepPhases is BenchmarkStep at D = 784 with the wall time of
// each phase of the step reported in µs: the chunks (objective and
// gradient), the reduction of their gradients, and the optimiser's update.
// The last two run by parameter range on the workers and stream the
// parameters, gradients and Adam's moments from memory; the chunks are
// arithmetic.
func BenchmarkStepPhases(b *testing.B) {
	for _, name := range []string{"grad", "ssm-vr", "sse-vr"} {
		b.Run(name+"/D=784", func(b *testing.B) {
			t := newBenchTrainer(b, name, 784, 128, 0)
			defer t.pool.Close()
			step(b, t, 0)
			t.timing = new(stepTiming)
			loopSteps(b, t, 1)
			for _, p := range []struct {
				phase phase
				unit  string
			}{{phaseChunks, "chunks-µs"}, {phaseReduce, "reduce-µs"}, {phaseUpdate, "update-µs"}} {
				b.ReportMetric(float64(t.timing.total[p.phase])/1e3/float64(b.N), p.unit)
			}
		})
	}
}
