package adtest_test

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scorematch/ad/adtest"
)

func TestRandMat(t *testing.T) {
	r, c, data := adtest.RandMat(rand.New(rand.NewPCG(1, 2)), 3, 4, 0.5)
	if r != 3 || c != 4 || len(data) != 12 {
		t.Fatalf("shape %d×%d with %d values, want 3×4 with 12", r, c, len(data))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, v := range data {
		if want := 0.5 * rng.NormFloat64(); v != want {
			t.Fatalf("data[%d] = %v, want %v", i, v, want)
		}
	}
}

func TestSameBits(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		a, b []float64
		want bool
	}{
		{nil, nil, true},
		{nil, []float64{}, true},
		{[]float64{1, 2}, []float64{1, 2}, true},
		{[]float64{1, 2}, []float64{1}, false},
		{[]float64{1, 2}, []float64{1, math.Nextafter(2, 3)}, false},
		{[]float64{0}, []float64{math.Copysign(0, -1)}, false},
		{[]float64{nan}, []float64{nan}, true},
	} {
		if got := adtest.SameBits(c.a, c.b); got != c.want {
			t.Errorf("SameBits(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestHash checks the hash of no values (FNV-64a's offset basis), of one
// value against FNV-64a over its bytes, and that NaNs hash alike and the
// zeros apart.
func TestHash(t *testing.T) {
	if got := adtest.NewHash().Sum64(); got != 0xcbf29ce484222325 {
		t.Errorf("empty hash %#x", got)
	}
	f := fnv.New64a()
	f.Write([]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}) // 1.0, little-endian
	if got := adtest.NewHash().Add(1).Sum64(); got != f.Sum64() {
		t.Errorf("hash of 1: %#x, want %#x", got, f.Sum64())
	}
	nan1, nan2 := math.NaN(), math.Float64frombits(0xfff0000000000123)
	if adtest.NewHash().Add(nan1).Sum64() != adtest.NewHash().Add(nan2).Sum64() {
		t.Error("two NaNs hash apart")
	}
	if adtest.NewHash().Add(0).Sum64() == adtest.NewHash().Add(math.Copysign(0, -1)).Sum64() {
		t.Error("0 and −0 hash alike")
	}
}

func TestFlatten(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []float64
	}{
		{`1.5`, []float64{1.5}},
		{`[[1, 2], [3]]`, []float64{1, 2, 3}},
		{`[1, [2, [3, [4e-3]]]]`, []float64{1, 2, 3, 4e-3}},
		{`[1, "a", null, {"b": 2}, 3]`, []float64{1, 3}},
		{`[]`, nil},
	} {
		got, err := adtest.Flatten([]byte(c.in))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Flatten(%s) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := adtest.Flatten([]byte(`[1,`)); err == nil {
		t.Error("Flatten accepted invalid JSON")
	}
}

func TestGolden(t *testing.T) {
	r, c, x := adtest.GoldenNpy(t, "x.npy")
	if r < 1 || c != 5 || len(x) != r*c {
		t.Fatalf("x.npy: %d×%d with %d values, want 5 columns", r, c, len(x))
	}
	var g struct{ Energy []float64 }
	adtest.GoldenJSON(t, &g)
	if len(g.Energy) != r {
		t.Errorf("golden.json has %d energies for %d rows of x", len(g.Energy), r)
	}
}

func TestReadNpyErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(adtest.GoldenPath("x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a .npy file"},
		{"version", append(append([]byte(nil), good[:6]...), append([]byte{9}, good[7:]...)...), "npy version 9"},
		{"truncated", good[:20], "truncated header"},
		{"short data", good[:len(good)-8], "data bytes"},
		{"f4", []byte(strings.Replace(string(good), "<f8", "<f4", 1)), "want '<f8' in C order"},
	} {
		p := filepath.Join(dir, c.name+".npy")
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := adtest.ReadNpy(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
