package dataio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"scorematch/ad"
)

// idxTypes names the IDX element type codes, for error messages.
var idxTypes = map[byte]string{
	0x08: "unsigned byte",
	0x09: "signed byte",
	0x0b: "int16",
	0x0c: "int32",
	0x0d: "float32",
	0x0e: "float64",
}

// ReadIDX reads an IDX file, the format of the MNIST and Fashion-MNIST
// data sets, plain or gzip-compressed (recognised by its magic bytes).
// name is used in error messages, normally the file's path.
//
// The file must start with the magic bytes 00 00 08 n: element type 0x08
// (unsigned byte) and n ≥ 1 dimensions, each a big-endian uint32, followed
// by exactly their product of bytes. The result depends on n:
//
//   - n = 1 (a label file of N entries): N×1 holding the byte values
//     0…255 unchanged, e.g. the class indices 0…9;
//   - n ≥ 2 (images, N × rows × cols for MNIST): N×D with D the product
//     of the other dimensions, each image flattened in row-major order and
//     each byte b scaled to b/255, so values lie in [0, 1].
//
// Errors name the file and the part at fault: a wrong magic number, other
// element types (named in the message), no dimensions, a dimension of
// zero, a header cut short, data shorter or longer than the dimensions
// require, or bad gzip data.
func ReadIDX(r io.Reader, name string) (ad.Mat, error) {
	name = displayName(name)
	in, err := open(r, name)
	if err != nil {
		return ad.Mat{}, err
	}
	var magic [4]byte
	if n, err := io.ReadFull(in, magic[:]); err != nil {
		if n == 0 && err == io.EOF {
			return ad.Mat{}, fmt.Errorf("%s: empty file, want IDX data", name)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ad.Mat{}, fmt.Errorf("%s: not an IDX file: only %d bytes long", name, n)
		}
		return ad.Mat{}, ioError(name, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return ad.Mat{}, fmt.Errorf("%s: not an IDX file: magic number is % x, want 00 00 08 followed by the number of dimensions", name, magic)
	}
	if t := magic[2]; t != 0x08 {
		kind := idxTypes[t]
		if kind == "" {
			kind = "unknown"
		}
		return ad.Mat{}, fmt.Errorf("%s: IDX element type 0x%02x (%s) is not supported; want 0x08 (unsigned byte)", name, t, kind)
	}
	nd := int(magic[3])
	if nd == 0 {
		return ad.Mat{}, fmt.Errorf("%s: IDX header has 0 dimensions; want at least 1", name)
	}
	hdr := make([]byte, 4*nd)
	if n, err := io.ReadFull(in, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return ad.Mat{}, fmt.Errorf("%s: truncated header: have %d of the %d bytes of %d dimensions", name, n, len(hdr), nd)
		}
		return ad.Mat{}, ioError(name, err)
	}
	dims := make([]int, nd)
	count := 1
	for k := range dims {
		d := int(binary.BigEndian.Uint32(hdr[4*k:]))
		if d == 0 {
			return ad.Mat{}, fmt.Errorf("%s: dimension %d of %s is 0; the data must not be empty", name, k+1, dimString(dims[:0], hdr))
		}
		if count > maxElements/d {
			return ad.Mat{}, fmt.Errorf("%s: dimensions %s are too large", name, dimString(dims[:0], hdr))
		}
		dims[k] = d
		count *= d
	}
	raw, err := io.ReadAll(io.LimitReader(in, int64(count)))
	if err != nil {
		return ad.Mat{}, ioError(name, err)
	}
	if len(raw) < count {
		return ad.Mat{}, fmt.Errorf("%s: truncated: have %d bytes of data, want %d for dimensions %s", name, len(raw), count, dimString(dims, hdr))
	}
	extra, err := io.Copy(io.Discard, in)
	if err != nil {
		return ad.Mat{}, ioError(name, err)
	}
	if extra > 0 {
		return ad.Mat{}, fmt.Errorf("%s: %d bytes after the data: have %d bytes of data, want %d for dimensions %s", name, extra, int64(count)+extra, count, dimString(dims, hdr))
	}
	rows := dims[0]
	cols := count / rows
	data := make([]float64, count)
	if nd == 1 {
		for k, b := range raw {
			data[k] = float64(b)
		}
	} else {
		for k, b := range raw {
			data[k] = float64(b) / 255
		}
	}
	return ad.MatOf(rows, cols, data), nil
}

// dimString formats the dimensions of an IDX header as "60000×28×28". If
// dims is empty it decodes them from hdr.
func dimString(dims []int, hdr []byte) string {
	if len(dims) == 0 {
		for k := 0; k+4 <= len(hdr); k += 4 {
			dims = append(dims, int(binary.BigEndian.Uint32(hdr[k:])))
		}
	}
	var b strings.Builder
	for k, d := range dims {
		if k > 0 {
			b.WriteString("×")
		}
		fmt.Fprint(&b, d)
	}
	return b.String()
}
