//go:build amd64 && !purego

#include "textflag.h"

// The packing transposes read rows r of a panel at SI + r*R8 (R8 = ld in
// bytes, R9 = 3*R8) and write step p of the packed panel at DI + p*S. They
// only move doubles, so every bit pattern is copied unchanged.

// ARGS loads the arguments (n int, src []float64, ld int, d []float64) of
// the packing functions: CX = n, SI = src, R8 = ld in bytes, R9 = 3*R8 and
// DI = d.
#define ARGS \
	MOVQ n+0(FP), CX;          \
	MOVQ src_base+8(FP), SI;   \
	MOVQ ld+32(FP), R8;        \
	SHLQ $3, R8;               \
	LEAQ (R8)(R8*2), R9;       \
	MOVQ d_base+40(FP), DI

// TRANSPOSE8 transposes the 8×8 block whose rows start at B, B+R8, …,
// B+7*R8 (T is scratch, set to B+4*R8) and stores its column p at
// OFF+p*S(DI), for p = 0..7. Z0..Z7 hold the rows, Z8..Z15 the pairs of rows
// interleaved (rows 2i, 2i+1 at even or odd p), Z16..Z23 those pairs
// gathered by 128-bit lane, and Z0..Z7 again the columns.
#define TRANSPOSE8(B, T, OFF, S) \
	LEAQ       (B)(R8*4), T;       \
	VMOVUPD    (B), Z0;            \
	VMOVUPD    (B)(R8*1), Z1;      \
	VMOVUPD    (B)(R8*2), Z2;      \
	VMOVUPD    (B)(R9*1), Z3;      \
	VMOVUPD    (T), Z4;            \
	VMOVUPD    (T)(R8*1), Z5;      \
	VMOVUPD    (T)(R8*2), Z6;      \
	VMOVUPD    (T)(R9*1), Z7;      \
	VUNPCKLPD  Z1, Z0, Z8;         \
	VUNPCKHPD  Z1, Z0, Z9;         \
	VUNPCKLPD  Z3, Z2, Z10;        \
	VUNPCKHPD  Z3, Z2, Z11;        \
	VUNPCKLPD  Z5, Z4, Z12;        \
	VUNPCKHPD  Z5, Z4, Z13;        \
	VUNPCKLPD  Z7, Z6, Z14;        \
	VUNPCKHPD  Z7, Z6, Z15;        \
	VSHUFF64X2 $0x88, Z10, Z8, Z16; \
	VSHUFF64X2 $0xDD, Z10, Z8, Z17; \
	VSHUFF64X2 $0x88, Z11, Z9, Z18; \
	VSHUFF64X2 $0xDD, Z11, Z9, Z19; \
	VSHUFF64X2 $0x88, Z14, Z12, Z20; \
	VSHUFF64X2 $0xDD, Z14, Z12, Z21; \
	VSHUFF64X2 $0x88, Z15, Z13, Z22; \
	VSHUFF64X2 $0xDD, Z15, Z13, Z23; \
	VSHUFF64X2 $0x88, Z20, Z16, Z0; \
	VSHUFF64X2 $0x88, Z22, Z18, Z1; \
	VSHUFF64X2 $0x88, Z21, Z17, Z2; \
	VSHUFF64X2 $0x88, Z23, Z19, Z3; \
	VSHUFF64X2 $0xDD, Z20, Z16, Z4; \
	VSHUFF64X2 $0xDD, Z22, Z18, Z5; \
	VSHUFF64X2 $0xDD, Z21, Z17, Z6; \
	VSHUFF64X2 $0xDD, Z23, Z19, Z7; \
	VMOVUPD    Z0, (OFF)(DI);      \
	VMOVUPD    Z1, (OFF+S)(DI);    \
	VMOVUPD    Z2, (OFF+2*S)(DI);  \
	VMOVUPD    Z3, (OFF+3*S)(DI);  \
	VMOVUPD    Z4, (OFF+4*S)(DI);  \
	VMOVUPD    Z5, (OFF+5*S)(DI);  \
	VMOVUPD    Z6, (OFF+6*S)(DI);  \
	VMOVUPD    Z7, (OFF+7*S)(DI)

// func packRows16x8(n int, src []float64, ld int, d []float64)
TEXT ·packRows16x8(SB), NOSPLIT, $0-64
	ARGS
	LEAQ (SI)(R8*8), DX

loop16:
	TRANSPOSE8(SI, R10, 0, 128)
	TRANSPOSE8(DX, R11, 64, 128)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $1024, DI
	DECQ CX
	JNE  loop16
	VZEROUPPER
	RET

// func packRows8x8(n int, src []float64, ld int, d []float64)
TEXT ·packRows8x8(SB), NOSPLIT, $0-64
	ARGS

loop8:
	TRANSPOSE8(SI, R10, 0, 64)
	ADDQ $64, SI
	ADDQ $512, DI
	DECQ CX
	JNE  loop8
	VZEROUPPER
	RET

// TRANSPOSE4 transposes the 4×4 block whose rows start at B, B+R8, B+2*R8
// and B+R9 and stores its column p at OFF+p*64(DI), for p = 0..3. Each
// ymm register is loaded with two rows' halves (rows 0 and 2, or 1 and 3,
// in its 128-bit lanes), so one unpack per column finishes the transpose.
#define TRANSPOSE4(B, OFF) \
	VMOVUPD     (B), X0;                  \
	VINSERTF128 $1, (B)(R8*2), Y0, Y0;    \
	VMOVUPD     (B)(R8*1), X1;            \
	VINSERTF128 $1, (B)(R9*1), Y1, Y1;    \
	VMOVUPD     16(B), X2;                \
	VINSERTF128 $1, 16(B)(R8*2), Y2, Y2;  \
	VMOVUPD     16(B)(R8*1), X3;          \
	VINSERTF128 $1, 16(B)(R9*1), Y3, Y3;  \
	VUNPCKLPD   Y1, Y0, Y4;               \
	VUNPCKHPD   Y1, Y0, Y5;               \
	VUNPCKLPD   Y3, Y2, Y6;               \
	VUNPCKHPD   Y3, Y2, Y7;               \
	VMOVUPD     Y4, (OFF)(DI);            \
	VMOVUPD     Y5, (OFF+64)(DI);         \
	VMOVUPD     Y6, (OFF+128)(DI);        \
	VMOVUPD     Y7, (OFF+192)(DI)

// func packRows8x4(n int, src []float64, ld int, d []float64)
TEXT ·packRows8x4(SB), NOSPLIT, $0-64
	ARGS
	LEAQ (SI)(R8*4), DX

loop4:
	TRANSPOSE4(SI, 0)
	TRANSPOSE4(DX, 32)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $256, DI
	DECQ CX
	JNE  loop4
	VZEROUPPER
	RET
