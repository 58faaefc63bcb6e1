//go:build amd64 && !purego

package vmath

import "scorematch/ad/internal/cpu"

//go:generate go run asm_gen.go -out kernel_amd64.s

// bestImpl returns the widest implementation that the CPU and the operating
// system support (detected once at start-up).
func bestImpl() int {
	switch {
	case cpu.X86.HasAVX512:
		return implAVX512
	case cpu.X86.HasAVX2FMA:
		return implAVX2
	}
	return implGo
}

// available reports whether implementation i can run on this machine.
func available(i int) bool {
	switch i {
	case implAVX2:
		return cpu.X86.HasAVX2FMA
	case implAVX512:
		return cpu.X86.HasAVX512
	}
	return true
}

// kernelAVX2 computes function fn (see fnExp …) over n elements, a positive
// multiple of 4, with AVX2 and FMA instructions, bit for bit as the
// reference does. x is the input, f0 … f3 the outputs; a nil output is
// neither computed nor written.
//
//go:noescape
func kernelAVX2(fn, n int, x, f0, f1, f2, f3 *float64)

// kernelAVX512 is kernelAVX2 with AVX-512 instructions; n is a positive
// multiple of 8.
//
//go:noescape
func kernelAVX512(fn, n int, x, f0, f1, f2, f3 *float64)

// sumScaleAVX2 is SumScale (see sumScaleGo) over dst[0:n] with AVX2
// instructions, n a positive multiple of 4: parts points to np slice
// headers, each with at least n elements; useMul is mul != 0. It reports
// whether every result is finite.
//
//go:noescape
func sumScaleAVX2(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) (finite bool)

// sumScaleAVX512 is sumScaleAVX2 with AVX-512 instructions; n is a positive
// multiple of 8.
//
//go:noescape
func sumScaleAVX512(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) (finite bool)
