package nn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"scorematch/ad"
)

// formatName is the "format" metadata value of files written by Save.
const formatName = "scorematch"

// Save writes m's parameters to a safetensors file at path (atomically, see
// WriteSafetensors), under their names and in PyTorch's layouts: weights and
// L as matrices, biases and mu as vectors, sigma.weight as 1×H. The header's
// "__metadata__" records the architecture, for example
//
//	{"format": "scorematch", "kind": "energy", "dim": "5",
//	 "hidden": "8,8", "activation": "softplus"}
//
// (kind "gaussian" has neither hidden nor activation), so that Load can
// rebuild the model. m must be an *EnergyMLP, *ScoreMLP, *NCSN or
// *GaussianEnergy; Save returns an error for other types.
func Save(path string, m Model) error {
	meta := map[string]string{"format": formatName, "dim": strconv.Itoa(m.Dim())}
	var mlp *MLP
	switch m := m.(type) {
	case *EnergyMLP:
		meta["kind"], mlp = KindEnergy, &m.MLP
	case *ScoreMLP:
		meta["kind"], mlp = KindScore, &m.MLP
	case *NCSN:
		meta["kind"], mlp = KindNCSN, m.mlp
	case *GaussianEnergy:
		meta["kind"] = KindGaussian
	default:
		return fmt.Errorf("nn: save %s: cannot save a %T (want *EnergyMLP, *ScoreMLP, *NCSN or *GaussianEnergy)", path, m)
	}
	if mlp != nil {
		meta["hidden"] = joinInts(mlp.Hidden())
		meta["activation"] = mlp.Activation()
	}
	ps := m.Params()
	ts := make([]Tensor, len(ps))
	for i, p := range ps {
		shape := []int{p.Value.Rows, p.Value.Cols}
		if strings.HasSuffix(p.Name, ".bias") || p.Name == "mu" {
			shape = shape[1:]
		}
		ts[i] = Tensor{Name: p.Name, Shape: shape, Data: p.Value.Data}
	}
	return WriteSafetensors(path, ts, meta)
}

// LoadOptions describe a weight file that does not record its architecture.
type LoadOptions struct {
	// Activation names the activation of an MLP or NCSN (a key of
	// ad.Activations). Required for files without metadata.
	Activation string
	// Kind is KindEnergy, KindScore, KindNCSN or KindGaussian. Required
	// for files without metadata.
	Kind string
}

// Load reads a model from the safetensors file at path. The result is an
// *EnergyMLP, *ScoreMLP, *NCSN or *GaussianEnergy whose parameters are exactly
// the file's values (F32 values converted to float64).
//
// A file written by Save is rebuilt from its metadata; a nonempty field of
// opts must then agree with it. Any other file (a PyTorch state_dict saved
// by safetensors.torch.save_file, whose metadata at most says
// {"format": "pt"}) is read as opts.Kind with opts.Activation, both
// required: for an MLP or NCSN the Linear layers are the tensors
// "N.weight" (out×in) and "N.bias" (out) at N = 0, 2, 4, ... in numeric
// order (nn.Sequential's indices with one activation module between
// Linear layers), whose sizes must chain from D inputs to 1 output (energy)
// or D outputs (score, NCSN); an NCSN also has "sigma.weight" (1×H₁); a
// Gaussian has "L" (D×D, lower-triangular) and "mu" (D).
//
// Load returns an error naming the file, and the tensor where one is at
// fault, if the file is malformed (see ReadSafetensors), a tensor is
// missing, unexpected or misshapen, the sizes do not chain, or the
// architecture is invalid (an energy net with ReLU, for one).
func Load(path string, opts LoadOptions) (Model, error) {
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	var m Model
	if meta["format"] == formatName {
		m, err = fromMetadata(meta, opts)
	} else {
		m, err = fromTensors(ts, opts)
	}
	if err != nil {
		return nil, withFile(err, path)
	}
	if err := assign(m, ts); err != nil {
		return nil, withFile(err, path)
	}
	return m, nil
}

// withFile adds the file name to err.
func withFile(err error, path string) error {
	if fe, ok := err.(*FormatError); ok {
		fe.File = path
		return fe
	}
	return &FormatError{File: path, Problem: err.Error()}
}

// fromMetadata builds the model that Save described in meta.
func fromMetadata(meta map[string]string, opts LoadOptions) (Model, error) {
	kind := meta["kind"]
	if opts.Kind != "" && opts.Kind != kind {
		return nil, fmt.Errorf("the file holds a %q model, LoadOptions asks for %q", kind, opts.Kind)
	}
	dim, err := strconv.Atoi(meta["dim"])
	if err != nil || dim < 1 {
		return nil, fmt.Errorf("metadata dim %q is not a positive integer", meta["dim"])
	}
	if kind == KindGaussian {
		return NewGaussianEnergy(dim), nil
	}
	var hidden []int
	if h := meta["hidden"]; h != "" {
		for _, f := range strings.Split(h, ",") {
			w, err := strconv.Atoi(f)
			if err != nil || w < 1 {
				return nil, fmt.Errorf("metadata hidden %q is not a list of positive integers", h)
			}
			hidden = append(hidden, w)
		}
	}
	act := meta["activation"]
	if act == "" {
		return nil, fmt.Errorf("metadata has no activation")
	}
	if opts.Activation != "" && opts.Activation != act {
		return nil, fmt.Errorf("the file's activation is %q, LoadOptions asks for %q", act, opts.Activation)
	}
	return newModel(kind, dim, hidden, act)
}

// newModel returns a zero model of the given kind.
func newModel(kind string, dim int, hidden []int, act string) (Model, error) {
	switch kind {
	case KindEnergy:
		return newEnergyMLP(dim, hidden, act)
	case KindScore:
		return newScoreMLP(dim, hidden, act)
	case KindNCSN:
		return newNCSN(dim, hidden, act)
	}
	return nil, fmt.Errorf("unknown model kind %q (want %s, %s, %s or %s)", kind, KindEnergy, KindScore, KindNCSN, KindGaussian)
}

// fromTensors infers the architecture of a file without our metadata from
// its tensors' names and shapes.
func fromTensors(ts []Tensor, opts LoadOptions) (Model, error) {
	switch opts.Kind {
	case "":
		return nil, fmt.Errorf("the file does not record its architecture; set LoadOptions.Kind (%s, %s, %s or %s)",
			KindEnergy, KindScore, KindNCSN, KindGaussian)
	case KindGaussian:
		for _, t := range ts {
			if t.Name == "mu" {
				if len(t.Shape) == 0 || t.Shape[len(t.Shape)-1] < 1 {
					return nil, &FormatError{Tensor: "mu", Problem: fmt.Sprintf("shape %v, want [D]", t.Shape)}
				}
				return NewGaussianEnergy(t.Shape[len(t.Shape)-1]), nil
			}
		}
		return nil, &FormatError{Tensor: "mu", Problem: "missing"}
	case KindEnergy, KindScore, KindNCSN:
	default:
		_, err := newModel(opts.Kind, 1, nil, "")
		return nil, err
	}
	if opts.Activation == "" {
		return nil, fmt.Errorf("the file does not record its activation; set LoadOptions.Activation")
	}
	// Collect the Linear layers' indices.
	type layer struct{ w, b *Tensor }
	layers := map[int]*layer{}
	for i := range ts {
		t := &ts[i]
		if opts.Kind == KindNCSN && t.Name == "sigma.weight" {
			continue
		}
		idx, field, ok := strings.Cut(t.Name, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || idx != strconv.Itoa(n) || field != "weight" && field != "bias" {
			return nil, &FormatError{Tensor: t.Name, Problem: "unexpected tensor (want N.weight and N.bias of nn.Sequential's Linear layers)"}
		}
		l := layers[n]
		if l == nil {
			l = &layer{}
			layers[n] = l
		}
		if field == "weight" {
			l.w = t
		} else {
			l.b = t
		}
	}
	idx := make([]int, 0, len(layers))
	for n := range layers {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	if len(idx) == 0 {
		return nil, fmt.Errorf("no Linear layers (N.weight, N.bias) in the file")
	}
	var sizes []int
	for i, n := range idx {
		l := layers[n]
		if n != 2*i {
			return nil, fmt.Errorf("Linear layers at nn.Sequential indices %v; want 0, 2, 4, ... (Linear layers with one activation between them)", idx)
		}
		name := strconv.Itoa(n)
		if l.w == nil {
			return nil, &FormatError{Tensor: name + ".weight", Problem: "missing (the layer has a bias but no weight)"}
		}
		if l.b == nil {
			return nil, &FormatError{Tensor: name + ".bias", Problem: "missing (Linear layers without bias are not supported)"}
		}
		if len(l.w.Shape) != 2 || l.w.Shape[0] < 1 || l.w.Shape[1] < 1 {
			return nil, &FormatError{Tensor: l.w.Name, Problem: fmt.Sprintf("shape %v, want [out, in]", l.w.Shape)}
		}
		out, in := l.w.Shape[0], l.w.Shape[1]
		if i == 0 {
			sizes = append(sizes, in)
		} else if prev := sizes[len(sizes)-1]; in != prev {
			return nil, &FormatError{Tensor: l.w.Name, Problem: fmt.Sprintf("shape %v takes %d inputs, but the previous layer has %d outputs", l.w.Shape, in, prev)}
		}
		sizes = append(sizes, out)
	}
	dim, out := sizes[0], sizes[len(sizes)-1]
	last := layers[idx[len(idx)-1]].w.Name
	switch {
	case opts.Kind == KindEnergy && out != 1:
		return nil, &FormatError{Tensor: last, Problem: fmt.Sprintf("the last layer has %d outputs, an energy net has 1", out)}
	case opts.Kind != KindEnergy && out != dim:
		return nil, &FormatError{Tensor: last, Problem: fmt.Sprintf("the last layer has %d outputs, a %s net on R^%d has %d", out, opts.Kind, dim, dim)}
	}
	return newModel(opts.Kind, dim, sizes[1:len(sizes)-1], opts.Activation)
}

// assign copies the tensors into m's parameters, checking that each
// parameter has exactly one tensor of a matching shape and that no tensor
// is left over.
func assign(m Model, ts []Tensor) error {
	byName := make(map[string]*Tensor, len(ts))
	for i := range ts {
		byName[ts[i].Name] = &ts[i]
	}
	for _, p := range m.Params() {
		t := byName[p.Name]
		if t == nil {
			return &FormatError{Tensor: p.Name, Problem: fmt.Sprintf("missing (want shape %s)", shapeOf(p.Value))}
		}
		r, c := p.Value.Rows, p.Value.Cols
		if !slices.Equal(t.Shape, []int{r, c}) && !(r == 1 && slices.Equal(t.Shape, []int{c})) {
			return &FormatError{Tensor: p.Name, Problem: fmt.Sprintf("shape %v, want %s", t.Shape, shapeOf(p.Value))}
		}
		copy(p.Value.Data, t.Data)
		delete(byName, p.Name)
	}
	if len(byName) > 0 {
		var extra []string
		for name := range byName {
			extra = append(extra, name)
		}
		slices.Sort(extra)
		return &FormatError{Tensor: extra[0], Problem: "unexpected tensor for this architecture"}
	}
	if g, ok := m.(*GaussianEnergy); ok {
		l := g.l.Value
		for i := range l.Rows {
			for j := i + 1; j < l.Cols; j++ {
				if v := l.At(i, j); v != 0 {
					return &FormatError{Tensor: "L", Problem: fmt.Sprintf("element (%d,%d) above the diagonal is %g; L must be lower-triangular", i, j, v)}
				}
			}
		}
	}
	return nil
}

// shapeOf formats a parameter's shape as a file shape.
func shapeOf(m ad.Mat) string {
	if m.Rows == 1 {
		return fmt.Sprintf("[%d] or [1 %d]", m.Cols, m.Cols)
	}
	return fmt.Sprintf("[%d %d]", m.Rows, m.Cols)
}

// joinInts formats ints as "8,8".
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
