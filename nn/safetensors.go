package nn

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"scorematch/nn/atomicfile"
	"scorematch/nn/safetensors"
)

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

// ReadSafetensors reads the safetensors file at path with safetensors.Read
// and returns its tensors sorted by name, with F32 data converted to
// float64, and its "__metadata__" map (nil if the header has none).
//
// It validates the whole file (see safetensors.Read for every check) and
// returns a *FormatError naming the file and, where one is at fault, the
// tensor, if the file is malformed or not a regular file.
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
	ts, meta, err := safetensors.Read(f, fi.Size())
	if err != nil {
		var fe *safetensors.FormatError
		if errors.As(err, &fe) {
			return nil, nil, &FormatError{File: path, Tensor: fe.Tensor, Problem: fe.Problem}
		}
		return nil, nil, fmt.Errorf("nn: %s: %w", path, err)
	}
	return ts, meta, nil
}

// WriteSafetensors writes tensors to a safetensors file at path with
// safetensors.Write: F64, in name order, with metadata (if not empty) as
// the header's "__metadata__".
//
// The write is atomic (package atomicfile): the file is written to a
// temporary file in the same directory, synced and renamed over path, so
// path holds either its old contents or the complete new file, and no
// temporary file is left behind on error. It returns an error naming the
// file if safetensors.Write refuses the tensors (a name empty,
// "__metadata__" or repeated, a string not valid UTF-8, data that does not
// match its shape) or the file cannot be written.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, metadata); err != nil {
		return fmt.Errorf("nn: write %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("nn: write %s: %w", path, err)
	}
	return nil
}
