package gemm

import "math"

// Thin products (one of m, n and k is 1) do not fit the tiles of the
// micro-kernels. They reduce to two vector forms, both keeping the
// contract (each output accumulates from its value along p in order with
// one FMA per step):
//
//   - axpyRows, y[j] += Σ_p x[p]·B[p,j] with the outputs j vectorised
//     across contiguous columns: m = 1 for NN and TN, n = 1 for TN, and
//     k = 1 (one call per row of C);
//   - dotRows, y[i] += Σ_p A[i,p]·x[p] with independent rows i: n = 1 for
//     NN and NT, m = 1 for NT.

// thin computes C += op(A)·op(B) when one of m, n and k is 1. The
// arguments have been checked and are not empty.
func thin(ws *workspace, kern *kernel, transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	switch {
	case m == 1 && transB:
		// C[0,j] = Σ_p A[0,p]·B[j,p]: rows of B dotted with a.
		kern.dotRows(ws, n, k, b, ldb, a, 1, c, 1)
	case m == 1:
		// C[0,j] = Σ_p A[0,p]·B[p,j], A[0,p] = a[p] (NN) or a[p*lda] (TN).
		inc := 1
		if transA {
			inc = lda
		}
		kern.axpyRows(n, k, a, inc, b, ldb, c[:n])
	case n == 1 && transA:
		// C[i,0] = Σ_p A[p,i]·B[p,0]: the column of C is a row vector.
		if ldc == 1 {
			kern.axpyRows(m, k, b, ldb, a, lda, c[:m])
			break
		}
		ws.v = grow(ws.v, m)
		for i := range ws.v {
			ws.v[i] = c[i*ldc]
		}
		kern.axpyRows(m, k, b, ldb, a, lda, ws.v)
		for i, v := range ws.v {
			c[i*ldc] = v
		}
	case n == 1:
		// C[i,0] = Σ_p A[i,p]·B[p,0], B[p,0] = b[p] (NT) or b[p*ldb] (NN).
		inc := ldb
		if transB {
			inc = 1
		}
		kern.dotRows(ws, m, k, a, lda, b, inc, c, ldc)
	default: // k == 1
		// C[i,j] = FMA(A[i,0], B[0,j], C[i,j]).
		row := b[:n]
		if transB && ldb != 1 {
			ws.v = grow(ws.v, n)
			for j := range ws.v {
				ws.v[j] = b[j*ldb]
			}
			row = ws.v
		}
		inc := lda
		if transA {
			inc = 1
		}
		for i := 0; i < m; i++ {
			kern.axpyRows(n, 1, a[i*inc:], 1, row, n, c[i*ldc:i*ldc+n])
		}
	}
}

// axpyRows computes y[j] = FMA(x[p*incx], b[p*ldb+j], y[j]) for j < len(y)
// and p = 0..k-1 in order, with the kernel's vector code for the largest
// multiple of its lanes and scalar FMAs for the remaining columns.
func (kern *kernel) axpyRows(n, k int, x []float64, incx int, b []float64, ldb int, y []float64) {
	_ = x[(k-1)*incx]
	_ = b[(k-1)*ldb+n-1]
	y = y[:n]
	nv := 0
	if kern.axpy != nil {
		nv = n / kern.lanes * kern.lanes
		if nv > 0 {
			kern.axpy(nv, k, x, incx, b, ldb, y)
		}
	}
	for j := nv; j < n; j++ {
		v, o := y[j], j
		for p := 0; p < k; p++ {
			v = math.FMA(x[p*incx], b[o], v)
			o += ldb
		}
		y[j] = v
	}
}

// dotRows computes y[i*incy] = FMA(a[i*lda+p], x[p*incx], y[i*incy]) for
// i < m and p = 0..k-1 in order, eight rows at a time with the kernel's
// dot8 and the rest four and one at a time, so that the FMA chains of the
// rows overlap. A strided x is first copied into ws.v.
func (kern *kernel) dotRows(ws *workspace, m, k int, a []float64, lda int, x []float64, incx int, y []float64, incy int) {
	if incx != 1 {
		ws.v = grow(ws.v, k)
		for p := range ws.v {
			ws.v[p] = x[p*incx]
		}
		x = ws.v
	}
	x = x[:k]
	i := 0
	if kern.dot8 != nil {
		acc := &ws.dot // a local array would escape through kern.dot8
		for ; i+8 <= m; i += 8 {
			_ = a[(i+7)*lda+k-1]
			for r := range acc {
				acc[r] = y[(i+r)*incy]
			}
			kern.dot8(k, a[i*lda:], lda, x, acc)
			for r, v := range acc {
				y[(i+r)*incy] = v
			}
		}
	}
	for ; i+4 <= m; i += 4 {
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda : (i+1)*lda+k]
		a2 := a[(i+2)*lda : (i+2)*lda+k]
		a3 := a[(i+3)*lda : (i+3)*lda+k]
		a0, a1, a2, a3 = a0[:len(x)], a1[:len(x)], a2[:len(x)], a3[:len(x)]
		c0, c1, c2, c3 := y[i*incy], y[(i+1)*incy], y[(i+2)*incy], y[(i+3)*incy]
		for p, xp := range x {
			c0 = math.FMA(a0[p], xp, c0)
			c1 = math.FMA(a1[p], xp, c1)
			c2 = math.FMA(a2[p], xp, c2)
			c3 = math.FMA(a3[p], xp, c3)
		}
		y[i*incy], y[(i+1)*incy], y[(i+2)*incy], y[(i+3)*incy] = c0, c1, c2, c3
	}
	for ; i < m; i++ {
		a0 := a[i*lda : i*lda+k]
		a0 = a0[:len(x)]
		v := y[i*incy]
		for p, xp := range x {
			v = math.FMA(a0[p], xp, v)
		}
		y[i*incy] = v
	}
}
