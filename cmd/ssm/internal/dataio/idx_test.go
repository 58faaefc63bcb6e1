package dataio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"scorematch/ad"
)

func TestReadIDX(t *testing.T) {
	// Two 2×3 images, pixel values k·51 for k = 0…5 (0, 0.2, …, 1 after
	// scaling) and then the same in reverse.
	img := []byte{0, 51, 102, 153, 204, 255, 255, 204, 153, 102, 51, 0}
	imgWant := ad.MatOf(2, 6, []float64{0, 0.2, 0.4, 0.6, 0.8, 1, 1, 0.8, 0.6, 0.4, 0.2, 0})
	tests := []struct {
		name string
		in   []byte
		want ad.Mat
	}{
		{"images", idxBytes([]uint32{2, 2, 3}, img), imgWant},
		{"images gzip", gz(idxBytes([]uint32{2, 2, 3}, img)), imgWant},
		{"labels", idxBytes([]uint32{4}, []byte{9, 0, 3, 255}), ad.MatOf(4, 1, []float64{9, 0, 3, 255})},
		{"labels gzip", gz(idxBytes([]uint32{4}, []byte{9, 0, 3, 255})), ad.MatOf(4, 1, []float64{9, 0, 3, 255})},
		{"matrix", idxBytes([]uint32{3, 1}, []byte{0, 255, 51}), ad.MatOf(3, 1, []float64{0, 1, 0.2})},
		{"4-D", idxBytes([]uint32{1, 2, 1, 2}, []byte{0, 51, 102, 255}), ad.MatOf(1, 4, []float64{0, 0.2, 0.4, 1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadIDX(bytes.NewReader(tt.in), "t-ubyte")
			if err != nil {
				t.Fatal(err)
			}
			checkMat(t, got, tt.want)
		})
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]uint32{2, 2, 3}, make([]byte, 12))
	tests := []struct {
		name string
		in   []byte
		want []string // substrings of the message, after "i.idx: "
	}{
		{"empty", nil, []string{"empty file"}},
		{"short", []byte{0, 0, 8}, []string{"not an IDX file: only 3 bytes long"}},
		{"magic", []byte("P5\n28 28\n255\n"), []string{"not an IDX file: magic number is 50 35 0a 32, want 00 00 08"}},
		{"float32", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, []string{"element type 0x0d (float32) is not supported; want 0x08 (unsigned byte)"}},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 0}, []string{"element type 0x42 (unknown)"}},
		{"no dims", []byte{0, 0, 8, 0}, []string{"0 dimensions"}},
		{"truncated dims", good[:10], []string{"truncated header: have 6 of the 12 bytes of 3 dimensions"}},
		{"zero dim", idxBytes([]uint32{2, 0, 3}, nil), []string{"dimension 2 of 2×0×3 is 0"}},
		{"too large", idxBytes([]uint32{1 << 30, 1 << 30, 1 << 30}, nil), []string{"dimensions 1073741824×1073741824×1073741824 are too large"}},
		{"truncated data", good[:len(good)-5], []string{"truncated: have 7 bytes of data, want 12 for dimensions 2×2×3"}},
		{"trailing data", append(bytes.Clone(good), 0), []string{"1 bytes after the data: have 13 bytes of data, want 12 for dimensions 2×2×3"}},
		{"truncated gzip", gz(good)[:20], []string{"gzip data is truncated"}},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0}, []string{"bad gzip data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tt.in), "i.idx")
			checkErr(t, err, "i.idx: ")
			checkErr(t, err, tt.want...)
		})
	}
}

// TestFashionMNIST reads the test split of Fashion-MNIST as Debian's
// dataset-fashion-mnist package installs it, if it is there.
func TestFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 4 MB of compressed data")
	}
	dir := "/usr/share/datasets/fashion-mnist"
	images := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	labels := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	if _, err := os.Stat(images); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	x, err := Read(images)
	if err != nil {
		t.Fatal(err)
	}
	if x.Rows != 10000 || x.Cols != 784 {
		t.Fatalf("images are %d×%d, want 10000×784", x.Rows, x.Cols)
	}
	lo, hi := 1.0, 0.0
	for _, v := range x.Data {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("pixel values span [%v, %v], want [0, 1]", lo, hi)
	}
	y, err := Read(labels)
	if err != nil {
		t.Fatal(err)
	}
	if y.Rows != 10000 || y.Cols != 1 {
		t.Fatalf("labels are %d×%d, want 10000×1", y.Rows, y.Cols)
	}
	var count [10]int
	for _, v := range y.Data {
		if v != float64(int(v)) || v < 0 || v > 9 {
			t.Fatalf("label %v is not a class index 0…9", v)
		}
		count[int(v)]++
	}
	for c, n := range count {
		if n != 1000 {
			t.Errorf("class %d has %d test images, want 1000", c, n)
		}
	}
}
