// Package gemm implements dense float64 matrix–matrix multiplication
// kernels (C += op(A)·op(B)) on row-major storage with leading dimensions.
//
// # Numerical contract
//
// Every output element is accumulated starting from its existing value in C,
// along the inner dimension p = 0, 1, …, k-1 in that order, with one fused
// multiply-add (a single rounding) per step. For NN this is exactly
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			c := C[i*ldc+j]
//			for p := 0; p < k; p++ {
//				c = math.FMA(A[i*lda+p], B[p*ldb+j], c)
//			}
//			C[i*ldc+j] = c
//		}
//	}
//
// and NT and TN differ only in how A and B are indexed. The k sum is never
// reordered, split into partial sums or computed with a separate multiply and
// add. Consequently all implementations (the pure-Go reference, the blocked
// driver and the assembly micro-kernel) produce bit-identical results for all
// inputs, including NaN, ±Inf, signed zeros and subnormals (up to the sign and
// payload of NaNs, which IEEE 754 leaves unspecified).
//
// # Implementations
//
// Following the pattern of the standard library's math package, a pure-Go
// reference is always compiled in. On amd64 (without the purego build tag)
// two assembly micro-kernels exist, and the first one that the CPU and
// operating system support (as determined at start-up with CPUID and XGETBV
// by package cpu) is used: an AVX-512 kernel that computes an 8×16 tile in
// 16 zmm accumulators, and an AVX2+FMA kernel that computes a 6×8 tile in 12
// ymm accumulators. Cache blocking over m, n and k (k blocks are processed
// in increasing order and partial sums are written back into C), packing
// and edge handling are done in Go, except that full panels whose rows run
// across k (B for NT, A for NN and NT) are transposed into place with
// assembly (8×8 blocks with AVX-512, 4×4 with AVX2), a copy that changes no
// bits; the assembly computes one tile C +=
// Ap·Bp for a slice of k, vectorised across the columns j, so each vector
// lane is one output element. The AVX-512 kernel takes the strides of its
// panels, so an operand whose rows run along k (B for NN and TN, A for TN)
// is read in place rather than packed; only the other operands are packed
// into panels, and partial edge tiles go through a zero-padded tile buffer.
//
// Products with m, n or k equal to 1 do not fill a tile and have their own
// vector code (same contract): with m = 1 (NN, TN), n = 1 (TN) and k = 1,
// each step p updates a contiguous run of outputs with one vector FMA per
// lane (AVX-512 or AVX2), and with n = 1 (NN, NT) or m = 1 (NT) eight
// independent dot products run side by side with scalar FMA3 instructions.
// Kernel reports which implementation is active.
//
// Small products are computed directly by the reference loops. Packing
// buffers come from a free list that the garbage collector does not empty,
// so repeated calls do not allocate in steady state. The functions are safe for concurrent use as long as the C operands
// of concurrent calls do not overlap each other or any A or B operand.
//
// # Sharing
//
// A goroutine that waits for work can offer its core to the products of
// other goroutines: it calls Standby(true), then Workspace.Help in its
// polling loop. While one stands by, a large blocked product started on a
// Workspace is cut in two parts (rows or columns, at a multiple of the
// register tile), the owner computes one and the helper the other, and the
// call returns when both are done. A large product whose columns can be cut without
// packing anything twice (TN with the AVX-512 kernel) is cut in four and
// offered even when nobody stands by, so that a goroutine that goes idle
// while it runs can take the parts not yet started. The blocked driver
// computes each part as it would have computed those outputs in the whole
// product, so sharing changes no bit. The workers of repro.Pool stand by
// between chunks when GOMAXPROCS is above one: a worker whose chunk of a
// training step ended early takes parts of the large products of the
// chunks still running. A goroutine should stand by only when it can run
// at the same time as the owners: otherwise the owner computes every part
// of a product cut for nobody, after packing some operand twice.
package gemm
