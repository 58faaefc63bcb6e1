package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestShareHelp runs large products on a Workspace while another goroutine
// stands by and helps: the results keep the reference's bits, and the
// helper computes parts of them.
func TestShareHelp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	gen := mixedGen(rng)
	type product struct {
		o       op
		set     bool
		m, n, k int
	}
	var products []product
	for i := range 24 {
		m, n, k := 64+rng.IntN(80), 128+rng.IntN(200), 64+rng.IntN(100)
		products = append(products, product{ops[i%3], i%4 == 3, m, n, k})
	}
	products = append(products, product{ops[1], false, 64, 256, 784}, product{ops[2], true, 256, 784, 64},
		product{ops[0], false, 64, 784, 256})

	var stop atomic.Bool
	var helped atomic.Int64
	var wg sync.WaitGroup
	Standby(true)
	wg.Go(func() {
		defer Standby(false)
		for !stop.Load() {
			if Help() {
				helped.Add(1)
			} else {
				runtime.Gosched()
			}
		}
	})
	var w Workspace
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
	stop.Store(true)
	wg.Wait()
	if active.tile == nil {
		return // the reference loops do not share
	}
	if runtime.GOMAXPROCS(0) >= 2 && helped.Load() == 0 {
		t.Errorf("the helper computed no part of %d products", len(products))
	}
	t.Logf("helper took parts in %d of %d products", helped.Load(), len(products))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestShareNoStandby checks that nothing is offered while no goroutine
// stands by, and that a product leaves no offer behind.
func TestShareNoStandby(t *testing.T) {
	if active.tile == nil {
		t.Skip("the reference loops do not share")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	a, b, c := randSlice(rng, 64*784), randSlice(rng, 784*256), make([]float64, 64*256)
	var w Workspace
	if w.shared(active, false, false, false, 64, 256, 784, a, 784, b, 256, c, 256) {
		t.Fatal("a product was shared with no goroutine on standby")
	}
	Standby(true)
	defer Standby(false)
	if !w.shared(active, false, false, false, 64, 256, 784, a, 784, b, 256, c, 256) {
		t.Fatal("a large product was not shared with a goroutine on standby")
	}
	if offered.Load() != nil || w.share.done.Load() != shareParts {
		t.Fatalf("after the product: offered %p, %d parts done", offered.Load(), w.share.done.Load())
	}
	if w.shared(active, false, false, false, 8, 8, 8, a, 8, b, 8, c, 8) {
		t.Fatal("a small product was shared")
	}
}
