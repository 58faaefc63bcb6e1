package gemm

import (
	"math"
	"sync"
)

// Register tile (mr×nr) of the micro-kernel and cache block sizes. mcBlock
// must be a multiple of mr and ncBlock a multiple of nr.
const (
	mr = 6
	nr = 8

	kcBlock = 256  // k slice: a B micro-panel (kc×nr) stays in L1
	mcBlock = 96   // rows of the packed A block (mc×kc, in L2)
	ncBlock = 2048 // columns of the packed B block (kc×nc, in L2/L3)
)

// microKernel computes the mr×nr tile c[r*ldc+s] (r < mr, s < nr) += Ap·Bp
// for one kc-long slice of k, where a holds the packed A panel (a[p*mr+r] =
// A[i0+r, p0+p]) and b the packed B panel (b[p*nr+s] = B[p0+p, j0+s]). It
// must implement exactly kernel6x8Go's loop.
type microKernel func(kc int, a, b, c []float64, ldc int)

// kernel6x8Go is the pure-Go micro-kernel, the specification of kernel6x8:
// each of the 48 outputs is accumulated from its value in c along p in
// increasing order with one fused multiply-add per step.
func kernel6x8Go(kc int, a, b, c []float64, ldc int) {
	a = a[:kc*mr]
	b = b[:kc*nr]
	for r := 0; r < mr; r++ {
		row := c[r*ldc : r*ldc+nr : r*ldc+nr]
		c0, c1, c2, c3 := row[0], row[1], row[2], row[3]
		c4, c5, c6, c7 := row[4], row[5], row[6], row[7]
		for p := 0; p < kc; p++ {
			x := a[p*mr+r]
			bb := b[p*nr : p*nr+nr : p*nr+nr]
			c0 = math.FMA(x, bb[0], c0)
			c1 = math.FMA(x, bb[1], c1)
			c2 = math.FMA(x, bb[2], c2)
			c3 = math.FMA(x, bb[3], c3)
			c4 = math.FMA(x, bb[4], c4)
			c5 = math.FMA(x, bb[5], c5)
			c6 = math.FMA(x, bb[6], c6)
			c7 = math.FMA(x, bb[7], c7)
		}
		row[0], row[1], row[2], row[3] = c0, c1, c2, c3
		row[4], row[5], row[6], row[7] = c4, c5, c6, c7
	}
}

// microAsm bounds-checks its operands and calls kernel6x8 (the assembly
// kernel on amd64, kernel6x8Go otherwise).
func microAsm(kc int, a, b, c []float64, ldc int) {
	if kc <= 0 {
		return
	}
	_ = a[kc*mr-1]
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x8(kc, a, b, c, ldc)
}

// workspace holds the packing buffers; it is recycled through workspaces so that
// steady-state calls do not allocate.
type workspace struct {
	a    []float64
	b    []float64
	tile [mr * nr]float64
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
// with packing, cache blocking and the micro-kernel kern. For every element
// of C the k slices are visited in increasing order and kern accumulates
// each slice in increasing p, so the result equals the reference loop.
// Requires m, n, k > 0 and valid arguments.
// The packing buffers come from w, or from the shared free list when w is nil.
func gemmBlocked(w *Workspace, transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, kern microKernel) {
	var ws *workspace
	if w != nil {
		ws = &w.ws
	} else {
		ws = getWorkspace()
		defer putWorkspace(ws)
	}
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		ncp := (nc + nr - 1) / nr * nr
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			ws.b = grow(ws.b, kc*ncp)
			if transB {
				packBT(kc, nc, b, ldb, pc, jc, ws.b)
			} else {
				packBN(kc, nc, b, ldb, pc, jc, ws.b)
			}
			for ic := 0; ic < m; ic += mcBlock {
				mc := min(mcBlock, m-ic)
				mcp := (mc + mr - 1) / mr * mr
				ws.a = grow(ws.a, kc*mcp)
				if transA {
					packAT(mc, kc, a, lda, ic, pc, ws.a)
				} else {
					packAN(mc, kc, a, lda, ic, pc, ws.a)
				}
				macroKernel(mc, nc, kc, ws.a, ws.b, c[ic*ldc+jc:], ldc, &ws.tile, kern)
			}
		}
	}
}

// macroKernel updates the mc×nc block c (stride ldc) with the packed A block
// ap and B block bp over one kc slice. Partial edge tiles are computed in the
// padded tile buffer and copied back.
func macroKernel(mc, nc, kc int, ap, bp, c []float64, ldc int, tile *[mr * nr]float64, kern microKernel) {
	for jr := 0; jr < nc; jr += nr {
		nw := min(nr, nc-jr)
		bpan := bp[jr*kc : jr*kc+kc*nr]
		for ir := 0; ir < mc; ir += mr {
			mh := min(mr, mc-ir)
			apan := ap[ir*kc : ir*kc+kc*mr]
			if mh == mr && nw == nr {
				kern(kc, apan, bpan, c[ir*ldc+jr:], ldc)
				continue
			}
			t := tile[:]
			clear(t)
			for r := 0; r < mh; r++ {
				o := (ir+r)*ldc + jr
				copy(t[r*nr:r*nr+nw], c[o:o+nw])
			}
			kern(kc, apan, bpan, t, nr)
			for r := 0; r < mh; r++ {
				o := (ir+r)*ldc + jr
				copy(c[o:o+nw], t[r*nr:r*nr+nw])
			}
		}
	}
}

// packAN packs rows ic..ic+mc-1, columns pc..pc+kc-1 of the row-major m×k
// matrix A into mr-row panels: panel q holds dst[q*kc*mr + p*mr + r] =
// A[ic+q*mr+r, pc+p], zero-padded to a multiple of mr rows.
func packAN(mc, kc int, a []float64, lda, ic, pc int, dst []float64) {
	for ir := 0; ir < mc; ir += mr {
		d := dst[ir*kc : ir*kc+kc*mr]
		if ir+mr <= mc {
			o := (ic+ir)*lda + pc
			s0 := a[o : o+kc]
			s1 := a[o+lda : o+lda+kc]
			s2 := a[o+2*lda : o+2*lda+kc]
			s3 := a[o+3*lda : o+3*lda+kc]
			s4 := a[o+4*lda : o+4*lda+kc]
			s5 := a[o+5*lda : o+5*lda+kc]
			s1, s2, s3, s4, s5 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)], s4[:len(s0)], s5[:len(s0)]
			for p, x := range s0 {
				dd := d[p*mr : p*mr+mr : p*mr+mr]
				dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = x, s1[p], s2[p], s3[p], s4[p], s5[p]
			}
			continue
		}
		clear(d)
		for r := 0; r < mc-ir; r++ {
			o := (ic+ir+r)*lda + pc
			for p, x := range a[o : o+kc] {
				d[p*mr+r] = x
			}
		}
	}
}

// packAT is packAN for A stored transposed (k×m, A[i,p] = a[p*lda+i]).
func packAT(mc, kc int, a []float64, lda, ic, pc int, dst []float64) {
	for ir := 0; ir < mc; ir += mr {
		d := dst[ir*kc : ir*kc+kc*mr]
		w := min(mr, mc-ir)
		o := pc*lda + ic + ir
		if w == mr {
			for p := 0; p < kc; p++ {
				s := a[o : o+mr : o+mr]
				dd := d[p*mr : p*mr+mr : p*mr+mr]
				dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = s[0], s[1], s[2], s[3], s[4], s[5]
				o += lda
			}
			continue
		}
		clear(d)
		for p := 0; p < kc; p++ {
			for r, x := range a[o : o+w] {
				d[p*mr+r] = x
			}
			o += lda
		}
	}
}

// packBN packs rows pc..pc+kc-1, columns jc..jc+nc-1 of the row-major k×n
// matrix B into nr-column panels: panel q holds dst[q*kc*nr + p*nr + s] =
// B[pc+p, jc+q*nr+s], zero-padded to a multiple of nr columns.
func packBN(kc, nc int, b []float64, ldb, pc, jc int, dst []float64) {
	for jr := 0; jr < nc; jr += nr {
		d := dst[jr*kc : jr*kc+kc*nr]
		w := min(nr, nc-jr)
		o := pc*ldb + jc + jr
		if w == nr {
			for p := 0; p < kc; p++ {
				s := b[o : o+nr : o+nr]
				dd := d[p*nr : p*nr+nr : p*nr+nr]
				dd[0], dd[1], dd[2], dd[3] = s[0], s[1], s[2], s[3]
				dd[4], dd[5], dd[6], dd[7] = s[4], s[5], s[6], s[7]
				o += ldb
			}
			continue
		}
		clear(d)
		for p := 0; p < kc; p++ {
			for s, x := range b[o : o+w] {
				d[p*nr+s] = x
			}
			o += ldb
		}
	}
}

// packBT is packBN for B stored transposed (n×k, B[p,j] = b[j*ldb+p]).
func packBT(kc, nc int, b []float64, ldb, pc, jc int, dst []float64) {
	for jr := 0; jr < nc; jr += nr {
		d := dst[jr*kc : jr*kc+kc*nr]
		w := min(nr, nc-jr)
		if w < nr {
			clear(d)
		}
		for s := 0; s < w; s++ {
			o := (jc+jr+s)*ldb + pc
			for p, x := range b[o : o+kc] {
				d[p*nr+s] = x
			}
		}
	}
}
