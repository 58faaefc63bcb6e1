package safetensors_test

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/nn/safetensors"
)

// FuzzRead checks that Read never panics, that every error is a
// *FormatError, and that any file it accepts round-trips through Write:
// re-encoding gives the same tensors and metadata, and re-encoding that
// gives the same bytes. The seed corpus in testdata/fuzz/FuzzRead holds the
// golden weight files and malformed variants (see TestFuzzCorpus).
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := safetensors.Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			var fe *safetensors.FormatError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q (%T) is not a *FormatError", err, err)
			}
			return
		}
		var enc bytes.Buffer
		if err := safetensors.Write(&enc, ts, meta); err != nil {
			t.Fatalf("an accepted file does not encode: %v", err)
		}
		ts2, meta2, err := safetensors.Read(bytes.NewReader(enc.Bytes()), int64(enc.Len()))
		if err != nil {
			t.Fatalf("the writer's output is refused: %v", err)
		}
		if !tensorsEqual(ts, ts2) || !maps.Equal(meta, meta2) {
			t.Fatalf("round trip changed the file: %v %v, then %v %v", ts, meta, ts2, meta2)
		}
		var enc2 bytes.Buffer
		if err := safetensors.Write(&enc2, ts2, meta2); err != nil || !bytes.Equal(enc.Bytes(), enc2.Bytes()) {
			t.Fatalf("encoding is not canonical (%v)", err)
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead")

// TestFuzzCorpus checks that the seed corpus holds the golden files and
// every malformed file of malformedFiles, and rewrites it with
// -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	seeds := map[string][]byte{}
	for _, name := range []string{"energy.safetensors", "score.safetensors"} {
		b, err := os.ReadFile(adtest.GoldenPath(name))
		if err != nil {
			t.Fatal(err)
		}
		seeds["golden-"+strings.TrimSuffix(name, ".safetensors")] = b
		seeds["truncated-"+strings.TrimSuffix(name, ".safetensors")] = b[:len(b)-5]
	}
	seeds["valid-f32-meta"] = rawFile(`{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
		[]byte{0, 0, 192, 63, 0, 0, 128, 255})
	seeds["valid-empty"] = rawFile(`{}`, nil)
	for _, m := range malformedFiles() {
		seeds["malformed-"+strings.ReplaceAll(m.name, " ", "-")] = m.file
	}
	adtest.CheckCorpus(t, filepath.Join("testdata", "fuzz", "FuzzRead"), "", seeds, *updateCorpus,
		"run go test -run TestFuzzCorpus ./nn/safetensors -args -update-corpus")
}
