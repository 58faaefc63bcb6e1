//go:build ignore

// The asm_gen program writes kernel_amd64.s, the AVX2 and AVX-512 kernels of package
// vmath, from one description of each kernel: the two instruction sets
// differ only in the vector registers (Y or Z), the vector width, and how
// comparisons and selects are written (a mask in a vector register and
// VBLENDVPD, or an opmask register and VBLENDMPD). Every step mirrors one
// operation of the pure-Go reference in reference.go, in the same order.
//
// Usage: go run asm_gen.go -out kernel_amd64.s
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"regexp"
	"strings"
)

// consts lists the constants as bit patterns; each occupies 64 bytes (eight
// copies) so that it serves as a memory operand for both vector widths.
var consts = []struct {
	name string
	bits uint64
}{
	{"one", f(1)}, {"two", f(2)}, {"half", f(0.5)}, {"zero", 0},
	{"threeHalves", f(1.5)}, {"negHalf", f(-0.5)},
	{"four", f(4)}, {"six", f(6)}, {"three", f(3)}, {"negTwo", f(-2)}, {"negSix", f(-6)},
	{"signMask", 1 << 63}, {"absMask", 1<<63 - 1},
	{"expLo", f(-746)}, {"expHi", f(710)},
	{"log2e", f(1.4426950408889634)}, {"shifter", f(0x1.8p52)},
	{"ln2Hi", f(0.6931471805599453)}, {"ln2Lo", f(2.3190468138462996e-17)},
	{"negLn2Lo", f(-2.3190468138462996e-17)},
	{"bias", 1023 << 52},
	{"exp2", f(0.5)}, {"exp3", f(0.1666666666666667)}, {"exp4", f(0.04166666666666667)},
	{"exp5", f(0.008333333333326136)}, {"exp6", f(0.001388888888888375)},
	{"exp7", f(0.00019841269874815834)}, {"exp8", f(2.480158732554432e-05)},
	{"exp9", f(2.7557255406285044e-06)}, {"exp10", f(2.7557273647451087e-07)},
	{"exp11", f(2.5105214474751413e-08)}, {"exp12", f(2.0914685161418067e-09)},
	{"sqrt2", f(1.4142135623730951)},
	{"log0", f(0.666666666666667)}, {"log1", f(0.3999999999989945)},
	{"log2", f(0.28571428626001427)}, {"log3", f(0.22222211130560726)},
	{"log4", f(0.18182889433757515)}, {"log5", f(0.15331711346672997)},
	{"log6", f(0.14616576421644387)},
}

func f(x float64) uint64 { return math.Float64bits(x) }

// Predicates of VCMPPD (ordered: false when either operand is NaN, like Go's
// comparisons).
const (
	ge = 0x0d
	gt = 0x0e
)

// gen accumulates the assembly of one instruction set.
type gen struct {
	avx512 bool
	prefix string // of labels
	lines  []string
	label  int
}

// op appends an instruction. In it, V0…V12 are vector registers, ONE the
// vector register that holds 1.0, K1 (and K2 on AVX-512) masks, and @name a
// constant.
func (g *gen) op(format string, args ...any) {
	g.lines = append(g.lines, "\t"+fmt.Sprintf(format, args...))
}

// cmp sets mask k to a <pred> b (b may be a constant).
func (g *gen) cmp(pred int, a, b, k string) { g.op("VCMPPD $%#02x, %s, %s, %s", pred, b, a, k) }

// blend sets d to k ? a : b (a may be a constant).
func (g *gen) blend(k, a, b, d string) {
	if g.avx512 {
		g.op("VBLENDMPD %s, %s, %s, %s", a, b, k, d)
	} else {
		g.op("VBLENDVPD %s, %s, %s, %s", k, a, b, d)
	}
}

// maskConst sets d to k ? c : 0 for a constant c.
func (g *gen) maskConst(k, c, d string) {
	if g.avx512 {
		g.op("VMOVUPD.Z %s, %s, %s", c, k, d)
	} else {
		g.op("VANDPD %s, %s, %s", c, k, d)
	}
}

// newLabel returns a fresh label.
func (g *gen) newLabel() string {
	g.label++
	return fmt.Sprintf("%s%d", g.prefix, g.label)
}

// ifAny emits body, skipped unless one of the pointer registers is non-nil.
func (g *gen) ifAny(body func(), regs ...string) {
	skip := g.newLabel()
	if len(regs) == 1 {
		g.op("TESTQ %s, %s", regs[0], regs[0])
	} else {
		g.op("MOVQ %s, R11", regs[0])
		for _, r := range regs[1:] {
			g.op("ORQ %s, R11", r)
		}
	}
	g.op("JZ %s", skip)
	body()
	g.lines = append(g.lines, skip+":")
}

// store writes vector v to output register p (skipped for nil).
func (g *gen) store(v, p string) {
	g.ifAny(func() { g.op("VMOVUPD %s, (%s)(AX*8)", v, p) }, p)
}

// The output pointers.
const (
	f0, f1, f2, f3 = "DI", "R8", "R9", "R10"
)

// expReduce mirrors expReduce: a in V1 → kf in V2, rh in V1, t in V3
// (V4…V11 scratch). The upper clamp is left out where a ≤ 0 or NaN, for
// which it does nothing.
func (g *gen) expReduce(clampHi bool) {
	g.op("VBROADCASTSD @expLo, V2")
	g.op("VMAXPD V1, V2, V1") // expLo > a ? expLo : a
	if clampHi {
		g.op("VBROADCASTSD @expHi, V2")
		g.op("VMINPD V1, V2, V1") // expHi < a ? expHi : a
	}
	g.op("VMOVUPD @shifter, V2")
	g.op("VFMADD231PD @log2e, V1, V2")  // kf
	g.op("VSUBPD @shifter, V2, V3")     // k
	g.op("VFNMADD231PD @ln2Hi, V3, V1") // rh
	g.op("VMULPD @negLn2Lo, V3, V3")    // lo
	g.op("VADDPD V3, V1, V4")           // r
	g.op("VMULPD V4, V4, V5")           // r²
	g.op("VMULPD V5, V5, V6")           // r⁴
	for i, v := range []string{"V7", "V8", "V9", "V10", "V11"} {
		g.op("VMOVUPD @exp%d, %s", 2*i+3, v)
		g.op("VFMADD213PD @exp%d, V4, %s", 2*i+2, v)
	}
	g.op("VFMADD231PD V8, V5, V7")  // b0
	g.op("VFMADD231PD V10, V5, V9") // b1
	g.op("VMOVUPD @exp12, V8")
	g.op("VFMADD213PD V11, V5, V8") // b2
	g.op("VFMADD231PD V9, V6, V7")
	g.op("VMULPD V6, V6, V6") // r⁸
	g.op("VFMADD231PD V8, V6, V7")
	g.op("VFMADD231PD V7, V5, V3") // t
}

// pow2 mirrors pow2: kf in V2 → s1 in V4, s2 in V5.
func (g *gen) pow2() {
	g.op("VPSRLQ $1, V2, V4")
	g.op("VPSLLQ $52, V4, V4")
	g.op("VPSLLQ $52, V2, V5")
	g.op("VPSUBQ V4, V5, V5")
	g.op("VPADDQ @bias, V4, V4") // s1
	g.op("VPADDQ @bias, V5, V5") // s2
}

// exp mirrors exp(a).e: from rh (V1), t (V3), s1 (V4), s2 (V5) → eᵃ in V6
// (V7 scratch).
func (g *gen) exp() {
	g.op("VADDPD @one, V1, V6") // s
	g.op("VSUBPD @one, V6, V7")
	g.op("VSUBPD V7, V1, V7")
	g.op("VADDPD V3, V7, V7")
	g.op("VADDPD V7, V6, V6")
	g.op("VMULPD V4, V6, V6")
	g.op("VMULPD V5, V6, V6")
}

// expm1 mirrors expm1: from rh (V1), t (V3), s1 (V4), s2 (V5) → eᵃ−1 in
// dst, with p (2ᵏ) and q as scratch registers.
func (g *gen) expm1(dst, p, q string) {
	g.op("VMULPD V5, V4, %s", p)
	g.op("VADDPD V3, V1, %s", q)
	g.op("VSUBPD @one, %s, %s", p, dst)
	g.op("VFMADD231PD %s, %s, %s", q, p, dst)
}

// setP mirrors the choice of σ(x) in newLogistic: from x V0, e V6 and p V8
// → s V10, and e·p in V9 (K2 set). The condition x < 0 is taken as the sign
// bit of x: they differ only for −0, where e·p = p, and for NaNs.
func (g *gen) setP() {
	g.op("VMULPD V8, V6, V9")
	if g.avx512 {
		g.op("VPMOVQ2M V0, K2")
		g.blend("K2", "V9", "V8", "V10")
	} else {
		g.op("VBLENDVPD V0, V9, V8, V10")
	}
}

// sm completes setP: σ(−x) in V11.
func (g *gen) sm() {
	if g.avx512 {
		g.blend("K2", "V8", "V9", "V11")
	} else {
		g.op("VBLENDVPD V0, V8, V9, V11")
	}
}

// logistic mirrors newLogistic: x in V0 → rh V1, t V3, s1 V4, s2 V5, e V6,
// u = 1+e V7, p V8, e·p V9, s V10 (V2 scratch); sm follows.
func (g *gen) logistic() {
	g.op("VORPD @signMask, V0, V1") // −|x|
	g.expReduce(false)
	g.pow2()
	g.exp()
	g.op("VADDPD @one, V6, V7")
	g.op("VDIVPD V7, ONE, V8")
	g.setP()
}

// diff mirrors logistic.diff after logistic: → σ(−x)−σ(x) in V4, with
// scratch registers a and b.
func (g *gen) diff(a, b string) {
	g.expm1("V4", a, b)
	g.op("VMULPD V8, V4, V4")
	g.op("VANDPD @signMask, V0, %s", b)
	g.op("VXORPD %s, V4, V4", b)
}

// storeDDiff stores d·(σ(−x)−σ(x)), d in V9, to output p (skipped for
// nil), with scratch registers a and b.
func (g *gen) storeDDiff(a, b, p string) {
	g.ifAny(func() {
		g.diff(a, b)
		g.op("VMULPD V4, V9, V4")
		g.op("VMOVUPD V4, (%s)(AX*8)", p)
	}, p)
}

// split mirrors the choice of c in log1pUnit: u in V7 → j = c−1 in j
// and c in c (K1 clobbered). The select is formed as (u > √2 ? 1 : 0) + 1,
// which gives the same values as selecting 2 or 1.
func (g *gen) split(j, c string) {
	g.cmp(gt, "V7", "@sqrt2", "K1")
	g.maskConst("K1", "@one", j)
	g.op("VADDPD @one, %s, %s", j, c)
}

// negSixFMA sets dst = FMA(−6d, d, d) for d in register d.
func (g *gen) negSixFMA(d, dst string) {
	g.op("VMULPD @negSix, %s, %s", d, dst)
	g.op("VFMADD213PD %s, %s, %s", d, d, dst)
}

// log1pUnit mirrors log1pUnit(e V6, u V7, p V8) → result in V9 (V1…V5,
// V10, V11 scratch).
func (g *gen) log1pUnit() {
	g.split("V1", "V2")
	g.op("VSUBPD V2, V7, V3") // u − c
	g.op("VADDPD V2, V7, V4") // u + c
	g.op("VDIVPD V4, V3, V4") // s
	g.op("VMOVUPD @threeHalves, V9")
	g.op("VFMADD231PD @negHalf, V2, V9") // hc = 3/2 − c/2: 1 or 1/2
	g.op("VMULPD V9, V3, V3")            // f
	g.op("VMULPD V4, V4, V5")            // z
	g.op("VMULPD V5, V5, V10")           // z²
	for i, v := range []string{"V2", "V9", "V11"} {
		g.op("VMOVUPD @log%d, %s", 2*i+1, v)
		g.op("VFMADD213PD @log%d, V5, %s", 2*i, v)
	}
	g.op("VFMADD231PD V9, V10, V2") // b0
	g.op("VMOVUPD @log6, V9")
	g.op("VFMADD213PD V11, V10, V9") // b1
	g.op("VMULPD V10, V10, V10")     // z⁴
	g.op("VFMADD231PD V9, V10, V2")
	g.op("VMULPD V4, V5, V5") // s·z
	g.op("VMULPD @half, V3, V10")
	g.op("VMULPD V3, V10, V10") // hfsq
	g.op("VSUBPD @one, V7, V9")
	g.op("VSUBPD V9, V6, V9")
	g.op("VMULPD V8, V9, V9")          // corr
	g.op("VFMADD231PD @ln2Lo, V1, V9") // lo
	g.op("VFMADD231PD V10, V4, V9")
	g.op("VFMADD231PD V2, V5, V9") // w
	g.op("VSUBPD V9, V10, V9")
	g.op("VSUBPD V9, V3, V9")
	g.op("VFMADD231PD @ln2Hi, V1, V9")
}

// The kernels: each computes one vector of results from x in V0.
var kernels = []struct {
	name string
	body func(g *gen)
}{
	{"exp", func(g *gen) {
		g.op("VMOVAPD V0, V1")
		g.expReduce(true)
		g.pow2()
		g.exp()
		for _, p := range []string{f0, f1, f2, f3} {
			g.store("V6", p)
		}
	}},
	{"softplus", func(g *gen) {
		g.logistic()
		g.store("V10", f1)
		g.ifAny(func() {
			g.sm()
			g.op("VMULPD V11, V10, V9") // d
			g.store("V9", f2)
			g.storeDDiff("V10", "V11", f3)
		}, f2, f3)
		g.ifAny(func() {
			g.log1pUnit()
			g.op("VMAXPD @zero, V0, V2")
			g.op("VADDPD V9, V2, V2")
			g.op("VMOVUPD V2, (%s)(AX*8)", f0)
		}, f0)
	}},
	{"sigmoid", func(g *gen) {
		g.logistic()
		g.store("V10", f0)
		g.sm()
		g.op("VMULPD V11, V10, V9") // d
		g.store("V9", f1)
		g.storeDDiff("V12", "V2", f2)
		g.ifAny(func() {
			g.negSixFMA("V9", "V2")
			g.op("VMOVUPD V2, (%s)(AX*8)", f3)
		}, f3)
	}},
	{"tanh", func(g *gen) {
		g.op("VANDPD @absMask, V0, V1")
		g.op("VMULPD @negTwo, V1, V1")
		g.expReduce(false)
		g.pow2()
		g.expm1("V10", "V8", "V9")   // m
		g.op("VADDPD @two, V10, V7") // den
		g.op("VDIVPD V7, ONE, V8")   // r
		g.op("VXORPD @signMask, V10, V9")
		g.op("VMULPD V8, V9, V9") // −m·r
		g.op("VMOVAPD V10, V11")
		g.op("VFMADD231PD V7, V9, V11")  // FMA(th, den, m)
		g.op("VFNMADD231PD V8, V11, V9") // FMA(−res, r, th)
		g.op("VANDPD @absMask, V9, V9")
		g.op("VANDPD @signMask, V0, V11")
		g.op("VORPD V11, V9, V9") // th
		g.store("V9", f0)
		g.ifAny(func() {
			g.exp()
			g.op("VMULPD @four, V6, V6")
			g.op("VMULPD V8, V6, V6")
			g.op("VMULPD V8, V6, V6") // sech²
			g.store("V6", f1)
			g.ifAny(func() {
				g.op("VMULPD @negTwo, V9, V2")
				g.op("VMULPD V6, V2, V2")
				g.op("VMOVUPD V2, (%s)(AX*8)", f2)
			}, f2)
			g.ifAny(func() {
				g.op("VMULPD @six, V9, V2")
				g.op("VFMADD213PD @negTwo, V9, V2")
				g.op("VMULPD V6, V2, V2")
				g.op("VMOVUPD V2, (%s)(AX*8)", f3)
			}, f3)
		}, f1, f2, f3)
	}},
	{"silu", func(g *gen) {
		g.logistic()
		g.sm()
		g.op("VMULPD V11, V10, V9") // d
		g.ifAny(func() {
			g.op("VMULPD V10, V0, V2")
			g.op("VMOVUPD V2, (%s)(AX*8)", f0)
		}, f0)
		g.ifAny(func() {
			g.op("VMOVAPD V10, V2")
			g.op("VFMADD231PD V9, V0, V2")
			g.op("VMOVUPD V2, (%s)(AX*8)", f1)
		}, f1)
		g.ifAny(func() {
			g.diff("V12", "V2")
			g.op("VMULPD V4, V9, V4") // d2
			g.ifAny(func() {
				g.op("VADDPD V9, V9, V2")
				g.op("VFMADD231PD V4, V0, V2")
				g.op("VMOVUPD V2, (%s)(AX*8)", f2)
			}, f2)
			g.ifAny(func() {
				g.negSixFMA("V9", "V2") // d3
				g.op("VMULPD @three, V4, V5")
				g.op("VFMADD231PD V2, V0, V5")
				g.op("VMOVUPD V5, (%s)(AX*8)", f3)
			}, f3)
		}, f2, f3)
	}},
	{"elu", func(g *gen) {
		g.op("VMOVAPD V0, V1")
		g.expReduce(true)
		g.pow2()
		g.ifAny(func() {
			g.expm1("V10", "V8", "V9")
			g.cmp(ge, "V0", "@zero", "K1")
			g.blend("K1", "V0", "V10", "V10")
			g.op("VMOVUPD V10, (%s)(AX*8)", f0)
		}, f0)
		g.ifAny(func() {
			g.exp()
			g.cmp(gt, "V0", "@zero", "K1")
			g.blend("K1", "@one", "V6", "V7")
			g.store("V7", f1)
			g.blend("K1", "@zero", "V6", "V7")
			g.store("V7", f2)
			g.store("V7", f3)
		}, f1, f2, f3)
	}},
}

// text returns the TEXT block of one instruction set.
func text(avx512 bool) string {
	name, width := "kernelAVX2", 4
	if avx512 {
		name, width = "kernelAVX512", 8
	}
	g := &gen{avx512: avx512, prefix: strings.ToLower(name[6:]) + "_"}
	g.lines = append(g.lines,
		fmt.Sprintf("// func %s(fn, n int, x, f0, f1, f2, f3 *float64)", name),
		fmt.Sprintf("TEXT ·%s(SB), NOSPLIT, $0-56", name))
	g.op("MOVQ fn+0(FP), DX")
	g.op("MOVQ n+8(FP), CX")
	g.op("MOVQ x+16(FP), SI")
	g.op("MOVQ f0+24(FP), DI")
	g.op("MOVQ f1+32(FP), R8")
	g.op("MOVQ f2+40(FP), R9")
	g.op("MOVQ f3+48(FP), R10")
	g.op("XORQ AX, AX")
	g.op("VBROADCASTSD @one, ONE")
	for i, k := range kernels {
		g.op("CMPQ DX, $%d", i)
		g.op("JEQ %s%s", g.prefix, k.name)
	}
	g.op("JMP %sdone", g.prefix)
	for _, k := range kernels {
		g.lines = append(g.lines, "", fmt.Sprintf("%s%s:", g.prefix, k.name))
		g.op("VMOVUPD (SI)(AX*8), V0")
		k.body(g)
		g.op("ADDQ $%d, AX", width)
		g.op("CMPQ AX, CX")
		g.op("JLT %s%s", g.prefix, k.name)
		g.op("JMP %sdone", g.prefix)
	}
	g.lines = append(g.lines, "", g.prefix+"done:")
	g.op("VZEROUPPER")
	g.op("RET")

	offsets := map[string]int{}
	for i, c := range consts {
		offsets[c.name] = 64 * i
	}
	vreg := regexp.MustCompile(`\bV(\d+)\b`)
	creg := regexp.MustCompile(`@(\w+)`)
	r, masks := "Y", map[string]string{"K1": "Y14"}
	if avx512 {
		r, masks = "Z", map[string]string{"K1": "K1", "K2": "K2"}
	}
	var b strings.Builder
	for _, l := range g.lines {
		l = vreg.ReplaceAllString(l, r+"$1")
		l = strings.ReplaceAll(l, "ONE", r+"15")
		for k, v := range masks {
			l = regexp.MustCompile(`\b`+k+`\b`).ReplaceAllString(l, v)
		}
		l = creg.ReplaceAllStringFunc(l, func(s string) string {
			off, ok := offsets[s[1:]]
			if !ok {
				log.Fatalf("unknown constant %s", s)
			}
			return fmt.Sprintf("consts<>+%d(SB)", off)
		})
		b.WriteString(l + "\n")
	}
	return b.String()
}

func main() {
	out := flag.String("out", "kernel_amd64.s", "output file")
	flag.Parse()
	var b strings.Builder
	b.WriteString(`// Code generated by "go run asm_gen.go"; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"

// The kernels of package vmath for AVX2+FMA (Y registers, 4 lanes) and
// AVX-512 (Z registers, 8 lanes). Each loop iteration loads one vector of x
// into V0 and performs, lane by lane, exactly the operations of the pure-Go
// reference (reference.go) in the same order. Registers:
//	SI x, DI R8 R9 R10 the outputs f0…f3 (nil: not computed, not stored)
//	AX the index, CX the count n (a multiple of the width), DX the function
//	Y15/Z15 1.0; Y14 (AVX2) or K1, K2 (AVX-512) comparison masks

`)
	for i, c := range consts {
		b.WriteString(fmt.Sprintf("// %s\n", c.name))
		for j := 0; j < 8; j++ {
			b.WriteString(fmt.Sprintf("DATA consts<>+%d(SB)/8, $%#016x\n", 64*i+8*j, c.bits))
		}
	}
	b.WriteString(fmt.Sprintf("GLOBL consts<>(SB), RODATA|NOPTR, $%d\n\n", 64*len(consts)))
	b.WriteString(text(false))
	b.WriteString("\n")
	b.WriteString(text(true))
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}
