//go:build amd64 && !purego

package cpu

import "os"

func init() { X86 = limit(detect(), os.Getenv(EnvKernel)) }

// cpuid executes the CPUID instruction with EAX=eaxArg, ECX=ecxArg.
//
//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv executes XGETBV with ECX=0 and returns XCR0 in edx:eax. It may only
// be called when CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)

func detect() Features {
	var f Features
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return f
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return f
	}
	xcr0, _ := xgetbv()
	if xcr0&0b110 != 0b110 { // XMM and YMM state
		return f
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2     = 1 << 5
		avx512f  = 1 << 16
		avx512dq = 1 << 17
		avx512bw = 1 << 30
		avx512vl = 1 << 31
	)
	f.HasAVX2FMA = ebx7&avx2 != 0
	const all512 = avx512f | avx512dq | avx512bw | avx512vl
	f.HasAVX512 = f.HasAVX2FMA && ebx7&all512 == all512 && xcr0&0b11100000 == 0b11100000 // opmask, ZMM_Hi256, Hi16_ZMM
	return f
}
