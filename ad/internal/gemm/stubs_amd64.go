//go:build amd64 && !purego

package gemm

import "scorematch/ad/internal/cpu"

// The assembly kernels, fastest first; each is used only when the CPU and
// the operating system support its instructions.
var (
	avx512 = &kernel{name: "avx512", mr: 8, nr: 16, kc: 256, mc: 96, nc: 2048, tile: kernel8x16, strided: true,
		axpy: axpyRows512, lanes: 8, dot8: dotRows8}
	avx2 = &kernel{name: "avx2-fma", mr: 6, nr: 8, kc: 256, mc: 96, nc: 2048, tile: tile6x8,
		axpy: axpyRows256, lanes: 4, dot8: dotRows8}
)

// kernels lists the kernels this machine can run, fastest first; the last
// is always the pure-Go reference.
var kernels = func() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512 {
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2FMA {
		ks = append(ks, avx2)
	}
	return append(ks, purego)
}()

// kernel8x16 computes the 8×16 tile update C += Ap·Bp over a kc-long slice
// of k with AVX-512 FMA instructions (one zmm lane per output element). a is
// the A panel (a[p*sa+r]), b the B panel (b[p*sb+s]), and c the tile with
// row stride ldc. The caller guarantees kc > 0, len(a) ≥ (kc-1)*sa+8,
// len(b) ≥ (kc-1)*sb+16 and len(c) ≥ 7*ldc+16. It implements exactly
//
//	for r := 0; r < 8; r++ {
//		for s := 0; s < 16; s++ {
//			v := c[r*ldc+s]
//			for p := 0; p < kc; p++ {
//				v = math.FMA(a[p*sa+r], b[p*sb+s], v)
//			}
//			c[r*ldc+s] = v
//		}
//	}
//
//go:noescape
func kernel8x16(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int)

// tile6x8 adapts kernel6x8, which reads packed panels only, to the tile
// signature.
func tile6x8(kc int, a []float64, _ int, b []float64, _ int, c []float64, ldc int) {
	kernel6x8(kc, a, b, c, ldc)
}

// kernel6x8 is kernel8x16 for a 6×8 tile with AVX2 FMA instructions (ymm
// lanes): a[p*6+r], b[p*8+s], len(c) ≥ 5*ldc+8.
//
//go:noescape
func kernel6x8(kc int, a, b, c []float64, ldc int)

// axpyRows512 computes y[j] = FMA(x[p*incx], b[p*ldb+j], y[j]) for j < n
// and p = 0..k-1 in order with AVX-512 (one zmm lane per output). The caller
// guarantees that n is a multiple of 8, k > 0 and the slices are long
// enough.
//
//go:noescape
func axpyRows512(n, k int, x []float64, incx int, b []float64, ldb int, y []float64)

// axpyRows256 is axpyRows512 with AVX2 (ymm lanes); n is a multiple of 4.
//
//go:noescape
func axpyRows256(n, k int, x []float64, incx int, b []float64, ldb int, y []float64)

// dotRows8 computes y[r] = FMA(a[r*lda+p], x[p], y[r]) for r < 8 and p =
// 0..k-1 in order with scalar FMA3 instructions (eight independent chains).
// The caller guarantees k > 0, len(x) ≥ k and len(a) ≥ 7*lda+k.
//
//go:noescape
func dotRows8(k int, a []float64, lda int, x []float64, y *[8]float64)

// packFull packs a full panel of w rows for packAcross (d[p*w+r] =
// src[r*ld+p] for r < w, p < kc) with the assembly transposes this machine
// runs, and reports whether it did: w = 16 and w = 8 with AVX-512 (8×8
// blocks), w = 8 with AVX2 (4×4 blocks). The steps p beyond the last whole
// block are packed by packAcrossGo.
func packFull(w, kc int, src []float64, ld int, d []float64) bool {
	step := 8
	switch {
	case w == 16 && cpu.X86.HasAVX512, w == 8 && cpu.X86.HasAVX512:
	case w == 8 && cpu.X86.HasAVX2FMA:
		step = 4
	default:
		return false
	}
	n := kc / step
	if n == 0 {
		return false
	}
	_ = src[(w-1)*ld+kc-1]
	_ = d[kc*w-1]
	switch {
	case w == 16:
		packRows16x8(n, src, ld, d)
	case step == 8:
		packRows8x8(n, src, ld, d)
	default:
		packRows8x4(n, src, ld, d)
	}
	if done := n * step; done < kc {
		packAcrossGo(w, w, kc-done, src[done:], ld, d[done*w:])
	}
	return true
}

// packRows16x8 sets d[p*16+r] = src[r*ld+p] for r < 16 and p < 8*n with
// AVX-512, transposing 8×8 blocks in zmm registers. The caller guarantees
// n > 0, len(src) ≥ 15*ld+8*n and len(d) ≥ 128*n.
//
//go:noescape
func packRows16x8(n int, src []float64, ld int, d []float64)

// packRows8x8 is packRows16x8 for 8 rows: d[p*8+r] = src[r*ld+p] for r < 8
// and p < 8*n; len(src) ≥ 7*ld+8*n and len(d) ≥ 64*n.
//
//go:noescape
func packRows8x8(n int, src []float64, ld int, d []float64)

// packRows8x4 is packRows8x8 with AVX2, transposing 4×4 blocks in ymm
// registers: d[p*8+r] = src[r*ld+p] for r < 8 and p < 4*n; len(src) ≥
// 7*ld+4*n and len(d) ≥ 32*n.
//
//go:noescape
func packRows8x4(n int, src []float64, ld int, d []float64)
