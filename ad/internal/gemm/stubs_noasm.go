//go:build !amd64 || purego

package gemm

// useAsm is false: there is no assembly kernel in this build.
const useAsm = false

// kernel6x8 computes the 6×8 tile update C += Ap·Bp over a kc-long slice of
// k in pure Go. a is the packed A panel (a[p*6+r]), b the packed B panel
// (b[p*8+s]), and c the tile with row stride ldc. It implements
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
func kernel6x8(kc int, a, b, c []float64, ldc int) {
	kernel6x8Go(kc, a, b, c, ldc)
}
