//go:build amd64 && !purego

#include "textflag.h"

// Register use in kernel6x8:
//	SI  packed A panel (6 doubles per p), DI packed B panel (8 doubles per p)
//	CX  remaining k steps
//	DX, R9..R13  pointers to the six rows of the C tile, R8 = ldc in bytes
//	Y4..Y15  accumulators: row r of the tile is Y(4+2r) (columns 0-3) and
//	         Y(5+2r) (columns 4-7); each lane is one output element
//	Y0, Y1  B row p (columns 0-3, 4-7); Y2, Y3  broadcast A[r, p]
//
// Each step p performs acc = FMA(broadcast(A[r,p]), B[p,:], acc) for the six
// rows, so every lane is accumulated in increasing p with one rounding per
// step, exactly like the pure-Go loop.

// STEP performs one k step; ao and bo are the byte offsets of the step's A and
// B data relative to SI and DI.
#define STEP(ao, bo) \
	VMOVUPD      bo+0(DI), Y0;   \
	VMOVUPD      bo+32(DI), Y1;  \
	VBROADCASTSD ao+0(SI), Y2;   \
	VBROADCASTSD ao+8(SI), Y3;   \
	VFMADD231PD  Y0, Y2, Y4;     \
	VFMADD231PD  Y1, Y2, Y5;     \
	VFMADD231PD  Y0, Y3, Y6;     \
	VFMADD231PD  Y1, Y3, Y7;     \
	VBROADCASTSD ao+16(SI), Y2;  \
	VBROADCASTSD ao+24(SI), Y3;  \
	VFMADD231PD  Y0, Y2, Y8;     \
	VFMADD231PD  Y1, Y2, Y9;     \
	VFMADD231PD  Y0, Y3, Y10;    \
	VFMADD231PD  Y1, Y3, Y11;    \
	VBROADCASTSD ao+32(SI), Y2;  \
	VBROADCASTSD ao+40(SI), Y3;  \
	VFMADD231PD  Y0, Y2, Y12;    \
	VFMADD231PD  Y1, Y2, Y13;    \
	VFMADD231PD  Y0, Y3, Y14;    \
	VFMADD231PD  Y1, Y3, Y15

// func kernel6x8(kc int, a, b, c []float64, ldc int)
TEXT ·kernel6x8(SB), NOSPLIT, $0-88
	MOVQ kc+0(FP), CX
	MOVQ a_base+8(FP), SI
	MOVQ b_base+32(FP), DI
	MOVQ c_base+56(FP), DX
	MOVQ ldc+80(FP), R8
	SHLQ $3, R8
	LEAQ (DX)(R8*1), R9
	LEAQ (DX)(R8*2), R10
	LEAQ (R9)(R8*2), R11
	LEAQ (DX)(R8*4), R12
	LEAQ (R9)(R8*4), R13

	VMOVUPD (DX), Y4
	VMOVUPD 32(DX), Y5
	VMOVUPD (R9), Y6
	VMOVUPD 32(R9), Y7
	VMOVUPD (R10), Y8
	VMOVUPD 32(R10), Y9
	VMOVUPD (R11), Y10
	VMOVUPD 32(R11), Y11
	VMOVUPD (R12), Y12
	VMOVUPD 32(R12), Y13
	VMOVUPD (R13), Y14
	VMOVUPD 32(R13), Y15

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP(0, 0)
	STEP(48, 64)
	STEP(96, 128)
	STEP(144, 192)
	ADDQ $192, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   done

loop1:
	STEP(0, 0)
	ADDQ $48, SI
	ADDQ $64, DI
	DECQ CX
	JNE  loop1

done:
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	VMOVUPD Y6, (R9)
	VMOVUPD Y7, 32(R9)
	VMOVUPD Y8, (R10)
	VMOVUPD Y9, 32(R10)
	VMOVUPD Y10, (R11)
	VMOVUPD Y11, 32(R11)
	VMOVUPD Y12, (R12)
	VMOVUPD Y13, 32(R12)
	VMOVUPD Y14, (R13)
	VMOVUPD Y15, 32(R13)
	VZEROUPPER
	RET
