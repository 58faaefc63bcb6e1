package nn

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/nn/safetensors"
)

// outputs evaluates any model on x: energies, scores or conditional scores.
func outputs(m Model, x ad.Mat) []float64 {
	t := ad.NewTape()
	in := t.Input(x, false)
	var out *ad.Node
	switch m := m.(type) {
	case Energy:
		out = m.Energy(t, in)
	case Score:
		out = m.Score(t, in)
	case CondScore:
		sigma := ad.NewMat(x.Rows, 1)
		for i := range sigma.Data {
			sigma.Data[i] = 0.1 * float64(i+1)
		}
		out = m.CondScore(t, in, sigma)
	}
	return slices.Clone(out.Primal().Data)
}

func TestSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	e, _ := NewEnergyMLP(4, []int{7, 3}, "silu", rng)
	s, _ := NewScoreMLP(4, []int{6}, "relu", rng)
	s0, _ := NewScoreMLP(4, nil, "tanh", rng)
	n, _ := NewNCSN(4, []int{5, 5}, "elu", rng)
	g := randGaussian(rng, 4)
	perturb(n, rng, 0.1)
	x := ad.MatOf(adtest.RandMat(rng, 5, 4, 1))
	dir := t.TempDir()
	for _, tc := range []struct {
		m    Model
		meta map[string]string
	}{
		{e, map[string]string{"format": "scorematch", "kind": "energy", "dim": "4", "hidden": "7,3", "activation": "silu"}},
		{s, map[string]string{"format": "scorematch", "kind": "score", "dim": "4", "hidden": "6", "activation": "relu"}},
		{s0, map[string]string{"format": "scorematch", "kind": "score", "dim": "4", "hidden": "", "activation": "tanh"}},
		{n, map[string]string{"format": "scorematch", "kind": "ncsn", "dim": "4", "hidden": "5,5", "activation": "elu"}},
		{g, map[string]string{"format": "scorematch", "kind": "gaussian", "dim": "4"}},
	} {
		path := filepath.Join(dir, tc.meta["kind"]+tc.meta["hidden"]+".safetensors")
		if err := Save(path, tc.m); err != nil {
			t.Fatal(err)
		}
		ts, meta, err := ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(meta, tc.meta) {
			t.Errorf("%T: metadata %v, want %v", tc.m, meta, tc.meta)
		}
		for _, tn := range ts {
			vector := strings.HasSuffix(tn.Name, ".bias") || tn.Name == "mu"
			if vector != (len(tn.Shape) == 1) {
				t.Errorf("%T: tensor %q has shape %v", tc.m, tn.Name, tn.Shape)
			}
		}
		got, err := Load(path, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(tc.m) {
			t.Fatalf("Load returned %T, want %T", got, tc.m)
		}
		for i, p := range tc.m.Params() {
			q := got.Params()[i]
			if q.Name != p.Name || !q.Value.SameShape(p.Value) || !adtest.SameBits(q.Value.Data, p.Value.Data) {
				t.Errorf("%T: parameter %q differs after Save and Load", tc.m, p.Name)
			}
		}
		if !adtest.SameBits(outputs(got, x), outputs(tc.m, x)) {
			t.Errorf("%T: outputs differ after Save and Load", tc.m)
		}
		// Options that agree with the metadata are accepted.
		if _, err := Load(path, LoadOptions{Kind: tc.meta["kind"], Activation: tc.meta["activation"]}); err != nil {
			t.Errorf("%T: Load with matching options: %v", tc.m, err)
		}
	}
	if err := Save(filepath.Join(dir, "mlp.safetensors"), &e.MLP); err == nil || !strings.Contains(err.Error(), "cannot save a *nn.MLP") {
		t.Errorf("Save(*MLP): error %v", err)
	}
}

// TestLoadPyTorch loads files without architecture metadata, as
// safetensors.torch.save_file writes them.
func TestLoadPyTorch(t *testing.T) {
	dir := t.TempDir()
	mat := func(name string, shape ...int) Tensor {
		n, _ := safetensors.ShapeLen(shape)
		d := make([]float64, n)
		for i := range d {
			d[i] = 0.01 * float64(i+1)
		}
		return Tensor{Name: name, Shape: shape, Data: d}
	}
	energy := []Tensor{mat("0.weight", 3, 2), mat("0.bias", 3), mat("2.weight", 1, 3), mat("2.bias", 1)}
	write := func(ts []Tensor) string {
		path := filepath.Join(dir, "pt.safetensors")
		if err := WriteSafetensors(path, ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// A plain energy net, biases as [out] or [1, out].
	for _, bias := range [][]int{{3}, {1, 3}} {
		ts := slices.Clone(energy)
		ts[1] = mat("0.bias", bias...)
		m, err := Load(write(ts), LoadOptions{Kind: KindEnergy, Activation: "tanh"})
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := m.(*EnergyMLP); !ok || e.Dim() != 2 || !slices.Equal(e.Hidden(), []int{3}) || e.Activation() != "tanh" {
			t.Errorf("loaded %T %+v", m, m)
		}
	}
	// Numeric, not lexical, order of the layer indices: 0, 2, ..., 10.
	var deep []Tensor
	for i := 0; i <= 10; i += 2 {
		out := 3
		if i == 10 {
			out = 2
		}
		deep = append(deep, mat(strconv.Itoa(i)+".weight", out, map[bool]int{true: 2, false: 3}[i == 0]), mat(strconv.Itoa(i)+".bias", out))
	}
	if m, err := Load(write(deep), LoadOptions{Kind: KindScore, Activation: "relu"}); err != nil {
		t.Error(err)
	} else if s := m.(*ScoreMLP); !slices.Equal(s.Hidden(), []int{3, 3, 3, 3, 3}) {
		t.Errorf("hidden %v", s.Hidden())
	}
	ncsn := []Tensor{mat("0.weight", 4, 2), mat("0.bias", 4), mat("2.weight", 2, 4), mat("2.bias", 2), mat("sigma.weight", 1, 4)}
	if m, err := Load(write(ncsn), LoadOptions{Kind: KindNCSN, Activation: "softplus"}); err != nil {
		t.Error(err)
	} else if _, ok := m.(*NCSN); !ok {
		t.Errorf("loaded %T", m)
	}
	gauss := []Tensor{{Name: "L", Shape: []int{2, 2}, Data: []float64{2, 0, 1, 3}}, {Name: "mu", Shape: []int{2}, Data: []float64{1, -1}}}
	if m, err := Load(write(gauss), LoadOptions{Kind: KindGaussian}); err != nil {
		t.Error(err)
	} else if p := m.(*GaussianEnergy).Precision(); !slices.Equal(p.Data, []float64{4, 2, 2, 10}) {
		t.Errorf("precision %v", p.Data)
	}

	for _, tc := range []struct {
		name   string
		ts     []Tensor
		opts   LoadOptions
		tensor string
		want   string
	}{
		{"energy with D outputs", []Tensor{mat("0.weight", 2, 2), mat("0.bias", 2)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "0.weight", "an energy net has 1"},
		{"score with 1 output", energy, LoadOptions{Kind: KindScore, Activation: "tanh"}, "2.weight", "a score net on R^2 has 2"},
		{"sizes do not chain", []Tensor{mat("0.weight", 3, 2), mat("0.bias", 3), mat("2.weight", 1, 4), mat("2.bias", 1)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "2.weight", "takes 4 inputs, but the previous layer has 3 outputs"},
		{"odd index", []Tensor{mat("0.weight", 3, 2), mat("0.bias", 3), mat("3.weight", 1, 3), mat("3.bias", 1)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "", "indices [0 3]; want 0, 2, 4"},
		{"no bias", []Tensor{mat("0.weight", 3, 2), mat("0.bias", 3), mat("2.weight", 1, 3)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "2.bias", "without bias are not supported"},
		{"no weight", []Tensor{mat("0.bias", 3)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "0.weight", "missing"},
		{"bias shape", []Tensor{mat("0.weight", 3, 2), mat("0.bias", 2), mat("2.weight", 1, 3), mat("2.bias", 1)}, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "0.bias", "shape [2], want [3] or [1 3]"},
		{"weight not a matrix", []Tensor{mat("0.weight", 6), mat("0.bias", 3)}, LoadOptions{Kind: KindScore, Activation: "tanh"}, "0.weight", "want [out, in]"},
		{"unexpected tensor", append(slices.Clone(energy), mat("running_mean", 3)), LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "running_mean", "unexpected tensor"},
		{"leading zero", append(slices.Clone(energy), mat("02.weight", 3)), LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "02.weight", "unexpected tensor"},
		{"no layers", nil, LoadOptions{Kind: KindEnergy, Activation: "tanh"}, "", "no Linear layers"},
		{"ncsn without sigma", ncsn[:4], LoadOptions{Kind: KindNCSN, Activation: "tanh"}, "sigma.weight", "missing (want shape [4] or [1 4])"},
		{"sigma in a score net", ncsn, LoadOptions{Kind: KindScore, Activation: "tanh"}, "sigma.weight", "unexpected tensor"},
		{"gaussian not triangular", []Tensor{{Name: "L", Shape: []int{2, 2}, Data: []float64{1, 0.5, 0, 1}}, {Name: "mu", Shape: []int{2}, Data: []float64{0, 0}}}, LoadOptions{Kind: KindGaussian}, "L", "element (0,1) above the diagonal is 0.5"},
		{"gaussian without mu", gauss[:1], LoadOptions{Kind: KindGaussian}, "mu", "missing"},
		{"gaussian L shape", []Tensor{{Name: "L", Shape: []int{3, 3}, Data: make([]float64, 9)}, gauss[1]}, LoadOptions{Kind: KindGaussian}, "L", "shape [3 3], want [2 2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(tc.ts)
			_, err := Load(path, tc.opts)
			checkLoadError(t, err, path, tc.tensor, tc.want)
		})
	}
}

// TestLoadMetadataErrors covers files whose scorematch metadata is wrong or
// disagrees with the options.
func TestLoadMetadataErrors(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	e, _ := NewEnergyMLP(2, []int{3}, "tanh", rng)
	var ts []Tensor
	for _, p := range e.Params() {
		ts = append(ts, Tensor{Name: p.Name, Shape: []int{p.Value.Rows, p.Value.Cols}, Data: p.Value.Data})
	}
	meta := func(kv ...string) map[string]string {
		m := map[string]string{"format": "scorematch", "kind": "energy", "dim": "2", "hidden": "3", "activation": "tanh"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		meta   map[string]string
		opts   LoadOptions
		tensor string
		want   string
	}{
		{"bad dim", meta("dim", "two"), LoadOptions{}, "", `dim "two" is not a positive integer`},
		{"bad hidden", meta("hidden", "3,,4"), LoadOptions{}, "", `hidden "3,,4" is not a list`},
		{"no activation", meta("activation", ""), LoadOptions{}, "", "no activation"},
		{"relu", meta("activation", "relu"), LoadOptions{}, "", "second derivative vanishes"},
		{"unknown kind", meta("kind", "flow"), LoadOptions{}, "", `unknown model kind "flow"`},
		{"wider than the tensors", meta("hidden", "4"), LoadOptions{}, "0.weight", "shape [3 2], want [4 2]"},
		{"deeper than the tensors", meta("hidden", "3,3"), LoadOptions{}, "2.weight", "shape [1 3], want [3 3]"},
		{"shallower than the tensors", meta("hidden", ""), LoadOptions{}, "0.weight", "shape [3 2], want [2] or [1 2]"},
		{"more tensors", meta("hidden", "3", "kind", "score", "dim", "2"), LoadOptions{}, "2.weight", "shape [1 3], want [2 3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "m.safetensors")
			if err := WriteSafetensors(path, ts, tc.meta); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, tc.opts)
			checkLoadError(t, err, path, tc.tensor, tc.want)
		})
	}
	// A tensor missing from, or extra to, the recorded architecture.
	for _, tc := range []struct {
		ts           []Tensor
		tensor, want string
	}{
		{ts[:3], "2.bias", "missing (want shape [1] or [1 1])"},
		{append(slices.Clone(ts), Tensor{Name: "extra", Shape: []int{1}, Data: []float64{1}}), "extra", "unexpected tensor for this architecture"},
	} {
		path := filepath.Join(dir, "m.safetensors")
		if err := WriteSafetensors(path, tc.ts, meta()); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, LoadOptions{})
		checkLoadError(t, err, path, tc.tensor, tc.want)
	}
	if _, err := Load(filepath.Join(dir, "missing.safetensors"), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file: error %v", err)
	}
}

func checkLoadError(t *testing.T, err error, path, tensor, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, want) {
		t.Errorf("error %q, want one naming the file and containing %q", msg, want)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("error %T, want *FormatError", err)
	} else if tensor != "" && fe.Tensor != tensor {
		t.Errorf("error names tensor %q, want %q", fe.Tensor, tensor)
	}
}
