package repro_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/nn"
)

// ssmBatch computes an SSM loss and its parameter gradient of a batch chunk
// by chunk, each chunk with its own tapes: the pattern of the trainer.
type ssmBatch struct {
	e      *nn.EnergyMLP
	x, v   ad.Mat
	so     []*ad.SecondOrder
	loss   []float64
	grads  [][]ad.Mat
	total  []ad.Mat
	dirs   [][]ad.Mat
	orders []int
}

func newSSMBatch(e *nn.EnergyMLP, x, v ad.Mat, chunks int) *ssmBatch {
	s := &ssmBatch{e: e, x: x, v: v, loss: make([]float64, chunks), orders: []int{2}}
	for range chunks {
		s.so = append(s.so, ad.NewSecondOrder())
		s.grads = append(s.grads, make([]ad.Mat, len(e.Params())))
		s.dirs = append(s.dirs, make([]ad.Mat, 1))
	}
	for _, p := range e.Params() {
		s.total = append(s.total, ad.NewMat(p.Value.Rows, p.Value.Cols))
	}
	return s
}

// ssmLoss is Σ ½(vᵀ∇E)² − vᵀ∇²E v.
func ssmLoss(t *ad.Tape, d *ad.Derivs) *ad.Node {
	return t.Sum(t.Sub(t.Scale(0.5, t.Apply(ad.Square, d.D1[0])), d.D2[0]))
}

func (s *ssmBatch) Run(c, lo, hi int) {
	s.dirs[c][0] = s.v.RowRange(lo, hi)
	s.loss[c] = s.so[c].Eval(s.e.Energy, s.x.RowRange(lo, hi), s.dirs[c], s.orders, ssmLoss, nil)
	for i, p := range s.e.Params() {
		s.grads[c][i] = s.so[c].Grad(p)
	}
}

// run evaluates the batch on p and returns the loss and the gradient,
// summed in chunk order.
func (s *ssmBatch) run(p *repro.Pool) []float64 {
	p.Do(s.x.Rows, s)
	repro.SumChunks(s.total, s.grads)
	out := []float64{0}
	for _, l := range s.loss {
		out[0] += l
	}
	for _, g := range s.total {
		out = append(out, g.Data...)
	}
	return out
}

func testBatch(tb testing.TB, d, width, rows int) (*nn.EnergyMLP, ad.Mat, ad.Mat) {
	rng := rand.New(rand.NewPCG(11, uint64(d)))
	e, err := nn.NewEnergyMLP(d, []int{width, width}, "softplus", rng)
	if err != nil {
		tb.Fatal(err)
	}
	x, v := ad.NewMat(rows, d), ad.NewMat(rows, d)
	for i := range x.Data {
		x.Data[i], v.Data[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	return e, x, v
}

// TestPoolDeterminism checks that a chunked SSM evaluation gives the same
// bits for GOMAXPROCS 1, 2 and 8, and agrees with a single-chunk one to
// rounding.
func TestPoolDeterminism(t *testing.T) {
	e, x, v := testBatch(t, 8, 32, 37)
	var ref []float64
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		p := repro.NewPool(8)
		got := newSSMBatch(e, x, v, 8).run(p)
		p.Close()
		if ref == nil {
			ref = got
			continue
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(ref[i]) {
				t.Fatalf("GOMAXPROCS=%d: value %d is %v, with GOMAXPROCS=1 %v", procs, i, got[i], ref[i])
			}
		}
	}
	one := repro.NewPool(1)
	defer one.Close()
	got := newSSMBatch(e, x, v, 1).run(one)
	for i := range got {
		if d := math.Abs(got[i] - ref[i]); d > 1e-12*math.Max(1, math.Abs(ref[i])) {
			t.Errorf("value %d: one chunk %v, eight %v", i, got[i], ref[i])
		}
	}
}

// BenchmarkSSMChunks shows how the chunk count trades the size of the
// matrix products for parallelism, on an SSM gradient of an MLP energy
// (D = 64, two hidden layers of 256, softplus) over a batch of 128.
func BenchmarkSSMChunks(b *testing.B) {
	e, x, v := testBatch(b, 64, 256, 128)
	for _, chunks := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("chunks=%d", chunks), func(b *testing.B) {
			p := repro.NewPool(chunks)
			defer p.Close()
			s := newSSMBatch(e, x, v, chunks)
			s.run(p) // size every buffer
			b.ReportAllocs()
			for b.Loop() {
				p.Do(s.x.Rows, s)
				repro.SumChunks(s.total, s.grads)
			}
		})
	}
}
