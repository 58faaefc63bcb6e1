package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"scorematch/ad/adtest"
	"scorematch/nn/safetensors"
)

// rawFile returns a safetensors file with the given header and data.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// f64 returns the little-endian bytes of vs.
func f64(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// A malformedFile is a broken safetensors file and the error it must give.
type malformedFile struct {
	name   string
	file   []byte
	tensor string // the tensor the error must name, if any
	want   string
}

// malformedFiles returns one file per problem Read detects.
func malformedFiles() []malformedFile {
	ok := `"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}`
	return []malformedFile{
		{"empty file", nil, "", "truncated: the file has 0 bytes"},
		{"short file", []byte{1, 0, 0}, "", "truncated: the file has 3 bytes"},
		{"absurd header length", binary.LittleEndian.AppendUint64(nil, 1<<40), "", "header length 1099511627776 is absurd"},
		{"header past the end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "", "truncated: the header length is 100 but only 2 bytes follow it"},
		{"bad JSON", rawFile(`{"a":{"dtype":`, nil), "", "not valid JSON"},
		{"not an object", rawFile(`[1, 2]`, nil), "", "not a JSON object"},
		{"empty header", rawFile(``, nil), "", "not valid JSON"},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), "", "not valid UTF-8"},
		{"trailing data", rawFile(`{} {}`, nil), "", "data after the JSON object"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,16]}}`, f64(1, 2)), "a", `unknown dtype "Q7" (want F64 or F32)`},
		{"unsupported dtype", rawFile(`{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "dtype I64 is not supported (only F64 and F32 are)"},
		{"dtype not a string", rawFile(`{"a":{"dtype":8,"shape":[2],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "dtype is 8, want a string"},
		{"shape and span differ", rawFile(`{"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,24]}}`, f64(1, 2, 3)), "a", "shape [2 2] of F64 needs 32 bytes, but data_offsets [0, 24] span 24"},
		{"F32 shape and span differ", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "shape [3] of F32 needs 12 bytes"},
		{"huge shape", rawFile(`{"a":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "needs too many bytes"},
		{"absurd dimension", rawFile(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "absurd dimension"},
		{"negative dimension", rawFile(`{"a":{"dtype":"F64","shape":[-2],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "want an array of non-negative integers"},
		{"fractional dimension", rawFile(`{"a":{"dtype":"F64","shape":[2.5],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "want an array of non-negative integers"},
		{"offsets outside", rawFile(`{"a":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}}`, f64(1, 2)), "a", "data_offsets [0, 32] are not a range inside the 16-byte data area"},
		{"offsets reversed", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[16,8]}}`, f64(1, 2)), "a", "data_offsets [16, 8] are not a range"},
		{"three offsets", rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8,16]}}`, f64(1, 2)), "a", "want [begin, end]"},
		{"overlap", rawFile(`{`+ok+`,"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}`, f64(1, 2, 3)), "b", `data_offsets [8, 24] overlap those of tensor "a", which end at 16`},
		{"gap", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}`, f64(1, 2, 3)), "b", "leave bytes [8, 16) of the data area unused"},
		{"data not covered", rawFile(`{`+ok+`}`, f64(1, 2, 3)), "", "the tensors cover 16 bytes, but the data area has 24"},
		{"duplicate name", rawFile(`{`+ok+`,`+ok+`}`, f64(1, 2)), "a", "the name appears twice in the header"},
		{"missing field", rawFile(`{"a":{"shape":[2],"data_offsets":[0,16]}}`, f64(1, 2)), "a", "no dtype field"},
		{"unknown field", rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16],"foo":1}}`, f64(1, 2)), "a", `unknown field "foo"`},
		{"entry not an object", rawFile(`{"a":[1]}`, nil), "a", "the entry is not a JSON object"},
		{"metadata value", rawFile(`{"__metadata__":{"k":1}}`, nil), "", `__metadata__ value of "k" is 1, want a string`},
		{"metadata not an object", rawFile(`{"__metadata__":"x"}`, nil), "", "__metadata__ is not a JSON object"},
		{"empty name", rawFile(`{"":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}`, f64(1, 2)), "", "empty tensor name"},
	}
}

// tensorsEqual reports whether a and b hold the same names, shapes and
// data bits in the same order.
func tensorsEqual(a, b []safetensors.Tensor) bool {
	return slices.EqualFunc(a, b, func(x, y safetensors.Tensor) bool {
		return x.Name == y.Name && slices.Equal(x.Shape, y.Shape) && adtest.SameBits(x.Data, y.Data)
	})
}

func TestReadMalformed(t *testing.T) {
	for _, tc := range malformedFiles() {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := safetensors.Read(bytes.NewReader(tc.file), int64(len(tc.file)))
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "safetensors: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want one starting with safetensors: and containing %q", msg, tc.want)
			}
			var fe *safetensors.FormatError
			if !errors.As(err, &fe) || fe.Tensor != tc.tensor {
				t.Errorf("error %#v, want a *FormatError for tensor %q", err, tc.tensor)
			}
		})
	}
}

// TestReadShort checks a reader that ends before the size it was given,
// in the header length, the header and the data, and one that fails.
func TestReadShort(t *testing.T) {
	file := rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}`, f64(1, 2))
	for _, n := range []int{4, 20, len(file) - 3} {
		_, _, err := safetensors.Read(bytes.NewReader(file[:n]), int64(len(file)))
		var fe *safetensors.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("%d of %d bytes: error %v, want a *FormatError for the early end", n, len(file), err)
		}
	}
	boom := errors.New("boom")
	_, _, err := safetensors.Read(iotest.ErrReader(boom), int64(len(file)))
	var fe *safetensors.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "reading the header length: boom") {
		t.Errorf("failing reader: error %v", err)
	}
	// Bytes past size are not read.
	got, _, err := safetensors.Read(bytes.NewReader(append(slices.Clone(file), "extra"...)), int64(len(file)))
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Data, []float64{1, 2}) {
		t.Errorf("with bytes past size: %v, %v", got, err)
	}
}

func TestReadValid(t *testing.T) {
	f32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))
	f32 = binary.LittleEndian.AppendUint32(f32, math.Float32bits(-0.1))
	for _, tc := range []struct {
		name string
		file []byte
		want []safetensors.Tensor
		meta map[string]string
	}{
		{"empty", rawFile(`{}`, nil), []safetensors.Tensor{}, nil},
		{"padded, metadata, sorted", rawFile(`{"__metadata__":{"format":"pt"},"b":{"dtype":"F64","shape":[1,2],"data_offsets":[0,16]},"a":{"dtype":"F64","shape":[],"data_offsets":[16,24]}}   `, f64(1, 2, 3)),
			[]safetensors.Tensor{{"a", []int{}, []float64{3}}, {"b", []int{1, 2}, []float64{1, 2}}}, map[string]string{"format": "pt"}},
		{"F32", rawFile(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32),
			[]safetensors.Tensor{{"x", []int{2}, []float64{1.5, float64(float32(-0.1))}}}, nil},
		{"zero-size tensor", rawFile(`{"z":{"dtype":"F64","shape":[0,3],"data_offsets":[8,8]},"y":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64(7)),
			[]safetensors.Tensor{{"y", []int{1}, []float64{7}}, {"z", []int{0, 3}, []float64{}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, meta, err := safetensors.Read(bytes.NewReader(tc.file), int64(len(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if !tensorsEqual(got, tc.want) {
				t.Errorf("tensors %v, want %v", got, tc.want)
			}
			if len(meta) != len(tc.meta) || meta["format"] != tc.meta["format"] {
				t.Errorf("metadata %v, want %v", meta, tc.meta)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	ts := []safetensors.Tensor{
		{"z", []int{2}, []float64{math.Inf(-1), math.Copysign(0, -1)}},
		{"a.b", []int{1, 3}, []float64{1, math.NaN(), 3}},
		{"s", []int{}, []float64{0.1}},
	}
	meta := map[string]string{"k": "v", "format": "test"}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	header := string(b[8 : 8+n])
	want := `{"__metadata__":{"format":"test","k":"v"},` +
		`"a.b":{"dtype":"F64","shape":[1,3],"data_offsets":[0,24]},` +
		`"s":{"dtype":"F64","shape":[],"data_offsets":[24,32]},` +
		`"z":{"dtype":"F64","shape":[2],"data_offsets":[32,48]}}`
	if strings.TrimRight(header, " ") != want || n%8 != 0 || len(header)-len(want) >= 8 {
		t.Errorf("header %q (%d bytes), want %q padded with spaces to a multiple of 8", header, n, want)
	}
	if !bytes.Equal(b[8+n:], slices.Concat(f64(ts[1].Data...), f64(ts[2].Data...), f64(ts[0].Data...))) {
		t.Error("data differs from the tensors in name order")
	}
	got, gotMeta, err := safetensors.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ts, func(a, b safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	if !tensorsEqual(got, ts) || len(gotMeta) != 2 || gotMeta["k"] != "v" {
		t.Errorf("read back %v %v, want %v %v", got, gotMeta, ts, meta)
	}
	// The bytes do not depend on the order of the tensors.
	var again bytes.Buffer
	if err := safetensors.Write(&again, []safetensors.Tensor{ts[2], ts[0], ts[1]}, meta); err != nil || !bytes.Equal(again.Bytes(), b) {
		t.Errorf("another order of the tensors gives other bytes (%v)", err)
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []safetensors.Tensor
		meta map[string]string
		want string
	}{
		{"shape and data", []safetensors.Tensor{{"a", []int{2, 2}, []float64{1}}}, nil, `tensor "a" has shape [2 2] and 1 values`},
		{"negative dim", []safetensors.Tensor{{"a", []int{-1}, nil}}, nil, "shape [-1]"},
		{"duplicate", []safetensors.Tensor{{"a", nil, []float64{1}}, {"a", nil, []float64{2}}}, nil, `"a" appears twice`},
		{"reserved", []safetensors.Tensor{{"__metadata__", nil, []float64{1}}}, nil, "reserved"},
		{"empty name", []safetensors.Tensor{{"", nil, []float64{1}}}, nil, "reserved"},
		{"bad UTF-8", []safetensors.Tensor{{"\xff", nil, []float64{1}}}, nil, "not valid UTF-8"},
		{"bad UTF-8 metadata", nil, map[string]string{"k": "\xff"}, "not valid UTF-8"},
	} {
		var buf bytes.Buffer
		err := safetensors.Write(&buf, tc.ts, tc.meta)
		if err == nil || !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", tc.name, buf.Len())
		}
	}
	boom := errors.New("boom")
	w := &failWriter{n: 20, err: boom}
	if err := safetensors.Write(w, []safetensors.Tensor{{"a", []int{1 << 14}, make([]float64, 1<<14)}}, nil); !errors.Is(err, boom) {
		t.Errorf("failing writer: error %v, want boom", err)
	}
}

// failWriter accepts n bytes, then fails with err.
type failWriter struct {
	n   int
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestShapeLen(t *testing.T) {
	for _, c := range []struct {
		shape []int
		n     int
		ok    bool
	}{
		{nil, 1, true},
		{[]int{}, 1, true},
		{[]int{3, 4}, 12, true},
		{[]int{0, -1}, 0, false},
		{[]int{0, math.MaxInt}, 0, true},
		{[]int{math.MaxInt / 2, 3}, 0, false},
		{[]int{math.MaxInt, 1}, math.MaxInt, true},
	} {
		if n, ok := safetensors.ShapeLen(c.shape); n != c.n || ok != c.ok {
			t.Errorf("ShapeLen(%v) = %d, %v; want %d, %v", c.shape, n, ok, c.n, c.ok)
		}
	}
}
