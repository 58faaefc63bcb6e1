package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"scorematch/ad/adtest"
)

// guardBits is the bit pattern of the NaN written into every guard cell
// (padding before/after each matrix and between rows when ld > width).
const guardBits = 0x7ff8_0000_dead_beef

// gemmFunc has the signature shared by NN, NT, TN and their references.
type gemmFunc func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int)

// op describes one of the three variants.
type op struct {
	name           string
	active, ref    gemmFunc
	transA, transB bool
}

var ops = []op{
	{"NN", NN, referenceNN, false, false},
	{"NT", NT, referenceNT, false, true},
	{"TN", TN, referenceTN, true, false},
}

// setFuncs are the exported C = op(A)·op(B) forms of ops, in its order.
var setFuncs = []gemmFunc{new(Workspace).SetNN, new(Workspace).SetNT, new(Workspace).SetTN}

// blockedWith returns the blocked driver for o with the given kernel,
// bypassing the small-size shortcut and the thin-shape paths.
func (o op) blockedWith(kern *kernel) gemmFunc {
	return func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
		if m == 0 || n == 0 || k == 0 {
			return
		}
		gemmBlocked(new(workspace), kern, o.transA, o.transB, false, m, n, k, a, lda, b, ldb, c, ldc)
	}
}

// with returns o computed by kern with all its paths, as the exported
// functions do when kern is active; with set, C = op(A)·op(B) instead of
// C += op(A)·op(B).
func (o op) with(kern *kernel, set bool) gemmFunc {
	w := new(Workspace)
	return func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
		w.gemm(kern, o.transA, o.transB, set, m, n, k, a, lda, b, ldb, c, ldc)
	}
}

// setImpls lists every implementation of C = op(A)·op(B): the exported
// function and each kernel, all paths and the blocked driver alone.
func (o op) setImpls() []impl {
	list := []impl{{"Set" + o.name, setFuncs[o.index()]}}
	for _, kern := range append(append([]*kernel(nil), kernels...), goKernels...) {
		list = append(list, impl{"set-" + kern.name, o.with(kern, true)})
		if kern.tile == nil {
			continue
		}
		list = append(list, impl{"set-blocked-" + kern.name, func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
			if m > 0 && n > 0 && k > 0 {
				gemmBlocked(new(workspace), kern, o.transA, o.transB, true, m, n, k, a, lda, b, ldb, c, ldc)
			} else {
				clearMat(m, n, c, ldc)
			}
		}})
	}
	return append(list, o.partImpls(true)...)
}

// index returns o's position in ops.
func (o op) index() int {
	for i, x := range ops {
		if x.name == o.name {
			return i
		}
	}
	panic("unknown op " + o.name)
}

// tileGo is the specification of every micro-kernel: each of the mr×nr
// outputs is accumulated from its value in c along p in increasing order
// with one fused multiply-add per step.
func tileGo(mr, nr, kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int) {
	for r := 0; r < mr; r++ {
		for s := 0; s < nr; s++ {
			v := c[r*ldc+s]
			for p := 0; p < kc; p++ {
				v = math.FMA(a[p*sa+r], b[p*sb+s], v)
			}
			c[r*ldc+s] = v
		}
	}
}

// goKernels are blocked kernels with pure-Go micro-kernels of the tile
// shapes of the assembly kernels, so that the packing and edge handling
// for those shapes are tested on every architecture.
var goKernels = []*kernel{
	{name: "go8x16", mr: 8, nr: 16, kc: 256, mc: 96, nc: 2048, strided: true,
		tile: func(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int) {
			tileGo(8, 16, kc, a, sa, b, sb, c, ldc)
		}},
	{name: "go6x8", mr: 6, nr: 8, kc: 256, mc: 96, nc: 2048,
		tile: func(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int) {
			tileGo(6, 8, kc, a, sa, b, sb, c, ldc)
		}},
}

// impls lists every implementation of o that must match the reference.
func (o op) impls() []impl {
	list := []impl{{"reference", o.ref}, {"active(" + Kernel() + ")", o.active}}
	for _, kern := range kernels {
		list = append(list, impl{kern.name, o.with(kern, false)})
		if kern.tile != nil {
			list = append(list, impl{"blocked-" + kern.name, o.blockedWith(kern)})
		}
	}
	for _, kern := range goKernels {
		list = append(list, impl{"blocked-" + kern.name, o.blockedWith(kern)})
	}
	return append(list, o.partImpls(false)...)
}

// partImpls lists the products computed in the parts of a shared product,
// the last part first: cut in 4 parts at tile multiples and in 3 anywhere,
// along the rows and along the columns, with the active kernel, or with
// the pure-Go tiles of the assembly kernels' shapes where it is the
// reference (the cuts depend only on the tile shape).
func (o op) partImpls(set bool) []impl {
	var list []impl
	kerns := []*kernel{active}
	if active.tile == nil {
		kerns = goKernels
	}
	for _, kern := range kerns {
		for _, rows := range []bool{false, true} {
			for _, parts := range []int{-3, 4} {
				name := fmt.Sprintf("parts(rows=%v,%d)-%s", rows, parts, kern.name)
				if set {
					name = "set-" + name
				}
				list = append(list, impl{name, func(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
					if m == 0 || n == 0 || k == 0 {
						if set {
							clearMat(m, n, c, ldc)
						}
						return
					}
					s := &share{kern: kern, transA: o.transA, transB: o.transB, set: set, m: m, n: n, k: k,
						a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, rows: rows}
					size, w := n, kern.nr
					if rows {
						size, w = m, kern.mr
					}
					if parts > 0 {
						s.cut(parts, size, w)
					} else {
						s.cut(-parts, size, 1) // not on a tile boundary: as exact, only slower
					}
					ws := new(workspace)
					for i := s.parts - 1; i >= 0; i-- {
						s.part(i, ws)
					}
				}})
			}
		}
	}
	return list
}

// impl is one named implementation.
type impl struct {
	name string
	f    gemmFunc
}

// shapes returns the stored shapes (rows×cols) of A and B for o.
func (o op) shapes(m, n, k int) (ar, ac, br, bc int) {
	ar, ac = m, k
	if o.transA {
		ar, ac = k, m
	}
	br, bc = k, n
	if o.transB {
		br, bc = n, k
	}
	return
}

// mat is a row-major matrix embedded in a NaN-filled buffer.
type mat struct {
	buf                 []float64
	pad, rows, cols, ld int
}

func newMat(rows, cols, ld int, gen func() float64) *mat {
	pad := 5 + ld%7
	x := &mat{buf: make([]float64, 2*pad+rows*ld), pad: pad, rows: rows, cols: cols, ld: ld}
	for i := range x.buf {
		x.buf[i] = math.Float64frombits(guardBits)
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			x.buf[pad+i*ld+j] = gen()
		}
	}
	return x
}

// data is the minimal slice addressing the matrix.
func (x *mat) data() []float64 {
	if x.rows == 0 || x.cols == 0 {
		return x.buf[x.pad:x.pad]
	}
	return x.buf[x.pad : x.pad+(x.rows-1)*x.ld+x.cols]
}

func (x *mat) at(i, j int) float64     { return x.buf[x.pad+i*x.ld+j] }
func (x *mat) set(i, j int, v float64) { x.buf[x.pad+i*x.ld+j] = v }

func (x *mat) clone() *mat {
	y := *x
	y.buf = append([]float64(nil), x.buf...)
	return &y
}

func (x *mat) isData(idx int) bool {
	o := idx - x.pad
	if o < 0 || o >= x.rows*x.ld {
		return false
	}
	return o%x.ld < x.cols
}

// checkGuards reports guard cells whose bits changed.
func (x *mat) checkGuards(t *testing.T, what string) {
	t.Helper()
	for i, v := range x.buf {
		if !x.isData(i) && math.Float64bits(v) != guardBits {
			t.Fatalf("%s: guard cell %d overwritten with %v", what, i, v)
		}
	}
}

// sameBits reports the first index where a and b differ bitwise, or -1.
func sameBits(a, b []float64) int {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// mixedGen returns values of both signs with magnitudes spread over 2^±20, so
// that any change in summation order or rounding changes result bits.
func mixedGen(rng *rand.Rand) func() float64 {
	return func() float64 {
		v := math.Ldexp(1+rng.Float64(), rng.IntN(41)-20)
		if rng.IntN(2) == 0 {
			v = -v
		}
		return v
	}
}

// naive computes the contract loop directly from the element definitions.
func naive(o op, m, n, k int, a, b, c *mat) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			v := c.at(i, j)
			for p := 0; p < k; p++ {
				var x, y float64
				if o.transA {
					x = a.at(p, i)
				} else {
					x = a.at(i, p)
				}
				if o.transB {
					y = b.at(j, p)
				} else {
					y = b.at(p, j)
				}
				v = math.FMA(x, y, v)
			}
			c.set(i, j, v)
		}
	}
}

// runCase checks every implementation of o on one shape against the naive
// loop, bit for bit, together with the guard cells and input immutability.
func runCase(t *testing.T, rng *rand.Rand, o op, m, n, k, extra int, gen func() float64) {
	t.Helper()
	ar, ac, br, bc := o.shapes(m, n, k)
	a := newMat(ar, ac, ac+extra, gen)
	b := newMat(br, bc, bc+(extra*3)%7, gen)
	c := newMat(m, n, n+(extra*5)%11, gen)
	a0, b0 := a.clone(), b.clone()

	check := func(impls []impl, c, want *mat) {
		t.Helper()
		for _, im := range impls {
			got := c.clone()
			im.f(m, n, k, a.data(), a.ld, b.data(), b.ld, got.data(), got.ld)
			what := fmt.Sprintf("%s %s m=%d n=%d k=%d lds=%d,%d,%d", o.name, im.name, m, n, k, a.ld, b.ld, c.ld)
			got.checkGuards(t, what+" C")
			if i := sameBits(got.buf, want.buf); i >= 0 {
				t.Fatalf("%s: C buf[%d] = %v (%#x), want %v (%#x)", what, i,
					got.buf[i], math.Float64bits(got.buf[i]), want.buf[i], math.Float64bits(want.buf[i]))
			}
			if sameBits(a.buf, a0.buf) >= 0 || sameBits(b.buf, b0.buf) >= 0 {
				t.Fatalf("%s: A or B modified", what)
			}
		}
	}
	want := c.clone()
	naive(o, m, n, k, a, b, want)
	check(o.impls(), c, want)

	// C = op(A)·op(B) ignores C's values, NaNs included, and gives the
	// bits of C += op(A)·op(B) on a zero C.
	want = c.clone()
	stale := c.clone()
	for i := range m {
		for j := range n {
			want.set(i, j, 0)
			stale.set(i, j, math.NaN())
		}
	}
	naive(o, m, n, k, a, b, want)
	check(o.setImpls(), stale, want)
}

func TestShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33, 64, 129}
	if testing.Short() {
		sizes = []int{1, 3, 7, 9, 17, 129}
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(o.name)+int(o.name[0]))))
			gen := mixedGen(rng)
			idx := 0
			for _, m := range sizes {
				for _, n := range sizes {
					for _, k := range sizes {
						if testing.Short() && m == 129 && n == 129 && k == 129 {
							continue
						}
						runCase(t, rng, o, m, n, k, []int{0, 1, 5}[idx%3], gen)
						idx++
					}
				}
			}
		})
	}
}

// TestListedSizes runs every size of the list on each of m, n and k, with
// the other two drawn from the list (bounded so that the naive loop stays
// quick), through every implementation.
func TestListedSizes(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
		31, 32, 33, 63, 96, 97, 128, 160, 255, 256, 257, 784}
	limit := 1 << 21
	if testing.Short() {
		limit = 1 << 17
	}
	rng := rand.New(rand.NewPCG(9, 9))
	gen := mixedGen(rng)
	for _, o := range ops {
		for axis := range 3 {
			for _, s := range sizes {
				var d [3]int
				for {
					d = [3]int{sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]}
					d[axis] = s
					if d[0]*d[1]*d[2] <= limit {
						break
					}
				}
				runCase(t, rng, o, d[0], d[1], d[2], rng.IntN(4), gen)
			}
		}
	}
}

// TestBlockBoundaries covers shapes crossing the k, m and n cache blocks and
// large leading dimensions.
func TestBlockBoundaries(t *testing.T) {
	type blocks struct{ mr, nr, kc, mc, nc int }
	seen := map[blocks]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	gen := mixedGen(rng)
	for _, kern := range append(kernels[:len(kernels):len(kernels)], goKernels...) {
		bl := blocks{kern.mr, kern.nr, kern.kc, kern.mc, kern.nc}
		if kern.tile == nil || seen[bl] {
			continue
		}
		seen[bl] = true
		cases := []struct{ m, n, k, extra int }{
			{bl.mc + 7, 37, 2*bl.kc + 3, 0},
			{bl.mc, bl.nr * 5, bl.kc, 13},
			{13, 2*bl.nr + 1, bl.kc + 1, 64},
			{2*bl.mc + 1, 23, bl.kc - 1, 3},
			{7, bl.nc + 9, 20, 1},
			{bl.mr + 1, bl.nc, bl.kc + 5, 0},
		}
		if testing.Short() {
			cases = cases[:4]
		}
		for _, o := range ops {
			for _, tc := range cases {
				runCase(t, rng, o, tc.m, tc.n, tc.k, tc.extra, gen)
			}
		}
	}
}

// TestSpecialValues uses zeros of both signs, infinities, huge and subnormal
// values. NaN results are only required to be NaN.
func TestSpecialValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	specials := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1),
		math.MaxFloat64, -math.MaxFloat64, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, 1e300}
	gen := func() float64 {
		if rng.IntN(3) == 0 {
			return specials[rng.IntN(len(specials))]
		}
		return math.Ldexp(rng.Float64()-0.5, rng.IntN(2100)-1075)
	}
	for _, o := range ops {
		for _, sz := range [][3]int{{7, 9, 5}, {13, 17, 33}, {25, 19, 40}, {6, 8, 300},
			{1, 70, 9}, {70, 1, 9}, {20, 70, 1}, {17, 33, 64}} {
			m, n, k := sz[0], sz[1], sz[2]
			ar, ac, br, bc := o.shapes(m, n, k)
			a, b := newMat(ar, ac, ac, gen), newMat(br, bc, bc, gen)
			c := newMat(m, n, n+1, gen)
			want := c.clone()
			naive(o, m, n, k, a, b, want)
			for _, im := range o.impls() {
				got := c.clone()
				im.f(m, n, k, a.data(), a.ld, b.data(), b.ld, got.data(), got.ld)
				got.checkGuards(t, o.name)
				for i := range got.buf {
					g, w := got.buf[i], want.buf[i]
					if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
						t.Fatalf("%s %v: buf[%d] = %v, want %v", o.name, sz, i, g, w)
					}
				}
			}
		}
	}
}

// TestOrderSensitive verifies that the test data would detect a kernel that
// reorders or splits the k sum or does not fuse the multiply-add.
func TestOrderSensitive(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	gen := mixedGen(rng)
	const m, n, k = 33, 31, 64
	a, b, c := newMat(m, k, k, gen), newMat(k, n, n, gen), newMat(m, n, n, gen)
	want := c.clone()
	NN(m, n, k, a.data(), a.ld, b.data(), b.ld, want.data(), want.ld)

	variants := map[string]func(v float64, i, j int) float64{
		"reversed": func(v float64, i, j int) float64 {
			for p := k - 1; p >= 0; p-- {
				v = math.FMA(a.at(i, p), b.at(p, j), v)
			}
			return v
		},
		"split": func(v float64, i, j int) float64 {
			var s float64
			for p := 0; p < k/2; p++ {
				v = math.FMA(a.at(i, p), b.at(p, j), v)
			}
			for p := k / 2; p < k; p++ {
				s = math.FMA(a.at(i, p), b.at(p, j), s)
			}
			return v + s
		},
		"unfused": func(v float64, i, j int) float64 {
			for p := 0; p < k; p++ {
				// The conversion rounds the product: without it, Go fuses
				// the multiply-add on arm64, ppc64le, riscv64 and s390x.
				v += float64(a.at(i, p) * b.at(p, j))
			}
			return v
		},
	}
	for name, f := range variants {
		diff := 0
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				if math.Float64bits(f(c.at(i, j), i, j)) != math.Float64bits(want.at(i, j)) {
					diff++
				}
			}
		}
		t.Logf("%s: %d of %d elements differ", name, diff, m*n)
		if diff < m*n/8 {
			t.Errorf("%s summation differs in only %d of %d elements; data not order-sensitive", name, diff, m*n)
		}
	}
}

func TestZeroDims(t *testing.T) {
	c := []float64{1, 2, 3, 4, 5, 6}
	orig := append([]float64(nil), c...)
	for _, o := range ops {
		o.active(2, 3, 0, nil, 3, nil, 3, c, 3)
		o.ref(2, 3, 0, nil, 3, nil, 3, c, 3)
		o.active(0, 3, 5, nil, 5, make([]float64, 25), 5, nil, 3)
		o.active(2, 0, 4, make([]float64, 16), 4, nil, 4, c, 0)
	}
	NN(2, 3, 0, nil, 0, nil, 3, c, 3)
	if sameBits(c, orig) >= 0 {
		t.Fatalf("k=0 changed C: %v", c)
	}
}

func TestPanics(t *testing.T) {
	s := make([]float64, 100)
	cases := []struct {
		name string
		f    func()
	}{
		{"negative", func() { NN(-1, 2, 2, s, 2, s, 2, s, 2) }},
		{"lda", func() { NN(2, 2, 3, s, 2, s, 2, s, 2) }},
		{"ldb", func() { NT(2, 2, 3, s, 3, s, 2, s, 2) }},
		{"ldc", func() { TN(2, 3, 2, s, 2, s, 3, s, 2) }},
		{"short a", func() { NN(4, 4, 4, s[:15], 4, s, 4, s, 4) }},
		{"short b", func() { NT(4, 5, 4, s, 4, s[:19], 4, s, 5) }},
		{"short c", func() { TN(4, 4, 4, s, 4, s, 4, s[:14], 4) }},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

func TestKernel(t *testing.T) {
	k := Kernel()
	if k != "avx512" && k != "avx2-fma" && k != "purego" {
		t.Fatalf("Kernel() = %q", k)
	}
	t.Logf("active kernel: %s", k)
}

// TestConcurrent runs the blocked path from several goroutines (shared
// workspace pool) and compares with the reference.
func TestConcurrent(t *testing.T) {
	const n = 70
	rng := rand.New(rand.NewPCG(5, 6))
	gen := mixedGen(rng)
	a, b := newMat(n, n, n, gen), newMat(n, n, n, gen)
	c0 := newMat(n, n, n, gen)
	want := c0.clone()
	referenceNN(n, n, n, a.data(), n, b.data(), n, want.data(), n)
	var wg sync.WaitGroup
	res := make([]*mat, 4)
	for g := range res {
		res[g] = c0.clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			NN(n, n, n, a.data(), n, b.data(), n, res[g].data(), n)
		}()
	}
	wg.Wait()
	for g, r := range res {
		if sameBits(r.buf, want.buf) >= 0 {
			t.Fatalf("goroutine %d: result differs", g)
		}
	}
}

func TestAllocs(t *testing.T) {
	for _, n := range []int{64, 256} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		a, b, c := randSlice(rng, n*n), randSlice(rng, n*n), randSlice(rng, n*n)
		for _, o := range ops {
			o.active(n, n, n, a, n, b, n, c, n) // warm up the pool
			allocs := testing.AllocsPerRun(5, func() { o.active(n, n, n, a, n, b, n, c, n) })
			if allocs != 0 {
				t.Errorf("%s n=%d: %v allocs per call, want 0", o.name, n, allocs)
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.Float64()*2 - 1
	}
	return s
}

func benchGEMM(b *testing.B, f gemmFunc, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, y, z := randSlice(rng, n*n), randSlice(rng, n*n), randSlice(rng, n*n)
	f(n, n, n, x, n, y, n, z, n) // warm up the workspace pool
	b.ReportAllocs()
	for b.Loop() {
		f(n, n, n, x, n, y, n, z, n)
	}
	b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGEMM measures square NN for the active kernel and the pure-Go
// reference in the same run.
func BenchmarkGEMM(b *testing.B) {
	list := []impl{{Kernel(), NN}}
	for _, kern := range kernels[1:] {
		if kern.tile != nil {
			list = append(list, impl{kern.name, ops[0].with(kern, false)})
		}
	}
	for _, im := range append(list, impl{"reference", referenceNN}) {
		for _, n := range []int{64, 128, 256, 512} {
			b.Run(fmt.Sprintf("kernel=%s/n=%d", im.name, n), func(b *testing.B) { benchGEMM(b, im.f, n) })
		}
	}
}

// BenchmarkGEMMNT and BenchmarkGEMMTN measure the transposed variants at
// n=256.
func BenchmarkGEMMNT(b *testing.B) { benchOp(b, ops[1]) }

func BenchmarkGEMMTN(b *testing.B) { benchOp(b, ops[2]) }

func benchOp(b *testing.B, o op) {
	const n = 256
	b.Run(fmt.Sprintf("kernel=%s/n=%d", Kernel(), n), func(b *testing.B) { benchGEMM(b, o.active, n) })
	b.Run(fmt.Sprintf("kernel=reference/n=%d", n), func(b *testing.B) { benchGEMM(b, o.ref, n) })
}

// TestWorkspace checks that the Workspace methods give the package-level
// functions' bits and allocate nothing once their buffers have grown.
func TestWorkspace(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var w Workspace
	for _, n := range []int{7, 64, 200} {
		a, b := randSlice(rng, n*n), randSlice(rng, n*n)
		c1, c2 := randSlice(rng, n*n), make([]float64, n*n)
		copy(c2, c1)
		NT(n, n, n, a, n, b, n, c1, n)
		w.NT(n, n, n, a, n, b, n, c2, n)
		for i := range c1 {
			if math.Float64bits(c1[i]) != math.Float64bits(c2[i]) {
				t.Fatalf("n=%d: element %d differs: %v vs %v", n, i, c1[i], c2[i])
			}
		}
	}
	a, b, c := randSlice(rng, 200*200), randSlice(rng, 200*200), make([]float64, 200*200)
	if allocs := testing.AllocsPerRun(10, func() {
		w.NN(200, 200, 200, a, 200, b, 200, c, 200)
		w.TN(200, 64, 200, a, 200, b, 64, c, 64)
		w.NT(64, 1, 200, a, 200, b, 200, c, 1) // dot rows
		w.NN(64, 1, 200, a, 200, b, 3, c, 2)   // dot rows, strided x
		w.TN(1, 64, 200, a, 7, b, 64, c, 64)   // axpy rows
		w.TN(64, 1, 200, a, 64, b, 5, c, 3)    // axpy rows, strided y
		w.NT(64, 100, 1, a, 1, b, 2, c, 100)   // k = 1, strided b
	}); allocs != 0 && !adtest.RaceEnabled {
		t.Errorf("Workspace methods allocate %v times per call", allocs)
	}
}

// shapeCase is one in-step product shape.
type shapeCase struct {
	op      op
	m, n, k int
}

// stepShapes are the products of an MLP training step (chunks of 32 rows,
// jets of 1–5 blocks, widths 64, 256 and 784) plus the thin n=1, k=1 and m=1
// products of the output layer.
func stepShapes() []shapeCase {
	nn, nt, tn := ops[0], ops[1], ops[2]
	return []shapeCase{
		{nt, 32, 256, 256}, {nt, 96, 256, 256}, {nt, 160, 256, 256},
		{nt, 32, 256, 784}, {nt, 128, 256, 64}, {nt, 128, 1, 256},
		{nn, 32, 256, 256}, {nn, 96, 256, 256}, {nn, 32, 784, 256},
		{nn, 128, 256, 1},
		{tn, 256, 256, 32}, {tn, 256, 784, 32}, {tn, 256, 256, 128},
		{tn, 1, 256, 128},
	}
}

// BenchmarkGEMMShapes measures the in-step shapes with a Workspace for
// every kernel this machine runs.
func BenchmarkGEMMShapes(b *testing.B) {
	for _, sc := range stepShapes() {
		for _, kern := range kernels {
			name := fmt.Sprintf("%s/m=%d,n=%d,k=%d/kernel=%s", sc.op.name, sc.m, sc.n, sc.k, kern.name)
			b.Run(name, func(b *testing.B) { benchShape(b, kern, sc) })
		}
	}
}

func benchShape(b *testing.B, kern *kernel, sc shapeCase) {
	m, n, k := sc.m, sc.n, sc.k
	ar, ac, br, bc := sc.op.shapes(m, n, k)
	rng := rand.New(rand.NewPCG(1, 2))
	x, y, z := randSlice(rng, ar*ac), randSlice(rng, br*bc), randSlice(rng, m*n)
	var w Workspace
	tA, tB := sc.op.transA, sc.op.transB
	w.gemm(kern, tA, tB, false, m, n, k, x, ac, y, bc, z, n)
	b.ReportAllocs()
	for b.Loop() {
		w.gemm(kern, tA, tB, false, m, n, k, x, ac, y, bc, z, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGEMMCores measures the n=512 NN product of the active kernel on
// 1 and 2 cores (rows of C split in contiguous halves, a goroutine and a
// Workspace each): the 2-core rate is the ceiling a training step's
// products on two cores are measured against.
func BenchmarkGEMMCores(b *testing.B) {
	const n = 512
	for _, cores := range []int{1, 2} {
		b.Run(fmt.Sprintf("kernel=%s/n=%d/cores=%d", Kernel(), n, cores), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			x, y, z := randSlice(rng, n*n), randSlice(rng, n*n), randSlice(rng, n*n)
			ws := make([]Workspace, cores)
			run := func() {
				var wg sync.WaitGroup
				for c := range cores {
					lo, hi := c*n/cores, (c+1)*n/cores
					wg.Go(func() { ws[c].NN(hi-lo, n, n, x[lo*n:], n, y, n, z[lo*n:], n) })
				}
				wg.Wait()
			}
			run()
			for b.Loop() {
				run()
			}
			b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
