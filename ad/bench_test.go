package ad

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
)

// The benchmark model of the issue: an MLP energy net with D = 64 inputs,
// two hidden layers of 256, softplus, on a batch of B = 128, evaluated in
// benchChunks fixed chunks on a Pool.
const (
	benchD      = 64
	benchB      = 128
	benchChunks = 4
)

func benchSetup() (*mlp, Mat, Mat) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newMLP(rng, Softplus, benchD, 256, 256, 1)
	return m, MatOf(adtest.RandMat(rng, benchB, benchD, 1)), MatOf(adtest.RandMat(rng, benchB, benchD, 1))
}

// gradBatch computes the parameter gradient of Σ_b E(x_b) chunk by chunk.
type gradBatch struct {
	ssmBatch
	tapes []*Tape
}

func (g *gradBatch) Run(c, lo, hi int) {
	t := g.tapes[c]
	t.Reset()
	out := t.Sum(g.m.forward(t, t.Input(g.x.RowRange(lo, hi), false)))
	t.Backward(out)
	g.loss[c] = out.val.Data[0]
	for i, p := range g.params {
		g.grads[c][i] = t.Grad(p)
	}
}

// hvpBatch computes per-sample Hessian-vector products chunk by chunk.
type hvpBatch struct {
	gradBatch
	hv Mat
}

func (h *hvpBatch) Run(c, lo, hi int) {
	HVP(h.tapes[c], h.m.forward, h.x.RowRange(lo, hi), h.v.RowRange(lo, hi), Mat{}, h.hv.RowRange(lo, hi))
}

func BenchmarkMLPGrad(b *testing.B) {
	m, x, v := benchSetup()
	p := NewPool(benchChunks)
	defer p.Close()
	g := &gradBatch{ssmBatch: *newSSMBatch(m, x, v, benchChunks)}
	for range benchChunks {
		g.tapes = append(g.tapes, NewTape())
	}
	p.Do(benchB, g) // warm up: the first pass sizes the tapes' buffers
	b.ReportAllocs()
	for b.Loop() {
		p.Do(benchB, g)
		SumChunks(g.total, g.grads)
	}
}

func BenchmarkMLPHVP(b *testing.B) {
	m, x, v := benchSetup()
	p := NewPool(benchChunks)
	defer p.Close()
	h := &hvpBatch{gradBatch: gradBatch{ssmBatch: *newSSMBatch(m, x, v, benchChunks)}, hv: NewMat(benchB, benchD)}
	for range benchChunks {
		h.tapes = append(h.tapes, NewTape())
	}
	p.Do(benchB, h)
	b.ReportAllocs()
	for b.Loop() {
		p.Do(benchB, h)
	}
}

func BenchmarkMLPSSMGrad(b *testing.B) {
	m, x, v := benchSetup()
	p := NewPool(benchChunks)
	defer p.Close()
	s := newSSMBatch(m, x, v, benchChunks)
	s.run(p)
	b.ReportAllocs()
	for b.Loop() {
		s.run(p)
	}
}

// BenchmarkMLPChunks shows how the chunk count trades GEMM size for
// parallelism on the SSM gradient.
func BenchmarkMLPChunks(b *testing.B) {
	m, x, v := benchSetup()
	for _, chunks := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("chunks=%d", chunks), func(b *testing.B) {
			p := NewPool(chunks)
			defer p.Close()
			s := newSSMBatch(m, x, v, chunks)
			s.run(p)
			b.ReportAllocs()
			for b.Loop() {
				s.run(p)
			}
		})
	}
}
