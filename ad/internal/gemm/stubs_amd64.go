//go:build amd64 && !purego

package gemm

import "scorematch/ad/internal/cpu"

// useAsm reports whether the assembly micro-kernel is used: the CPU supports
// AVX2 and FMA and the OS saves the YMM state (checked once at start-up).
var useAsm = cpu.X86.HasAVX2FMA

// kernel6x8 computes the 6×8 tile update C += Ap·Bp over a kc-long slice of
// k with AVX2 FMA instructions (one ymm lane per output element). a is the
// packed A panel (a[p*6+r]), b the packed B panel (b[p*8+s]), and c the tile
// with row stride ldc. The caller guarantees kc > 0, len(a) ≥ 6*kc,
// len(b) ≥ 8*kc and len(c) ≥ 5*ldc+8. It implements exactly
//
//	for r := 0; r < 6; r++ {
//		for s := 0; s < 8; s++ {
//			v := c[r*ldc+s]
//			for p := 0; p < kc; p++ {
//				v = math.FMA(a[p*6+r], b[p*8+s], v)
//			}
//			c[r*ldc+s] = v
//		}
//	}
//
//go:noescape
func kernel6x8(kc int, a, b, c []float64, ldc int)
