package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"scorematch/ad"
)

// energies evaluates e on the rows of x and returns a copy of the B×1 result.
func energies(e Energy, x ad.Mat) []float64 {
	t := ad.NewTape()
	out := e.Energy(t, t.Input(x, false))
	return append([]float64(nil), out.Primal().Data...)
}

// perturb adds N(0, scale²) noise to every parameter of m.
func perturb(m Model, rng *rand.Rand, scale float64) {
	for _, p := range m.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += float64(scale * rng.NormFloat64())
		}
	}
}

// relClose reports whether |got−want| ≤ tol·max(|want|, 1e-300).
func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-300)
}

// mustPanic fails t unless f panics with a message containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Fatalf("panic %q, want one containing %q", msg, want)
		}
	}()
	f()
}
