package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scorematch/nn/safetensors"
)

// TestReadSafetensors checks that ReadSafetensors names the file, and the
// tensor where one is at fault, in a *FormatError; the format's checks are
// tested in package safetensors.
func TestReadSafetensors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, header string
		data         []byte
		tensor, want string
	}{
		{"tensor", `{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8), "a", "dtype I64 is not supported (only F64 and F32 are)"},
		{"file", `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 16), "", "the tensors cover 8 bytes, but the data area has 16 (bytes [8, 16) are unused)"},
	} {
		path := filepath.Join(dir, tc.name+".safetensors")
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(tc.header)))
		if err := os.WriteFile(path, append(append(b, tc.header...), tc.data...), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadSafetensors(path)
		want := "nn: " + path + ": " + tc.want
		if tc.tensor != "" {
			want = "nn: " + path + `: tensor "` + tc.tensor + `": ` + tc.want
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != path || fe.Tensor != tc.tensor || err.Error() != want {
			t.Errorf("%s: error %v, want %q as a *FormatError", tc.name, err, want)
		}
	}
	if _, _, err := ReadSafetensors(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: error %v", err)
	}
	if _, _, err := ReadSafetensors(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: error %v", err)
	}
}

// TestWriteSafetensors checks that the file holds what safetensors.Write
// writes, reads back, and is the only entry of its directory.
func TestWriteSafetensors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	ts := []Tensor{
		{Name: "z", Shape: []int{2}, Data: []float64{math.Inf(-1), math.Copysign(0, -1)}},
		{Name: "a.b", Shape: []int{1, 3}, Data: []float64{1, math.NaN(), 3}},
	}
	meta := map[string]string{"format": "test"}
	if err := WriteSafetensors(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := safetensors.Write(&want, ts, meta); err != nil || !bytes.Equal(b, want.Bytes()) {
		t.Errorf("the file differs from safetensors.Write's output (%v)", err)
	}
	got, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ts, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	if !tensorsEqual(got, ts) || len(gotMeta) != 1 || gotMeta["format"] != "test" {
		t.Errorf("read back %v %v, want %v %v", got, gotMeta, ts, meta)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries after the write, want 1", len(entries))
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.safetensors")
	old := []byte("old contents")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// Tensors that safetensors.Write refuses (all its checks are tested
	// there).
	err := WriteSafetensors(path, []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float64{1}}}, nil)
	if want := "nn: write " + path + `: safetensors: tensor "a" has shape [2 2] and 1 values`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	// A directory that does not exist, and a target that is a directory.
	ts := []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{1}}}
	if err := WriteSafetensors(filepath.Join(dir, "no", "such", "dir.safetensors"), ts, nil); err == nil {
		t.Error("writing into a missing directory: no error")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(filepath.Join(dir, "sub"), ts, nil); err == nil {
		t.Error("writing over a directory: no error")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
		t.Errorf("target changed by failed writes: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"keep.safetensors", "sub"}) {
		t.Errorf("directory holds %v after failed writes, want no temporary files", names)
	}
	if sub, _ := os.ReadDir(filepath.Join(dir, "sub")); len(sub) != 0 {
		t.Errorf("sub holds %d entries", len(sub))
	}
}
