// Package adtest provides helpers for the tests of code built on package
// ad, as net/http/httptest does for net/http: random matrices, the golden
// reference values of the module's testdata/golden directory, bit-for-bit
// comparison and hashing, and whether the race detector is on.
//
// adtest imports no package of this module, not even ad, so that the
// internal tests of ad itself (package ad) and of its kernels can use it
// without an import cycle. Its matrix helpers therefore return a shape and
// row-major data, three results that are exactly the arguments of
// ad.MatOf:
//
//	x := ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
//	x := ad.MatOf(adtest.GoldenNpy(t, "x.npy"))
//
// It is for tests only: its helpers fail the test (or panic, where no test
// is at hand) instead of returning errors a program would handle.
package adtest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// RandMat returns an r×c matrix of N(0, scale²) entries, drawn from rng in
// row-major order, as its shape and data: ad.MatOf(RandMat(rng, r, c, s)).
func RandMat(rng *rand.Rand, r, c int, scale float64) (rows, cols int, data []float64) {
	data = make([]float64, r*c)
	for i := range data {
		data[i] = scale * rng.NormFloat64()
	}
	return r, c, data
}

// SameBits reports whether a and b have the same length and the same bits
// in every element (so NaN equals a NaN of the same bits, and 0 differs
// from −0).
func SameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// A Hash accumulates the FNV-64a hash of float64 values, eight
// little-endian bytes of bits each, with every NaN as one canonical NaN
// (IEEE 754 leaves their signs and payloads unspecified): the fingerprint
// with which golden-hash tests pin results bit for bit, on every
// architecture. The zero Hash is not ready; use NewHash.
type Hash struct {
	h hash.Hash64
	b [8]byte
}

// NewHash returns an empty Hash.
func NewHash() *Hash { return &Hash{h: fnv.New64a()} }

// Add hashes the values in order and returns h.
func (h *Hash) Add(vs ...float64) *Hash {
	for _, v := range vs {
		u := math.Float64bits(v)
		if v != v {
			u = 0x7ff8000000000001
		}
		binary.LittleEndian.PutUint64(h.b[:], u)
		h.h.Write(h.b[:])
	}
	return h
}

// Sum64 returns the hash of the values added so far.
func (h *Hash) Sum64() uint64 { return h.h.Sum64() }

// GoldenPath returns the path of the file name in testdata/golden at the
// root of the module, the first directory at or above the working
// directory (a test's package directory) that holds a go.mod file. The
// directory holds PyTorch float64 reference values (see its README). It
// panics if there is no such directory.
func GoldenPath(name string) string {
	dir, err := os.Getwd()
	if err != nil {
		panic("adtest: " + err.Error())
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "golden", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("adtest: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// GoldenJSON decodes testdata/golden/golden.json (see GoldenPath) into v,
// failing tb on error.
func GoldenJSON(tb testing.TB, v any) {
	tb.Helper()
	b, err := os.ReadFile(GoldenPath("golden.json"))
	if err != nil {
		tb.Fatalf("golden values: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("golden values: %v", err)
	}
}

// GoldenNpy reads the 2-D array of testdata/golden/name (see GoldenPath)
// and returns its shape and row-major data: ad.MatOf(GoldenNpy(t, name)).
// It fails tb if the file cannot be read by ReadNpy.
func GoldenNpy(tb testing.TB, name string) (rows, cols int, data []float64) {
	tb.Helper()
	rows, cols, data, err := ReadNpy(GoldenPath(name))
	if err != nil {
		tb.Fatal(err)
	}
	return rows, cols, data
}

// ReadNpy reads a NumPy .npy file (header version 1, 2 or 3) holding a 2-D
// little-endian float64 ('<f8') array in C order, and returns its shape and
// row-major data. It returns an error for any other file. The tool has the
// full reader (cmd/ssm/internal/dataio); this one is for reference values.
func ReadNpy(path string) (rows, cols int, data []float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return 0, 0, nil, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return 0, 0, nil, fmt.Errorf("%s: truncated header", path)
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return 0, 0, nil, fmt.Errorf("%s: npy version %d", path, b[6])
	}
	if start+hlen > len(b) {
		return 0, 0, nil, fmt.Errorf("%s: truncated header", path)
	}
	h := string(b[start : start+hlen])
	if !strings.Contains(h, `'descr': '<f8'`) || !strings.Contains(h, `'fortran_order': False`) {
		return 0, 0, nil, fmt.Errorf("%s: header %q: want '<f8' in C order", path, h)
	}
	m := regexp.MustCompile(`'shape': \((\d+), (\d+)\)`).FindStringSubmatch(h)
	if m == nil {
		return 0, 0, nil, fmt.Errorf("%s: header %q: want a 2-D shape", path, h)
	}
	r, _ := strconv.Atoi(m[1])
	c, _ := strconv.Atoi(m[2])
	raw := b[start+hlen:]
	if len(raw) != 8*r*c {
		return 0, 0, nil, fmt.Errorf("%s: %d data bytes for shape (%d, %d)", path, len(raw), r, c)
	}
	data = make([]float64, r*c)
	for i := range data {
		data[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return r, c, data, nil
}

// Flatten returns the numbers of a JSON value in document order,
// descending into arrays: a number gives itself, [[1, 2], [3]] gives
// [1 2 3]. Other values (strings, objects, null) are skipped. It returns an
// error if raw is not valid JSON.
func Flatten(raw []byte) ([]float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var out []float64
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case float64:
			out = append(out, v)
		}
	}
	walk(v)
	return out, nil
}

// CheckCorpus checks that dir holds a seed-corpus file of a fuzz target
// (the "go test fuzz v1" encoding of a []byte) for every seed, named by its
// key with prefix, and reports each missing or stale one. With update set
// it writes them instead. hint tells how to update, for the messages.
func CheckCorpus(tb testing.TB, dir, prefix string, seeds map[string][]byte, update bool, hint string) {
	tb.Helper()
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for name, b := range seeds {
		path := filepath.Join(dir, prefix+name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			tb.Errorf("seed corpus file %s is missing or stale (%s)", path, hint)
		}
	}
}
