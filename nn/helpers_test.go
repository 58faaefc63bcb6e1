package nn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"scorematch/ad"
)

// readNpy reads a 2-D little-endian float64 C-order .npy file (versions 1
// to 3 of the header).
func readNpy(path string) (ad.Mat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ad.Mat{}, err
	}
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return ad.Mat{}, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return ad.Mat{}, fmt.Errorf("%s: truncated header", path)
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return ad.Mat{}, fmt.Errorf("%s: npy version %d", path, b[6])
	}
	if start+hlen > len(b) {
		return ad.Mat{}, fmt.Errorf("%s: truncated header", path)
	}
	h := string(b[start : start+hlen])
	if !strings.Contains(h, `'descr': '<f8'`) || !strings.Contains(h, `'fortran_order': False`) {
		return ad.Mat{}, fmt.Errorf("%s: header %q: want '<f8' in C order", path, h)
	}
	m := regexp.MustCompile(`'shape': \((\d+), (\d+)\)`).FindStringSubmatch(h)
	if m == nil {
		return ad.Mat{}, fmt.Errorf("%s: header %q: want a 2-D shape", path, h)
	}
	r, _ := strconv.Atoi(m[1])
	c, _ := strconv.Atoi(m[2])
	data := b[start+hlen:]
	if len(data) != 8*r*c {
		return ad.Mat{}, fmt.Errorf("%s: %d data bytes for shape (%d, %d)", path, len(data), r, c)
	}
	x := ad.NewMat(r, c)
	for i := range x.Data {
		x.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return x, nil
}

// randMat returns an r×c matrix of N(0, scale²) entries.
func randMat(rng *rand.Rand, r, c int, scale float64) ad.Mat {
	m := ad.NewMat(r, c)
	for i := range m.Data {
		m.Data[i] = scale * rng.NormFloat64()
	}
	return m
}

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
			p.Value.Data[i] += scale * rng.NormFloat64()
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
