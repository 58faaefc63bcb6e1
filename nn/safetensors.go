package nn

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	"scorematch/nn/atomicfile"
)

// maxHeaderLen is the largest JSON header a safetensors file may have, the
// limit of the reference implementation (100 MB).
const maxHeaderLen = 100_000_000

// A FormatError reports a malformed or unusable weight file.
type FormatError struct {
	File    string // path of the file
	Tensor  string // name of the tensor at fault, or "" for the file as a whole
	Problem string // what is wrong
}

func (e *FormatError) Error() string {
	if e.Tensor == "" {
		return fmt.Sprintf("nn: %s: %s", e.File, e.Problem)
	}
	return fmt.Sprintf("nn: %s: tensor %q: %s", e.File, e.Tensor, e.Problem)
}

// elemSize returns the byte size of the dtypes ReadSafetensors accepts.
var elemSize = map[string]int{"F64": 8, "F32": 4}

// otherDtypes are the safetensors dtypes ReadSafetensors knows but refuses.
var otherDtypes = []string{"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "I64", "U64"}

// ReadSafetensors reads the safetensors file at path and returns its tensors
// sorted by name, with F32 data converted to float64, and its
// "__metadata__" map (nil if the header has none).
//
// It validates the whole file and returns a *FormatError naming the file
// and, where one is at fault, the tensor, when: the file is shorter than
// 8 bytes; the header length exceeds 100 MB or the rest of the file; the
// header is not valid UTF-8, not a JSON object, or followed by anything but
// white space; a name is empty or appears twice; "__metadata__" is not an
// object of strings; an entry lacks or has other fields than "dtype",
// "shape" and "data_offsets"; the dtype is neither F64 nor F32; the shape's
// element count times the element size differs from the span of
// data_offsets; or the offsets fall outside the data area, overlap, or
// leave bytes of it uncovered.
func ReadSafetensors(path string) ([]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &FormatError{File: path, Problem: "not a regular file"}
	}
	return readSafetensors(path, f, fi.Size())
}

// entry is one tensor's header entry.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// readSafetensors decodes a safetensors file of the given size read from r;
// name is used in errors.
func readSafetensors(name string, r io.ReaderAt, size int64) ([]Tensor, map[string]string, error) {
	fail := func(tensor, format string, a ...any) ([]Tensor, map[string]string, error) {
		return nil, nil, &FormatError{File: name, Tensor: tensor, Problem: fmt.Sprintf(format, a...)}
	}
	if size < 8 {
		return fail("", "truncated: the file has %d bytes, too few for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
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
	if _, err := r.ReadAt(header, 8); err != nil {
		return fail("", "reading the header: %v", err)
	}
	dataSize := uint64(size) - 8 - n
	entries, meta, err := parseHeader(header)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.File = name
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
		count, ok := shapeLen(e.shape)
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
	if _, err := r.ReadAt(data, 8+int64(n)); err != nil && !(err == io.EOF && dataSize == 0) {
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

// byteCount formats the byte size of a shape, or "more than 2⁶³" on
// overflow.
func byteCount(shape []int, sz int) string {
	n, ok := shapeLen(shape)
	if !ok || n > math.MaxInt/sz {
		return "too many"
	}
	return strconv.Itoa(n * sz)
}

// parseHeader decodes the JSON header. Problems with one tensor are
// returned as a *FormatError without File.
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

// WriteSafetensors writes tensors to a safetensors file at path as F64,
// with metadata (if not empty) as the header's "__metadata__". Tensors are
// stored in name order with contiguous offsets, and the header is padded
// with spaces to a multiple of 8 bytes so that the data is aligned.
//
// The write is atomic: the file is written to a temporary file in the same
// directory, synced and renamed over path, so path holds either its old
// contents or the complete new file, and no temporary file is left behind
// on error. It returns an error if a name is empty, "__metadata__" or
// repeated, a name or metadata string is not valid UTF-8, or a tensor's
// data does not match its shape.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	var buf bytes.Buffer
	if err := encodeSafetensors(&buf, tensors, metadata); err != nil {
		return fmt.Errorf("nn: write %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("nn: write %s: %w", path, err)
	}
	return nil
}

// encodeSafetensors writes the safetensors encoding of tensors and metadata
// to w (see WriteSafetensors).
func encodeSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]int, len(tensors))
	for i, t := range tensors {
		order[i] = i
		switch n, ok := shapeLen(t.Shape); {
		case t.Name == "" || t.Name == "__metadata__":
			return fmt.Errorf("tensor name %q is reserved", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		case !ok || n != len(t.Data):
			return fmt.Errorf("tensor %q has shape %v and %d values", t.Name, t.Shape, len(t.Data))
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(tensors[a].Name, tensors[b].Name) })
	for i := 1; i < len(order); i++ {
		if tensors[order[i]].Name == tensors[order[i-1]].Name {
			return fmt.Errorf("tensor name %q appears twice", tensors[order[i]].Name)
		}
	}

	h := []byte{'{'}
	if len(metadata) > 0 {
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fmt.Errorf("metadata %q: %q is not valid UTF-8", k, v)
			}
		}
		m, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return err
		}
		h = append(append(h, `"__metadata__":`...), m...)
	}
	var off uint64
	for i, idx := range order {
		t := tensors[idx]
		if i > 0 || len(metadata) > 0 {
			h = append(h, ',')
		}
		name, err := json.Marshal(t.Name)
		if err != nil {
			return err
		}
		h = append(h, name...)
		h = append(h, `:{"dtype":"F64","shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		end := off + 8*uint64(len(t.Data))
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendUint(h, off, 10)
		h = append(h, ',')
		h = strconv.AppendUint(h, end, 10)
		h = append(h, "]}"...)
		off = end
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > maxHeaderLen {
		return fmt.Errorf("the header would have %d bytes, more than the limit of %d", len(h), maxHeaderLen)
	}

	bw := bufio.NewWriter(w)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(h)))
	bw.Write(b[:])
	bw.Write(h)
	for _, idx := range order {
		for _, v := range tensors[idx].Data {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}
