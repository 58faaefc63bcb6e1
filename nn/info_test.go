package nn

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"scorematch/ad"
)

// TestModelInfo checks that SaveInfo and LoadInfo keep every value of a
// ModelInfo exactly, that files without one load with a zero ModelInfo,
// and that inconsistent records are refused.
func TestModelInfo(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	m, err := NewEnergyMLP(3, []int{4}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	info := ModelInfo{Data: "data.csv", Mean: []float64{0.1, -2.5e-7, 1e300}, Scale: []float64{1.0 / 3, 2, 7e-300}, Sigmas: []float64{20, 1.0 / 7, 1e-3}}
	path := filepath.Join(dir, "m.safetensors")
	if err := SaveInfo(path, m, info); err != nil {
		t.Fatal(err)
	}
	_, got, err := LoadInfo(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data != info.Data || !slices.Equal(got.Mean, info.Mean) || !slices.Equal(got.Scale, info.Scale) || !slices.Equal(got.Sigmas, info.Sigmas) {
		t.Errorf("loaded %+v, saved %+v", got, info)
	}
	plain := filepath.Join(dir, "plain.safetensors")
	if err := Save(plain, m); err != nil {
		t.Fatal(err)
	}
	if _, got, err := LoadInfo(plain, LoadOptions{}); err != nil || got.Mean != nil || got.Sigmas != nil || got.Data != "" {
		t.Errorf("a file without info: %+v, %v", got, err)
	}
	for _, bad := range []ModelInfo{
		{Mean: []float64{0, 0, 0}},
		{Mean: []float64{0, 0}, Scale: []float64{1, 1}},
		{Mean: []float64{0, 0, math.NaN()}, Scale: []float64{1, 1, 1}},
		{Mean: []float64{0, 0, 0}, Scale: []float64{1, 0, 1}},
		{Sigmas: []float64{1, 2}},
		{Sigmas: []float64{1, -1}},
	} {
		if err := SaveInfo(filepath.Join(dir, "bad.safetensors"), m, bad); err == nil {
			t.Errorf("SaveInfo accepted %+v", bad)
		}
		// The same record written by hand is refused at load.
		ts, meta, _ := modelTensors(m)
		bad.metadata(meta)
		p := filepath.Join(dir, "hand.safetensors")
		if err := WriteSafetensors(p, ts, meta); err != nil {
			t.Fatal(err)
		}
		var fe *FormatError
		if _, _, err := LoadInfo(p, LoadOptions{}); !errors.As(err, &fe) {
			t.Errorf("LoadInfo of %+v: %v, want a *FormatError", bad, err)
		}
	}
}

// TestStandardize checks the transform, its inverse and its
// log-determinant.
func TestStandardize(t *testing.T) {
	info := ModelInfo{Mean: []float64{1, -2}, Scale: []float64{0.5, 4}}
	x := ad.NewMat(2, 2)
	copy(x.Data, []float64{2, 2, 1, -6})
	info.Standardize(x.Data)
	if !slices.Equal(x.Data, []float64{2, 1, 0, -1}) {
		t.Errorf("standardised %v", x.Data)
	}
	info.Unstandardize(x.Data)
	if !slices.Equal(x.Data, []float64{2, 2, 1, -6}) {
		t.Errorf("back: %v", x.Data)
	}
	if got, want := info.LogDet(), -math.Log(0.5)-math.Log(4); math.Abs(got-want) > 1e-15 {
		t.Errorf("LogDet %v, want %v", got, want)
	}
	ModelInfo{}.Standardize(x.Data) // no standardisation: unchanged
	if !slices.Equal(x.Data, []float64{2, 2, 1, -6}) {
		t.Errorf("without a standardisation: %v", x.Data)
	}
}
