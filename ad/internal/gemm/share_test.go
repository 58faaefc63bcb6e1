package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShareHelp runs large products on a Workspace while another goroutine
// stands by and helps: the results keep the reference's bits, and the
// helper computes parts of them.
func TestShareHelp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	gen := mixedGen(rng)
	var products []shareProduct
	for i := range 24 {
		m, n, k := 64+rng.IntN(80), 128+rng.IntN(200), 64+rng.IntN(100)
		products = append(products, shareProduct{ops[i%3], i%4 == 3, m, n, k})
	}
	products = append(products, shareProduct{ops[1], false, 64, 256, 784}, shareProduct{ops[2], true, 256, 784, 64},
		shareProduct{ops[0], false, 64, 784, 256})

	var stop atomic.Bool
	var helped atomic.Int64
	var wg sync.WaitGroup
	Standby(true)
	wg.Go(func() {
		defer Standby(false)
		var hw Workspace
		for !stop.Load() {
			if hw.Help() {
				helped.Add(1)
			} else {
				runtime.Gosched()
			}
		}
	})
	var w Workspace
	// On a loaded machine the helper may get no processor while a few
	// products run: repeat them (at most 10 times) until it took a part.
	for round := 0; round == 0 || round < 10 && helped.Load() == 0 && active.tile != nil; round++ {
		checkProducts(t, &w, products, gen)
	}
	stop.Store(true)
	wg.Wait()
	if active.tile == nil {
		return // the reference loops do not share
	}
	if runtime.GOMAXPROCS(0) >= 2 && helped.Load() == 0 {
		t.Errorf("the helper computed no part of %d products, 10 times over", len(products))
	}
	t.Logf("helper took parts in %d products", helped.Load())
}

// shareProduct is one product of TestShareHelp.
type shareProduct struct {
	o       op
	set     bool
	m, n, k int
}

// checkProducts computes each product on w and compares it with the naive
// loop, bit for bit.
func checkProducts(t *testing.T, w *Workspace, products []shareProduct, gen func() float64) {
	t.Helper()
	for _, p := range products {
		if p.m*p.n*p.k < shareMin {
			t.Fatalf("%v: too small to be shared", p)
		}
		ar, ac, br, bc := p.o.shapes(p.m, p.n, p.k)
		a, b := newMat(ar, ac, ac+3, gen), newMat(br, bc, bc, gen)
		c := newMat(p.m, p.n, p.n+1, gen)
		want := c.clone()
		if p.set {
			clearMat(p.m, p.n, want.data(), want.ld)
		}
		naive(p.o, p.m, p.n, p.k, a, b, want)
		f := [][2]func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int){
			{w.NN, w.SetNN}, {w.NT, w.SetNT}, {w.TN, w.SetTN}}[p.o.index()][btoi(p.set)]
		f(p.m, p.n, p.k, a.data(), a.ld, b.data(), b.ld, c.data(), c.ld)
		what := fmt.Sprintf("%s set=%v m=%d n=%d k=%d", p.o.name, p.set, p.m, p.n, p.k)
		c.checkGuards(t, what)
		if i := sameBits(c.buf, want.buf); i >= 0 {
			t.Fatalf("%s: C buf[%d] = %v, want %v", what, i, c.buf[i], want.buf[i])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestShareOffer checks when a Workspace cuts a product: a large one in
// two while a goroutine stands by; one whose columns cut at no cost in four
// even when none does; a small one never. No offer is left behind.
func TestShareOffer(t *testing.T) {
	if active.tile == nil {
		t.Skip("the reference loops do not share")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	a, b, c := randSlice(rng, 256*784), randSlice(rng, 784*256), make([]float64, 256*784)
	var w Workspace
	type product struct {
		transA, transB bool
		m, n, k        int
	}
	nt := product{false, true, 64, 256, 784}  // packs A or B once more per cut
	tn := product{true, false, 256, 784, 128} // the AVX-512 kernel reads both in place
	small := product{false, false, 8, 8, 8}
	free := 0
	if active.strided {
		free = maxParts
	}
	for _, tc := range []struct {
		standby bool
		p       product
		parts   int // 0: not shared
	}{
		{false, nt, 0},
		{false, tn, free},
		{false, small, 0},
		{true, nt, 2},
		{true, tn, 2},
		{true, small, 0},
	} {
		if tc.standby {
			Standby(true)
		}
		w.share.parts = 0
		p := tc.p
		shared := w.shared(active, p.transA, p.transB, false, p.m, p.n, p.k, a, max(p.k, p.m), b, max(p.k, p.n), c, p.n)
		if tc.standby {
			Standby(false)
		}
		parts := 0
		if shared {
			parts = w.share.parts
		}
		if parts != tc.parts {
			t.Errorf("standby %v, %+v: %d parts, want %d", tc.standby, p, parts, tc.parts)
		}
		if shared && int(w.share.done.Load()) != parts {
			t.Errorf("standby %v, %+v: %d of %d parts done", tc.standby, p, w.share.done.Load(), parts)
		}
		for i := range offers {
			if offers[i].Load() != nil {
				t.Fatalf("standby %v, %+v: offer slot %d still taken", tc.standby, p, i)
			}
		}
	}
}

// TestShareCut checks the bounds of the parts: near-equal, at multiples of
// the tile, fewer parts when the side is short.
func TestShareCut(t *testing.T) {
	for _, tc := range []struct {
		parts, size, w int
		want           []int
	}{
		{4, 784, 16, []int{0, 208, 400, 592, 784}},
		{2, 64, 8, []int{0, 32, 64}},
		{2, 70, 6, []int{0, 36, 70}},
		{4, 20, 16, []int{0, 16, 20}},
		{3, 16, 16, []int{0, 16}},
		{4, 5, 1, []int{0, 1, 2, 3, 5}},
	} {
		var s share
		s.cut(tc.parts, tc.size, tc.w)
		if got := s.bounds[:s.parts+1]; !slices.Equal(got, tc.want) {
			t.Errorf("cut(%d, %d, %d) = %v, want %v", tc.parts, tc.size, tc.w, got, tc.want)
		}
	}
}

// BenchmarkShare times the products of one chunk of 64 rows of a gradient
// step at D = 784 (MLP 784 → 256 → 256, see ssm's BenchmarkStepChunks): the
// two forward products, the backward product through the second layer and
// the two weight gradients, each alone and with another goroutine standing
// by and helping, which is what a worker whose chunk has ended does. Run
// with GOMAXPROCS 2 or more; helpµs/op is the helper's share of the time.
func BenchmarkShare(b *testing.B) {
	shapes := []struct {
		op      string
		m, n, k int
	}{
		{"NN", 64, 256, 784}, {"NN", 64, 256, 256}, {"NT", 64, 256, 256},
		{"TN", 256, 256, 64}, {"TN", 784, 256, 64},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		a, bm, c := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), randSlice(rng, s.m*s.n)
		var w Workspace
		product := func() {
			switch s.op {
			case "NN":
				w.SetNN(s.m, s.n, s.k, a, s.k, bm, s.n, c, s.n)
			case "NT":
				w.SetNT(s.m, s.n, s.k, a, s.k, bm, s.k, c, s.n)
			case "TN":
				w.SetTN(s.m, s.n, s.k, a, s.m, bm, s.n, c, s.n)
			}
		}
		for _, help := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/m=%d/n=%d/k=%d/help=%v", s.op, s.m, s.n, s.k, help), func(b *testing.B) {
				var stop atomic.Bool
				var helped atomic.Int64 // ns spent in parts
				var wg sync.WaitGroup
				if help {
					Standby(true)
					wg.Go(func() {
						var hw Workspace
						for !stop.Load() {
							start := time.Now()
							if hw.Help() {
								helped.Add(int64(time.Since(start)))
							}
						}
					})
				}
				product()
				b.ReportAllocs()
				for b.Loop() {
					product()
				}
				if help {
					stop.Store(true)
					wg.Wait()
					Standby(false)
					b.ReportMetric(float64(helped.Load())/float64(b.N)/1e3, "helpµs/op")
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
