package nn

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/nn/safetensors"
)

// encode returns the bytes of a safetensors file holding ts and meta.
func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := safetensors.Write(&b, ts, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodeModel returns the bytes Save writes for m, with the metadata
// changed by kv (key, value, ...; an empty value deletes the key).
func encodeModel(t testing.TB, m Model, kv ...string) []byte {
	t.Helper()
	ts, meta, err := modelTensors(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(meta, kv[i])
		} else {
			meta[kv[i]] = kv[i+1]
		}
	}
	return encode(t, ts, meta)
}

// withTensor returns a copy of m's tensors (as Save writes them) in which
// f has changed the tensor called name; f returning false deletes it.
func withTensor(t testing.TB, m Model, name string, f func(*Tensor) bool) []Tensor {
	t.Helper()
	ts, _, err := modelTensors(m)
	if err != nil {
		t.Fatal(err)
	}
	var out []Tensor
	for _, tn := range ts {
		tn.Data = slices.Clone(tn.Data)
		if tn.Name == name && !f(&tn) {
			continue
		}
		out = append(out, tn)
	}
	return out
}

// loadBytes loads the file b with LoadReader under the name "m.safetensors".
func loadBytes(b []byte, opts LoadOptions) (Model, error) {
	return LoadReader(bytes.NewReader(b), int64(len(b)), "m.safetensors", opts)
}

// testModels returns one small model of every kind.
func testModels() map[string]Model {
	rng := rand.New(rand.NewPCG(3, 4))
	e, _ := NewEnergyMLP(2, []int{4, 3}, "softplus", rng)
	s, _ := NewScoreMLP(2, []int{4}, "relu", rng)
	n, _ := NewNCSN(2, []int{3}, "tanh", rng)
	perturb(n, rng, 0.1)
	return map[string]Model{KindEnergy: e, KindScore: s, KindNCSN: n, KindGaussian: randGaussian(rng, 2)}
}

// TestLoadOptionErrors checks the typed errors about LoadOptions: invalid
// options, settings a file does not record, and settings that disagree
// with the file.
func TestLoadOptionErrors(t *testing.T) {
	models := testModels()
	saved := encodeModel(t, models[KindEnergy])
	pt := encodeModel(t, models[KindEnergy], "format", "pt", "kind", "", "dim", "", "hidden", "", "activation", "")
	ptGauss := encodeModel(t, models[KindGaussian], "format", "", "kind", "", "dim", "")
	energyActs := []string{"elu", "exp", "log", "sigmoid", "silu", "softplus", "square", "tanh"}
	for _, tc := range []struct {
		name string
		file []byte
		opts LoadOptions
		want error
		msg  string
	}{
		{"unknown kind", saved, LoadOptions{Kind: "flow"},
			&ConfigError{Type: "LoadOptions", Field: "Kind", Value: "flow", Want: "energy, score, ncsn, gaussian or nice"}, ""},
		{"unknown activation", pt, LoadOptions{Kind: KindEnergy, Activation: "gelu"},
			&ConfigError{Type: "LoadOptions", Field: "Activation", Value: "gelu", Want: "elu, exp, log, relu, sigmoid, silu, softplus, square or tanh"}, ""},
		{"relu energy", pt, LoadOptions{Kind: KindEnergy, Activation: "relu"},
			&ConfigError{Type: "LoadOptions", Field: "Activation", Value: "relu", Want: "an activation with a nonzero second derivative for an energy net: " + orList(energyActs)}, ""},
		{"no kind", pt, LoadOptions{Activation: "tanh"},
			&MissingOptionError{File: "m.safetensors", Option: "Kind", Choices: kinds},
			"nn: m.safetensors: the file does not record its architecture; set LoadOptions.Kind (energy, score, ncsn, gaussian or nice)"},
		{"no activation for an energy net", pt, LoadOptions{Kind: KindEnergy},
			&MissingOptionError{File: "m.safetensors", Option: "Activation", Choices: energyActs},
			"nn: m.safetensors: the file does not record its activation; set LoadOptions.Activation (elu, exp, log, sigmoid, silu, softplus, square or tanh)"},
		{"no activation for a score net", pt, LoadOptions{Kind: KindScore},
			&MissingOptionError{File: "m.safetensors", Option: "Activation", Choices: slices.Sorted(slices.Values(append(energyActs, "relu")))}, ""},
		{"kind disagrees", saved, LoadOptions{Kind: KindScore},
			&OptionMismatchError{File: "m.safetensors", Option: "Kind", Recorded: "energy", Given: "score"},
			`nn: m.safetensors: the file holds a model of kind "energy", LoadOptions.Kind asks for "score"`},
		{"activation disagrees", saved, LoadOptions{Activation: "silu"},
			&OptionMismatchError{File: "m.safetensors", Option: "Activation", Recorded: "softplus", Given: "silu"},
			`nn: m.safetensors: the file's activation is "softplus", LoadOptions.Activation asks for "silu"`},
		{"both disagree: kind first", saved, LoadOptions{Kind: KindScore, Activation: "silu"},
			&OptionMismatchError{File: "m.safetensors", Option: "Kind", Recorded: "energy", Given: "score"}, ""},
		{"gaussian: activation ignored", encodeModel(t, models[KindGaussian]), LoadOptions{Activation: "tanh"}, nil, ""},
		{"gaussian without metadata: no activation needed", ptGauss, LoadOptions{Kind: KindGaussian}, nil, ""},
		{"gaussian without metadata: activation ignored", ptGauss, LoadOptions{Kind: KindGaussian, Activation: "relu"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadBytes(tc.file, tc.opts)
			if !reflect.DeepEqual(err, tc.want) {
				t.Fatalf("error %#v\nwant %#v", err, tc.want)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("message %q\nwant    %q", err, tc.msg)
			}
			if tc.want != nil {
				if _, ok := tc.want.(*ConfigError); ok && !reflect.DeepEqual(tc.opts.Validate(), tc.want) {
					t.Errorf("LoadOptions.Validate() = %v, want the same error", tc.opts.Validate())
				}
			}
		})
	}
	if err := (LoadOptions{}).Validate(); err != nil {
		t.Errorf("LoadOptions{}.Validate() = %v", err)
	}
	// Load sets the path as the file.
	path := filepath.Join(t.TempDir(), "pt.safetensors")
	if err := os.WriteFile(path, pt, 0o644); err != nil {
		t.Fatal(err)
	}
	var me *MissingOptionError
	if _, err := Load(path, LoadOptions{}); !errors.As(err, &me) || me.File != path {
		t.Errorf("Load: error %v, want a *MissingOptionError naming %s", err, path)
	}
}

// TestLoadNonFinite checks that NaN and infinite weights are refused,
// naming the tensor and the element, and that huge finite ones load.
func TestLoadNonFinite(t *testing.T) {
	models := testModels()
	for _, tc := range []struct {
		kind, tensor string
		index        int
		v            float64
		elem         string
		f32          bool
	}{
		{KindEnergy, "2.weight", 5, math.NaN(), "[1 1] is NaN", false},
		{KindEnergy, "0.bias", 3, math.Inf(1), "[3] is +Inf", false},
		{KindScore, "0.weight", 0, math.Inf(-1), "[0 0] is -Inf", false},
		{KindNCSN, "sigma.weight", 2, math.NaN(), "[0 2] is NaN", false},
		{KindGaussian, "mu", 1, math.Inf(1), "[1] is +Inf", false},
		{KindGaussian, "L", 2, math.NaN(), "[1 0] is NaN", false},
		{KindEnergy, "4.weight", 2, math.NaN(), "[0 2] is NaN", true}, // PyTorch-style, F32
	} {
		t.Run(tc.kind+"/"+tc.tensor, func(t *testing.T) {
			m := models[tc.kind]
			ts := withTensor(t, m, tc.tensor, func(tn *Tensor) bool {
				tn.Data[tc.index] = tc.v
				return true
			})
			var b []byte
			opts := LoadOptions{}
			if tc.f32 {
				b = encodeF32(t, ts)
				opts = LoadOptions{Kind: tc.kind, Activation: "softplus"}
			} else {
				_, meta, _ := modelTensors(m)
				b = encode(t, ts, meta)
			}
			_, err := loadBytes(b, opts)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Tensor != tc.tensor || fe.File != "m.safetensors" || !strings.Contains(fe.Problem, "element "+tc.elem) {
				t.Fatalf("error %v, want a *FormatError naming m.safetensors, tensor %s and element %s", err, tc.tensor, tc.elem)
			}
		})
	}
	// Finite but absurd weights load; the outputs are the caller's to check.
	ts := withTensor(t, models[KindEnergy], "0.weight", func(tn *Tensor) bool { tn.Data[0] = 1e200; return true })
	_, meta, _ := modelTensors(models[KindEnergy])
	if _, err := loadBytes(encode(t, ts, meta), LoadOptions{}); err != nil {
		t.Errorf("1e200 weight: %v", err)
	}
}

// encodeF32 writes ts as F32 tensors without metadata, as PyTorch does.
func encodeF32(t testing.TB, ts []Tensor) []byte {
	t.Helper()
	var h, data bytes.Buffer
	h.WriteString("{")
	for i, tn := range ts {
		if i > 0 {
			h.WriteString(",")
		}
		start := data.Len()
		for _, v := range tn.Data {
			bits := math.Float32bits(float32(v))
			data.Write([]byte{byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24)})
		}
		h.WriteString(`"` + tn.Name + `":{"dtype":"F32","shape":[` + joinInts(tn.Shape) + `],"data_offsets":[` +
			strconv.Itoa(start) + "," + strconv.Itoa(data.Len()) + "]}")
	}
	h.WriteString("}")
	var out bytes.Buffer
	n := uint64(h.Len())
	out.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), 0, 0, 0, 0})
	out.Write(h.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// TestLoadArchitectureChecks covers architectures whose tensors do not
// match, above all the allocation bombs: metadata or a shape that would
// make Load allocate far more than the file holds. Each must fail with a
// *FormatError before the model is built, allocating a bounded amount.
func TestLoadArchitectureChecks(t *testing.T) {
	models := testModels()
	rng := rand.New(rand.NewPCG(5, 6))
	big, _ := NewEnergyMLP(2, []int{128, 128}, "softplus", rng) // 135 KB of weights
	e := models[KindEnergy]
	_, eMeta, _ := modelTensors(e)
	mu := make([]float64, 20000) // a D×D L from a 20000-vector: 6.4 GB before
	gaussBomb := encode(t, []Tensor{{Name: "L", Shape: []int{1, 1}, Data: []float64{1}}, {Name: "mu", Shape: []int{20000}, Data: mu}}, nil)
	deep := strings.Repeat("1,", MaxHiddenLayers) + "1"
	for _, tc := range []struct {
		name   string
		file   []byte
		opts   LoadOptions
		tensor string
		want   string
	}{
		{"bomb: dim and widths of 100000", encodeModel(t, big, "dim", "100000", "hidden", "100000,100000"), LoadOptions{},
			"0.weight", "shape [128 2], want [100000 100000]"},
		{"bomb: one huge width", encodeModel(t, big, "hidden", "128,1000000000"), LoadOptions{}, "2.weight", "shape [128 128], want [1000000000 128]"},
		{"bomb: ncsn", encodeModel(t, models[KindNCSN], "dim", "1000000000"), LoadOptions{}, "0.weight", "want [3 1000000000]"},
		{"bomb: gaussian metadata", encodeModel(t, models[KindGaussian], "dim", "1000000"), LoadOptions{}, "L", "shape [2 2], want [1000000 1000000]"},
		{"bomb: gaussian from mu", gaussBomb, LoadOptions{Kind: KindGaussian}, "L", "shape [1 1], want [20000 20000]"},
		{"too many hidden layers", encodeModel(t, e, "hidden", deep), LoadOptions{}, "", "more than the limit of 64"},
		{"hidden overflows int", encodeModel(t, e, "hidden", "99999999999999999999"), LoadOptions{}, "", "not a list of positive integers"},
		{"zero width", encodeModel(t, e, "hidden", "4,0"), LoadOptions{}, "", "not a list of positive integers"},
		{"ncsn without hidden layers", encodeModel(t, models[KindNCSN], "hidden", ""), LoadOptions{}, "", "at least one hidden layer"},
		{"unknown recorded activation", encodeModel(t, e, "activation", "gelu"), LoadOptions{}, "", `unknown activation "gelu"`},
		{"missing tensor", encode(t, withTensor(t, e, "2.bias", func(*Tensor) bool { return false }), eMeta), LoadOptions{},
			"2.bias", "missing (want shape [3] or [1 3])"},
		{"extra tensor", encode(t, append(withTensor(t, e, "", nil), Tensor{Name: "0.running_mean", Shape: []int{4}, Data: make([]float64, 4)}), eMeta),
			LoadOptions{}, "0.running_mean", "unexpected tensor for this architecture"},
		{"transposed weight", encode(t, withTensor(t, e, "0.weight", func(tn *Tensor) bool { tn.Shape = []int{2, 4}; return true }), eMeta),
			LoadOptions{}, "0.weight", "shape [2 4], want [4 2]"},
		{"gaussian mu as a matrix", encode(t, []Tensor{{Name: "L", Shape: []int{2, 2}, Data: []float64{1, 0, 0, 1}}, {Name: "mu", Shape: []int{2, 1}, Data: []float64{0, 0}}}, nil),
			LoadOptions{Kind: KindGaussian}, "mu", "want [D] or [1 D]"},
		{"too many layers without metadata", encode(t, chain(MaxHiddenLayers+2), nil), LoadOptions{Kind: KindScore, Activation: "tanh"}, "", "66 Linear layers, more than the limit of 65"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := loadBytes(tc.file, tc.opts)
			runtime.ReadMemStats(&after)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "m.safetensors" || fe.Tensor != tc.tensor || !strings.Contains(fe.Problem, tc.want) {
				t.Fatalf("error %v, want a *FormatError naming tensor %q and containing %q", err, tc.tensor, tc.want)
			}
			if alloc, limit := after.TotalAlloc-before.TotalAlloc, allocLimit(len(tc.file)); alloc > limit {
				t.Errorf("allocated %d bytes for a %d-byte file, more than %d", alloc, len(tc.file), limit)
			}
		})
	}
	// At the limit of hidden layers, and without metadata, a deep net loads.
	if _, err := loadBytes(encode(t, chain(MaxHiddenLayers+1), nil), LoadOptions{Kind: KindScore, Activation: "tanh"}); err != nil {
		t.Errorf("%d hidden layers: %v", MaxHiddenLayers, err)
	}
}

// chain returns the tensors of a score net on R² with n Linear layers of
// width 2.
func chain(n int) []Tensor {
	var ts []Tensor
	for i := range n {
		name := strconv.Itoa(2 * i)
		ts = append(ts, Tensor{Name: name + ".weight", Shape: []int{2, 2}, Data: make([]float64, 4)},
			Tensor{Name: name + ".bias", Shape: []int{2}, Data: make([]float64, 2)})
	}
	return ts
}

// allocLimit is the most Load may allocate for a file of n bytes: 64 bytes
// per byte of the file, plus 1 MiB.
func allocLimit(n int) uint64 { return 64*uint64(n) + 1<<20 }

// TestLoadReader checks that LoadReader reads what Load reads.
func TestLoadReader(t *testing.T) {
	path := adtest.GoldenPath("energy.safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := LoadOptions{Kind: KindEnergy, Activation: "softplus"}
	want, err := Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadReader(bytes.NewReader(b), int64(len(b)), "golden", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range want.Params() {
		if !adtest.SameBits(got.Params()[i].Value.Data, p.Value.Data) {
			t.Errorf("%s differs", p.Name)
		}
	}
	_, err = LoadReader(bytes.NewReader(b[:100]), 100, "golden", opts)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != "golden" || !strings.Contains(err.Error(), "nn: golden: ") {
		t.Errorf("truncated input: error %v, want a *FormatError naming golden", err)
	}
}

// TestArchitectureOf checks the architecture of every kind of model.
func TestArchitectureOf(t *testing.T) {
	models := testModels()
	rng := rand.New(rand.NewPCG(1, 1))
	flat, _ := NewScoreMLP(3, nil, "tanh", rng)
	for _, tc := range []struct {
		m    Model
		want string
	}{
		{models[KindEnergy], "energy dim=2 hidden=4,3 activation=softplus"},
		{models[KindScore], "score dim=2 hidden=4 activation=relu"},
		{models[KindNCSN], "ncsn dim=2 hidden=3 activation=tanh"},
		{models[KindGaussian], "gaussian dim=2"},
		{flat, "score dim=3 hidden=none activation=tanh"},
	} {
		a, ok := ArchitectureOf(tc.m)
		if !ok || a.String() != tc.want {
			t.Errorf("ArchitectureOf(%T) = %v, %v; want %s", tc.m, a, ok, tc.want)
		}
		// Loading what Save wrote gives the same architecture.
		m, err := loadBytes(encodeModel(t, tc.m), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := ArchitectureOf(m); !reflect.DeepEqual(b, a) && !(len(a.Hidden) == 0 && b.String() == a.String()) {
			t.Errorf("loaded architecture %v, want %v", b, a)
		}
	}
	if _, ok := ArchitectureOf(&models[KindEnergy].(*EnergyMLP).MLP); ok {
		t.Error("ArchitectureOf(*MLP) reports true")
	}
}

// TestSaveLoadSave checks that loading a saved file and saving it again
// writes the same bytes, for every kind of model.
func TestSaveLoadSave(t *testing.T) {
	dir := t.TempDir()
	for kind, m := range testModels() {
		a, b := filepath.Join(dir, kind+".a"), filepath.Join(dir, kind+".b")
		if err := Save(a, m); err != nil {
			t.Fatal(err)
		}
		loaded, err := Load(a, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := Save(b, loaded); err != nil {
			t.Fatal(err)
		}
		x, _ := os.ReadFile(a)
		y, _ := os.ReadFile(b)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: the file changed after Load and Save", kind)
		}
	}
}
