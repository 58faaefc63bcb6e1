package cpu

import "testing"

// TestImplied checks the one implication between the features.
func TestImplied(t *testing.T) {
	if X86.HasAVX512 && !X86.HasAVX2FMA {
		t.Fatal("AVX-512 reported without AVX2 and FMA")
	}
	t.Logf("%+v", X86)
}
