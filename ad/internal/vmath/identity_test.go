package vmath

import (
	"fmt"
	"math"
	"testing"

	"scorematch/ad/adtest"
)

// patterns are the subsets of outputs that callers request: a forward pass
// (f0, f1), a jet (all four), and single outputs.
var patterns = []struct {
	name string
	want [4]bool
}{
	{"f0f1", [4]bool{true, true, false, false}},
	{"f0-f3", [4]bool{true, true, true, true}},
	{"f1", [4]bool{false, true, false, false}},
	{"f0", [4]bool{true, false, false, false}},
	{"f2", [4]bool{false, false, true, false}},
	{"f3", [4]bool{false, false, false, true}},
	{"f1-f3", [4]bool{false, true, true, true}},
}

// guard is the bit pattern written around and into the outputs.
const guard = 0x7ff8_0000_dead_beef

// run computes fn over x with implementation i and the outputs of pattern
// want, in guard-filled buffers with a margin on either side; it fails the
// test if a margin is written. Unrequested outputs are nil (returned as
// nil).
func run(t *testing.T, i int, fn function, x []float64, want [4]bool) [4][]float64 {
	t.Helper()
	const margin = 9
	var out, bufs [4][]float64
	for k := range out {
		if !want[k] {
			continue
		}
		bufs[k] = make([]float64, len(x)+2*margin)
		for j := range bufs[k] {
			bufs[k][j] = math.Float64frombits(guard)
		}
		out[k] = bufs[k][margin : margin+len(x) : margin+len(x)]
	}
	withImpl(i, func() { fn.call(x, out[0], out[1], out[2], out[3]) })
	for k, b := range bufs {
		for j := range b {
			if (j < margin || j >= margin+len(x)) && math.Float64bits(b[j]) != guard {
				t.Fatalf("%s %s: f%d written outside its %d elements at %d", implNames[i], fn.name, k, len(x), j-margin)
			}
		}
	}
	return out
}

// sameBits reports whether a and b have the same bits, or are both NaN.
func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

// TestBitIdentity checks that every assembly implementation available
// produces the bits of the reference for every function, output pattern
// and input, and that no output depends on which others are requested.
func TestBitIdentity(t *testing.T) {
	x := inputs(size(1_000_000, 100_000), 7)
	for _, fn := range functions {
		all := run(t, implGo, fn, x, patterns[1].want)
		for _, i := range implsAvailable() {
			for _, p := range patterns {
				got := run(t, i, fn, x, p.want)
				bad := 0
				for k := range got {
					for j := range got[k] {
						if !sameBits(got[k][j], all[k][j]) {
							if bad++; bad <= 5 {
								t.Errorf("%s %s %s: f%d(%v) = %v (%#x), reference %v (%#x)", implNames[i], fn.name, p.name,
									k, x[j], got[k][j], math.Float64bits(got[k][j]), all[k][j], math.Float64bits(all[k][j]))
							}
						}
					}
				}
			}
		}
	}
}

// TestLengths runs every implementation over lengths 0…33 at several
// offsets, to exercise the vector loops and the scalar tails.
func TestLengths(t *testing.T) {
	x := inputs(64, 11)
	for _, fn := range functions {
		for n := 0; n <= 33; n++ {
			for off := 0; off < 3; off++ {
				xs := x[off : off+n]
				want := run(t, implGo, fn, xs, patterns[1].want)
				for _, i := range implsAvailable() {
					got := run(t, i, fn, xs, patterns[1].want)
					for k := range got {
						for j := range got[k] {
							if !sameBits(got[k][j], want[k][j]) {
								t.Fatalf("%s %s n=%d: f%d(%v) = %v, reference %v", implNames[i], fn.name, n, k, xs[j], got[k][j], want[k][j])
							}
						}
					}
				}
			}
		}
	}
}

// goldenHash is the FNV-64a hash of the outputs of all functions on the
// inputs of TestGolden, as computed by the reference: every architecture
// and implementation must reproduce it.
const goldenHash = 0x401aaa7283f4c037

// TestGolden hashes the outputs (NaNs canonicalised) of every function on
// a fixed input set, for every implementation available, and compares the
// hash with the one recorded. Run on other architectures (GOARCH=arm64,
// 386, wasm), it checks that they produce the same bits.
func TestGolden(t *testing.T) {
	x := inputs(20_000, 13)
	out := make([]float64, 4*len(x))
	for _, i := range implsAvailable() {
		h := adtest.NewHash()
		for _, fn := range functions {
			withImpl(i, func() { fn.call(x, out[:len(x)], out[len(x):2*len(x)], out[2*len(x):3*len(x)], out[3*len(x):]) })
			h.Add(out...)
		}
		if got := h.Sum64(); got != goldenHash {
			t.Errorf("%s: hash %#016x, want %#016x", implNames[i], got, uint64(goldenHash))
		}
	}
}

// TestPanics checks the message for an output of the wrong length.
func TestPanics(t *testing.T) {
	defer func() {
		want := "vmath.Tanh: len(f2) = 2, want len(x) = 3"
		if r := recover(); fmt.Sprint(r) != want {
			t.Errorf("panic %v, want %q", r, want)
		}
	}()
	Tanh(make([]float64, 3), nil, nil, make([]float64, 2), nil)
}

// TestAllocs checks that a call does not allocate.
func TestAllocs(t *testing.T) {
	x := inputs(1000, 17)
	f := make([]float64, 4*len(x))
	for _, fn := range functions {
		if a := testing.AllocsPerRun(10, func() {
			fn.call(x, f[:1000], f[1000:2000], f[2000:3000], f[3000:])
		}); a != 0 {
			t.Errorf("%s: %v allocations per call", fn.name, a)
		}
	}
}
