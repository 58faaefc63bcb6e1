package safetensors

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Write writes tensors to w in the safetensors format as F64, with metadata
// (if not empty) as the header's "__metadata__". Tensors are stored in name
// order with contiguous offsets, and the header is padded with spaces to a
// multiple of 8 bytes so that the data is aligned. The output depends only
// on the tensors and metadata, not on their order.
//
// It returns an error, before writing anything, if a name is empty,
// "__metadata__" or repeated, a name or metadata string is not valid
// UTF-8, a tensor's data does not match its shape, or the header would
// exceed 100 MB; and otherwise the first error of w.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order := make([]int, len(tensors))
	for i, t := range tensors {
		order[i] = i
		switch n, ok := ShapeLen(t.Shape); {
		case t.Name == "" || t.Name == "__metadata__":
			return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		case !ok || n != len(t.Data):
			return fmt.Errorf("safetensors: tensor %q has shape %v and %d values", t.Name, t.Shape, len(t.Data))
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(tensors[a].Name, tensors[b].Name) })
	for i := 1; i < len(order); i++ {
		if tensors[order[i]].Name == tensors[order[i-1]].Name {
			return fmt.Errorf("safetensors: tensor name %q appears twice", tensors[order[i]].Name)
		}
	}

	h := []byte{'{'}
	if len(metadata) > 0 {
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fmt.Errorf("safetensors: metadata %q: %q is not valid UTF-8", k, v)
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
		return fmt.Errorf("safetensors: the header would have %d bytes, more than the limit of %d", len(h), maxHeaderLen)
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
