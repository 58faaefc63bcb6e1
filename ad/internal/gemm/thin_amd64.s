//go:build amd64 && !purego

#include "textflag.h"

// AXPY is the body of axpyRows512 and axpyRows256, for vectors of W bytes
// held in the registers V (the broadcast x[p]) and A0..A7 (accumulators).
// For j < n: y[j] = FMA(x[p*incx], b[p*ldb+j], y[j]) for p = 0..k-1 in
// order. Columns are processed in blocks of eight vectors (eight
// accumulators, enough to hide the FMA latency) and then of one vector;
// each lane is one output element. n must be a multiple of W/8.
//
// Register use: BX remaining columns, CX remaining k steps, SI x, R8 incx in
// bytes, DI b, R9 ldb in bytes, DX y; R10, R11 running x and b pointers.
#define AXPY(W, V, A0, A1, A2, A3, A4, A5, A6, A7) \
	MOVQ n+0(FP), BX;             \
	MOVQ x_base+16(FP), SI;       \
	MOVQ incx+40(FP), R8;         \
	SHLQ $3, R8;                  \
	MOVQ b_base+48(FP), DI;       \
	MOVQ ldb+72(FP), R9;          \
	SHLQ $3, R9;                  \
	MOVQ y_base+80(FP), DX;       \
block8:                               \
	CMPQ BX, $(W);                \
	JLT  block1;                  \
	VMOVUPD (DX), A0;             \
	VMOVUPD (W)(DX), A1;          \
	VMOVUPD (2*W)(DX), A2;        \
	VMOVUPD (3*W)(DX), A3;        \
	VMOVUPD (4*W)(DX), A4;        \
	VMOVUPD (5*W)(DX), A5;        \
	VMOVUPD (6*W)(DX), A6;        \
	VMOVUPD (7*W)(DX), A7;        \
	MOVQ    k+8(FP), CX;          \
	MOVQ    SI, R10;              \
	MOVQ    DI, R11;              \
loop8:                                \
	VBROADCASTSD (R10), V;        \
	VFMADD231PD  (R11), V, A0;    \
	VFMADD231PD  (W)(R11), V, A1; \
	VFMADD231PD  (2*W)(R11), V, A2; \
	VFMADD231PD  (3*W)(R11), V, A3; \
	VFMADD231PD  (4*W)(R11), V, A4; \
	VFMADD231PD  (5*W)(R11), V, A5; \
	VFMADD231PD  (6*W)(R11), V, A6; \
	VFMADD231PD  (7*W)(R11), V, A7; \
	ADDQ         R8, R10;         \
	ADDQ         R9, R11;         \
	DECQ         CX;              \
	JNE          loop8;           \
	VMOVUPD A0, (DX);             \
	VMOVUPD A1, (W)(DX);          \
	VMOVUPD A2, (2*W)(DX);        \
	VMOVUPD A3, (3*W)(DX);        \
	VMOVUPD A4, (4*W)(DX);        \
	VMOVUPD A5, (5*W)(DX);        \
	VMOVUPD A6, (6*W)(DX);        \
	VMOVUPD A7, (7*W)(DX);        \
	ADDQ    $(8*W), DI;           \
	ADDQ    $(8*W), DX;           \
	SUBQ    $(W), BX;             \
	JMP     block8;               \
block1:                               \
	CMPQ    BX, $(W/8);           \
	JLT     done;                 \
	VMOVUPD (DX), A0;             \
	MOVQ    k+8(FP), CX;          \
	MOVQ    SI, R10;              \
	MOVQ    DI, R11;              \
loop1:                                \
	VBROADCASTSD (R10), V;        \
	VFMADD231PD  (R11), V, A0;    \
	ADDQ         R8, R10;         \
	ADDQ         R9, R11;         \
	DECQ         CX;              \
	JNE          loop1;           \
	VMOVUPD A0, (DX);             \
	ADDQ    $(W), DI;             \
	ADDQ    $(W), DX;             \
	SUBQ    $(W/8), BX;           \
	JMP     block1;               \
done:                                 \
	VZEROUPPER;                   \
	RET

// func axpyRows512(n, k int, x []float64, incx int, b []float64, ldb int, y []float64)
TEXT ·axpyRows512(SB), NOSPLIT, $0-104
	AXPY(64, Z0, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)

// func axpyRows256(n, k int, x []float64, incx int, b []float64, ldb int, y []float64)
TEXT ·axpyRows256(SB), NOSPLIT, $0-104
	AXPY(32, Y0, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15)

// func dotRows8(k int, a []float64, lda int, x []float64, y *[8]float64)
//
// For r < 8: y[r] = FMA(a[r*lda+p], x[p], y[r]) for p = 0..k-1 in order,
// with scalar FMA3 instructions: the eight rows are eight independent
// chains, enough to hide the FMA latency.
//
// Register use: AX = p, CX = k, DX x, SI, DI, R8..R13 the eight rows of a,
// BX lda in bytes, then y; X0 x[p], X8..X15 the accumulators.
TEXT ·dotRows8(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ lda+32(FP), BX
	SHLQ $3, BX
	MOVQ x_base+40(FP), DX
	LEAQ (SI)(BX*1), DI
	LEAQ (SI)(BX*2), R8
	LEAQ (DI)(BX*2), R9
	LEAQ (SI)(BX*4), R10
	LEAQ (DI)(BX*4), R11
	LEAQ (R8)(BX*4), R12
	LEAQ (R9)(BX*4), R13
	MOVQ y+64(FP), BX
	VMOVSD 0(BX), X8
	VMOVSD 8(BX), X9
	VMOVSD 16(BX), X10
	VMOVSD 24(BX), X11
	VMOVSD 32(BX), X12
	VMOVSD 40(BX), X13
	VMOVSD 48(BX), X14
	VMOVSD 56(BX), X15
	XORQ   AX, AX

loop:
	VMOVSD      (DX)(AX*8), X0
	VFMADD231SD (SI)(AX*8), X0, X8
	VFMADD231SD (DI)(AX*8), X0, X9
	VFMADD231SD (R8)(AX*8), X0, X10
	VFMADD231SD (R9)(AX*8), X0, X11
	VFMADD231SD (R10)(AX*8), X0, X12
	VFMADD231SD (R11)(AX*8), X0, X13
	VFMADD231SD (R12)(AX*8), X0, X14
	VFMADD231SD (R13)(AX*8), X0, X15
	INCQ        AX
	CMPQ        AX, CX
	JLT         loop

	VMOVSD X8, 0(BX)
	VMOVSD X9, 8(BX)
	VMOVSD X10, 16(BX)
	VMOVSD X11, 24(BX)
	VMOVSD X12, 32(BX)
	VMOVSD X13, 40(BX)
	VMOVSD X14, 48(BX)
	VMOVSD X15, 56(BX)
	RET
