package nn

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/nn/safetensors"
)

// fuzzOptions are the LoadOptions FuzzLoad tries on every input: none (for
// files with metadata) and one of each kind (for files without).
var fuzzOptions = []LoadOptions{
	{},
	{Kind: KindEnergy, Activation: "softplus"},
	{Kind: KindScore, Activation: "tanh"},
	{Kind: KindNCSN, Activation: "relu"},
	{Kind: KindGaussian},
}

// fuzzAllocLimit is the most FuzzLoad lets Load allocate for an input of n
// bytes: 128 bytes per byte, plus 1 MiB. Not 64: decoding the JSON header
// with encoding/json costs up to about 90 bytes per byte of a header of
// many tiny "__metadata__" entries (about 45 for one of many tiny tensor
// entries). Tensor data costs at most 7 bytes per byte (the bytes, their
// float64 values and the model's copy, F32 doubled; a Gaussian's mask
// doubles its L), and the model is only built once its size has been
// checked against the tensors. A bomb — a model built from what the
// metadata claims — would exceed the limit by orders of magnitude.
func fuzzAllocLimit(n int) uint64 { return 128*uint64(n) + 1<<20 }

// FuzzLoad checks that LoadReader (and so Load) never panics, allocates
// at most fuzzAllocLimit, returns only its documented error types, and
// that every model it accepts has finite parameters, evaluates, and
// round-trips through Save's encoding with the same bits. The seed corpus
// in testdata/fuzz/FuzzLoad holds valid files of every kind, PyTorch-style
// files, allocation bombs and files with mismatched, missing, extra or
// non-finite tensors (see TestFuzzLoadCorpus).
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, opts := range fuzzOptions {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := loadBytes(b, opts)
			runtime.ReadMemStats(&after)
			if alloc, limit := after.TotalAlloc-before.TotalAlloc, fuzzAllocLimit(len(b)); alloc > limit {
				t.Fatalf("%+v: allocated %d bytes for a %d-byte input, more than %d", opts, alloc, len(b), limit)
			}
			if err != nil {
				checkFuzzError(t, err)
				continue
			}
			checkFuzzModel(t, m)
		}
	})
}

// checkFuzzError fails t unless err is one of Load's error types, naming
// the input (LoadReader's options in fuzzOptions are all valid).
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var me *MissingOptionError
	var oe *OptionMismatchError
	switch {
	case errors.As(err, &fe), errors.As(err, &me), errors.As(err, &oe):
	default:
		t.Fatalf("error %q (%T) is not a *FormatError, *MissingOptionError or *OptionMismatchError", err, err)
	}
	if !strings.HasPrefix(err.Error(), "nn: m.safetensors: ") {
		t.Fatalf("error %q does not name the input", err)
	}
}

// checkFuzzModel checks a model Load accepted.
func checkFuzzModel(t *testing.T, m Model) {
	t.Helper()
	a, ok := ArchitectureOf(m)
	if !ok {
		t.Fatalf("Load returned a %T", m)
	}
	for _, p := range m.Params() {
		for i, v := range p.Value.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%v: parameter %s[%d] is %v", a, p.Name, i, v)
			}
		}
	}
	outputs(m, ad.NewMat(1, m.Dim()))
	ts, meta, err := modelTensors(m)
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if err := safetensors.Write(&enc, ts, meta); err != nil {
		t.Fatalf("%v: Save's encoding fails: %v", a, err)
	}
	m2, err := loadBytes(enc.Bytes(), LoadOptions{})
	if err != nil {
		t.Fatalf("%v: Load refuses Save's encoding: %v", a, err)
	}
	if a2, _ := ArchitectureOf(m2); a2.String() != a.String() {
		t.Fatalf("round trip changed the architecture from %v to %v", a, a2)
	}
	for i, p := range m.Params() {
		if !adtest.SameBits(m2.Params()[i].Value.Data, p.Value.Data) {
			t.Fatalf("%v: round trip changed %s", a, p.Name)
		}
	}
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzLoad")

// fuzzSeeds returns the seed corpus of FuzzLoad by name.
func fuzzSeeds(t testing.TB) map[string][]byte {
	models := testModels()
	seeds := map[string][]byte{}
	for kind, m := range models {
		seeds["saved-"+kind] = encodeModel(t, m)
	}
	for _, name := range []string{"energy", "score"} {
		b, err := os.ReadFile(adtest.GoldenPath(name + ".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		seeds["pytorch-"+name] = b
	}
	e := models[KindEnergy]
	eTensors, eMeta, _ := modelTensors(e)
	gTensors, _, _ := modelTensors(models[KindGaussian])
	seeds["pytorch-gaussian"] = encode(t, gTensors, map[string]string{"format": "pt"})
	seeds["pytorch-f32-energy"] = encodeF32(t, eTensors)
	seeds["truncated-saved-energy"] = seeds["saved-energy"][:len(seeds["saved-energy"])-3]

	rng := rand.New(rand.NewPCG(7, 8))
	small, _ := NewEnergyMLP(2, []int{16, 16}, "softplus", rng)
	seeds["bomb-metadata-dim-hidden"] = encodeModel(t, small, "dim", "100000", "hidden", "100000,100000")
	seeds["bomb-metadata-width"] = encodeModel(t, small, "hidden", "16,1000000000")
	seeds["bomb-metadata-gaussian"] = encodeModel(t, models[KindGaussian], "dim", "1000000")
	seeds["bomb-metadata-ncsn"] = encodeModel(t, models[KindNCSN], "dim", "1000000000")
	seeds["bomb-gaussian-mu"] = encodeF32(t, []Tensor{{Name: "L", Shape: []int{1, 1}, Data: []float64{1}}, {Name: "mu", Shape: []int{2000}, Data: make([]float64, 2000)}})
	seeds["too-many-hidden-layers"] = encodeModel(t, e, "hidden", strings.Repeat("1,", MaxHiddenLayers)+"1")
	seeds["too-many-layers-pytorch"] = encode(t, chain(MaxHiddenLayers+2), nil)
	seeds["deepest-pytorch"] = encode(t, chain(MaxHiddenLayers+1), nil)

	seeds["mismatch-transposed"] = encode(t, withTensor(t, e, "0.weight", func(tn *Tensor) bool { tn.Shape = []int{2, 4}; return true }), eMeta)
	seeds["mismatch-wider-metadata"] = encodeModel(t, e, "hidden", "5,3")
	seeds["mismatch-chain-pytorch"] = encode(t, withTensor(t, e, "2.weight", func(tn *Tensor) bool { tn.Shape = []int{4, 3}; return true }), nil)
	seeds["missing-tensor"] = encode(t, withTensor(t, e, "2.bias", func(*Tensor) bool { return false }), eMeta)
	seeds["extra-tensor"] = encode(t, append(withTensor(t, e, "", nil), Tensor{Name: "0.running_mean", Shape: []int{4}, Data: make([]float64, 4)}), eMeta)
	seeds["nan-weight"] = encode(t, withTensor(t, e, "2.weight", func(tn *Tensor) bool { tn.Data[1] = math.NaN(); return true }), eMeta)
	seeds["inf-bias"] = encode(t, withTensor(t, e, "0.bias", func(tn *Tensor) bool { tn.Data[0] = math.Inf(-1); return true }), eMeta)
	seeds["nan-f32-pytorch"] = encodeF32(t, withTensor(t, e, "4.weight", func(tn *Tensor) bool { tn.Data[0] = math.NaN(); return true }))
	seeds["huge-weight"] = encode(t, withTensor(t, e, "0.weight", func(tn *Tensor) bool { tn.Data[0] = 1e200; return true }), eMeta)
	seeds["gaussian-upper"] = encode(t, []Tensor{{Name: "L", Shape: []int{2, 2}, Data: []float64{1, 2, 0, 1}}, {Name: "mu", Shape: []int{2}, Data: []float64{0, 0}}}, nil)
	seeds["relu-energy-metadata"] = encodeModel(t, e, "activation", "relu")
	return seeds
}

// TestFuzzLoadCorpus checks that the seed corpus of FuzzLoad is
// fuzzSeeds, and rewrites it with -update-corpus:
//
//	go test -run TestFuzzLoadCorpus ./nn -args -update-corpus
func TestFuzzLoadCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	seeds := fuzzSeeds(t)
	adtest.CheckCorpus(t, dir, "", seeds, *updateCorpus, "run go test -run TestFuzzLoadCorpus ./nn -args -update-corpus")
	// Each seed meets its purpose: the valid ones load.
	for name, b := range seeds {
		valid := strings.HasPrefix(name, "saved-") || strings.HasPrefix(name, "pytorch-") || name == "deepest-pytorch" || name == "huge-weight"
		loaded := false
		for _, opts := range fuzzOptions {
			if _, err := loadBytes(b, opts); err == nil {
				loaded = true
			}
		}
		if loaded != valid {
			t.Errorf("seed %s: loads %v, want %v", name, loaded, valid)
		}
	}
}
