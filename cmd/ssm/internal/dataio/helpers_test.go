package dataio

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"scorematch/ad"
)

// npyBytes builds a .npy stream of the given version with dict as the
// header text (padded to a multiple of 64 bytes and ended by a newline)
// followed by data.
func npyBytes(major byte, dict string, data []byte) []byte {
	pre := 8 + 2
	if major >= 2 {
		pre = 8 + 4
	}
	n := pre + len(dict) + 1
	pad := (64 - n%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{major, 0})
	if major >= 2 {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

// f8 encodes values as little-endian float64s.
func f8(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// f4 encodes values as little-endian float32s.
func f4(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// seq returns 1, 2, ..., n.
func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i + 1)
	}
	return s
}

// idxBytes builds an IDX stream of unsigned bytes with the given
// dimensions followed by data.
func idxBytes(dims []uint32, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

// gz compresses b.
func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// sameMat reports whether a and b have the same shape and bit-identical
// elements.
func sameMat(a, b ad.Mat) bool {
	if !a.SameShape(b) || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if math.Float64bits(a.Data[i]) != math.Float64bits(b.Data[i]) {
			return false
		}
	}
	return true
}

// checkMat fails t unless got equals want exactly.
func checkMat(t *testing.T, got, want ad.Mat) {
	t.Helper()
	if !sameMat(got, want) {
		t.Errorf("got %d×%d %v, want %d×%d %v", got.Rows, got.Cols, got.Data, want.Rows, want.Cols, want.Data)
	}
}

// checkErr fails t unless err is non-nil and its message contains every
// one of want.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want one containing %q", want)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
