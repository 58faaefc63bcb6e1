//go:build amd64 && !purego

package gemm

// useAsm reports whether the assembly micro-kernel is used: the CPU supports
// AVX2 and FMA and the OS saves the YMM state (checked once at start-up).
var useAsm = hasAVX2FMA()

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

// cpuid executes the CPUID instruction with EAX=eaxArg, ECX=ecxArg.
//
//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv executes XGETBV with ECX=0 and returns XCR0 in edx:eax. It may only
// be called when CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)

// hasAVX2FMA reports whether the CPU supports AVX, AVX2 and FMA and the OS
// has enabled saving of the XMM and YMM register state.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&0b110 != 0b110 { // XMM and YMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}
