//go:build !amd64 || purego

package gemm

// kernels holds only the pure-Go reference: there are no assembly kernels
// in this build.
var kernels = []*kernel{purego}
