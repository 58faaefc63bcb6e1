//go:build amd64 && !purego

package gemm

import "scorematch/ad/internal/cpu"

// The assembly kernels, fastest first; each is used only when the CPU and
// the operating system support its instructions.
var (
	avx512 = &kernel{name: "avx512", mr: 8, nr: 16, kc: 256, mc: 96, nc: 2048, tile: kernel8x16}
	avx2   = &kernel{name: "avx2-fma", mr: 6, nr: 8, kc: 256, mc: 96, nc: 2048, tile: kernel6x8}
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
// the packed A panel (a[p*8+r]), b the packed B panel (b[p*16+s]), and c the
// tile with row stride ldc. The caller guarantees kc > 0, len(a) ≥ 8*kc,
// len(b) ≥ 16*kc and len(c) ≥ 7*ldc+16. It implements exactly
//
//	for r := 0; r < 8; r++ {
//		for s := 0; s < 16; s++ {
//			v := c[r*ldc+s]
//			for p := 0; p < kc; p++ {
//				v = math.FMA(a[p*8+r], b[p*16+s], v)
//			}
//			c[r*ldc+s] = v
//		}
//	}
//
//go:noescape
func kernel8x16(kc int, a, b, c []float64, ldc int)

// kernel6x8 is kernel8x16 for a 6×8 tile with AVX2 FMA instructions (ymm
// lanes): a[p*6+r], b[p*8+s], len(c) ≥ 5*ldc+8.
//
//go:noescape
func kernel6x8(kc int, a, b, c []float64, ldc int)
