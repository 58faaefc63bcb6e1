package dataio

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorematch/ad"
)

func TestFormatOf(t *testing.T) {
	tests := []struct {
		path string
		want format
	}{
		{"a.csv", formatCSV},
		{"dir.npy/A.CSV", formatCSV},
		{"a.csv.gz", formatCSV},
		{"a.npy", formatNPY},
		{"x/a.NPY.gz", formatNPY},
		{"a.idx", formatIDX},
		{"train-images-idx3-ubyte", formatIDX},
		{"train-labels-idx1-ubyte.gz", formatIDX},
		{"mnist.gz", formatIDX},
		{"a.txt", formatUnknown},
		{"csv", formatUnknown},
		{"a.npz", formatUnknown},
	}
	for _, tt := range tests {
		if got, _ := formatOf(tt.path); got != tt.want {
			t.Errorf("formatOf(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestReadWriteFiles(t *testing.T) {
	dir := t.TempDir()
	m := ad.MatOf(3, 2, []float64{0.1, 2, -3e-7, 4, 5.5, 1e300})
	for _, name := range []string{"m.csv", "m.npy", "M.CSV"} {
		path := filepath.Join(dir, name)
		if err := Write(path, m); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		checkMat(t, got, m)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, fi.Mode().Perm())
		}
	}
	// Gzip is recognised by content, whatever the name says.
	for name, content := range map[string][]byte{
		"z.csv":    gz([]byte("a,b\n1,2\n")),
		"z.npy.gz": gz(npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", f8(1, 2))),
		"z.csv.gz": []byte("1,2\n"),
		"z.gz":     gz(idxBytes([]uint32{1, 2}, []byte{0, 255})),
		"z-ubyte":  idxBytes([]uint32{2}, []byte{1, 2}),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(got.Data) != 2 {
			t.Errorf("%s: read %d×%d, want 2 elements", name, got.Rows, got.Cols)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("a,b\n1,2\n3\n"), 0o644)
	tests := []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "x.txt"), []string{"x.txt: unknown data format", ".csv, .npy, .idx or .gz"}},
		{filepath.Join(dir, "missing.npy"), []string{"missing.npy"}},
		{bad, []string{bad + ": row 3 has 1 column, want 2"}},
	}
	for _, tt := range tests {
		_, err := Read(tt.path)
		checkErr(t, err, tt.want...)
	}
	// The operating system's wording differs (js/wasm's: "No such file or
	// directory"); the error is matchable.
	if _, err := Read(filepath.Join(dir, "missing.npy")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want an error matching fs.ErrNotExist", err)
	}
}

func TestWriteErrorsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	nan := ad.MatOf(2, 2, []float64{1, 2, math.NaN(), 4})
	tests := []struct {
		name string
		m    ad.Mat
		want string
	}{
		{"nan.csv", nan, "nan.csv: row 2, column 1: NaN is not finite"},
		{"nan.npy", nan, "nan.npy: row 2, column 1: NaN is not finite"},
		{"empty.npy", ad.NewMat(0, 4), "empty.npy: matrix is empty (0×4)"},
		{"x.idx", nan, "x.idx: cannot write this format"},
		{"x.csv.gz", nan, "x.csv.gz: cannot write compressed files"},
	}
	for _, tt := range tests {
		checkErr(t, Write(filepath.Join(dir, tt.name), tt.m), tt.want)
	}
	checkErr(t, Write(filepath.Join(dir, "no-such-dir", "a.csv"), nan), "no-such-dir")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("failed writes left files: %v", names)
	}
}

func TestWriteReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.npy")
	if err := Write(path, ad.MatOf(1, 1, []float64{1})); err != nil {
		t.Fatal(err)
	}
	// A failed write keeps the old file intact.
	checkErr(t, Write(path, ad.MatOf(1, 1, []float64{math.Inf(1)})), "not finite")
	if got, err := Read(path); err != nil || got.Data[0] != 1 {
		t.Errorf("after a failed write: %v, %v; want the old file", got, err)
	}
	if err := Write(path, ad.MatOf(1, 2, []float64{2, 3})); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	checkMat(t, got, ad.MatOf(1, 2, []float64{2, 3}))
}

func TestWritePanicsOnMalformed(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "malformed matrix: 2×2 with 3 elements") {
			t.Errorf("recovered %v, want a panic about the malformed matrix", r)
		}
	}()
	Write(filepath.Join(t.TempDir(), "m.csv"), ad.Mat{Rows: 2, Cols: 2, Data: make([]float64, 3)})
}

func TestStandardize(t *testing.T) {
	tests := []struct {
		name      string
		m         ad.Mat
		mean, std []float64
		want      ad.Mat
	}{
		{
			name: "two columns",
			m:    ad.MatOf(4, 2, []float64{1, 10, 2, 20, 3, 30, 4, 40}),
			mean: []float64{2.5, 25},
			std:  []float64{math.Sqrt(1.25), math.Sqrt(125)},
			want: ad.MatOf(4, 2, []float64{-3 / math.Sqrt(5), -3 / math.Sqrt(5), -1 / math.Sqrt(5), -1 / math.Sqrt(5), 1 / math.Sqrt(5), 1 / math.Sqrt(5), 3 / math.Sqrt(5), 3 / math.Sqrt(5)}),
		},
		{
			name: "constant column",
			m:    ad.MatOf(3, 2, []float64{0.1, 1, 0.1, 2, 0.1, 3}),
			mean: []float64{0.1, 2},
			std:  []float64{1, math.Sqrt(2.0 / 3)},
			want: ad.MatOf(3, 2, []float64{0, -math.Sqrt(1.5), 0, 0, 0, math.Sqrt(1.5)}),
		},
		{
			name: "one row",
			m:    ad.MatOf(1, 3, []float64{5, -1, 0}),
			mean: []float64{5, -1, 0},
			std:  []float64{1, 1, 1},
			want: ad.MatOf(1, 3, []float64{0, 0, 0}),
		},
		{
			name: "no rows",
			m:    ad.NewMat(0, 2),
			mean: []float64{0, 0},
			std:  []float64{1, 1},
			want: ad.NewMat(0, 2),
		},
		{
			name: "huge values",
			m:    ad.MatOf(2, 1, []float64{-1.5e308, 1.5e308}),
			mean: []float64{0},
			std:  []float64{1.5e308},
			want: ad.MatOf(2, 1, []float64{-1, 1}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mean, std := Standardize(tt.m)
			for j := range tt.mean {
				if !near(mean[j], tt.mean[j]) || !near(std[j], tt.std[j]) {
					t.Errorf("column %d: mean %v, std %v; want %v, %v", j, mean[j], std[j], tt.mean[j], tt.std[j])
				}
			}
			for i, v := range tt.m.Data {
				if !near(v, tt.want.Data[i]) {
					t.Errorf("element %d = %v, want %v", i, v, tt.want.Data[i])
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-14*max(1, math.Abs(b)) }
