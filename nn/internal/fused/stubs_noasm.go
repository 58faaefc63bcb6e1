//go:build !amd64 || purego

package fused

// bestImpl returns implGo: there is no assembly in this build.
func bestImpl() int { return implGo }

// available reports whether implementation i can run: only the reference.
func available(i int) bool { return i == implGo }

func adamAVX2(n int, p, grad, m, v *float64, b1, b2, omb1, omb2, wd, negStep, invBC2Sqrt, eps float64) {
	panic("fused: no AVX2 kernel in this build")
}

func adamAVX512(n int, p, grad, m, v *float64, b1, b2, omb1, omb2, wd, negStep, invBC2Sqrt, eps float64) {
	panic("fused: no AVX-512 kernel in this build")
}
