//go:build amd64 && !purego

#include "textflag.h"

// SUMSCALE is the body of sumScaleAVX2 (W = 32 bytes, Y registers, 4 lanes)
// and sumScaleAVX512 (W = 64, Z registers, 8 lanes). Each lane performs the
// operations of the reference loop (see SumScale) on one element, in the
// same order:
//
//	s := 0.0                  VXORPD S, S, S
//	for _, p := range parts {
//		s += p[j]         VADDPD (p)(AX*1), S, S
//	}
//	s *= mul  or  s /= div    VMULPD or VDIVPD by the broadcast M
//	dst[j] = s                VMOVUPD
//
// s stays the first source operand (as in Go's ADDSD, MULSD, DIVSD), so
// even a NaN propagates as in Go. Finiteness: s − s is +0 for a finite s
// and NaN for NaN or ±Inf, so F, the OR of every s − s, is zero exactly
// when every result is finite.
//
// The elements go in blocks of four vectors (S0…S3), then of one; every
// part of a block is read before the block of dst is written, so dst may
// be parts[0] itself. Registers: DI dst, SI the parts' slice headers (24
// bytes each, the data pointer first), DX their number, BX useMul, AX the
// byte offset of the block, R12 the end of the blocks of four vectors and
// CX the end of all (in bytes); R9, R10, R11 walk the parts; T is scratch.
// It ends at label done with F set.
#define SUMSCALE(W, S0, S1, S2, S3, T, M, F)        \
	MOVQ         dst+0(FP), DI;                 \
	MOVQ         n+8(FP), CX;                   \
	MOVQ         parts+16(FP), SI;              \
	MOVQ         np+24(FP), DX;                 \
	MOVBQZX      useMul+48(FP), BX;             \
	VBROADCASTSD mul+32(FP), M;                 \
	TESTQ        BX, BX;                        \
	JNZ          ready;                         \
	VBROADCASTSD div+40(FP), M;                 \
ready:                                              \
	VXORPD F, F, F;                             \
	XORQ   AX, AX;                              \
	SHLQ   $3, CX;                              \
	MOVQ   CX, R12;                             \
	ANDQ   $-(4*W), R12;                        \
block4:                                             \
	CMPQ   AX, R12;                             \
	JAE    block1;                              \
	VXORPD S0, S0, S0; /* s := 0.0 */           \
	VXORPD S1, S1, S1;                          \
	VXORPD S2, S2, S2;                          \
	VXORPD S3, S3, S3;                          \
	MOVQ   SI, R9;                              \
	MOVQ   DX, R10;                             \
	TESTQ  R10, R10;                            \
	JZ     scale4;                              \
parts4:                                             \
	MOVQ   (R9), R11; /* p := parts[k] */       \
	VADDPD (R11)(AX*1), S0, S0; /* s += p[j] */ \
	VADDPD (W)(R11)(AX*1), S1, S1;              \
	VADDPD (2*W)(R11)(AX*1), S2, S2;            \
	VADDPD (3*W)(R11)(AX*1), S3, S3;            \
	ADDQ   $24, R9;                             \
	DECQ   R10;                                 \
	JNZ    parts4;                              \
scale4:                                             \
	TESTQ  BX, BX;                              \
	JZ     div4;                                \
	VMULPD M, S0, S0; /* s *= mul */            \
	VMULPD M, S1, S1;                           \
	VMULPD M, S2, S2;                           \
	VMULPD M, S3, S3;                           \
	JMP    store4;                              \
div4:                                               \
	VDIVPD M, S0, S0; /* s /= div */            \
	VDIVPD M, S1, S1;                           \
	VDIVPD M, S2, S2;                           \
	VDIVPD M, S3, S3;                           \
store4:                                             \
	VMOVUPD S0, (DI)(AX*1); /* dst[j] = s */    \
	VMOVUPD S1, (W)(DI)(AX*1);                  \
	VMOVUPD S2, (2*W)(DI)(AX*1);                \
	VMOVUPD S3, (3*W)(DI)(AX*1);                \
	VSUBPD  S0, S0, T; /* F |= s − s */         \
	VORPD   T, F, F;                            \
	VSUBPD  S1, S1, T;                          \
	VORPD   T, F, F;                            \
	VSUBPD  S2, S2, T;                          \
	VORPD   T, F, F;                            \
	VSUBPD  S3, S3, T;                          \
	VORPD   T, F, F;                            \
	ADDQ    $(4*W), AX;                         \
	JMP     block4;                             \
block1:                                             \
	CMPQ   AX, CX;                              \
	JAE    done;                                \
	VXORPD S0, S0, S0;                          \
	MOVQ   SI, R9;                              \
	MOVQ   DX, R10;                             \
	TESTQ  R10, R10;                            \
	JZ     scale1;                              \
parts1:                                             \
	MOVQ   (R9), R11;                           \
	VADDPD (R11)(AX*1), S0, S0;                 \
	ADDQ   $24, R9;                             \
	DECQ   R10;                                 \
	JNZ    parts1;                              \
scale1:                                             \
	TESTQ  BX, BX;                              \
	JZ     div1;                                \
	VMULPD M, S0, S0;                           \
	JMP    store1;                              \
div1:                                               \
	VDIVPD M, S0, S0;                           \
store1:                                             \
	VMOVUPD S0, (DI)(AX*1);                     \
	VSUBPD  S0, S0, T;                          \
	VORPD   T, F, F;                            \
	ADDQ    $(W), AX;                           \
	JMP     block1;                             \
done:

// func sumScaleAVX2(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) (finite bool)
TEXT ·sumScaleAVX2(SB), NOSPLIT, $0-57
	SUMSCALE(32, Y0, Y1, Y2, Y3, Y4, Y14, Y15)
	VPTEST     Y15, Y15     // ZF: every s − s was +0
	SETEQ      finite+56(FP)
	VZEROUPPER
	RET

// func sumScaleAVX512(dst *float64, n int, parts *[]float64, np int, mul, div float64, useMul bool) (finite bool)
TEXT ·sumScaleAVX512(SB), NOSPLIT, $0-57
	SUMSCALE(64, Z0, Z1, Z2, Z3, Z4, Z14, Z15)
	VEXTRACTF64X4 $1, Z15, Y4  // fold the upper half of F onto the lower
	VORPD         Y4, Y15, Y4
	VPTEST        Y4, Y4       // ZF: every s − s was +0
	SETEQ         finite+56(FP)
	VZEROUPPER
	RET
