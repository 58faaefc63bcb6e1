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

// EnvKernel names the environment variable that caps the kernels at
// start-up, to compare them on one machine: "purego" (no assembly),
// "avx2-fma" (no AVX-512) or "avx512" (the default: whatever the CPU has).
// A feature the CPU lacks is never turned on; other values are ignored.
const EnvKernel = "SCOREMATCH_KERNEL"

// limit returns f without the features above the cap named by kernel.
func limit(f Features, kernel string) Features {
	switch kernel {
	case "purego":
		return Features{}
	case "avx2-fma":
		f.HasAVX512 = false
	}
	return f
}
