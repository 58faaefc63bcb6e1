package atomicfile_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"scorematch/nn/atomicfile"
)

// Write streams the contents through a buffered writer; a reader of the
// path sees either the old file or the complete new one.
func ExampleWrite() {
	dir, err := os.MkdirTemp("", "atomicfile")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "squares.txt")

	err = atomicfile.Write(path, func(w io.Writer) error {
		for i := 1; i <= 3; i++ {
			if _, err := fmt.Fprintln(w, i*i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// 1
	// 4
	// 9
}
