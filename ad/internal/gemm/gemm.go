package gemm

// A Workspace holds the packing buffers of one goroutine's products: its
// methods NN, NT and TN compute exactly what the package-level functions do,
// with the buffers kept in the Workspace, so a goroutine that owns one
// allocates nothing once the buffers have reached the largest size it uses.
// (The package-level functions share a free list of buffers instead: which
// goroutine gets which buffer varies, so a buffer may still grow late.) The
// zero value is ready to use; a Workspace must not be used by two
// goroutines at once, nor copied once used. A nil *Workspace uses the
// shared free list and never shares its products (see Help).
type Workspace struct {
	ws    workspace
	share share // a product cut in parts for a helper (see Help)
}

// purego is the kernel of the pure-Go reference loops.
var purego = &kernel{name: "purego"}

// active is the kernel the package uses: the fastest one this machine runs.
var active = kernels[0]

// useBlocked reports whether a product is large enough for packing and the
// micro-kernel to pay off; smaller ones (measured crossover near m = n = k =
// 6, or too few outputs to fill a tile) use the reference loops.
func useBlocked(m, n, k int) bool {
	return m*n*k >= 256 && m*n >= 8
}

// gemm computes C += op(A)·op(B) with kern (op = transpose when transA or
// transB; at most one of them is set), or C = op(A)·op(B) when set is true,
// using w's buffers or the shared free list when w is nil. The arguments
// have been checked.
func (w *Workspace) gemm(kern *kernel, transA, transB, set bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	thinShape := m == 1 || n == 1 || k == 1
	reference := k == 0 || kern.tile == nil || !thinShape && !useBlocked(m, n, k)
	if set && (reference || thinShape) {
		// Only the blocked driver writes the zeros tile by tile.
		clearMat(m, n, c, ldc)
	}
	if reference {
		switch {
		case k == 0:
		case transA:
			referenceTN(m, n, k, a, lda, b, ldb, c, ldc)
		case transB:
			referenceNT(m, n, k, a, lda, b, ldb, c, ldc)
		default:
			referenceNN(m, n, k, a, lda, b, ldb, c, ldc)
		}
		return
	}
	var ws *workspace
	if w != nil {
		ws = &w.ws
	} else {
		ws = getWorkspace()
		defer putWorkspace(ws)
	}
	if thinShape {
		thin(ws, kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if w != nil && w.shared(kern, transA, transB, set, m, n, k, a, lda, b, ldb, c, ldc) {
		return
	}
	gemmBlocked(ws, kern, transA, transB, set, m, n, k, a, lda, b, ldb, c, ldc)
}

// clearMat sets the m×n matrix c (stride ldc) to zero.
func clearMat(m, n int, c []float64, ldc int) {
	for i := range m {
		clear(c[i*ldc : i*ldc+n])
	}
}

// NN computes C += A·B, A is m×k (stride lda), B is k×n (ldb), C is m×n (ldc).
//
// Each element is computed as c := C[i,j]; for p := 0; p < k; p++ { c =
// math.FMA(A[i,p], B[p,j], c) }; C[i,j] = c, with A[i,p] = a[i*lda+p],
// B[p,j] = b[p*ldb+j] and C[i,j] = c[i*ldc+j]. Elements of a, b and c outside
// the addressed matrices are neither read nor written. NN panics if a
// dimension is negative, a leading dimension is smaller than the row width,
// or a slice is too short.
func NN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	(*Workspace)(nil).NN(m, n, k, a, lda, b, ldb, c, ldc)
}

// NN is the package-level NN with w's packing buffers (see Workspace).
func (w *Workspace) NN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("NN", m, n, k, a, lda, m, k, b, ldb, k, n, c, ldc)
	w.gemm(active, false, false, false, m, n, k, a, lda, b, ldb, c, ldc)
}

// NT computes C += A·Bᵀ, A is m×k (lda), B is n×k (ldb).
//
// Each element is computed as c := C[i,j]; for p := 0; p < k; p++ { c =
// math.FMA(A[i,p], B[j,p], c) }; C[i,j] = c, with A[i,p] = a[i*lda+p],
// B[j,p] = b[j*ldb+p] and C[i,j] = c[i*ldc+j]. Elements of a, b and c outside
// the addressed matrices are neither read nor written. NT panics on invalid
// arguments like NN.
func NT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	(*Workspace)(nil).NT(m, n, k, a, lda, b, ldb, c, ldc)
}

// NT is the package-level NT with w's packing buffers (see Workspace).
func (w *Workspace) NT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("NT", m, n, k, a, lda, m, k, b, ldb, n, k, c, ldc)
	w.gemm(active, false, true, false, m, n, k, a, lda, b, ldb, c, ldc)
}

// TN computes C += Aᵀ·B, A is k×m (lda), B is k×n (ldb).
//
// Each element is computed as c := C[i,j]; for p := 0; p < k; p++ { c =
// math.FMA(A[p,i], B[p,j], c) }; C[i,j] = c, with A[p,i] = a[p*lda+i],
// B[p,j] = b[p*ldb+j] and C[i,j] = c[i*ldc+j]. Elements of a, b and c outside
// the addressed matrices are neither read nor written. TN panics on invalid
// arguments like NN.
func TN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	(*Workspace)(nil).TN(m, n, k, a, lda, b, ldb, c, ldc)
}

// TN is the package-level TN with w's packing buffers (see Workspace).
func (w *Workspace) TN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("TN", m, n, k, a, lda, k, m, b, ldb, k, n, c, ldc)
	w.gemm(active, true, false, false, m, n, k, a, lda, b, ldb, c, ldc)
}

// SetNN computes C = A·B: NN with C taken to be zero first (C's old values
// are neither read nor kept, so NaNs in them do not propagate). The zeros
// are written tile by tile just before the micro-kernel reads them, which
// saves a pass over C.
func (w *Workspace) SetNN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("SetNN", m, n, k, a, lda, m, k, b, ldb, k, n, c, ldc)
	w.gemm(active, false, false, true, m, n, k, a, lda, b, ldb, c, ldc)
}

// SetNT computes C = A·Bᵀ: NT with C taken to be zero first (see SetNN).
func (w *Workspace) SetNT(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("SetNT", m, n, k, a, lda, m, k, b, ldb, n, k, c, ldc)
	w.gemm(active, false, true, true, m, n, k, a, lda, b, ldb, c, ldc)
}

// SetTN computes C = Aᵀ·B: TN with C taken to be zero first (see SetNN).
func (w *Workspace) SetTN(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	checkArgs("SetTN", m, n, k, a, lda, k, m, b, ldb, k, n, c, ldc)
	w.gemm(active, true, false, true, m, n, k, a, lda, b, ldb, c, ldc)
}

// Kernel reports the active kernel: "avx512" or "avx2-fma" when the amd64
// assembly micro-kernel for AVX-512 or for AVX2 and FMA is in use, "purego"
// otherwise (purego build tag, non-amd64 architecture, or a CPU/OS without
// AVX2, FMA and YMM state support).
func Kernel() string {
	return active.name
}

// checkArgs validates dimensions, leading dimensions and slice lengths. A is
// ar×ac, B is br×bc and C is m×n as stored.
func checkArgs(op string, m, n, k int, a []float64, lda, ar, ac int, b []float64, ldb, br, bc int, c []float64, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: " + op + ": negative dimension")
	}
	checkMat(op, "a", ar, ac, a, lda)
	checkMat(op, "b", br, bc, b, ldb)
	checkMat(op, "c", m, n, c, ldc)
}

func checkMat(op, name string, rows, cols int, s []float64, ld int) {
	if ld < cols || ld < 0 {
		panic("gemm: " + op + ": leading dimension of " + name + " too small")
	}
	if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
		panic("gemm: " + op + ": " + name + " too short")
	}
}
