//go:build amd64 && !purego

package gemm

import "scorematch/ad/internal/cpu"

// packAsmImpls lists the assembly transposes this machine runs, each called
// directly for the whole blocks of step columns (the rest by packAcrossGo),
// so that the AVX2 one is tested and measured on AVX-512 machines too.
func packAsmImpls() []packImpl {
	asm := func(name string, w, step int, f func(n int, src []float64, ld int, d []float64)) packImpl {
		return packImpl{name, func(w2, kc int, src []float64, ld int, d []float64) bool {
			n := kc / step
			if w2 != w || n == 0 {
				return false
			}
			f(n, src[:(w-1)*ld+kc], ld, d[:kc*w])
			packAcrossGo(w, w, kc-n*step, src[n*step:], ld, d[n*step*w:])
			return true
		}}
	}
	var impls []packImpl
	if cpu.X86.HasAVX512 {
		impls = append(impls, asm("avx512-16x8", 16, 8, packRows16x8), asm("avx512-8x8", 8, 8, packRows8x8))
	}
	if cpu.X86.HasAVX2FMA {
		impls = append(impls, asm("avx2-8x4", 8, 4, packRows8x4))
	}
	return impls
}
