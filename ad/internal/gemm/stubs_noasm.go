//go:build !amd64 || purego

package gemm

// kernels holds only the pure-Go reference: there are no assembly kernels
// in this build.
var kernels = []*kernel{purego}

// packFull reports false: there is no assembly to pack with in this build,
// so packAcross uses packAcrossGo.
func packFull(w, kc int, src []float64, ld int, d []float64) bool { return false }
