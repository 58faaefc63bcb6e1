package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"scorematch/nn/safetensors"
)

// Write and read back two tensors and the metadata, through a buffer; a
// file works the same way, with its size from Stat.
func Example() {
	var buf bytes.Buffer
	err := safetensors.Write(&buf, []safetensors.Tensor{
		{Name: "0.weight", Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, 6}},
		{Name: "0.bias", Shape: []int{2}, Data: []float64{0.5, -0.5}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}
	ts, meta, err := safetensors.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range ts {
		fmt.Println(t.Name, t.Shape, t.Data)
	}
	fmt.Println(meta)

	// A malformed file gives a *FormatError.
	_, _, err = safetensors.Read(bytes.NewReader(buf.Bytes()[:5]), 5)
	fmt.Println(err)
	// Output:
	// 0.bias [2] [0.5 -0.5]
	// 0.weight [2 3] [1 2 3 4 5 6]
	// map[format:pt]
	// safetensors: truncated: the file has 5 bytes, too few for the 8-byte header length
}
