// Package dataio reads and writes the data arrays of the ssm command: CSV
// text, NumPy .npy files and IDX files (the MNIST and Fashion-MNIST format),
// each as an ad.Mat with one sample per row (N×D).
//
// Every reader validates its whole input and returns an error a user can
// act on: the message starts with the file's name and says where the
// problem is (row and column, both 1-based, or the header field) and what
// was expected, for example
//
//	train.csv: row 7 has 3 columns, want 4
//	x.npy: truncated: have 120 bytes of data, want 160 for shape (4, 5) <f8
//
// Bad input never panics, and a reader never returns an empty matrix or one
// that holds NaN or ±Inf: the data must be finite. All readers accept
// gzip-compressed input, recognised by its magic bytes (1f 8b) rather than
// by the file's name.
//
// Writers refuse non-finite values and empty matrices, so whatever they
// write reads back. Write replaces its file atomically: it writes a
// temporary file in the same directory, syncs it and renames it over the
// destination, and on failure leaves no file behind. A matrix whose Data
// length differs from Rows×Cols is a programming error and makes the
// writers and Standardize panic.
package dataio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"scorematch/ad"
	"scorematch/nn/atomicfile"
)

// format is a file format known to Read and Write.
type format int

const (
	formatUnknown format = iota
	formatCSV
	formatNPY
	formatIDX
)

// formatOf picks a format from a file name, ignoring case and one trailing
// ".gz". The second result reports whether the name ends in ".gz".
func formatOf(path string) (format, bool) {
	base := strings.ToLower(filepath.Base(path))
	inner, gz := strings.CutSuffix(base, ".gz")
	switch {
	case strings.HasSuffix(inner, ".csv"):
		return formatCSV, gz
	case strings.HasSuffix(inner, ".npy"):
		return formatNPY, gz
	case strings.HasSuffix(inner, ".idx"), strings.Contains(inner, "ubyte"), gz:
		return formatIDX, gz
	}
	return formatUnknown, gz
}

// Read reads the data file at path, choosing the format by the name, with
// case ignored and one trailing ".gz" removed first:
//
//   - a name ending in ".csv" is read by ReadCSV,
//   - a name ending in ".npy" is read by ReadNPY,
//   - a name ending in ".idx" or containing "ubyte" (as in
//     train-images-idx3-ubyte.gz), or any other name ending in ".gz", is
//     read by ReadIDX.
//
// Compression is recognised by content, so "x.csv" may hold gzip data and
// "x.csv.gz" plain text. Other names are refused with an error that lists
// the known ones. Errors name path.
func Read(path string) (ad.Mat, error) {
	f, _ := formatOf(path)
	if f == formatUnknown {
		return ad.Mat{}, fmt.Errorf("%s: unknown data format: want a name ending in .csv, .npy, .idx or .gz, or containing \"ubyte\"", path)
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		// A FIFO would block the open until a writer comes; a directory
		// or a device is not data.
		return ad.Mat{}, fmt.Errorf("%s: not a regular file", path)
	}
	file, err := os.Open(path)
	if err != nil {
		return ad.Mat{}, err
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<16)
	switch f {
	case formatCSV:
		return ReadCSV(r, path)
	case formatNPY:
		return ReadNPY(r, path)
	default:
		return ReadIDX(r, path)
	}
}

// Write writes m to path, as CSV with a header line x1,x2,... if the name
// ends in ".csv" (see WriteCSV) or as a version 1.0 .npy file of '<f8' if
// it ends in ".npy" (see WriteNPY); case is ignored. Other names, including
// compressed ones, are refused.
//
// The file is replaced atomically: m is written to a temporary file in the
// same directory, which is synced and then renamed to path, so readers see
// either the old file or the complete new one, and on any error no file is
// left behind. The new file has permissions 0644. Errors name path.
func Write(path string, m ad.Mat) error {
	f, gz := formatOf(path)
	var write func(io.Writer, ad.Mat) error
	switch {
	case gz:
		return fmt.Errorf("%s: cannot write compressed files; want a name ending in .csv or .npy", path)
	case f == formatCSV:
		write = func(w io.Writer, m ad.Mat) error { return WriteCSV(w, m, true) }
	case f == formatNPY:
		write = WriteNPY
	default:
		return fmt.Errorf("%s: cannot write this format; want a name ending in .csv or .npy", path)
	}
	checkShape(m)
	if err := atomicfile.Write(path, func(w io.Writer) error { return write(w, m) }); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// checkShape panics if m's storage does not match its dimensions.
func checkShape(m ad.Mat) {
	if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols {
		panic(fmt.Sprintf("dataio: malformed matrix: %d×%d with %d elements", m.Rows, m.Cols, len(m.Data)))
	}
}

// checkWritable reports an error if m is empty or holds a non-finite value.
func checkWritable(m ad.Mat) error {
	checkShape(m)
	if m.Rows == 0 || m.Cols == 0 {
		return fmt.Errorf("matrix is empty (%d×%d); nothing to write", m.Rows, m.Cols)
	}
	for k, v := range m.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("row %d, column %d: %v is not finite; the data must be finite", k/m.Cols+1, k%m.Cols+1, v)
		}
	}
	return nil
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// utf8BOM is the byte-order mark some tools put before UTF-8 text.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// open returns a reader of r's content, decompressed if it starts with the
// gzip magic bytes. Errors from the gzip layer are prefixed with name.
func open(r io.Reader, name string) (io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.Equal(head, gzipMagic) {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, gzipError(name, err)
	}
	return &gzipReader{zr: zr, name: name}, nil
}

// gzipReader adds the file name and a hint to errors of a gzip stream.
type gzipReader struct {
	zr   *gzip.Reader
	name string
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(g.name, err)
	}
	return n, err
}

// gzipError describes a failure to decompress name.
func gzipError(name string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: gzip data is truncated", name)
	}
	// %v, not %w: a caller must not mistake this for the end of the data.
	return fmt.Errorf("%s: bad gzip data: %v", name, err)
}

// isDecodeError reports whether err already carries the file's name, as
// errors from open and gzipReader do.
func isDecodeError(err error, name string) bool {
	return strings.HasPrefix(err.Error(), name+": ")
}

// ioError wraps an I/O error from reading name, unless it already names it.
func ioError(name string, err error) error {
	if isDecodeError(err, name) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// displayName returns the name to use in messages.
func displayName(name string) string {
	if name == "" {
		return "<input>"
	}
	return name
}

// Standardize shifts and scales every column of m in place to mean 0 and
// standard deviation 1, and returns the mean and standard deviation it
// removed, so that an original value is x·std[j] + mean[j]. The standard
// deviation is the population one (divided by N, not N−1).
//
// A constant column (every value equal, including a matrix of one row) is
// only shifted, to all zeros, and its std is reported as 1, so the returned
// statistics are always usable to transform other data. A matrix with no
// rows is left alone and gets means 0 and stds 1. m's values must be finite,
// as every reader guarantees; a malformed m (len(Data) ≠ Rows×Cols) panics.
func Standardize(m ad.Mat) (mean, std []float64) {
	checkShape(m)
	n, d := m.Rows, m.Cols
	mean = make([]float64, d)
	std = make([]float64, d)
	for j := range d {
		std[j] = 1
		if n == 0 {
			continue
		}
		first, constant := m.Data[j], true
		var s float64 // the mean, summed as v/n so that it cannot overflow
		for i := range n {
			v := m.Data[i*d+j]
			s += v / float64(n)
			constant = constant && v == first
		}
		if constant {
			mean[j] = first
			for i := range n {
				m.Data[i*d+j] = 0
			}
			continue
		}
		// A second pass corrects the rounding error of the first sum.
		// Deviations are scaled by the largest one before squaring, so
		// neither the sum of squares nor the result overflows.
		mu := s
		var c, big float64
		for i := range n {
			e := dev(m.Data[i*d+j], mu)
			c += e / float64(n)
			big = max(big, math.Abs(e))
		}
		mu += c
		var ss float64
		for i := range n {
			e := dev(m.Data[i*d+j], mu) / big
			ss += float64(e * e)
		}
		sd := big * math.Sqrt(ss/float64(n))
		if !(sd > 0) || math.IsInf(sd, 0) {
			sd = 1
		}
		mean[j], std[j] = mu, sd
		for i := range n {
			v := m.Data[i*d+j]
			z := (v - mu) / sd
			if math.IsInf(v-mu, 0) {
				z = v/sd - mu/sd
			}
			m.Data[i*d+j] = z
		}
	}
	return mean, std
}

// dev returns v − mu, or the largest finite float of its sign if that
// overflows (only for values near ±1.8e308).
func dev(v, mu float64) float64 {
	e := v - mu
	if math.IsInf(e, 0) {
		return math.Copysign(math.MaxFloat64, e)
	}
	return e
}
