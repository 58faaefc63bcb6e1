package ad

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"scorematch/ad/adtest"
)

// reverseOverForward computes ∇²f·v as the gradient of the first Taylor
// coefficient vᵀ∇f: a jet forward pass, then a reverse sweep seeded on the
// coefficient block. It shares no rule with HVP's dual sweep for element-wise
// ops and products.
func reverseOverForward(f Func, x, v Mat) Mat {
	t := NewTape()
	t.FreezeParams(true)
	t.Reset(1)
	in := t.Input(x, true, v)
	out := f(t, in)
	seed := NewMat(2*x.Rows, 1)
	for b := x.Rows; b < 2*x.Rows; b++ {
		seed.Data[b] = 1
	}
	t.BackwardFrom(out, seed)
	return in.AdjCoef(0).Clone()
}

// TestHVPMLP checks forward-over-reverse HVP on a random 3-layer MLP against
// reverse over forward (to 1e-10) and against central differences of the
// gradient (to 1e-7), for every activation.
func TestHVPMLP(t *testing.T) {
	for i, act := range []*Elementwise{Softplus, Tanh, SiLU, ELU, Sigmoid} {
		t.Run(act.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(i)))
			m := newMLP(rng, act, 6, 16, 12, 1)
			x, v := MatOf(adtest.RandMat(rng, 9, 6, 1)), MatOf(adtest.RandMat(rng, 9, 6, 1))
			hv, g := NewMat(9, 6), NewMat(9, 6)
			tp := NewTape()
			HVP(tp, m.forward, x, v, g, hv)
			assertClose(t, "HVP vs reverse over forward", hv.Data, reverseOverForward(m.forward, x, v).Data, 1e-10)
			grads := func(x Mat) []float64 {
				InputGrad(tp, m.forward, x, g)
				return g.Data
			}
			assertClose(t, "HVP vs central difference of gradients", hv.Data, batchNumDeriv(x, v, grads), 1e-7)
		})
	}
}

// TestParamsFrozen checks that frozen parameters get no gradient and that
// InputGrad leaves the tape's freeze setting as it was.
func TestParamsFrozen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := newMLP(rng, Tanh, 3, 4, 1)
	x := MatOf(adtest.RandMat(rng, 2, 3, 1))
	tp := NewTape()
	InputGrad(tp, m.forward, x, NewMat(2, 3))
	if g := tp.Grad(m.w[0]); len(g.Data) != 0 {
		t.Errorf("InputGrad accumulated a parameter gradient: %v", g.Data)
	}
	tp.Reset()
	tp.Backward(tp.Sum(m.forward(tp, tp.Input(x, false))))
	if g := tp.Grad(m.w[0]); len(g.Data) != 12 {
		t.Errorf("after InputGrad, parameters stayed frozen: gradient %v", g.Data)
	}
}

// TestSteadyStateAllocs checks that repeating the same passes on reused
// tapes allocates nothing.
func TestSteadyStateAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	m := newMLP(rng, Softplus, 8, 32, 32, 1)
	x, v := MatOf(adtest.RandMat(rng, 16, 8, 1)), MatOf(adtest.RandMat(rng, 16, 8, 1))
	g, hv := NewMat(16, 8), NewMat(16, 8)
	tp := NewTape()
	so := NewSecondOrder()
	dirs, orders := []Mat{v}, []int{2}
	for name, run := range map[string]func(){
		"grad": func() {
			tp.Reset()
			tp.Backward(tp.Sum(m.forward(tp, tp.Input(x, false))))
		},
		"hvp":    func() { HVP(tp, m.forward, x, v, g, hv) },
		"ssm":    func() { so.Eval(m.forward, x, dirs, orders, ssmJetLoss, nil) },
		"ssm-vr": func() { so.Eval(m.forward, x, dirs, orders, ssmJetLoss, halfSquaredNorm) },
	} {
		run()
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("%s: %v allocations per repeated pass, want 0", name, a)
		}
	}
}

// TestChunk checks the fixed batch split.
func TestChunk(t *testing.T) {
	for _, c := range []struct{ n, chunks int }{{10, 3}, {3, 8}, {128, 8}, {0, 2}, {7, 1}} {
		next := 0
		for i := range c.chunks {
			lo, hi := Chunk(c.n, c.chunks, i)
			if lo != next || hi < lo || hi-lo > c.n/c.chunks+1 || hi-lo < c.n/c.chunks {
				t.Errorf("Chunk(%d, %d, %d) = [%d, %d), previous chunk ended at %d", c.n, c.chunks, i, lo, hi, next)
			}
			next = hi
		}
		if next != c.n {
			t.Errorf("chunks of %d rows in %d parts end at %d", c.n, c.chunks, next)
		}
	}
}

// ssmBatch computes the SSM loss and gradient of a batch chunk by chunk.
type ssmBatch struct {
	m      *mlp
	x, v   Mat
	so     []*SecondOrder
	loss   []float64
	grads  [][]Mat
	total  []Mat
	params []*Param
}

func newSSMBatch(m *mlp, x, v Mat, chunks int) *ssmBatch {
	s := &ssmBatch{m: m, x: x, v: v, params: m.params(), loss: make([]float64, chunks)}
	for range chunks {
		s.so = append(s.so, NewSecondOrder())
		s.grads = append(s.grads, make([]Mat, len(s.params)))
	}
	for _, p := range s.params {
		s.total = append(s.total, NewMat(p.Value.Rows, p.Value.Cols))
	}
	return s
}

func (s *ssmBatch) Run(c, lo, hi int) {
	x, v := s.x.RowRange(lo, hi), s.v.RowRange(lo, hi)
	var dirs [1]Mat
	dirs[0] = v
	orders := [1]int{2}
	// Per-chunk sums; the caller divides by the batch size.
	s.loss[c] = s.so[c].Eval(s.m.forward, x, dirs[:], orders[:], ssmSumLoss, nil)
	for i, p := range s.params {
		s.grads[c][i] = s.so[c].Grad(p)
	}
}

func ssmSumLoss(t *Tape, d *Derivs) *Node {
	return t.Sum(t.Sub(t.Scale(0.5, t.Apply(Square, d.D1[0])), d.D2[0]))
}

// run evaluates the batch on p and returns the summed loss.
func (s *ssmBatch) run(p *Pool) float64 {
	clear(s.loss)
	p.Do(s.x.Rows, s)
	SumChunks(s.total, s.grads)
	l := 0.0
	for _, v := range s.loss {
		l += v
	}
	return l
}

// TestPoolDeterminism checks that chunked evaluation gives the same bits for
// GOMAXPROCS 1, 2 and 8, and agrees with a single-chunk evaluation.
func TestPoolDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	m := newMLP(rng, Softplus, 8, 32, 32, 1)
	x, v := MatOf(adtest.RandMat(rng, 37, 8, 1)), MatOf(adtest.RandMat(rng, 37, 8, 1))
	var ref []float64
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		p := NewPool(8)
		s := newSSMBatch(m, x, v, 8)
		got := []float64{s.run(p)}
		for _, g := range s.total {
			got = append(got, g.Data...)
		}
		p.Close()
		if ref == nil {
			ref = got
			continue
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("GOMAXPROCS=%d: value %d is %v, with GOMAXPROCS=1 %v", procs, i, got[i], ref[i])
			}
		}
	}
	one := NewPool(1)
	defer one.Close()
	s := newSSMBatch(m, x, v, 1)
	got := []float64{s.run(one)}
	for _, g := range s.total {
		got = append(got, g.Data...)
	}
	assertClose(t, "8 chunks vs 1 chunk", ref, got, 1e-12)
}

// TestSecondOrderShortcuts checks that taking block 0 from the plain pass
// and skipping products over zero blocks happen, and change no bit of the
// loss or the gradients of an SSM-VR evaluation.
func TestSecondOrderShortcuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	m := newMLP(rng, Softplus, 6, 16, 12, 1)
	x, v := MatOf(adtest.RandMat(rng, 9, 6, 1)), MatOf(adtest.RandMat(rng, 9, 6, 1))
	eval := func(on bool) (float64, [][]float64, *SecondOrder) {
		shortcuts = on
		defer func() { shortcuts = true }()
		so := NewSecondOrder()
		loss := so.Eval(m.forward, x, []Mat{v}, []int{2}, ssmJetLoss, halfSquaredNorm)
		var grads [][]float64
		for _, p := range m.params() {
			grads = append(grads, so.Grad(p).Clone().Data)
		}
		return loss, grads, so
	}
	loss, grads, so := eval(true)
	loss0, grads0, _ := eval(false)
	if math.Float64bits(loss) != math.Float64bits(loss0) {
		t.Errorf("loss %v with shortcuts, %v without", loss, loss0)
	}
	for i := range grads {
		for j := range grads[i] {
			if math.Float64bits(grads[i][j]) != math.Float64bits(grads0[i][j]) {
				t.Fatalf("gradient %d[%d]: %v with shortcuts, %v without", i, j, grads[i][j], grads0[i][j])
			}
		}
	}
	reused, zero := 0, 0
	jt := so.Tape()
	for _, n := range jt.nodes[:jt.n] {
		if (n.op == opLinear || n.op == opUnary) && jt.primalOf(n) != nil {
			reused++
		}
		if n.op == opLinear && n.zero != 0 {
			zero++
		}
	}
	if reused != 5 || zero != 1 {
		t.Errorf("%d nodes took block 0 from the plain pass (want 5: 3 Linear, 2 Apply), %d Linear nodes had zero blocks (want 1)", reused, zero)
	}
}
