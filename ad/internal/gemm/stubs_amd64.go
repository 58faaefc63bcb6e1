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
