package cpu

import "testing"

// TestImplied checks the one implication between the features.
func TestImplied(t *testing.T) {
	if X86.HasAVX512 && !X86.HasAVX2FMA {
		t.Fatal("AVX-512 reported without AVX2 and FMA")
	}
	t.Logf("%+v", X86)
}

// TestLimit checks the caps of EnvKernel.
func TestLimit(t *testing.T) {
	all := Features{HasAVX2FMA: true, HasAVX512: true}
	for _, c := range []struct {
		kernel string
		want   Features
	}{
		{"", all},
		{"avx512", all},
		{"avx2-fma", Features{HasAVX2FMA: true}},
		{"purego", Features{}},
		{"sse", all},
	} {
		if got := limit(all, c.kernel); got != c.want {
			t.Errorf("limit(all, %q) = %+v, want %+v", c.kernel, got, c.want)
		}
	}
	if got := limit(Features{}, "avx512"); got != (Features{}) {
		t.Errorf("a cap turned on %+v", got)
	}
}
