package gemm

import "sync"

// A kernel is one implementation of the products: a micro-kernel with its
// register tile (mr×nr) and cache blocks, or, when tile is nil, the pure-Go
// reference loops.
type kernel struct {
	name   string
	mr, nr int // register tile of tile
	kc     int // k slice: a packed B micro-panel (kc×nr) stays in L1
	mc     int // rows of a packed A block (mc×kc, in L2); a multiple of mr
	nc     int // columns of a packed B block (kc×nc); a multiple of nr

	// tile computes the mr×nr tile c[r*ldc+s] (r < mr, s < nr) += Ap·Bp
	// for one kc-long slice of k, where a holds the A panel (a[p*sa+r] =
	// A[i0+r, p0+p]) and b the B panel (b[p*sb+s] = B[p0+p, j0+s]): each
	// output is accumulated from its value in c along p in increasing
	// order with one fused multiply-add per step. The panels are packed
	// (sa = mr, sb = nr) unless strided is set, when they may also be read
	// in place from a matrix with p along its rows. It is called with
	// kc > 0 and slices long enough, which micro checks.
	tile    func(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int)
	strided bool

	// axpy, when not nil, computes y[j] = FMA(x[p*incx], b[p*ldb+j], y[j])
	// for j < n and p = 0..k-1 in order, vectorised across j; n is a
	// multiple of lanes and k > 0 (see axpyRows, which checks the operands).
	axpy  func(n, k int, x []float64, incx int, b []float64, ldb int, y []float64)
	lanes int

	// dot8, when not nil, computes y[r] = FMA(a[r*lda+p], x[p], y[r]) for
	// r < 8 and p = 0..k-1 in order; k > 0 and len(x) ≥ k (see dotRows,
	// which checks the operands).
	dot8 func(k int, a []float64, lda int, x []float64, y *[8]float64)
}

// maxTile is the largest mr*nr of any kernel (the edge tile buffer).
const maxTile = 8 * 16

// micro checks the operands of one tile update and calls k.tile.
func (k *kernel) micro(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int) {
	_ = a[(kc-1)*sa+k.mr-1]
	_ = b[(kc-1)*sb+k.nr-1]
	_ = c[(k.mr-1)*ldc+k.nr-1]
	k.tile(kc, a, sa, b, sb, c, ldc)
}

// panels is one operand of a macro-kernel: packed panels (ld == 0), or the
// matrix itself with p along its rows (ld is its leading dimension), read in
// place by a strided kernel.
type panels struct {
	src []float64
	ld  int
}

// panel returns the panel of w rows (of A) or columns (of B) that starts at
// row or column q of the block, of which h ≤ w exist, and its stride. A
// partial panel read in place is packed into scratch with zero padding.
func (x panels) panel(q, h, w, kc int, scratch *[]float64) ([]float64, int) {
	if x.ld == 0 {
		return x.src[q*kc : q*kc+kc*w], w
	}
	if h == w {
		return x.src[q:], x.ld
	}
	*scratch = grow(*scratch, kc*w)
	d := *scratch
	clear(d)
	packAlong(w, h, kc, x.src[q:], x.ld, d)
	return d, w
}

// workspace holds the packing buffers; it is recycled through workspaces so that
// steady-state calls do not allocate.
type workspace struct {
	a    []float64
	b    []float64
	edge []float64 // a partial panel of an operand read in place
	v    []float64 // a strided vector of a thin product, made contiguous
	tile [maxTile]float64
	dot  [8]float64 // the outputs of one dot8 call
}

// workspaces is a free list of packing buffers. Unlike a sync.Pool it is
// not emptied by the garbage collector, so a program that multiplies
// matrices of the same sizes again and again allocates nothing once warmed
// up (a training loop runs for minutes and collects garbage all the while).
// It holds at most as many workspaces as there were concurrent calls.
var workspaces struct {
	sync.Mutex
	free []*workspace
}

// getWorkspace takes a workspace from the free list, or makes one.
func getWorkspace() *workspace {
	workspaces.Lock()
	defer workspaces.Unlock()
	if n := len(workspaces.free); n > 0 {
		ws := workspaces.free[n-1]
		workspaces.free = workspaces.free[:n-1]
		return ws
	}
	return new(workspace)
}

// putWorkspace returns ws to the free list.
func putWorkspace(ws *workspace) {
	workspaces.Lock()
	workspaces.free = append(workspaces.free, ws)
	workspaces.Unlock()
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// gemmBlocked computes C += op(A)·op(B) (op = transpose when transA/transB)
// with packing, cache blocking and the micro-kernel of kern. For every
// element of C the k slices are visited in increasing order and the
// micro-kernel accumulates each slice in increasing p, so the result equals
// the reference loop. Requires m, n, k > 0 and valid arguments.
func gemmBlocked(ws *workspace, kern *kernel, transA, transB, set bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	mr, nr := kern.mr, kern.nr
	// A strided kernel reads B in place when its rows are p (NN and TN) and
	// A when its rows are p (TN). That saves the packing pass, which for
	// small m costs as much as the arithmetic (m = 32, n = k = 256: 90
	// instead of 55 GFLOP/s), and measured no slower for large m.
	directA := kern.strided && transA
	directB := kern.strided && !transB
	for jc := 0; jc < n; jc += kern.nc {
		nc := min(kern.nc, n-jc)
		ncp := (nc + nr - 1) / nr * nr
		for pc := 0; pc < k; pc += kern.kc {
			kc := min(kern.kc, k-pc)
			var pb panels
			if directB {
				pb = panels{b[pc*ldb+jc:], ldb}
			} else {
				ws.b = grow(ws.b, kc*ncp)
				pack(!transB, nr, nc, kc, b, ldb, jc, pc, ws.b)
				pb = panels{ws.b, 0}
			}
			for ic := 0; ic < m; ic += kern.mc {
				mc := min(kern.mc, m-ic)
				mcp := (mc + mr - 1) / mr * mr
				var pa panels
				if directA {
					pa = panels{a[pc*lda+ic:], lda}
				} else {
					ws.a = grow(ws.a, kc*mcp)
					pack(transA, mr, mc, kc, a, lda, ic, pc, ws.a)
					pa = panels{ws.a, 0}
				}
				macroKernel(kern, set && pc == 0, mc, nc, kc, pa, pb, c[ic*ldc+jc:], ldc, ws)
			}
		}
	}
}

// macroKernel updates the mc×nc block c (stride ldc) with the A panels pa
// and B panels pb over one kc slice, from zero instead of c's values when
// zero is set. Partial edge tiles are computed in the padded tile buffer
// and copied back.
func macroKernel(kern *kernel, zero bool, mc, nc, kc int, pa, pb panels, c []float64, ldc int, ws *workspace) {
	mr, nr := kern.mr, kern.nr
	for jr := 0; jr < nc; jr += nr {
		nw := min(nr, nc-jr)
		bpan, sb := pb.panel(jr, nw, nr, kc, &ws.b)
		for ir := 0; ir < mc; ir += mr {
			mh := min(mr, mc-ir)
			apan, sa := pa.panel(ir, mh, mr, kc, &ws.edge)
			if mh == mr && nw == nr {
				if zero {
					for r := range mr {
						o := (ir+r)*ldc + jr
						clear(c[o : o+nr])
					}
				}
				kern.micro(kc, apan, sa, bpan, sb, c[ir*ldc+jr:], ldc)
				continue
			}
			t := ws.tile[:mr*nr]
			clear(t)
			for r := 0; !zero && r < mh; r++ {
				o := (ir+r)*ldc + jr
				copy(t[r*nr:r*nr+nw], c[o:o+nw])
			}
			kern.micro(kc, apan, sa, bpan, sb, t, nr)
			for r := 0; r < mh; r++ {
				o := (ir+r)*ldc + jr
				copy(c[o:o+nw], t[r*nr:r*nr+nw])
			}
		}
	}
}

// The packed form of an operand is a sequence of panels of w rows (of A) or
// columns (of B), zero-padded to a multiple of w: for a block of cnt rows
// i0.. and kc steps p0.., panel q holds dst[q*kc*w + p*w + r] = X[i0+q*w+r,
// p0+p], where X is A (w = mr) or Bᵀ (w = nr). packAcross reads X stored
// row-major (X[i,p] = src[i*ld+p]: A for NN and NT, B for NT), packAlong
// reads it transposed (X[i,p] = src[p*ld+i]: A for TN, B for NN and TN).

// pack packs rows i0..i0+cnt-1 and steps p0..p0+kc-1 of X into dst, read
// by packAlong when along is set and by packAcross otherwise.
func pack(along bool, w, cnt, kc int, src []float64, ld, i0, p0 int, dst []float64) {
	for ir := 0; ir < cnt; ir += w {
		d := dst[ir*kc : ir*kc+kc*w]
		h := min(w, cnt-ir)
		if h < w {
			clear(d)
		}
		if along {
			packAlong(w, h, kc, src[p0*ld+i0+ir:], ld, d)
		} else {
			packAcross(w, h, kc, src[(i0+ir)*ld+p0:], ld, d)
		}
	}
}

// packAcross packs the h ≤ w rows of one panel from src with X[r,p] =
// src[r*ld+p] into d[p*w+r]. A full panel (h == w) is transposed by
// packFull when this build and machine have assembly for w; otherwise, and
// for partial panels, packAcrossGo does the work. Both copy, so they give
// the same bits.
func packAcross(w, h, kc int, src []float64, ld int, d []float64) {
	if h == w && packFull(w, kc, src, ld, d) {
		return
	}
	packAcrossGo(w, h, kc, src, ld, d)
}

// packAcrossGo is packAcross in Go, the reference for packFull. It reads
// four rows at a time so that each step p writes four adjacent elements.
func packAcrossGo(w, h, kc int, src []float64, ld int, d []float64) {
	r := 0
	for ; r+4 <= h; r += 4 {
		o := r * ld
		s0 := src[o : o+kc]
		s1 := src[o+ld : o+ld+kc]
		s2 := src[o+2*ld : o+2*ld+kc]
		s3 := src[o+3*ld : o+3*ld+kc]
		s1, s2, s3 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)]
		for p, x := range s0 {
			dd := d[p*w+r : p*w+r+4 : p*w+r+4]
			dd[0], dd[1], dd[2], dd[3] = x, s1[p], s2[p], s3[p]
		}
	}
	for ; r < h; r++ {
		for p, x := range src[r*ld : r*ld+kc] {
			d[p*w+r] = x
		}
	}
}

// packAlong packs the h ≤ w rows of one panel from src with X[r,p] =
// src[p*ld+r] into d[p*w+r].
func packAlong(w, h, kc int, src []float64, ld int, d []float64) {
	o := 0
	for p := 0; p < kc; p++ {
		dd := d[p*w : p*w+h]
		for r, x := range src[o : o+len(dd)] {
			dd[r] = x
		}
		o += ld
	}
}
