// Package safetensors reads and writes the safetensors format of weight
// files: an 8-byte little-endian header length N, a JSON header of N bytes
// mapping each tensor name to its dtype, shape and byte range
// ("data_offsets") plus an optional "__metadata__" object of strings, then
// the raw little-endian tensor data.
//
// Read validates every part of its input, since weight files come from
// outside: it accepts F64 and F32 tensors (converting F32 to float64),
// bounds the header at 100 MB and every dimension at 2³¹−1, and reports
// each problem as a *FormatError naming the tensor at fault. Write writes
// float64 tensors in a canonical form: name order, contiguous offsets, the
// header padded to a multiple of 8 bytes, so that reading a file Write made
// and writing it again gives the same bytes. Package nn builds weight files
// and optimiser checkpoints on them (nn.Save, nn.Load, nn.ReadSafetensors,
// nn.WriteSafetensors), adding file names and atomic replacement.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxHeaderLen is the largest JSON header a safetensors file may have, the
// limit of the reference implementation (100 MB).
const maxHeaderLen = 100_000_000

// A Tensor is a named array of float64 values in row-major order.
// len(Data) is the product of Shape; an empty Shape is a scalar.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float64
}

// ShapeLen returns the number of elements of a shape, the product of its
// dimensions (1 for an empty shape), and false if a dimension is negative
// or the product overflows an int.
func ShapeLen(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// A FormatError reports malformed input to Read.
type FormatError struct {
	Tensor  string // name of the tensor at fault, or "" for the file as a whole
	Problem string // what is wrong
}

func (e *FormatError) Error() string {
	if e.Tensor == "" {
		return "safetensors: " + e.Problem
	}
	return fmt.Sprintf("safetensors: tensor %q: %s", e.Tensor, e.Problem)
}

// elemSize returns the byte size of the dtypes Read accepts.
var elemSize = map[string]int{"F64": 8, "F32": 4}

// otherDtypes are the safetensors dtypes Read knows but refuses.
var otherDtypes = []string{"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "I64", "U64"}

// Read reads a safetensors file of size bytes from r (exactly size bytes:
// for an *os.File, its size from Stat) and returns its tensors sorted by
// name, with F32 data converted to float64, and its "__metadata__" map (nil
// if the header has none). It reads the header, validates it, and only then
// reads the data.
//
// It validates the whole file and returns a *FormatError naming, where one
// is at fault, the tensor, when: size is less than 8; the header length
// exceeds 100 MB or the rest of the file; r ends before size bytes; the
// header is not valid UTF-8, not a JSON object, or followed by anything but
// white space; a name is empty or appears twice; "__metadata__" is not an
// object of strings; an entry lacks or has other fields than "dtype",
// "shape" and "data_offsets"; the dtype is neither F64 nor F32; a dimension
// is over 2³¹−1; the shape's element count times the element size differs
// from the span of data_offsets; or the offsets fall outside the data area,
// overlap, or leave bytes of it uncovered.
func Read(r io.Reader, size int64) ([]Tensor, map[string]string, error) {
	fail := func(tensor, format string, a ...any) ([]Tensor, map[string]string, error) {
		return nil, nil, &FormatError{Tensor: tensor, Problem: fmt.Sprintf(format, a...)}
	}
	if size < 8 {
		return fail("", "truncated: the file has %d bytes, too few for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return fail("", "reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderLen {
		return fail("", "header length %d is absurd (the limit is %d bytes)", n, maxHeaderLen)
	}
	if n > uint64(size-8) {
		return fail("", "truncated: the header length is %d but only %d bytes follow it", n, size-8)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return fail("", "reading the header: %v", err)
	}
	dataSize := uint64(size) - 8 - n
	entries, meta, err := parseHeader(header)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, nil, fe
		}
		return fail("", "%v", err)
	}

	// Each entry: a supported dtype, a shape whose size matches its span,
	// a span inside the data area.
	for _, e := range entries {
		sz, ok := elemSize[e.dtype]
		if !ok {
			if slices.Contains(otherDtypes, e.dtype) {
				return fail(e.name, "dtype %s is not supported (only F64 and F32 are)", e.dtype)
			}
			return fail(e.name, "unknown dtype %q (want F64 or F32)", e.dtype)
		}
		if e.begin > e.end || e.end > dataSize {
			return fail(e.name, "data_offsets [%d, %d] are not a range inside the %d-byte data area", e.begin, e.end, dataSize)
		}
		count, ok := ShapeLen(e.shape)
		if !ok || uint64(count) > dataSize/uint64(sz) || uint64(count*sz) != e.end-e.begin {
			return fail(e.name, "shape %v of %s needs %s bytes, but data_offsets [%d, %d] span %d",
				e.shape, e.dtype, byteCount(e.shape, sz), e.begin, e.end, e.end-e.begin)
		}
	}

	// Together the spans must tile the data area exactly.
	order := make([]*entry, len(entries))
	for i := range entries {
		order[i] = &entries[i]
	}
	slices.SortStableFunc(order, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var pos uint64
	var prev string
	for _, e := range order {
		switch {
		case e.begin < pos:
			return fail(e.name, "data_offsets [%d, %d] overlap those of tensor %q, which end at %d", e.begin, e.end, prev, pos)
		case e.begin > pos:
			return fail(e.name, "data_offsets [%d, %d] leave bytes [%d, %d) of the data area unused", e.begin, e.end, pos, e.begin)
		}
		pos, prev = e.end, e.name
	}
	if pos != dataSize {
		return fail("", "the tensors cover %d bytes, but the data area has %d (bytes [%d, %d) are unused)", pos, dataSize, pos, dataSize)
	}

	data := make([]byte, dataSize)
	if _, err := io.ReadFull(r, data); err != nil {
		return fail("", "reading the data: %v", err)
	}
	tensors := make([]Tensor, len(entries))
	for i, e := range entries {
		b := data[e.begin:e.end]
		t := Tensor{Name: e.name, Shape: e.shape}
		if e.dtype == "F64" {
			t.Data = make([]float64, len(b)/8)
			for j := range t.Data {
				t.Data[j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:]))
			}
		} else {
			t.Data = make([]float64, len(b)/4)
			for j := range t.Data {
				t.Data[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:])))
			}
		}
		tensors[i] = t
	}
	slices.SortFunc(tensors, func(a, b Tensor) int { return cmp.Compare(a.Name, b.Name) })
	return tensors, meta, nil
}

// entry is one tensor's header entry.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// byteCount formats the byte size of a shape, or "too many" on overflow.
func byteCount(shape []int, sz int) string {
	n, ok := ShapeLen(shape)
	if !ok || n > math.MaxInt/sz {
		return "too many"
	}
	return strconv.Itoa(n * sz)
}

// parseHeader decodes the JSON header. Problems with one tensor are
// returned as a *FormatError.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("the header is not valid UTF-8")
	}
	var entries []entry
	var meta map[string]string
	err := parseObject(header, "the header", func(key string, val json.RawMessage) error {
		if key == "__metadata__" {
			meta = map[string]string{}
			return parseObject(val, "__metadata__", func(k string, v json.RawMessage) error {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("__metadata__ value of %q is %s, want a string", k, v)
				}
				meta[k] = s
				return nil
			})
		}
		if key == "" {
			return errors.New("the header has an empty tensor name")
		}
		e, err := parseEntry(key, val)
		if err != nil {
			return &FormatError{Tensor: key, Problem: err.Error()}
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return entries, meta, nil
}

// parseEntry decodes a tensor's {"dtype", "shape", "data_offsets"} object.
func parseEntry(name string, val json.RawMessage) (entry, error) {
	e := entry{name: name}
	var have [3]bool
	var offsets []uint64
	err := parseObject(val, "the entry", func(k string, v json.RawMessage) error {
		switch k {
		case "dtype":
			have[0] = true
			if err := json.Unmarshal(v, &e.dtype); err != nil {
				return fmt.Errorf("dtype is %s, want a string", v)
			}
		case "shape":
			have[1] = true
			var dims []uint64
			if err := json.Unmarshal(v, &dims); err != nil || dims == nil {
				return fmt.Errorf("shape is %s, want an array of non-negative integers", v)
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt32 { // the same bound on 32- and 64-bit platforms
					return fmt.Errorf("shape %s has an absurd dimension (over 2³¹−1)", v)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			have[2] = true
			if err := json.Unmarshal(v, &offsets); err != nil || len(offsets) != 2 {
				return fmt.Errorf("data_offsets is %s, want [begin, end]", v)
			}
			e.begin, e.end = offsets[0], offsets[1]
		default:
			return fmt.Errorf("unknown field %q (want dtype, shape and data_offsets)", k)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	for i, f := range []string{"dtype", "shape", "data_offsets"} {
		if !have[i] {
			return e, fmt.Errorf("no %s field", f)
		}
	}
	return e, nil
}

// parseObject decodes the JSON object in data and calls f for each member in
// order. It fails if data is not exactly one object (white space aside) or
// a key appears twice; what names the object in messages.
func parseObject(data []byte, what string, f func(key string, val json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%s is not a JSON object", what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s is not valid JSON: %v", what, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s is not valid JSON", what)
		}
		if seen[key] {
			if what == "the header" {
				return &FormatError{Tensor: key, Problem: "the name appears twice in the header"}
			}
			return fmt.Errorf("key %q appears twice in %s", key, what)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("%s is not valid JSON: %v", what, err)
		}
		if err := f(key, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s has data after the JSON object", what)
	}
	return nil
}
