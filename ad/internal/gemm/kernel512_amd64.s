//go:build amd64 && !purego

#include "textflag.h"

// Register use in kernel8x16:
//	SI  A panel (8 doubles per p, R12 = sa in bytes apart)
//	DI  B panel (16 doubles per p, R13 = sb in bytes apart)
//	CX  remaining k steps
//	DX  the C tile, R8 = ldc in bytes, R9 = DX+R8, R10 = DX+2*R8, R11 = R9+2*R8
//	Z16..Z31  accumulators: row r of the tile is Z(16+2r) (columns 0-7) and
//	          Z(17+2r) (columns 8-15); each lane is one output element
//	Z0, Z1  B row p (columns 0-7, 8-15); Z2..Z9  broadcast A[r, p], r = 0..7
//
// Each step p performs acc = FMA(broadcast(A[r,p]), B[p,:], acc) for the
// eight rows, so every lane is accumulated in increasing p with one rounding
// per step, exactly like the pure-Go loop.

// STEP16 performs one k step and advances SI and DI to the next.
#define STEP16 \
	VMOVUPD      0(DI), Z0;      \
	VMOVUPD      64(DI), Z1;     \
	VBROADCASTSD 0(SI), Z2;   \
	VBROADCASTSD 8(SI), Z3;   \
	VBROADCASTSD 16(SI), Z4;  \
	VBROADCASTSD 24(SI), Z5;  \
	VFMADD231PD  Z0, Z2, Z16;    \
	VFMADD231PD  Z1, Z2, Z17;    \
	VFMADD231PD  Z0, Z3, Z18;    \
	VFMADD231PD  Z1, Z3, Z19;    \
	VBROADCASTSD 32(SI), Z6;  \
	VBROADCASTSD 40(SI), Z7;  \
	VFMADD231PD  Z0, Z4, Z20;    \
	VFMADD231PD  Z1, Z4, Z21;    \
	VFMADD231PD  Z0, Z5, Z22;    \
	VFMADD231PD  Z1, Z5, Z23;    \
	VBROADCASTSD 48(SI), Z8;  \
	VBROADCASTSD 56(SI), Z9;  \
	VFMADD231PD  Z0, Z6, Z24;    \
	VFMADD231PD  Z1, Z6, Z25;    \
	VFMADD231PD  Z0, Z7, Z26;    \
	VFMADD231PD  Z1, Z7, Z27;    \
	VFMADD231PD  Z0, Z8, Z28;    \
	VFMADD231PD  Z1, Z8, Z29;    \
	VFMADD231PD  Z0, Z9, Z30;    \
	VFMADD231PD  Z1, Z9, Z31;    \
	ADDQ         R12, SI;        \
	ADDQ         R13, DI

// func kernel8x16(kc int, a []float64, sa int, b []float64, sb int, c []float64, ldc int)
TEXT ·kernel8x16(SB), NOSPLIT, $0-104
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ sa+32(FP), R12
	SHLQ $3, R12
	MOVQ b_base+40(FP), DI
	MOVQ sb+64(FP), R13
	SHLQ $3, R13
	MOVQ c_base+72(FP), DX
	MOVQ ldc+96(FP), R8
	SHLQ $3, R8
	LEAQ (DX)(R8*1), R9
	LEAQ (DX)(R8*2), R10
	LEAQ (R9)(R8*2), R11

	VMOVUPD (DX), Z16
	VMOVUPD 64(DX), Z17
	VMOVUPD (R9), Z18
	VMOVUPD 64(R9), Z19
	VMOVUPD (R10), Z20
	VMOVUPD 64(R10), Z21
	VMOVUPD (R11), Z22
	VMOVUPD 64(R11), Z23
	VMOVUPD (DX)(R8*4), Z24
	VMOVUPD 64(DX)(R8*4), Z25
	VMOVUPD (R9)(R8*4), Z26
	VMOVUPD 64(R9)(R8*4), Z27
	VMOVUPD (R10)(R8*4), Z28
	VMOVUPD 64(R10)(R8*4), Z29
	VMOVUPD (R11)(R8*4), Z30
	VMOVUPD 64(R11)(R8*4), Z31

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP16
	STEP16
	STEP16
	STEP16
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   done

loop1:
	STEP16
	DECQ CX
	JNE  loop1

done:
	VMOVUPD Z16, (DX)
	VMOVUPD Z17, 64(DX)
	VMOVUPD Z18, (R9)
	VMOVUPD Z19, 64(R9)
	VMOVUPD Z20, (R10)
	VMOVUPD Z21, 64(R10)
	VMOVUPD Z22, (R11)
	VMOVUPD Z23, 64(R11)
	VMOVUPD Z24, (DX)(R8*4)
	VMOVUPD Z25, 64(DX)(R8*4)
	VMOVUPD Z26, (R9)(R8*4)
	VMOVUPD Z27, 64(R9)(R8*4)
	VMOVUPD Z28, (R10)(R8*4)
	VMOVUPD Z29, 64(R10)(R8*4)
	VMOVUPD Z30, (R11)(R8*4)
	VMOVUPD Z31, 64(R11)(R8*4)
	VZEROUPPER
	RET
