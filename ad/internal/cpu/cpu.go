// Package cpu reports the x86 vector extensions that the kernels of ad's
// internal packages may use, detected once at start-up with CPUID and XGETBV.
// On other architectures, and in the purego build, every feature is false.
package cpu

// X86 holds the detected features. It is set before main runs and never
// changes afterwards; tests that compare kernels read it, they do not write it.
var X86 Features

// Features lists what the CPU and the operating system support together: an
// instruction set counts only when the OS also saves its register state.
type Features struct {
	// HasAVX2FMA: AVX, AVX2 and FMA3 with the YMM state saved.
	HasAVX2FMA bool
	// HasAVX512: AVX-512 F, DQ, BW and VL with the opmask and ZMM states
	// saved (which implies HasAVX2FMA).
	HasAVX512 bool
}
