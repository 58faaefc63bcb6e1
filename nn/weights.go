package nn

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"scorematch/ad"
	"scorematch/nn/safetensors"
	"scorematch/nn/sde"
)

// formatName is the "format" metadata value of files written by Save.
const formatName = "scorematch"

// MaxHiddenLayers is the largest number of hidden layers Load accepts.
const MaxHiddenLayers = 64

// kinds are the model kinds a file without metadata may be read as
// (LoadOptions.Kind), in the order messages list them; savedKinds are all
// the kinds Save records, KindSDE included, which is read only from a
// file that records its SDE. KindNICE without metadata is the reference
// code's state_dict.
var (
	kinds      = []string{KindEnergy, KindScore, KindNCSN, KindGaussian, KindNICE}
	savedKinds = []string{KindEnergy, KindScore, KindNCSN, KindSDE, KindGaussian, KindNICE}
)

// An Architecture is what a weight file records of a model besides its
// parameters: enough to build the model anew.
type Architecture struct {
	Kind       string // KindEnergy, KindScore, KindNCSN, KindSDE, KindGaussian or KindNICE
	Dim        int    // the input dimension D
	Hidden     []int  // the widths of the hidden layers (of each coupling net for KindNICE; none for KindGaussian)
	Activation string // the activation, a key of ad.Activations ("" for KindGaussian)

	// KindNICE only: the number of coupling layers.
	Couplings int

	// KindSDE only: the SDE as sde.SDE.String formats it, the number E of
	// Fourier frequencies of the time embedding, and the standard
	// deviation they were drawn with (a record; the frequencies are the
	// tensor fourier.W).
	SDE          string
	FourierDim   int
	FourierScale float64
}

// ArchitectureOf returns the architecture of m, and false if m is not an
// *EnergyMLP, *ScoreMLP, *NCSN, *SDENet, *GaussianEnergy or *NICE.
func ArchitectureOf(m Model) (Architecture, bool) {
	var mlp *MLP
	var a Architecture
	switch m := m.(type) {
	case *EnergyMLP:
		a.Kind, mlp = KindEnergy, &m.MLP
	case *ScoreMLP:
		a.Kind, mlp = KindScore, &m.MLP
	case *NCSN:
		a.Kind, mlp = KindNCSN, m.mlp
	case *SDENet:
		a.Kind, mlp = KindSDE, m.mlp
		a.SDE, a.FourierDim, a.FourierScale = m.sde.String(), m.FourierDim(), m.scale
	case *GaussianEnergy:
		a.Kind = KindGaussian
	case *NICE:
		a.Kind, a.Hidden, a.Activation, a.Couplings = KindNICE, m.Hidden(), m.Activation(), m.Couplings()
	default:
		return Architecture{}, false
	}
	a.Dim = m.Dim()
	if mlp != nil {
		a.Hidden, a.Activation = mlp.Hidden(), mlp.Activation()
	}
	return a, true
}

// String formats a for messages: "energy dim=2 hidden=32,32
// activation=softplus", "score dim=2 hidden=none activation=tanh",
// "sde dim=2 hidden=64,64 activation=softplus sde=ve:0.01:50
// fourier=16 fourier_scale=16", "nice dim=784 hidden=1000,1000
// activation=softplus couplings=4" or "gaussian dim=2".
func (a Architecture) String() string {
	if a.Kind == KindGaussian {
		return fmt.Sprintf("%s dim=%d", a.Kind, a.Dim)
	}
	hidden := joinInts(a.Hidden)
	if hidden == "" {
		hidden = "none"
	}
	s := fmt.Sprintf("%s dim=%d hidden=%s activation=%s", a.Kind, a.Dim, hidden, a.Activation)
	if a.Kind == KindSDE {
		s += fmt.Sprintf(" sde=%s fourier=%d fourier_scale=%s", a.SDE, a.FourierDim, formatFloat(a.FourierScale))
	}
	if a.Kind == KindNICE {
		s += fmt.Sprintf(" couplings=%d", a.Couplings)
	}
	return s
}

// Save writes m's parameters to a safetensors file at path (atomically, see
// WriteSafetensors), under their names and in PyTorch's layouts: weights and
// L as matrices, biases and mu as vectors, sigma.weight as 1×H. The header's
// "__metadata__" records the architecture, for example
//
//	{"format": "scorematch", "kind": "energy", "dim": "5",
//	 "hidden": "8,8", "activation": "softplus"}
//
// (kind "gaussian" has neither hidden nor activation), so that Load can
// rebuild the model. An *SDENet's file also records its SDE (as
// sde.SDE.String formats it) and its time embedding, as "sde": "ve:0.01:50",
// "embedding": "fourier", "fourier_dim": "16", "fourier_scale": "16", and
// holds its frequencies as the tensor fourier.W (shape [E]). A *NICE's
// file also records "couplings", and holds scale.scales as [1 D], as the
// reference's PyTorch module does. m must be an *EnergyMLP, *ScoreMLP,
// *NCSN, *SDENet, *GaussianEnergy or *NICE; Save returns an error for
// other types.
func Save(path string, m Model) error {
	ts, meta, err := modelTensors(m)
	if err != nil {
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	return WriteSafetensors(path, ts, meta)
}

// modelTensors returns the tensors and metadata Save writes for m.
func modelTensors(m Model) ([]Tensor, map[string]string, error) {
	a, ok := ArchitectureOf(m)
	if !ok {
		return nil, nil, fmt.Errorf("cannot save a %T (want *EnergyMLP, *ScoreMLP, *NCSN, *SDENet, *GaussianEnergy or *NICE)", m)
	}
	meta := map[string]string{"format": formatName, "kind": a.Kind, "dim": strconv.Itoa(a.Dim)}
	if a.Kind != KindGaussian {
		meta["hidden"] = joinInts(a.Hidden)
		meta["activation"] = a.Activation
	}
	ps := m.Params()
	if a.Kind == KindNICE {
		meta[metaCouplings] = strconv.Itoa(a.Couplings)
	}
	if a.Kind == KindSDE {
		meta[metaSDE] = a.SDE
		meta[metaEmbedding] = embeddingFourier
		meta[metaFourierDim] = strconv.Itoa(a.FourierDim)
		meta[metaFourierScale] = formatFloat(a.FourierScale)
		ps = append(ps[:len(ps):len(ps)], m.(*SDENet).Buffers()...)
	}
	ts := make([]Tensor, len(ps))
	for i, p := range ps {
		shape := []int{p.Value.Rows, p.Value.Cols}
		if strings.HasSuffix(p.Name, ".bias") || p.Name == "mu" || p.Name == fourierName {
			shape = shape[1:]
		}
		ts[i] = Tensor{Name: p.Name, Shape: shape, Data: p.Value.Data}
	}
	return ts, meta, nil
}

// LoadOptions describe a weight file that does not record its architecture.
type LoadOptions struct {
	// Activation names the activation of an MLP or NCSN (a key of
	// ad.Activations). Required for files without metadata, except
	// Gaussians, which have none; ignored for Gaussians.
	Activation string
	// Kind is KindEnergy, KindScore, KindNCSN, KindSDE, KindGaussian or
	// KindNICE. Required for files without metadata; KindSDE is only read
	// from files that record their SDE (written by Save).
	Kind string
}

// Validate reports, as a *ConfigError naming the field, a Kind that is not
// a model kind (KindSDE is one, to check a file's recorded kind, though no
// file without metadata can be read as it), an Activation that is not a
// key of ad.Activations, or an activation whose second derivative vanishes
// (ReLU) with KindEnergy. "" is valid for both fields. Load calls it before reading the file.
func (o LoadOptions) Validate() error {
	if o.Kind != "" && o.Kind != KindSDE && !slices.Contains(kinds, o.Kind) {
		return &ConfigError{Type: "LoadOptions", Field: "Kind", Value: o.Kind, Want: orList(kinds)}
	}
	if o.Activation == "" || o.Kind == KindGaussian {
		return nil
	}
	f, ok := ad.Activations[o.Activation]
	if !ok {
		return &ConfigError{Type: "LoadOptions", Field: "Activation", Value: o.Activation, Want: orList(activationChoices(""))}
	}
	if o.Kind == KindEnergy && checkEnergyActivation(f) != nil {
		return &ConfigError{Type: "LoadOptions", Field: "Activation", Value: o.Activation,
			Want: "an activation with a nonzero second derivative for an energy net: " + orList(activationChoices(KindEnergy))}
	}
	return nil
}

// A MissingOptionError reports a weight file that does not record a
// setting Load needs, which the caller must supply as a field of
// LoadOptions. Programs match it with errors.As to name their own flag.
type MissingOptionError struct {
	File    string   // the file
	Option  string   // the field of LoadOptions: "Kind" or "Activation"
	Choices []string // the values the field accepts for this file
}

func (e *MissingOptionError) Error() string {
	what := "its activation"
	if e.Option == "Kind" {
		what = "its architecture"
	}
	return fmt.Sprintf("nn: %s: the file does not record %s; set LoadOptions.%s (%s)", e.File, what, e.Option, orList(e.Choices))
}

// An OptionMismatchError reports a field of LoadOptions that disagrees with
// what the weight file records. Programs match it with errors.As to name
// their own flag.
type OptionMismatchError struct {
	File     string // the file
	Option   string // the field of LoadOptions: "Kind" or "Activation"
	Recorded string // the file's value
	Given    string // the value of the field
}

func (e *OptionMismatchError) Error() string {
	if e.Option == "Kind" {
		return fmt.Sprintf("nn: %s: the file holds a model of kind %q, LoadOptions.Kind asks for %q", e.File, e.Recorded, e.Given)
	}
	return fmt.Sprintf("nn: %s: the file's %s is %q, LoadOptions.%s asks for %q", e.File, strings.ToLower(e.Option), e.Recorded, e.Option, e.Given)
}

// Load reads a model from the safetensors file at path. The result is an
// *EnergyMLP, *ScoreMLP, *NCSN, *SDENet, *GaussianEnergy or *NICE whose
// parameters are exactly the file's values (F32 values converted to
// float64).
//
// A file written by Save is rebuilt from its metadata; a nonempty field of
// opts must then agree with it. Any other file (a PyTorch state_dict saved
// by safetensors.torch.save_file, whose metadata at most says
// {"format": "pt"}) is read as opts.Kind with opts.Activation, both
// required (a Gaussian has no activation): for an MLP or NCSN the Linear
// layers are the tensors "N.weight" (out×in) and "N.bias" (out) at N = 0,
// 2, 4, ... in numeric order (nn.Sequential's indices with one activation
// module between Linear layers), whose sizes must chain from D inputs to 1
// output (energy) or D outputs (score, NCSN); an NCSN also has
// "sigma.weight" (1×H₁); a Gaussian has "L" (D×D, lower-triangular) and
// "mu" (D). An SDENet is only read from a file that records its SDE and
// embedding (see Save): one without them, or whose SDE does not parse or
// validate (package nn/sde), is a *FormatError saying so. A NICE without
// metadata is the reference's state_dict: "nice<k>.dense<j>.weight" and
// ".bias" for k = 1, 2, … and j = 1, 2, …, and "scale.scales" ([1 D] or
// [D]), from which D, the couplings and the hidden widths are read.
//
// Nothing is allocated for the model before the architecture, recorded or
// inferred, has been checked against the tensors: every parameter it has
// must be a tensor of the right shape, and no tensor may be left over, so
// the model has exactly as many values as the file (whose size bounds
// them), and memory is a small multiple of the file's size. At most
// MaxHiddenLayers hidden layers are accepted.
//
// Every weight must be finite. Finite weights can still be absurdly large
// (1e200, say) and give infinite or NaN outputs: callers that need finite
// results must check them.
//
// Errors: opts that fail LoadOptions.Validate give its *ConfigError,
// before the file is read. A file that does not record a setting opts
// leaves empty gives a *MissingOptionError; a nonempty field of opts that
// disagrees with the file's metadata, an *OptionMismatchError. Anything
// else wrong with the file — malformed (see ReadSafetensors), metadata
// that is not an architecture, a tensor missing, unexpected or misshapen,
// sizes that do not chain, a NaN or infinite weight, an energy net with
// ReLU — is a *FormatError naming the file and, where one is at fault, the
// tensor (and for a non-finite weight its index). A file that cannot be
// opened gives an error wrapping that of os.Open.
func Load(path string, opts LoadOptions) (Model, error) {
	m, _, err := LoadInfo(path, opts)
	return m, err
}

// LoadReader is Load for a safetensors file of size bytes read from r
// (exactly size bytes, as safetensors.Read reads them). name stands for
// the file in errors, as the path does for Load.
func LoadReader(r io.Reader, size int64, name string, opts LoadOptions) (Model, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ts, meta, err := safetensors.Read(r, size)
	if err != nil {
		var fe *safetensors.FormatError
		if errors.As(err, &fe) {
			return nil, &FormatError{File: name, Tensor: fe.Tensor, Problem: fe.Problem}
		}
		return nil, fmt.Errorf("nn: %s: %w", name, err)
	}
	return build(name, ts, meta, opts)
}

// build makes the model of a file's tensors and metadata: it finds the
// architecture, checks the tensors and their values against it, and only
// then allocates the model.
func build(file string, ts []Tensor, meta map[string]string, opts LoadOptions) (Model, error) {
	var a Architecture
	var err error
	if meta["format"] == formatName {
		a, err = fromMetadata(meta, opts)
	} else {
		a, err = fromTensors(ts, opts)
	}
	if err == nil {
		err = a.check()
	}
	var byName map[string]*Tensor
	if err == nil {
		byName, err = a.match(ts)
	}
	if err != nil {
		return nil, withFile(err, file)
	}
	var m Model
	switch a.Kind {
	case KindGaussian:
		m = NewGaussianEnergy(a.Dim)
	case KindSDE:
		m, err = a.newSDENet()
	case KindNICE:
		m, err = newNICE(a.niceConfig())
	default:
		m, err = newModel(a.Kind, a.Dim, a.Hidden, a.Activation)
	}
	if err != nil {
		return nil, withFile(err, file) // not reached: check has passed
	}
	for _, p := range m.Params() {
		copy(p.Value.Data, byName[p.Name].Data)
	}
	if s, ok := m.(*SDENet); ok {
		for _, p := range s.Buffers() {
			copy(p.Value.Data, byName[p.Name].Data)
		}
	}
	return m, nil
}

// withFile names the file in err: the error types of Load get their File
// set, and any other error becomes a *FormatError for the whole file.
func withFile(err error, file string) error {
	switch e := err.(type) {
	case *FormatError:
		e.File = file
	case *MissingOptionError:
		e.File = file
	case *OptionMismatchError:
		e.File = file
	default:
		return &FormatError{File: file, Problem: err.Error()}
	}
	return err
}

// fromMetadata reads the architecture that Save recorded in meta.
func fromMetadata(meta map[string]string, opts LoadOptions) (Architecture, error) {
	a := Architecture{Kind: meta["kind"]}
	if !slices.Contains(savedKinds, a.Kind) {
		return a, fmt.Errorf("unknown model kind %q (want %s)", a.Kind, orList(savedKinds))
	}
	if opts.Kind != "" && opts.Kind != a.Kind {
		return a, &OptionMismatchError{Option: "Kind", Recorded: a.Kind, Given: opts.Kind}
	}
	dim, err := strconv.Atoi(meta["dim"])
	if err != nil || dim < 1 {
		return a, fmt.Errorf("metadata dim %q is not a positive integer", meta["dim"])
	}
	a.Dim = dim
	if a.Kind == KindGaussian {
		return a, nil
	}
	if h := meta["hidden"]; h != "" {
		if n := strings.Count(h, ",") + 1; n > MaxHiddenLayers {
			return a, fmt.Errorf("metadata hidden lists %d layers, more than the limit of %d", n, MaxHiddenLayers)
		}
		for _, f := range strings.Split(h, ",") {
			w, err := strconv.Atoi(f)
			if err != nil || w < 1 {
				return a, fmt.Errorf("metadata hidden %q is not a list of positive integers", h)
			}
			a.Hidden = append(a.Hidden, w)
		}
	}
	a.Activation = meta["activation"]
	if a.Activation == "" {
		return a, fmt.Errorf("metadata has no activation")
	}
	if opts.Activation != "" && opts.Activation != a.Activation {
		return a, &OptionMismatchError{Option: "Activation", Recorded: a.Activation, Given: opts.Activation}
	}
	if a.Kind == KindSDE {
		return a, a.sdeFromMetadata(meta)
	}
	if a.Kind == KindNICE {
		c, err := strconv.Atoi(meta[metaCouplings])
		if err != nil || c < 1 || c > MaxNICECouplings {
			return a, fmt.Errorf("metadata couplings %q is not an integer from 1 to %d", meta[metaCouplings], MaxNICECouplings)
		}
		a.Couplings = c
	}
	return a, nil
}

// The metadata keys and values of an SDENet's file, and the name of its
// frequencies.
const (
	metaSDE          = "sde"
	metaEmbedding    = "embedding"
	metaFourierDim   = "fourier_dim"
	metaFourierScale = "fourier_scale"
	embeddingFourier = "fourier"
	fourierName      = "fourier.W"
	metaCouplings    = "couplings"
)

// sdeFromMetadata reads an SDENet's SDE and time embedding from meta.
func (a *Architecture) sdeFromMetadata(meta map[string]string) error {
	s, ok := meta[metaSDE]
	if !ok {
		return fmt.Errorf("metadata has no sde: an sde model file must record its SDE (such as \"ve:0.01:50\" or \"vp:0.1:20\")")
	}
	a.SDE = s
	if e := meta[metaEmbedding]; e != embeddingFourier {
		return fmt.Errorf("metadata embedding %q is not a time embedding (want %q)", e, embeddingFourier)
	}
	d, err := strconv.Atoi(meta[metaFourierDim])
	if err != nil || d < 1 || d > MaxFourierDim {
		return fmt.Errorf("metadata fourier_dim %q is not an integer from 1 to %d", meta[metaFourierDim], MaxFourierDim)
	}
	a.FourierDim = d
	f, err := strconv.ParseFloat(meta[metaFourierScale], 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return fmt.Errorf("metadata fourier_scale %q is not a finite number > 0", meta[metaFourierScale])
	}
	a.FourierScale = f
	return nil
}

// parseSDE returns the SDE of an SDENet's architecture, checked.
func (a Architecture) parseSDE() (sde.SDE, error) {
	s, err := sde.Parse(a.SDE)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("metadata sde %q is not a usable SDE: %w", a.SDE, err)
	}
	return s, nil
}

// newSDENet returns a zero SDENet of a checked architecture.
func (a Architecture) newSDENet() (*SDENet, error) {
	s, err := a.parseSDE()
	if err != nil {
		return nil, err
	}
	return newSDENet(SDENetConfig{SDE: s, Dim: a.Dim, Hidden: a.Hidden, Activation: a.Activation,
		FourierDim: a.FourierDim, FourierScale: a.FourierScale})
}

// formatFloat formats v exactly (it parses back to v).
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// fromTensors infers the architecture of a file without our metadata from
// its tensors' names and shapes, with the kind and activation of opts.
func fromTensors(ts []Tensor, opts LoadOptions) (Architecture, error) {
	a := Architecture{Kind: opts.Kind, Activation: opts.Activation}
	switch opts.Kind {
	case "":
		return a, &MissingOptionError{Option: "Kind", Choices: kinds}
	case KindSDE:
		return a, fmt.Errorf("the file does not record an SDE: an sde model is read only from a file written by Save, whose metadata records its SDE and time embedding")
	case KindNICE:
		if opts.Activation == "" {
			return a, &MissingOptionError{Option: "Activation", Choices: activationChoices("")}
		}
		return a, a.niceFromTensors(ts)
	case KindGaussian:
		a.Activation = ""
		i := slices.IndexFunc(ts, func(t Tensor) bool { return t.Name == "mu" })
		if i < 0 {
			return a, &FormatError{Tensor: "mu", Problem: "missing"}
		}
		if s := ts[i].Shape; len(s) == 1 || len(s) == 2 && s[0] == 1 {
			a.Dim = s[len(s)-1]
		}
		if a.Dim < 1 {
			return a, &FormatError{Tensor: "mu", Problem: fmt.Sprintf("shape %v, want [D] or [1 D] with D ≥ 1", ts[i].Shape)}
		}
		return a, nil
	}
	if opts.Activation == "" {
		return a, &MissingOptionError{Option: "Activation", Choices: activationChoices(opts.Kind)}
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
			return a, &FormatError{Tensor: t.Name, Problem: "unexpected tensor (want N.weight and N.bias of nn.Sequential's Linear layers)"}
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
	if len(layers) == 0 {
		return a, fmt.Errorf("no Linear layers (N.weight, N.bias) in the file")
	}
	if len(layers) > MaxHiddenLayers+1 {
		return a, fmt.Errorf("%d Linear layers, more than the limit of %d (%d hidden layers)", len(layers), MaxHiddenLayers+1, MaxHiddenLayers)
	}
	idx := make([]int, 0, len(layers))
	for n := range layers {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	var sizes []int
	for i, n := range idx {
		l := layers[n]
		if n != 2*i {
			return a, fmt.Errorf("Linear layers at nn.Sequential indices %v; want 0, 2, 4, ... (Linear layers with one activation between them)", idx)
		}
		name := strconv.Itoa(n)
		if l.w == nil {
			return a, &FormatError{Tensor: name + ".weight", Problem: "missing (the layer has a bias but no weight)"}
		}
		if l.b == nil {
			return a, &FormatError{Tensor: name + ".bias", Problem: "missing (Linear layers without bias are not supported)"}
		}
		if len(l.w.Shape) != 2 || l.w.Shape[0] < 1 || l.w.Shape[1] < 1 {
			return a, &FormatError{Tensor: l.w.Name, Problem: fmt.Sprintf("shape %v, want [out, in]", l.w.Shape)}
		}
		out, in := l.w.Shape[0], l.w.Shape[1]
		if i == 0 {
			sizes = append(sizes, in)
		} else if prev := sizes[len(sizes)-1]; in != prev {
			return a, &FormatError{Tensor: l.w.Name, Problem: fmt.Sprintf("shape %v takes %d inputs, but the previous layer has %d outputs", l.w.Shape, in, prev)}
		}
		sizes = append(sizes, out)
	}
	dim, out := sizes[0], sizes[len(sizes)-1]
	last := layers[idx[len(idx)-1]].w.Name
	switch {
	case opts.Kind == KindEnergy && out != 1:
		return a, &FormatError{Tensor: last, Problem: fmt.Sprintf("the last layer has %d outputs, an energy net has 1", out)}
	case opts.Kind != KindEnergy && out != dim:
		return a, &FormatError{Tensor: last, Problem: fmt.Sprintf("the last layer has %d outputs, a %s net on R^%d has %d", out, opts.Kind, dim, dim)}
	}
	a.Dim, a.Hidden = dim, sizes[1:len(sizes)-1]
	return a, nil
}

// check reports why a is not a model that Load can build, if it is not.
// It allocates nothing sized by a.
func (a Architecture) check() error {
	if !slices.Contains(savedKinds, a.Kind) {
		return fmt.Errorf("unknown model kind %q (want %s)", a.Kind, orList(savedKinds))
	}
	if a.Dim < 1 {
		return fmt.Errorf("dim is %d, want ≥ 1", a.Dim)
	}
	if a.Kind == KindGaussian {
		return nil
	}
	if a.Kind == KindNICE {
		return a.niceCheck()
	}
	if len(a.Hidden) > MaxHiddenLayers {
		return fmt.Errorf("%d hidden layers, more than the limit of %d", len(a.Hidden), MaxHiddenLayers)
	}
	for i, w := range a.Hidden {
		if w < 1 {
			return fmt.Errorf("hidden[%d] is %d, want ≥ 1", i, w)
		}
	}
	if a.Kind == KindNCSN && len(a.Hidden) == 0 {
		return fmt.Errorf("an NCSN needs at least one hidden layer")
	}
	if a.Kind == KindSDE {
		if len(a.Hidden) == 0 {
			return fmt.Errorf("an SDE score net needs at least one hidden layer")
		}
		if a.FourierDim < 1 || a.FourierDim > MaxFourierDim {
			return fmt.Errorf("fourier_dim is %d, want 1 to %d", a.FourierDim, MaxFourierDim)
		}
		if !(a.FourierScale > 0) || math.IsInf(a.FourierScale, 0) {
			return fmt.Errorf("fourier_scale is %v, want a finite value > 0", a.FourierScale)
		}
		if _, err := a.parseSDE(); err != nil {
			return err
		}
	}
	f, err := activation(a.Activation)
	if err != nil {
		return err
	}
	if a.Kind == KindEnergy {
		return checkEnergyActivation(f)
	}
	return nil
}

// A paramShape is the name and shape of a parameter of an architecture.
type paramShape struct {
	name       string
	rows, cols int
}

// params lists the parameters of a checked architecture in Params order
// (then an SDENet's buffer fourier.W), without building the model.
func (a Architecture) params() []paramShape {
	if a.Kind == KindGaussian {
		return []paramShape{{"L", a.Dim, a.Dim}, {"mu", 1, a.Dim}}
	}
	if a.Kind == KindNICE {
		return a.niceParams()
	}
	out := a.Dim
	if a.Kind == KindEnergy {
		out = 1
	}
	sizes := layerSizes(a.Dim, a.Hidden, out)
	ps := make([]paramShape, 0, 2*len(sizes)-1)
	for i := 1; i < len(sizes); i++ {
		name := strconv.Itoa(2 * (i - 1))
		ps = append(ps, paramShape{name + ".weight", sizes[i], sizes[i-1]}, paramShape{name + ".bias", 1, sizes[i]})
	}
	if a.Kind == KindNCSN {
		ps = append(ps, paramShape{"sigma.weight", 1, a.Hidden[0]})
	}
	if a.Kind == KindSDE {
		for l, h := range a.Hidden {
			ps = append(ps, paramShape{"temb." + strconv.Itoa(l) + ".weight", h, 2 * a.FourierDim})
		}
		ps = append(ps, paramShape{fourierName, 1, a.FourierDim})
	}
	return ps
}

// fits reports whether a tensor of shape s holds p: [rows cols], or [cols]
// for a single row.
func (p paramShape) fits(s []int) bool {
	return slices.Equal(s, []int{p.rows, p.cols}) || p.rows == 1 && slices.Equal(s, []int{p.cols})
}

// String formats the shapes that fit p.
func (p paramShape) String() string {
	if p.rows == 1 {
		return fmt.Sprintf("[%d] or [1 %d]", p.cols, p.cols)
	}
	return fmt.Sprintf("[%d %d]", p.rows, p.cols)
}

// match checks ts against a checked architecture — each parameter one
// tensor of a fitting shape, no tensor left over, every value finite, L
// lower-triangular — and returns the tensors by parameter name. A
// mismatch is a *FormatError naming the tensor. Since each tensor's size
// was checked against the file's, so are the model's.
func (a Architecture) match(ts []Tensor) (map[string]*Tensor, error) {
	ps := a.params()
	byName := make(map[string]*Tensor, len(ps))
	for _, p := range ps {
		i, found := slices.BinarySearchFunc(ts, p.name, func(t Tensor, name string) int { return strings.Compare(t.Name, name) })
		if !found {
			return nil, &FormatError{Tensor: p.name, Problem: fmt.Sprintf("missing (want shape %s)", p)}
		}
		t := &ts[i]
		if !p.fits(t.Shape) {
			return nil, &FormatError{Tensor: p.name, Problem: fmt.Sprintf("shape %v, want %s", t.Shape, p)}
		}
		byName[p.name] = t
	}
	if len(ts) > len(ps) {
		for _, t := range ts { // sorted by name: the first extra one
			if byName[t.Name] == nil {
				return nil, &FormatError{Tensor: t.Name, Problem: "unexpected tensor for this architecture"}
			}
		}
	}
	for _, p := range ps {
		t := byName[p.name]
		for i, v := range t.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &FormatError{Tensor: p.name, Problem: fmt.Sprintf("element %s is %v; weights must be finite", indexIn(t.Shape, i), v)}
			}
		}
	}
	if a.Kind == KindGaussian {
		n := a.Dim
		l := byName["L"].Data
		for i := range n {
			for j := i + 1; j < n; j++ {
				if v := l[i*n+j]; v != 0 {
					return nil, &FormatError{Tensor: "L", Problem: fmt.Sprintf("element (%d,%d) above the diagonal is %g; L must be lower-triangular", i, j, v)}
				}
			}
		}
	}
	return byName, nil
}

// indexIn formats the flat row-major index i of a tensor of the given
// shape as an index per dimension: "[2 5]".
func indexIn(shape []int, i int) string {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k], i = i%shape[k], i/shape[k]
		}
	}
	return fmt.Sprint(idx)
}

// newModel returns a zero MLP or NCSN of the given kind.
func newModel(kind string, dim int, hidden []int, act string) (Model, error) {
	switch kind {
	case KindEnergy:
		return newEnergyMLP(dim, hidden, act)
	case KindScore:
		return newScoreMLP(dim, hidden, act)
	case KindNCSN:
		return newNCSN(dim, hidden, act)
	}
	return nil, fmt.Errorf("unknown model kind %q (want %s)", kind, orList(kinds))
}

// activationChoices lists the activations a model of the given kind may
// have, sorted: all of ad.Activations, less those an energy net cannot
// use.
func activationChoices(kind string) []string {
	var names []string
	for name, f := range ad.Activations {
		if kind != KindEnergy || checkEnergyActivation(f) == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// orList formats choices as "a, b or c".
func orList(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// joinInts formats ints as "8,8".
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
