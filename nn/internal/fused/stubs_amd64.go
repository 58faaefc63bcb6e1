//go:build amd64 && !purego

package fused

import "scorematch/ad"

//go:generate go run asm_gen.go -out adam_amd64.s

// bestImpl returns the AVX2 kernel wherever package ad's kernels may use
// AVX2 or AVX-512 (see ad.VectorLanes), and the reference otherwise. The
// update is bound by the divider, which takes as long per element at
// either width, and the AVX-512 kernel, running at a lower clock, is about
// 10% slower than the AVX2 one (BenchmarkAdam); it is kept for comparison.
func bestImpl() int {
	if ad.VectorLanes() >= 4 {
		return implAVX2
	}
	return implGo
}

// available reports whether implementation i can run on this machine.
func available(i int) bool {
	lanes := ad.VectorLanes()
	switch i {
	case implAVX2:
		return lanes >= 4
	case implAVX512:
		return lanes >= 8
	}
	return true
}

// adamAVX2 applies Adam to the first n elements of p, grad, m and v, n a
// positive multiple of 4, with AVX2 instructions, bit for bit as adamGo
// does. negStep is the negated step size.
//
//go:noescape
func adamAVX2(n int, p, grad, m, v *float64, b1, b2, omb1, omb2, wd, negStep, invBC2Sqrt, eps float64)

// adamAVX512 is adamAVX2 with AVX-512 instructions; n is a positive
// multiple of 8.
//
//go:noescape
func adamAVX512(n int, p, grad, m, v *float64, b1, b2, omb1, omb2, wd, negStep, invBC2Sqrt, eps float64)
