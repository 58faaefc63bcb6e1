package dataio

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"scorematch/ad"

	"scorematch/ad/adtest"
)

// The seed corpora under testdata/fuzz are written by
//
//	go test -run TestSeedCorpus ./cmd/ssm/internal/dataio/ -args -update-corpus
//
// from the seeds below; crashers found by fuzzing are kept next to them.
var updateCorpus = flag.Bool("update-corpus", false, "rewrite the generated seed corpora under testdata/fuzz")

// checkAccepted fails t unless m, which a reader accepted, is a non-empty,
// well-formed matrix of finite values that both writers round-trip
// exactly.
func checkAccepted(t *testing.T, m ad.Mat) {
	t.Helper()
	if m.Rows <= 0 || m.Cols <= 0 || len(m.Data) != m.Rows*m.Cols {
		t.Fatalf("accepted a malformed or empty matrix: %d×%d with %d elements", m.Rows, m.Cols, len(m.Data))
	}
	for k, v := range m.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("accepted a non-finite value %v at element %d", v, k)
		}
	}
	for _, header := range []bool{true, false} {
		var b bytes.Buffer
		if err := WriteCSV(&b, m, header); err != nil {
			t.Fatalf("WriteCSV: %v", err)
		}
		got, err := ReadCSV(&b, "round.csv")
		if err != nil {
			t.Fatalf("CSV round trip (header %v): %v", header, err)
		}
		if !sameMat(got, m) {
			t.Fatalf("CSV round trip (header %v) changed the matrix", header)
		}
	}
	var b bytes.Buffer
	if err := WriteNPY(&b, m); err != nil {
		t.Fatalf("WriteNPY: %v", err)
	}
	got, err := ReadNPY(&b, "round.npy")
	if err != nil {
		t.Fatalf("NPY round trip: %v", err)
	}
	if !sameMat(got, m) {
		t.Fatal("NPY round trip changed the matrix")
	}
}

// checkRefused fails t unless err names the file.
func checkRefused(t *testing.T, err error, name string) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), name+": ") {
		t.Fatalf("error %q does not start with the file name %q", err, name)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadCSV(bytes.NewReader(in), "fuzz.csv")
		if err != nil {
			checkRefused(t, err, "fuzz.csv")
			return
		}
		checkAccepted(t, m)
	})
}

func FuzzReadNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadNPY(bytes.NewReader(in), "fuzz.npy")
		if err != nil {
			checkRefused(t, err, "fuzz.npy")
			return
		}
		checkAccepted(t, m)
	})
}

func FuzzReadIDX(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadIDX(bytes.NewReader(in), "fuzz.idx")
		if err != nil {
			checkRefused(t, err, "fuzz.idx")
			return
		}
		for _, v := range m.Data {
			if v < 0 || v > 255 {
				t.Fatalf("value %v outside [0, 255]", v)
			}
		}
		checkAccepted(t, m)
	})
}

// csvSeeds are valid CSV files and broken variants of them.
func csvSeeds() map[string][]byte {
	return map[string][]byte{
		"valid-header":       []byte("x1,x2,x3\n0.5,-1,2e-3\n4,5,6\n"),
		"valid-plain":        []byte("1,2\n3,4\n"),
		"valid-crlf-spaces":  []byte("a , b\r\n 1 , 2 \r\n3,\t4\r\n"),
		"valid-comments":     []byte("\ufeff# comment\n\nx\n1\n\n# more\n2\n"),
		"valid-quoted":       []byte("\"a,b\",c\n\"1\",2\n"),
		"valid-gzip":         gz([]byte("x,y\n1,2\n3,4\n")),
		"valid-extremes":     []byte("4.9e-324,-1.7976931348623157e308,0x1p-2,-0\n"),
		"ragged":             []byte("a,b,c\n1,2,3\n4,5\n"),
		"not-a-number":       []byte("a,b\n1,abc\n"),
		"nan":                []byte("1,NaN\n"),
		"overflow":           []byte("1e400\n"),
		"empty":              []byte(""),
		"header-only":        []byte("a,b,c\n"),
		"mixed-first-row":    []byte("a,1\n2,3\n"),
		"bad-quote":          []byte("1,\"2\n"),
		"semicolons":         []byte("1;2\n3;4\n"),
		"truncated-gzip":     gz([]byte("x,y\n1,2\n3,4\n"))[:12],
		"mislabelled-npy":    npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", f8(1)),
		"mislabelled-binary": idxBytes([]uint32{2}, []byte{1, 2}),
	}
}

// npySeeds are valid .npy files and broken variants of them.
func npySeeds() map[string][]byte {
	dict := func(descr, shape string) string {
		return fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	}
	valid := npyBytes(1, dict("<f8", "(2, 3)"), f8(seq(6)...))
	nan := f8(seq(6)...)
	copy(nan[8:], f8(math.NaN()))
	return map[string][]byte{
		"valid-v1":          valid,
		"valid-v2":          npyBytes(2, dict("<f8", "(3, 2)"), f8(seq(6)...)),
		"valid-v3":          npyBytes(3, dict("<f8", "(6,)"), f8(seq(6)...)),
		"valid-f4":          npyBytes(1, dict("<f4", "(2, 2)"), f4(0.1, -2, 3e30, 1e-40)),
		"valid-reordered":   npyBytes(1, `{"shape":(1,2),"descr":"<f8","fortran_order":False}`, f8(1, 2)),
		"valid-gzip":        gz(valid),
		"truncated-data":    valid[:len(valid)-5],
		"truncated-header":  valid[:30],
		"trailing-data":     append(bytes.Clone(valid), 0, 0, 0),
		"big-endian":        npyBytes(1, dict(">f8", "(2, 3)"), f8(seq(6)...)),
		"int":               npyBytes(1, dict("<i8", "(2, 3)"), f8(seq(6)...)),
		"fortran":           npyBytes(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", f8(seq(6)...)),
		"3-d":               npyBytes(1, dict("<f8", "(1, 2, 3)"), f8(seq(6)...)),
		"empty-shape":       npyBytes(1, dict("<f8", "(0, 3)"), nil),
		"huge-shape":        npyBytes(1, dict("<f8", "(99999999999, 99999999999)"), nil),
		"bad-dict":          npyBytes(1, "{'descr': '<f8' 'shape': (2, 3)}", f8(seq(6)...)),
		"nan":               npyBytes(1, dict("<f8", "(2, 3)"), nan),
		"bad-magic":         append([]byte("\x93NUMPX"), valid[6:]...),
		"version-9":         append([]byte("\x93NUMPY\x09\x00"), valid[8:]...),
		"truncated-gzip":    gz(valid)[:40],
		"mislabelled-csv":   []byte("1,2\n3,4\n"),
		"mislabelled-idx":   idxBytes([]uint32{2}, []byte{1, 2}),
		"header-len-beyond": []byte("\x93NUMPY\x01\x00\xff\xff{}"),
	}
}

// idxSeeds are valid IDX files and broken variants of them.
func idxSeeds() map[string][]byte {
	images := idxBytes([]uint32{2, 3, 3}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 255, 254, 253, 252, 251, 250, 249, 248, 247})
	return map[string][]byte{
		"valid-images":      images,
		"valid-labels":      idxBytes([]uint32{5}, []byte{0, 9, 3, 3, 1}),
		"valid-gzip":        gz(images),
		"valid-4d":          idxBytes([]uint32{1, 1, 2, 2}, []byte{1, 2, 3, 4}),
		"truncated-data":    images[:len(images)-3],
		"truncated-header":  images[:9],
		"trailing-data":     append(bytes.Clone(images), 7),
		"zero-dim":          idxBytes([]uint32{0, 28, 28}, nil),
		"huge-dims":         idxBytes([]uint32{1 << 31, 1 << 31, 1 << 31}, nil),
		"float-type":        {0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f},
		"no-dims":           {0, 0, 8, 0},
		"bad-magic":         append([]byte{1, 0}, images[2:]...),
		"truncated-gzip":    gz(images)[:25],
		"mislabelled-npy":   npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", f8(1)),
		"mislabelled-csv":   []byte("1,2\n3,4\n"),
		"mislabelled-plain": []byte("P5 28 28 255\n"),
	}
}

// TestSeedCorpus checks that the committed seed corpora hold a file for
// each seed above, and rewrites them with -update-corpus. (The contents are
// not compared: compressed seeds may differ between Go releases.)
func TestSeedCorpus(t *testing.T) {
	sets := map[string]map[string][]byte{
		"FuzzReadCSV": csvSeeds(),
		"FuzzReadNPY": npySeeds(),
		"FuzzReadIDX": idxSeeds(),
	}
	for fuzzer, seeds := range sets {
		adtest.CheckCorpus(t, filepath.Join("testdata", "fuzz", fuzzer), "seed-", seeds, *updateCorpus, "run with -update-corpus")
	}
}
