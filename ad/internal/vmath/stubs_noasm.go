//go:build !amd64 || purego

package vmath

// bestImpl returns implGo: there is no assembly in this build.
func bestImpl() int { return implGo }

// available reports whether implementation i can run: only the reference.
func available(i int) bool { return i == implGo }

func kernelAVX2(fn, n int, x, f0, f1, f2, f3 *float64) {
	panic("vmath: no AVX2 kernel in this build")
}

func kernelAVX512(fn, n int, x, f0, f1, f2, f3 *float64) {
	panic("vmath: no AVX-512 kernel in this build")
}

func sumScaleAVX2(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) bool {
	panic("vmath: no AVX2 kernel in this build")
}

func sumScaleAVX512(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) bool {
	panic("vmath: no AVX-512 kernel in this build")
}
