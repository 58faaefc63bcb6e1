package gemm

import "math"

// The reference implementations below are plain Go and always compiled. They
// are the kernels used by the purego build, for small products, and by the
// tests as the ground truth for the assembly path. For speed they compute a
// 2×4 block of independent outputs at once, but every output element is still
// accumulated exactly as
//
//	c := C[i,j]
//	for p := 0; p < k; p++ {
//		c = math.FMA(A[i,p], B[p,j], c)
//	}
//	C[i,j] = c
//
// (with the transposed indexing for NT and TN). They do not validate their
// arguments beyond Go's bounds checks and require m, n, k ≥ 0.

// referenceNN computes C += A·B with A m×k (lda), B k×n (ldb), C m×n (ldc).
func referenceNN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	j := 0
	for ; j+4 <= n; j += 4 {
		i := 0
		for ; i+2 <= m; i += 2 {
			a0 := a[i*lda : i*lda+k]
			a1 := a[(i+1)*lda : (i+1)*lda+k]
			a1 = a1[:len(a0)]
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			c10, c11, c12, c13 := r1[0], r1[1], r1[2], r1[3]
			o := j
			for p, x0 := range a0 {
				x1 := a1[p]
				bb := b[o : o+4 : o+4]
				b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
				c00 = math.FMA(x0, b0, c00)
				c01 = math.FMA(x0, b1, c01)
				c02 = math.FMA(x0, b2, c02)
				c03 = math.FMA(x0, b3, c03)
				c10 = math.FMA(x1, b0, c10)
				c11 = math.FMA(x1, b1, c11)
				c12 = math.FMA(x1, b2, c12)
				c13 = math.FMA(x1, b3, c13)
				o += ldb
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
		if i < m {
			a0 := a[i*lda : i*lda+k]
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			o := j
			for _, x0 := range a0 {
				bb := b[o : o+4 : o+4]
				c00 = math.FMA(x0, bb[0], c00)
				c01 = math.FMA(x0, bb[1], c01)
				c02 = math.FMA(x0, bb[2], c02)
				c03 = math.FMA(x0, bb[3], c03)
				o += ldb
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
		}
	}
	for ; j < n; j++ {
		for i := 0; i < m; i++ {
			a0 := a[i*lda : i*lda+k]
			v := c[i*ldc+j]
			o := j
			for _, x0 := range a0 {
				v = math.FMA(x0, b[o], v)
				o += ldb
			}
			c[i*ldc+j] = v
		}
	}
}

// referenceNT computes C += A·Bᵀ with A m×k (lda), B n×k (ldb), C m×n (ldc).
func referenceNT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	j := 0
	for ; j+4 <= n; j += 4 {
		b0 := b[j*ldb : j*ldb+k]
		b1 := b[(j+1)*ldb : (j+1)*ldb+k]
		b2 := b[(j+2)*ldb : (j+2)*ldb+k]
		b3 := b[(j+3)*ldb : (j+3)*ldb+k]
		b1, b2, b3 = b1[:len(b0)], b2[:len(b0)], b3[:len(b0)]
		i := 0
		for ; i+2 <= m; i += 2 {
			a0 := a[i*lda : i*lda+k]
			a1 := a[(i+1)*lda : (i+1)*lda+k]
			a0, a1 = a0[:len(b0)], a1[:len(b0)]
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			c10, c11, c12, c13 := r1[0], r1[1], r1[2], r1[3]
			for p, y0 := range b0 {
				x0, x1 := a0[p], a1[p]
				y1, y2, y3 := b1[p], b2[p], b3[p]
				c00 = math.FMA(x0, y0, c00)
				c01 = math.FMA(x0, y1, c01)
				c02 = math.FMA(x0, y2, c02)
				c03 = math.FMA(x0, y3, c03)
				c10 = math.FMA(x1, y0, c10)
				c11 = math.FMA(x1, y1, c11)
				c12 = math.FMA(x1, y2, c12)
				c13 = math.FMA(x1, y3, c13)
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
		if i < m {
			a0 := a[i*lda : i*lda+k]
			a0 = a0[:len(b0)]
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			for p, y0 := range b0 {
				x0 := a0[p]
				c00 = math.FMA(x0, y0, c00)
				c01 = math.FMA(x0, b1[p], c01)
				c02 = math.FMA(x0, b2[p], c02)
				c03 = math.FMA(x0, b3[p], c03)
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
		}
	}
	for ; j < n; j++ {
		b0 := b[j*ldb : j*ldb+k]
		for i := 0; i < m; i++ {
			a0 := a[i*lda : i*lda+k]
			a0 = a0[:len(b0)]
			v := c[i*ldc+j]
			for p, y0 := range b0 {
				v = math.FMA(a0[p], y0, v)
			}
			c[i*ldc+j] = v
		}
	}
}

// referenceTN computes C += Aᵀ·B with A k×m (lda), B k×n (ldb), C m×n (ldc).
func referenceTN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	j := 0
	for ; j+4 <= n; j += 4 {
		i := 0
		for ; i+2 <= m; i += 2 {
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			c10, c11, c12, c13 := r1[0], r1[1], r1[2], r1[3]
			oa, ob := i, j
			for p := 0; p < k; p++ {
				aa := a[oa : oa+2 : oa+2]
				bb := b[ob : ob+4 : ob+4]
				x0, x1 := aa[0], aa[1]
				b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
				c00 = math.FMA(x0, b0, c00)
				c01 = math.FMA(x0, b1, c01)
				c02 = math.FMA(x0, b2, c02)
				c03 = math.FMA(x0, b3, c03)
				c10 = math.FMA(x1, b0, c10)
				c11 = math.FMA(x1, b1, c11)
				c12 = math.FMA(x1, b2, c12)
				c13 = math.FMA(x1, b3, c13)
				oa += lda
				ob += ldb
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
			r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
		}
		if i < m {
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			c00, c01, c02, c03 := r0[0], r0[1], r0[2], r0[3]
			oa, ob := i, j
			for p := 0; p < k; p++ {
				x0 := a[oa]
				bb := b[ob : ob+4 : ob+4]
				c00 = math.FMA(x0, bb[0], c00)
				c01 = math.FMA(x0, bb[1], c01)
				c02 = math.FMA(x0, bb[2], c02)
				c03 = math.FMA(x0, bb[3], c03)
				oa += lda
				ob += ldb
			}
			r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
		}
	}
	for ; j < n; j++ {
		for i := 0; i < m; i++ {
			v := c[i*ldc+j]
			oa, ob := i, j
			for p := 0; p < k; p++ {
				v = math.FMA(a[oa], b[ob], v)
				oa += lda
				ob += ldb
			}
			c[i*ldc+j] = v
		}
	}
}
