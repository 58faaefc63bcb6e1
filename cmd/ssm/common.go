package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/cmd/ssm/internal/dataio"
	"scorematch/nn"
	"scorematch/nn/sde"
	"scorematch/sampler"
	"scorematch/ssm"
)

// loadData returns the data named by spec: a built-in dataset (n samples
// drawn with seed) or a file (.csv, .npy, IDX). The dataset is nil for files.
func loadData(flagName, spec string, n int, seed uint64) (ad.Mat, *sampler.Dataset, error) {
	if ds, err := sampler.LookupDataset(spec); err == nil {
		if n < 1 {
			return ad.Mat{}, nil, badInput("-n %d: want at least 1 sample", n)
		}
		x := ad.NewMat(n, ds.Dist.Dim())
		ds.Dist.Sample(x, repro.New(seed, repro.Data, 0, 0))
		return x, &ds, nil
	}
	if _, err := os.Stat(spec); errors.Is(err, fs.ErrNotExist) {
		if !strings.ContainsAny(spec, "./") {
			return ad.Mat{}, nil, badInput("-%s %q is neither a built-in dataset (see 'ssm datasets') nor a file", flagName, spec)
		}
		return ad.Mat{}, nil, badInput("-%s %s: no such file", flagName, spec)
	}
	x, err := dataio.Read(spec)
	if err != nil {
		return ad.Mat{}, nil, asInput(err)
	}
	return x, nil, nil
}

// modelSpec describes a model to build: "mlp:128,128", "gaussian",
// "ncsn:128,128" or "sde:128,128", with the kind of an MLP ("energy" or
// "score"), and for an sde model its SDE and time embedding (set by the
// caller after parseModelSpec; nil and zero mean VP and nn's defaults).
type modelSpec struct {
	arch   string
	hidden []int
	act    string
	kind   string

	sde          sde.SDE
	fourierDim   int
	fourierScale float64
}

// parseModelSpec parses -model, -act and -kind; flag names the model flag
// in messages (-model, or the command's own, such as gradcheck's -spec).
func parseModelSpec(flag, spec, act, kind string) (modelSpec, error) {
	arch, widths, _ := strings.Cut(spec, ":")
	m := modelSpec{arch: arch, act: act, kind: kind}
	switch arch {
	case "gaussian":
		if widths != "" {
			return m, badInput("%s %q: gaussian takes no widths", flag, spec)
		}
		m.kind = nn.KindGaussian
		return m, nil
	case "mlp", "ncsn", "sde":
	default:
		return m, badInput("%s %q: want mlp:W,W,..., ncsn:W,W,..., sde:W,W,... or gaussian", flag, spec)
	}
	if widths == "" {
		return m, badInput("%s %q: give the hidden widths, e.g. %s:128,128", flag, spec, arch)
	}
	for _, w := range strings.Split(widths, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || v < 1 || v > maxWidth {
			return m, badInput("%s %q: hidden width %q is not an integer from 1 to %d", flag, spec, w, maxWidth)
		}
		m.hidden = append(m.hidden, v)
	}
	if len(m.hidden) > maxLayers {
		return m, badInput("%s %q: %d hidden layers, at most %d", flag, spec, len(m.hidden), maxLayers)
	}
	if !slices.Contains(activationNames, act) {
		return m, badInput("-act %q: want one of %s", act, strings.Join(activationNames, ", "))
	}
	if arch == "ncsn" {
		m.kind = nn.KindNCSN
	} else if arch == "sde" {
		m.kind = nn.KindSDE
	} else if kind != nn.KindEnergy && kind != nn.KindScore {
		return m, badInput("-kind %q: want energy or score", kind)
	}
	return m, nil
}

// activationNames are the activations -act takes: ad's activations that
// suit a network layer (relu for score nets only).
var activationNames = []string{"softplus", "tanh", "silu", "elu", "sigmoid", "relu"}

// modelKind is the ssm kind of the model the spec builds.
func (m modelSpec) modelKind() ssm.ModelKind {
	switch m.kind {
	case nn.KindNCSN:
		return ssm.CondScoreModel
	case nn.KindSDE:
		return ssm.TimeScoreModel
	case nn.KindScore:
		return ssm.ScoreModel
	}
	return ssm.EnergyModel
}

// params returns the number of parameters of the spec's model in
// dimension dim, saturating at maxParams+1.
func (m modelSpec) params(dim int) int {
	if m.kind == nn.KindGaussian {
		if dim > maxParams {
			return maxParams + 1
		}
		return min(maxParams+1, dim*dim+dim)
	}
	out := 1
	if m.kind != nn.KindEnergy {
		out = dim
	}
	n, in := 0, dim
	for _, w := range append(slices.Clone(m.hidden), out) {
		if in > maxParams/w {
			return maxParams + 1
		}
		n += in*w + w
		if n > maxParams {
			return maxParams + 1
		}
		in = w
	}
	if m.kind == nn.KindNCSN && len(m.hidden) > 0 {
		n += m.hidden[0]
	}
	if m.kind == nn.KindSDE { // the time embedding's maps, H_l × 2E each
		e := m.fourierDim
		if e == 0 {
			e = nn.DefaultFourierDim
		}
		for _, w := range m.hidden {
			if w > (maxParams-n)/(2*e) {
				return maxParams + 1
			}
			n += 2 * e * w
		}
	}
	return min(n, maxParams+1)
}

// build makes a freshly initialised model of dimension dim.
func (m modelSpec) build(dim int, seed uint64) (nn.Model, error) {
	rng := repro.New(seed, repro.Init, 0, 0)
	var model nn.Model
	var err error
	switch {
	case m.kind == nn.KindGaussian:
		return nn.NewGaussianEnergy(dim), nil
	case m.kind == nn.KindNCSN:
		model, err = nn.NewNCSN(dim, m.hidden, m.act, rng)
	case m.kind == nn.KindSDE:
		s := m.sde
		if s == nil {
			s = sde.VP{BetaMin: sde.DefaultBetaMin, BetaMax: sde.DefaultBetaMax}
		}
		model, err = nn.NewSDENet(nn.SDENetConfig{SDE: s, Dim: dim, Hidden: m.hidden, Activation: m.act,
			FourierDim: m.fourierDim, FourierScale: m.fourierScale}, rng)
	case m.kind == nn.KindEnergy:
		model, err = nn.NewEnergyMLP(dim, m.hidden, m.act, rng)
	default:
		model, err = nn.NewScoreMLP(dim, m.hidden, m.act, rng)
	}
	if err != nil {
		return nil, badInput("-model: %v", err)
	}
	return model, nil
}

// loadModel reads a model file and what it records about its data,
// turning the library's typed errors into flag names.
func loadModel(path, act, kind string) (nn.Model, nn.ModelInfo, error) {
	if path == "" {
		return nil, nn.ModelInfo{}, badInput("-model is required")
	}
	if st, err := os.Stat(path); err != nil {
		return nil, nn.ModelInfo{}, badInput("-model %s: no such file", path)
	} else if !st.Mode().IsRegular() {
		return nil, nn.ModelInfo{}, badInput("-model %s: not a regular file", path)
	}
	opts := nn.LoadOptions{Activation: act, Kind: kind}
	if err := opts.Validate(); err != nil {
		return nil, nn.ModelInfo{}, asFlagError(err)
	}
	m, info, err := nn.LoadInfo(path, opts)
	var missing *nn.MissingOptionError
	var mismatch *nn.OptionMismatchError
	switch {
	case err == nil:
		return m, info, nil
	case errors.As(err, &missing):
		flag := loadOptionFlags[missing.Option]
		return nil, info, badInput("-model %s: the file does not record its %s; give %s (%s)", path, strings.ToLower(missing.Option), flag, strings.Join(missing.Choices, ", "))
	case errors.As(err, &mismatch):
		flag := loadOptionFlags[mismatch.Option]
		return nil, info, badInput("%s %s: -model %s records %s (omit %s)", flag, mismatch.Given, path, mismatch.Recorded, flag)
	}
	return nil, info, asInput(err)
}

// loadOptionFlags names the flag of each nn.LoadOptions field.
var loadOptionFlags = map[string]string{"Kind": "-kind", "Activation": "-act"}

// checkDim reports a data/model dimension mismatch as an input error.
func checkDim(what string, x ad.Mat, m nn.Model) error {
	if x.Cols != m.Dim() {
		return badInput("%s has %d columns, the model has dimension %d", what, x.Cols, m.Dim())
	}
	return nil
}

// parseSigmas parses a geometric schedule "hi:lo:L" (σ₁ = hi > … > σ_L = lo).
func parseSigmas(s string) ([]float64, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, badInput("-sigmas %q: want hi:lo:levels, e.g. 20:1:10", s)
	}
	hi, err1 := strconv.ParseFloat(parts[0], 64)
	lo, err2 := strconv.ParseFloat(parts[1], 64)
	n, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || !(hi > lo) || !(lo > 0) || n < 2 || math.IsInf(hi, 0) {
		return nil, badInput("-sigmas %q: want hi > lo > 0 and at least 2 levels", s)
	}
	if n > maxLevels {
		return nil, badInput("-sigmas %q: at most %d levels", s, maxLevels)
	}
	return sampler.GeometricSigmas(hi, lo, n), nil
}

// optimizers is the table of -optimizer values: each builds the optimiser
// with PyTorch's defaults and the given learning rate and momentum.
var optimizers = []struct {
	name     string
	momentum bool // takes -momentum
	new      func(lr, momentum float64) nn.Optimizer
}{
	{"adam", false, func(lr, _ float64) nn.Optimizer { o := nn.NewAdam(); o.LR = lr; return o }},
	{"sgd", true, func(lr, m float64) nn.Optimizer { o := nn.NewSGD(lr); o.Momentum = m; return o }},
	{"rmsprop", true, func(lr, m float64) nn.Optimizer { o := nn.NewRMSProp(); o.LR, o.Momentum = lr, m; return o }},
}

// optimizerTakesMomentum reports whether the named optimiser has a
// momentum (false for unknown names: newOptimizer reports those).
func optimizerTakesMomentum(name string) bool {
	for _, o := range optimizers {
		if o.name == name {
			return o.momentum
		}
	}
	return true
}

// sampleDataset returns the built-in dataset called spec, or nil when spec
// names a file.
func sampleDataset(spec string) *sampler.Dataset {
	if ds, err := sampler.LookupDataset(spec); err == nil {
		return &ds
	}
	return nil
}

// newOptimizer returns the named optimiser with learning rate lr.
func newOptimizer(name string, lr, momentum float64) (nn.Optimizer, error) {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return nil, badInput("-lr %g: want a positive learning rate", lr)
	}
	var names []string
	for _, o := range optimizers {
		if o.name == name {
			opt := o.new(lr, momentum)
			return opt, asFlagError(opt.Validate())
		}
		names = append(names, o.name)
	}
	return nil, badInput("-optimizer %q: want %s", name, strings.Join(names, ", "))
}

// objectiveError reports an error of ssm.New: a bad setting by its flag,
// anything else (an unknown name, a model of the wrong kind) as -objective's.
func objectiveError(err error) error {
	if fe := asFlagError(err); fe != err {
		return fe
	}
	return badInput("-objective: %v", err)
}

// settingFlags maps the libraries' settings (ConfigError.Setting, or
// "*.Field" for a field of any type) to the tool's flags.
var settingFlags = map[string]string{
	"*.LR":                   "-lr",
	"*.Momentum":             "-momentum",
	"Options.M":              "-m",
	"Options.Sigma":          "-sigma",
	"Options.Sigmas":         "-sigmas",
	"Config.BatchSize":       "-batch",
	"Config.Chunks":          "-chunks",
	"Config.Steps":           "-steps",
	"Config.Epochs":          "-epochs",
	"Config.ValFrac":         "-val",
	"Config.EvalEvery":       "-eval-every",
	"Config.Patience":        "-patience",
	"Config.ClipNorm":        "-clip",
	"Config.CheckpointEvery": "-checkpoint-every",
	"Config.EMA":             "-ema",

	// Config.Schedule and its fields.
	"Config.Schedule":         "-lr-schedule",
	"Config.Schedule.Decay":   "-lr-schedule",
	"Config.Schedule.Warmup":  "-warmup",
	"Config.Schedule.FinalLR": "-lr-final",

	"LoadOptions.Kind":       "-kind",
	"LoadOptions.Activation": "-act",
	"*.Step":                 "-step",
	"*.Steps":                "-steps",
	"AIS.Temps":              "-ais-temps",
	"AIS.Chains":             "-ais-chains",
	"VE.SigmaMin":            "-sigma-min",
	"VE.SigmaMax":            "-sigma-max",
	"VP.BetaMin":             "-beta-min",
	"VP.BetaMax":             "-beta-max",
	"SubVP.BetaMin":          "-beta-min",
	"SubVP.BetaMax":          "-beta-max",
	"*.SNR":                  "-snr",
	"*.Eps":                  "-eps",
	"*.CorrectorSteps":       "-corrector-steps",
	"*.Predictor":            "-predictor",
	"*.Corrector":            "-corrector",
	"*.Rtol":                 "-rtol",
	"*.Atol":                 "-atol",
	"*.Probes":               "-probes",
}

// asFlagError turns a library's configuration error into an input error
// that names the flag, the value and what is expected. Other errors are
// returned unchanged; nil stays nil.
func asFlagError(err error) error {
	var typ, field, want string
	var value any
	var se *ssm.ConfigError
	var ne *nn.ConfigError
	var pe *sampler.ConfigError
	var de *sde.ConfigError
	switch {
	case errors.As(err, &se):
		typ, field, value, want = se.Type, se.Field, se.Value, se.Want
	case errors.As(err, &ne):
		typ, field, value, want = ne.Type, ne.Field, ne.Value, ne.Want
	case errors.As(err, &pe):
		typ, field, value, want = pe.Type, pe.Field, pe.Value, pe.Want
	case errors.As(err, &de):
		typ, field, value, want = de.Type, de.Field, de.Value, de.Want
	default:
		return err
	}
	flag, ok := settingFlags[typ+"."+field]
	if !ok {
		flag, ok = settingFlags["*."+field]
	}
	if !ok {
		return asInput(err)
	}
	return badInput("%s %v: want %s", flag, value, want)
}

// outPath resolves a relative output path against the working directory.
func (e *env) outPath(p string) string {
	if p == "" || strings.HasPrefix(p, "/") || e.dir == "" {
		return p
	}
	return e.dir + "/" + p
}

// isTerminal reports whether f is a character device (an interactive terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// fmtDuration prints d seconds compactly.
func fmtDuration(sec float64) string {
	if sec < 60 {
		return fmt.Sprintf("%.0fs", sec)
	}
	return fmt.Sprintf("%dm%02ds", int(sec)/60, int(sec)%60)
}

// reads reports whether the objective called name reads the options r; an
// unknown name reads nothing (ssm.New reports it).
func reads(name string, r ssm.Reads) bool {
	spec, ok := ssm.Lookup(name)
	return ok && spec.Reads&r != 0
}

// fitObjectives lists the objectives that measure the fit of model: eval's
// default, in the registry's order.
func fitObjectives(model nn.Model) []string {
	var names []string
	kind := ssm.KindOf(model)
	for _, s := range ssm.Specs() {
		if s.Fit && s.Models&kind != 0 {
			names = append(names, s.Name)
		}
	}
	return names
}
